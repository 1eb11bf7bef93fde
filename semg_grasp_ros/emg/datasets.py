"""Loaders for labelled sEMG recordings: Sapsanis (.mat), NinaPro (.mat) and CSV folders.

Two shapes of labelled data:

* ``TrialSet``: equal-length trials, one label each (Sapsanis: 30 trials x 6 s per grasp;
  the Myo CSV folder: one file per (repetition, class)). What offline training and
  cross-validation consume.
* ``Recording``: one continuous stream with a label per sample (NinaPro: ``restimulus``,
  ``rerepetition``), or trials concatenated with rest gaps (``TrialSet.to_recording``).
  What the streaming sources replay.

Values are kept as stored (Sapsanis: volts with its +0.14 V DC offset; Myo: raw int8
counts); filtering is the caller's business.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import GRASP_TYPES, REST
from ..errors import DatasetError

log = logging.getLogger(__name__)

#: Sapsanis Database 1: sample rate (Hz) and the variable prefix of each grasp type.
SAPSANIS_RATE_HZ = 500.0
SAPSANIS_PREFIX = {
    "spherical": "spher",
    "cylindrical": "cyl",
    "hook": "hook",
    "palmar": "palm",
    "tip": "tip",
    "lateral": "lat",
}
SAPSANIS_CHANNELS = ("ch1", "ch2")
#: The Myo armband of the LibEMG recording: 200 Hz, 8 channels, raw int8 counts.
MYO_RATE_HZ = 200.0
#: Largest movement id accepted in a NinaPro-layout file (the databases have at most 53).
MAX_NINAPRO_MOVES = 1000
_CSV_NAME = re.compile(r"^R_(\d+)_C_(\d+)_EMG\.csv$")


@dataclass(frozen=True, eq=False)
class TrialSet:
    """Equal-length labelled trials of one subject.

    Attributes:
        data: (n_trials, n_samples, n_channels) float32, values as stored (volts for
            Sapsanis, raw counts for Myo; see ``units``).
        labels: (n_trials,) int64 index into ``class_names``.
        repetitions: (n_trials,) int64 repetition number (0-based) within its class.
        class_names: class of each label index.
        channel_names: one name per channel.
        sample_rate: Hz.
        subject: subject name (file stem or folder name).
        units: ``"V"`` or ``"raw"``.
    """

    data: np.ndarray
    labels: np.ndarray
    repetitions: np.ndarray
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    sample_rate: float
    subject: str
    units: str = "V"

    def __post_init__(self):
        data = np.asarray(self.data, dtype=np.float32)
        labels = np.asarray(self.labels, dtype=np.int64)
        reps = np.asarray(self.repetitions, dtype=np.int64)
        names = tuple(self.class_names)
        channels = tuple(self.channel_names)
        if data.ndim != 3 or data.shape[2] != len(channels):
            raise DatasetError(
                f"TrialSet {self.subject!r}: data must be (trials, samples, {len(channels)} channels), "
                f"got {data.shape}"
            )
        if labels.shape != (data.shape[0],) or reps.shape != (data.shape[0],):
            raise DatasetError(
                f"TrialSet {self.subject!r}: labels {labels.shape} and repetitions {reps.shape} must be "
                f"({data.shape[0]},)"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise DatasetError(f"TrialSet {self.subject!r}: labels outside 0..{len(names) - 1}")
        if not self.sample_rate > 0:
            raise DatasetError(f"TrialSet {self.subject!r}: sample_rate must be positive, got {self.sample_rate}")
        for attr, value in (("data", data), ("labels", labels), ("repetitions", reps)):
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "channel_names", channels)
        object.__setattr__(self, "sample_rate", float(self.sample_rate))

    @property
    def n_trials(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[2])

    def of_class(self, name: str) -> np.ndarray:
        """Trials of one class: (n, n_samples, n_channels) float32, ordered by repetition."""
        if name not in self.class_names:
            raise DatasetError(f"class {name!r} not in {self.class_names}")
        idx = np.flatnonzero(self.labels == self.class_names.index(name))
        return self.data[idx[np.argsort(self.repetitions[idx], kind="stable")]]

    def to_recording(
        self,
        order: np.ndarray | None = None,
        rest_s: float = 0.0,
        rest_value: np.ndarray | float | None = None,
    ) -> "Recording":
        """Concatenate trials into one labelled stream.

        Args:
            order: trial indices in playback order (default: stored order).
            rest_s: seconds of rest inserted before every trial (labelled -1).
            rest_value: value of the rest samples per channel, (n_channels,) or scalar;
                default the median of each channel over all trials (the DC offset), so
                the gap looks like a quiet electrode rather than a step to zero.

        Returns:
            A ``Recording`` with per-sample labels (-1 during rest gaps).
        """
        order = np.arange(self.n_trials) if order is None else np.asarray(order, dtype=np.int64)
        if order.size and (order.min() < 0 or order.max() >= self.n_trials):
            raise DatasetError(f"trial order has indices outside 0..{self.n_trials - 1}")
        n_rest = int(round(rest_s * self.sample_rate))
        if rest_value is None:
            rest_value = np.median(self.data, axis=(0, 1)) if self.n_trials else 0.0
        rest = np.broadcast_to(np.asarray(rest_value, np.float32), (n_rest, self.n_channels))
        parts, labels, reps = [], [], []
        for i in order:
            parts += [rest, self.data[i]]
            labels += [np.full(n_rest, -1), np.full(self.n_samples, self.labels[i])]
            reps += [np.full(n_rest, -1), np.full(self.n_samples, self.repetitions[i])]
        empty = np.zeros((0, self.n_channels), np.float32)
        return Recording(
            data=np.concatenate(parts) if parts else empty,
            labels=np.concatenate(labels) if labels else np.zeros(0, np.int64),
            repetitions=np.concatenate(reps) if reps else np.zeros(0, np.int64),
            class_names=self.class_names,
            channel_names=self.channel_names,
            sample_rate=self.sample_rate,
            subject=self.subject,
            units=self.units,
        )


@dataclass(frozen=True, eq=False)
class Recording:
    """One continuous labelled stream.

    Attributes:
        data: (n_samples, n_channels) float32 in ``units``.
        labels: (n_samples,) int64 index into ``class_names``; -1 = rest.
        repetitions: (n_samples,) int64 0-based repetition of the movement; -1 during rest.
        class_names, channel_names, sample_rate (Hz), subject, units: as in ``TrialSet``.
    """

    data: np.ndarray
    labels: np.ndarray
    repetitions: np.ndarray
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    sample_rate: float
    subject: str
    units: str = "V"

    def __post_init__(self):
        data = np.asarray(self.data, dtype=np.float32)
        labels = np.asarray(self.labels, dtype=np.int64)
        reps = np.asarray(self.repetitions, dtype=np.int64)
        channels = tuple(self.channel_names)
        if data.ndim != 2 or data.shape[1] != len(channels):
            raise DatasetError(
                f"Recording {self.subject!r}: data must be (samples, {len(channels)} channels), got {data.shape}"
            )
        if labels.shape != (data.shape[0],) or reps.shape != (data.shape[0],):
            raise DatasetError(
                f"Recording {self.subject!r}: labels {labels.shape} and repetitions {reps.shape} must be "
                f"({data.shape[0]},)"
            )
        if labels.size and (labels.min() < -1 or labels.max() >= len(self.class_names)):
            raise DatasetError(f"Recording {self.subject!r}: labels outside -1..{len(self.class_names) - 1}")
        if not self.sample_rate > 0:
            raise DatasetError(f"Recording {self.subject!r}: sample_rate must be positive, got {self.sample_rate}")
        for attr, value in (("data", data), ("labels", labels), ("repetitions", reps)):
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "channel_names", channels)
        object.__setattr__(self, "sample_rate", float(self.sample_rate))

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    def label_names(self) -> np.ndarray:
        """(n_samples,) object array of class names, ``"rest"`` where the label is -1."""
        names = np.array((*self.class_names, REST), dtype=object)
        return names[self.labels]

    def segments(self) -> list[tuple[int, int, int, int]]:
        """Runs of constant (label, repetition) with label >= 0: ``(start, stop, label, repetition)``."""
        if self.n_samples == 0:
            return []
        key = self.labels * (1 << 32) + self.repetitions
        edges = np.flatnonzero(np.diff(key)) + 1
        starts = np.r_[0, edges]
        stops = np.r_[edges, self.n_samples]
        return [
            (int(a), int(b), int(self.labels[a]), int(self.repetitions[a]))
            for a, b in zip(starts, stops)
            if self.labels[a] >= 0
        ]

    def to_trials(self, n_samples: int | None = None) -> TrialSet:
        """Cut each labelled segment into a trial of ``n_samples`` (default: the shortest
        segment), keeping its first ``n_samples`` samples; shorter segments are skipped
        (logged)."""
        segs = self.segments()
        if not segs:
            raise DatasetError(f"Recording {self.subject!r} has no labelled segments")
        length = min(b - a for a, b, _, _ in segs) if n_samples is None else int(n_samples)
        kept = [s for s in segs if s[1] - s[0] >= length]
        if len(kept) < len(segs):
            log.info("%s: %d segments shorter than %d samples skipped", self.subject, len(segs) - len(kept), length)
        return TrialSet(
            data=np.stack([self.data[a : a + length] for a, _, _, _ in kept]),
            labels=np.array([lab for _, _, lab, _ in kept]),
            repetitions=np.array([rep for _, _, _, rep in kept]),
            class_names=self.class_names,
            channel_names=self.channel_names,
            sample_rate=self.sample_rate,
            subject=self.subject,
            units=self.units,
        )


def _loadmat(path: Path) -> dict:
    from .matfile import read_mat

    return read_mat(path)


def list_sapsanis_subjects(folder) -> dict[str, Path]:
    """Subject name (file stem) -> ``.mat`` path for every ``.mat`` file in ``folder``, sorted.

    Raises:
        DatasetError: the folder does not exist or holds no ``.mat`` file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: Sapsanis folder not found (expected e.g. shared/data/emg/sapsanis/Database 1)")
    found = {p.stem: p for p in sorted(folder.glob("*.mat"))}
    if not found:
        raise DatasetError(f"{folder}: no .mat files (expected one per subject, e.g. female_1.mat)")
    return found


def load_sapsanis(path) -> TrialSet:
    """One subject of Sapsanis Database 1.

    The file holds ``<prefix>_ch1`` and ``<prefix>_ch2`` per grasp (``SAPSANIS_PREFIX``),
    each (30 trials, 3000 samples) at 500 Hz, volts (DC offset about +0.14 V).

    Returns:
        ``TrialSet`` with data (6 * n_trials, n_samples, 2), classes in ``GRASP_TYPES``
        order, trials grouped by class, repetitions 0..n_trials-1 in row order.

    Raises:
        DatasetError: missing file, missing variables, or inconsistent shapes.
    """
    path = Path(path)
    mat = _loadmat(path)
    expected = [f"{SAPSANIS_PREFIX[g]}_{c}" for g in GRASP_TYPES for c in SAPSANIS_CHANNELS]
    missing = [name for name in expected if name not in mat]
    if missing:
        raise DatasetError(
            f"{path}: not a Sapsanis Database 1 file; missing variables {missing} "
            f"(expected {expected}, each trials x samples)"
        )
    shape = np.shape(mat[expected[0]])
    blocks = []
    for g in GRASP_TYPES:
        chans = [np.asarray(mat[f"{SAPSANIS_PREFIX[g]}_{c}"], dtype=np.float64) for c in SAPSANIS_CHANNELS]
        for c, arr in zip(SAPSANIS_CHANNELS, chans):
            if arr.ndim != 2 or arr.shape != shape or arr.shape[1] < 2:
                raise DatasetError(
                    f"{path}: variable {SAPSANIS_PREFIX[g]}_{c} has shape {arr.shape}; expected "
                    f"(trials, samples) equal to {expected[0]}'s {shape}"
                )
            if not np.all(np.isfinite(arr)):
                raise DatasetError(f"{path}: variable {SAPSANIS_PREFIX[g]}_{c} contains NaN or inf")
        blocks.append(np.stack(chans, axis=-1))
    n_trials = shape[0]
    return TrialSet(
        data=np.concatenate(blocks).astype(np.float32),
        labels=np.repeat(np.arange(len(GRASP_TYPES)), n_trials),
        repetitions=np.tile(np.arange(n_trials), len(GRASP_TYPES)),
        class_names=GRASP_TYPES,
        channel_names=SAPSANIS_CHANNELS,
        sample_rate=SAPSANIS_RATE_HZ,
        subject=path.stem,
        units="V",
    )


def load_ninapro(
    path,
    sample_rate: float | None = None,
    class_names: tuple[str, ...] | None = None,
) -> Recording:
    """A NinaPro-layout ``.mat``: ``emg`` (n_samples, n_channels), ``restimulus`` and
    ``rerepetition`` (n_samples, 1) with 0 = rest, movements 1..K, repetitions 1..R.

    Args:
        path: the ``.mat`` file.
        sample_rate: Hz; default the file's ``frequency`` variable (NinaPro DB1 has none:
            pass 100 for DB1, 2000 for DB2/DB3/DB7).
        class_names: names of movements 1..K; default ``("move_1", ..., "move_K")`` with
            K the largest stimulus id in the file.

    Returns:
        ``Recording`` with labels ``restimulus - 1`` (-1 = rest) and repetitions
        ``rerepetition - 1``; channels named ``ch1..chN``; units as stored (``"V"``).

    Raises:
        DatasetError: missing file or variables, mismatched lengths, no sample rate.
    """
    path = Path(path)
    mat = _loadmat(path)
    missing = [v for v in ("emg", "restimulus", "rerepetition") if v not in mat]
    if missing:
        raise DatasetError(
            f"{path}: not a NinaPro-layout file; missing variables {missing} (expected emg (samples, "
            "channels), restimulus (samples, 1), rerepetition (samples, 1))"
        )
    emg = np.asarray(mat["emg"], dtype=np.float64)
    if emg.ndim != 2 or emg.shape[0] < emg.shape[1]:
        raise DatasetError(f"{path}: emg has shape {emg.shape}; expected (samples, channels) with samples >= channels")
    stim = np.asarray(mat["restimulus"])
    rep = np.asarray(mat["rerepetition"])
    for name, arr in (("restimulus", stim), ("rerepetition", rep)):
        if arr.size != emg.shape[0] or (arr.ndim == 2 and 1 not in arr.shape) or arr.ndim > 2:
            raise DatasetError(f"{path}: {name} has shape {arr.shape}; expected ({emg.shape[0]}, 1) to match emg")
    stim = stim.reshape(-1).astype(np.int64)
    rep = rep.reshape(-1).astype(np.int64)
    if stim.min(initial=0) < 0 or rep.min(initial=0) < 0:
        raise DatasetError(f"{path}: restimulus and rerepetition must be >= 0 (0 = rest)")
    if sample_rate is None:
        if "frequency" not in mat:
            raise DatasetError(
                f"{path}: no 'frequency' variable; pass the sample rate (NinaPro DB1: 100 Hz, DB2/3/7: 2000 Hz)"
            )
        frequency = np.asarray(mat["frequency"]).reshape(-1)
        sample_rate = float(frequency[0]) if frequency.size else float("nan")
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise DatasetError(f"{path}: sample rate {sample_rate} Hz; expected a positive number")
    n_moves = int(stim.max(initial=0))
    if n_moves > MAX_NINAPRO_MOVES:
        raise DatasetError(f"{path}: restimulus reaches {n_moves}; NinaPro ids are at most {MAX_NINAPRO_MOVES}")
    if class_names is None:
        class_names = tuple(f"move_{k}" for k in range(1, n_moves + 1))
    elif len(class_names) < n_moves:
        raise DatasetError(f"{path}: {len(class_names)} class names given but restimulus reaches {n_moves}")
    if not np.all(np.isfinite(emg)):
        log.warning("%s: emg contains %d NaN/inf values", path, int((~np.isfinite(emg)).sum()))
    labels = stim - 1
    reps = np.where(labels >= 0, rep - 1, -1)
    return Recording(
        data=emg.astype(np.float32),
        labels=labels,
        repetitions=reps,
        class_names=tuple(class_names),
        channel_names=tuple(f"ch{i + 1}" for i in range(emg.shape[1])),
        sample_rate=sample_rate,
        subject=path.stem,
        units="V",
    )


#: How a CSV file of sEMG is laid out (``semg-grasp record --help`` shows this text).
CSV_FORMAT = (
    "CSV: one row per sample, one column per channel, comma-separated numbers; an optional header row "
    "of channel names; lines starting with '#' are comments, and '# sample_rate_hz=1000' gives the rate; "
    "a column named time_s (seconds) also gives it (and is not a channel). Without either, pass --rate."
)
_RATE_COMMENT = re.compile(r"^#\s*sample_rate_hz\s*[=:]\s*(\S+)\s*$")
_TIME_COLUMNS = ("time_s",)


@dataclass(frozen=True)
class CsvRecording:
    """One CSV file of sEMG (``CSV_FORMAT``)."""

    data: np.ndarray  # (n_samples, n_channels) float32, values as stored
    channel_names: tuple[str, ...]
    sample_rate: float | None  # Hz, when the file states it (comment or time_s column)


def read_csv(path) -> CsvRecording:
    """Read one CSV file of sEMG laid out as ``CSV_FORMAT`` says.

    Raises:
        DatasetError: missing file, a folder, non-numeric or ragged rows, no rows, non-finite
            values, a bad rate comment, or a time_s column that is not increasing and uniform.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a folder; expected a CSV file ({CSV_FORMAT})")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (expected a comma-separated EMG file)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable text file ({exc})") from None
    rate, names, rows = None, None, []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            m = _RATE_COMMENT.match(text)
            if m:
                rate = _csv_rate(path, m.group(1))
            continue
        cells = [c.strip() for c in text.split(",")]
        values = [_float_or_none(c) for c in cells]
        if names is None and not rows and all(v is None for v in values) and all(cells):
            names = tuple(cells)  # the header row
            continue
        if any(v is None for v in values):
            raise DatasetError(f"{path}, line {number}: {text[:60]!r} is not comma-separated numbers")
        rows.append(values)
        if len(rows[-1]) != len(rows[0]):
            raise DatasetError(f"{path}, line {number}: {len(rows[-1])} values, the first row has {len(rows[0])}")
    if not rows:
        raise DatasetError(f"{path}: no rows of samples ({CSV_FORMAT})")
    data = np.asarray(rows, dtype=np.float64)
    if names is not None and len(names) != data.shape[1]:
        raise DatasetError(f"{path}: the header names {len(names)} columns, the rows have {data.shape[1]}")
    names = names or tuple(f"ch{i + 1}" for i in range(data.shape[1]))
    if not np.isfinite(data).all():
        raise DatasetError(f"{path}: non-finite values (nan/inf) in the samples")
    time_col = next((i for i, n in enumerate(names) if n.lower() in _TIME_COLUMNS), None)
    if time_col is not None:
        t = data[:, time_col]
        step = np.diff(t)
        if len(t) < 2 or not (step > 0).all() or np.ptp(step) > 0.01 * np.median(step):
            raise DatasetError(f"{path}: column {names[time_col]} must increase in equal steps (seconds)")
        time_rate = 1.0 / float(np.median(step))
        if rate is not None and abs(time_rate - rate) > 0.01 * rate:
            raise DatasetError(f"{path}: the comment says {rate:g} Hz, column {names[time_col]} {time_rate:g} Hz")
        rate = rate or time_rate
        data = np.delete(data, time_col, axis=1)
        names = names[:time_col] + names[time_col + 1:]
        if not names:
            raise DatasetError(f"{path}: only a time column, no channels")
    return CsvRecording(data.astype(np.float32), tuple(names), rate)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rate(path: Path, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise DatasetError(f"{path}: sample_rate_hz must be a positive number of Hz, got {text!r}")
    return rate


def load_csv(path, n_channels: int | None = None) -> np.ndarray:
    """The samples of one CSV file (``read_csv``): (n_samples, n_channels) float32.

    Raises:
        DatasetError: as ``read_csv``, or a channel count other than ``n_channels``.
    """
    data = read_csv(path).data
    if n_channels is not None and data.shape[1] != n_channels:
        raise DatasetError(f"{path}: {data.shape[1]} columns, expected {n_channels} channels")
    return data


def load_csv_folder(
    folder,
    sample_rate: float = MYO_RATE_HZ,
    class_names: tuple[str, ...] | None = None,
    units: str = "raw",
) -> TrialSet:
    """A folder of ``R_<rep>_C_<class>_EMG.csv`` files (LibEMG layout, e.g. the Myo recording).

    Trials have slightly different lengths (Myo: 596-604 rows); each is cut to the
    shortest one so they stack (a few samples at the end of the longer trials are dropped).

    Args:
        folder: directory holding the CSV files (other files are ignored).
        sample_rate: Hz (Myo armband: 200).
        class_names: name of class index 0..K-1; default ``("class_0", ...)``.
        units: unit of the stored values (Myo: raw int8 counts).

    Raises:
        DatasetError: no matching files, differing channel counts, too few class names.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found (expected R_<rep>_C_<class>_EMG.csv files)")
    entries = []
    for p in sorted(folder.iterdir()):
        m = _CSV_NAME.match(p.name)
        if m:
            entries.append((int(m.group(2)), int(m.group(1)), p))
    if not entries:
        raise DatasetError(f"{folder}: no files named R_<rep>_C_<class>_EMG.csv")
    entries.sort()
    arrays = [load_csv(p) for _, _, p in entries]
    widths = {a.shape[1] for a in arrays}
    if len(widths) != 1:
        raise DatasetError(f"{folder}: files have different channel counts {sorted(widths)}")
    n_classes = max(c for c, _, _ in entries) + 1
    if class_names is None:
        class_names = tuple(f"class_{k}" for k in range(n_classes))
    elif len(class_names) < n_classes:
        raise DatasetError(f"{folder}: {len(class_names)} class names given but files reach class {n_classes - 1}")
    length = min(a.shape[0] for a in arrays)
    return TrialSet(
        data=np.stack([a[:length] for a in arrays]),
        labels=np.array([c for c, _, _ in entries]),
        repetitions=np.array([r for _, r, _ in entries]),
        class_names=tuple(class_names),
        channel_names=tuple(f"ch{i + 1}" for i in range(widths.pop())),
        sample_rate=sample_rate,
        subject=folder.name,
        units=units,
    )


def moving_rms(x: np.ndarray, window_s: float, sample_rate: float) -> np.ndarray:
    """Centred moving RMS over ``window_s`` seconds (shorter, unbiased windows at the ends).

    Args:
        x: (n_samples, n_channels) signal.
    Returns:
        (n_samples, n_channels) float64 envelope, same units as ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = max(1, int(round(window_s * sample_rate)))
    kernel = np.ones(n)
    count = np.convolve(np.ones(x.shape[0]), kernel, mode="same")
    power = np.stack([np.convolve(ch**2, kernel, mode="same") for ch in x.T], axis=1) / count[:, None]
    return np.sqrt(power)


def active_bounds(trials: TrialSet, window_s: float = 0.1, level: float = 0.5) -> np.ndarray:
    """The active part of each trial, found from its amplitude envelope.

    The envelope is a centred moving RMS of ``window_s`` of the DC-removed signal, each
    channel divided by its median over the trial and the channels averaged (so a quiet
    channel weighs as much as a loud one). A trial is active from the first to the last
    sample where the envelope exceeds ``level`` of the way from its quiet level (5th
    percentile) to its typical level (median). Sapsanis trials start at rest and hold the
    grasp to the end, so the active part is onset..end of trial; that is what a classifier
    sees of each grasp.

    Returns:
        (n_trials, 2) int64 ``[start, stop)`` sample indices; ``stop > start`` always
        (a flat trial is active throughout).
    """
    x = trials.data - np.median(trials.data, axis=1, keepdims=True)
    bounds = np.zeros((trials.n_trials, 2), dtype=np.int64)
    for i, trial in enumerate(x):
        env = moving_rms(trial, window_s, trials.sample_rate)
        env = (env / np.maximum(np.median(env, axis=0), 1e-12)).mean(axis=1)
        lo, hi = np.percentile(env, 5), np.median(env)
        above = np.flatnonzero(env >= lo + level * (hi - lo))
        if hi - lo <= 1e-9 or above.size == 0:
            bounds[i] = (0, trials.n_samples)
        else:
            bounds[i] = (above[0], above[-1] + 1)
    return bounds
