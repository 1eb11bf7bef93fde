"""Where sEMG samples come from: one pull-based, non-blocking interface for every source.

A source is asked for samples and returns at once with what it has:

* *paced* sources (simulator, dataset files; bag replay: ``pipeline.bag.BagSource``) produce
  samples on demand;
  the caller asks for exactly the samples due by its clock (``read(n)`` returns ``n``
  unless the stream has ended);
* *live* sources (``live = True``: LSL, BrainFlow, in ``emg.devices``) return what has
  arrived since the last call, up to ``max_samples``, possibly nothing.

Every source has ``sample_rate`` (Hz), ``channel_names``, ``units`` and ``ended`` (no
sample will ever come again). Sources that know the truth (simulator, labelled datasets)
set ``last_labels`` after each read: the class index of each returned sample in
``class_names``, -1 for rest.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import REST
from ..errors import ConfigError, DataError, ModelError
from .csvfile import read_csv
from .datasets import MYO_RATE_HZ, load_csv_folder, load_ninapro, load_sapsanis
from .recordings import Recording, TrialSet
from .simulator.fit import fit_simulator
from .simulator.model import SimulatorModel
from .simulator.render import EmgSimulator, SimulatorConfig
from .simulator.script import Script

log = logging.getLogger(__name__)

#: Orders in which dataset trials can be played.
TRIAL_ORDERS = ("shuffled", "sequential", "interleaved")


class EmgSource(ABC):
    """A stream of sEMG samples.

    Attributes:
        sample_rate: Hz.
        channel_names: one per column of what ``read`` returns.
        units: unit of the values (``"V"``, ``"raw"``).
        live: True when samples arrive on the device's own clock.
        class_names: classes ``last_labels`` refers to (empty when there is no truth).
        last_labels: (n,) int64 truth of the samples the last ``read`` returned, or None.
    """

    sample_rate: float
    channel_names: tuple[str, ...]
    units: str = "V"
    live: bool = False
    class_names: tuple[str, ...] = ()
    last_labels: np.ndarray | None = None

    @abstractmethod
    def read(self, max_samples: int) -> np.ndarray:
        """Up to ``max_samples`` samples (n, n_channels) float32, without blocking."""

    @property
    @abstractmethod
    def ended(self) -> bool:
        """True once the stream is over and everything has been read."""

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BlockSource(EmgSource):
    """A paced source fed by an iterator of ``(data (n, K), labels (n,) or None)`` blocks."""

    def __init__(
        self,
        blocks: Iterator[tuple[np.ndarray, np.ndarray | None]],
        sample_rate: float,
        channel_names: Sequence[str],
        units: str = "V",
        class_names: Sequence[str] = (),
    ):
        self.sample_rate = float(sample_rate)
        self.channel_names = tuple(channel_names)
        self.units = units
        self.class_names = tuple(class_names)
        self._blocks = blocks
        self._parts: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._buffered = 0
        self._exhausted = False

    def read(self, max_samples: int) -> np.ndarray:
        want = max(0, int(max_samples))
        while self._buffered < want and not self._exhausted:
            block = next(self._blocks, None)
            if block is None:
                self._exhausted = True
                break
            data, labels = block
            if len(data):
                self._parts.append((data, labels))
                self._buffered += len(data)
        out, labels, got = [], [], 0
        while self._parts and got < want:
            data, lab = self._parts[0]
            take = min(want - got, len(data))
            out.append(data[:take])
            labels.append(lab[:take] if lab is not None else None)
            if take == len(data):
                self._parts.pop(0)
            else:
                self._parts[0] = (data[take:], lab[take:] if lab is not None else None)
            got += take
        self._buffered -= got
        # Each block keeps its own width: a channel-count change mid-stream is passed on
        # at a block boundary (never mixed into one array) for the consumer to handle.
        if out and len({a.shape[1] for a in out}) > 1:
            first = out[0].shape[1]
            keep = next(i for i, a in enumerate(out) if a.shape[1] != first)
            for a, lab in reversed(list(zip(out[keep:], labels[keep:]))):
                self._parts.insert(0, (a, lab))
                self._buffered += len(a)
            out, labels = out[:keep], labels[:keep]
        if not out:
            self.last_labels = np.zeros(0, np.int64) if self.class_names else None
            return np.zeros((0, self.n_channels), np.float32)
        self.last_labels = (
            np.concatenate(labels).astype(np.int64) if all(lab is not None for lab in labels) else None
        )
        return np.concatenate(out).astype(np.float32, copy=False)

    @property
    def ended(self) -> bool:
        return self._exhausted and self._buffered == 0


# ---- simulator ----------------------------------------------------------------------------


def simulated_source(simulator: EmgSimulator, script: Script, loop: bool = False) -> BlockSource:
    """The simulator playing ``script`` (once, or forever with ``loop``); labels = the cues."""
    blocks = ((b.data, b.labels) for b in simulator.blocks(script, loop=loop))
    return BlockSource(blocks, simulator.sample_rate, simulator.channel_names, simulator.model.units,
                       simulator.class_names)


# ---- dataset files -------------------------------------------------------------------------


def recording_source(recording: Recording, loop: bool = False, block_s: float = 1.0) -> BlockSource:
    """Play a labelled ``Recording`` from start to end (again and again with ``loop``)."""
    step = max(1, int(block_s * recording.sample_rate))

    def blocks():
        while True:
            for i in range(0, recording.n_samples, step):
                yield recording.data[i : i + step], recording.labels[i : i + step]
            if not loop or recording.n_samples == 0:
                return

    return BlockSource(blocks(), recording.sample_rate, recording.channel_names, recording.units,
                       recording.class_names)


def trial_order(trials: TrialSet, order: str = "shuffled", seed: int = 0) -> np.ndarray:
    """Trial indices in playback order: ``shuffled`` (seeded permutation), ``sequential``
    (as stored) or ``interleaved`` (repetition 0 of every class, then repetition 1, ...)."""
    if order == "shuffled":
        return np.random.default_rng(seed).permutation(trials.n_trials)
    if order == "sequential":
        return np.arange(trials.n_trials)
    if order == "interleaved":
        return np.lexsort((trials.labels, trials.repetitions))
    raise DataError(f"unknown trial order {order!r}; choose one of {TRIAL_ORDERS}")


def trials_recording(
    trials: TrialSet,
    order: str = "shuffled",
    rest_s: float = 2.0,
    seed: int = 0,
    rest_model: SimulatorModel | None = None,
) -> Recording:
    """Trials concatenated with ``rest_s`` of rest before each.

    The rest gaps are simulated rest from ``rest_model`` (its baseline noise, hum and DC
    offset, so a gap looks like the subject's electrodes at rest) or, without a model,
    each channel's median (a quiet, flat electrode).
    """
    rec = trials.to_recording(trial_order(trials, order, seed), rest_s=rest_s)
    gaps = rec.labels < 0
    if rest_model is None or not gaps.any():
        return rec
    sim = EmgSimulator(rest_model, SimulatorConfig(seed=seed, sample_rate=trials.sample_rate))
    data = rec.data.copy()
    data[gaps] = sim.render([(REST, gaps.sum() / trials.sample_rate)]).data[: gaps.sum()]
    return Recording(data, rec.labels, rec.repetitions, rec.class_names, rec.channel_names, rec.sample_rate,
                     rec.subject, rec.units)


def sapsanis_source(
    path,
    order: str = "shuffled",
    rest_s: float = 2.0,
    seed: int = 0,
    loop: bool = False,
    rest_model: SimulatorModel | None | str = "auto",
) -> BlockSource:
    """One Sapsanis subject file played as a session: its 180 trials (6 s each) in
    ``order``, each after ``rest_s`` of rest; labels = the trial's grasp, -1 in gaps.

    ``rest_model="auto"`` fills the gaps with the subject's shipped simulator model
    (``models/emg_simulator_<stem>.json``) or, for another file, a model fitted to it.
    """
    trials = load_sapsanis(path)
    if rest_model == "auto":
        rest_model = subject_rest_model(trials) if rest_s > 0 else None
    return recording_source(trials_recording(trials, order, rest_s, seed, rest_model), loop=loop)


def subject_rest_model(trials: TrialSet) -> SimulatorModel:
    try:
        return SimulatorModel.shipped(trials.subject)
    except ModelError:
        log.info("no shipped simulator model for %s; fitting one for the rest gaps", trials.subject)
        return fit_simulator(trials)


def ninapro_source(path, sample_rate: float | None = None, loop: bool = False) -> BlockSource:
    """A NinaPro-layout file played as recorded (its own rest periods, labels from ``restimulus``)."""
    return recording_source(load_ninapro(path, sample_rate), loop=loop)


def csv_source(
    path,
    sample_rate: float = 0.0,
    order: str = "shuffled",
    rest_s: float = 1.0,
    seed: int = 0,
    loop: bool = False,
    units: str = "raw",
) -> BlockSource:
    """CSV EMG: a folder of ``R_<rep>_C_<class>_EMG.csv`` files played like Sapsanis trials
    (flat rest gaps at each channel's median; ``sample_rate`` 0 = the Myo's 200 Hz), or one
    CSV file (``CSV_FORMAT``) as it is, no labels, at the rate it states or ``sample_rate``.

    Raises:
        DatasetError: unreadable file; ConfigError: a single file with no rate given or stated,
            or a given rate that contradicts the file's.
    """
    path = Path(path)
    if path.is_dir():
        trials = load_csv_folder(path, sample_rate=sample_rate or MYO_RATE_HZ, units=units)
        return recording_source(trials_recording(trials, order, rest_s, seed), loop=loop)
    csv = read_csv(path)
    if not sample_rate and csv.sample_rate is None:
        raise ConfigError(f"{path} does not state its sample rate: give it (--rate HZ, sample_rate_hz) or add a "
                          "'# sample_rate_hz=...' line or a time_s column")
    if sample_rate and csv.sample_rate and abs(sample_rate - csv.sample_rate) > 0.01 * csv.sample_rate:
        raise ConfigError(f"{path} states {csv.sample_rate:g} Hz, the rate given is {sample_rate:g} Hz")
    sample_rate = sample_rate or csv.sample_rate
    data = csv.data
    step = max(1, int(sample_rate))

    def blocks():
        while True:
            for i in range(0, len(data), step):
                yield data[i : i + step], None
            if not loop:
                return

    return BlockSource(blocks(), sample_rate, csv.channel_names, units)
