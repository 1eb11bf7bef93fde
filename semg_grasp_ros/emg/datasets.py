"""Loaders of the public labelled sEMG datasets: Sapsanis (.mat), NinaPro (.mat) and
LibEMG-layout CSV folders (the Myo recording), and the active part of their trials.

They return the two shapes of ``emg.recordings``: ``TrialSet`` (Sapsanis, CSV folders) and
``Recording`` (NinaPro). Values are kept as stored (Sapsanis: volts with its +0.14 V DC
offset; Myo: raw int8 counts); filtering is the caller's business.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np

from .. import GRASP_TYPES
from ..errors import DatasetError
from .csvfile import load_csv
from .recordings import Recording, TrialSet

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
