"""The sEMG acquisition component: a source -> ``EmgChunk``s on ``emg/chunks``.

A timer pulls from the source every ``chunk_ms``. Paced sources (simulator, files, bag
replay) are asked for exactly the samples due by the clock, so a simulated session
runs faster than real time with the same chunks every time; live sources (LSL,
BrainFlow) give what has arrived. No call blocks: an LSL stream is resolved once when
the component is built, never in the timer.

Chunks carry a running ``first_sample_index`` (0 for the first sample of the stream)
and ``header.stamp_ns`` = time of their first sample = ``t0 + index / rate``. For paced
sources ``t0`` is the time of the first tick minus one period; for live sources it is
set so that the first samples received end at the tick that received them, and it is
re-anchored (logged) when the sample clock and the arrival clock drift apart by more
than ``max_drift_s`` (a device that paused, or a fast or slow device clock).

Bad data from a source, each logged (throttled) and counted in ``stats``:

* NaN/inf samples are replaced by the last finite value of their channel (0 before
  any), so filters downstream are never poisoned; the chunk is still published.
* A block whose channel count differs from the stream's (fixed at the start) is
  dropped; the running index still advances past it, so receivers see the gap.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .. import GRASP_TYPES
from ..config import param
from ..errors import ConfigError
from ..throttle import by_count
from ..topics import EMG_CHUNKS
from ..types import EmgChunk, Header
from .component import Ports, Timer

log = logging.getLogger(__name__)

SOURCE_KINDS = ("simulated", "sapsanis", "ninapro", "csv", "bag", "lsl", "brainflow")
TOPIC = EMG_CHUNKS


@dataclass(frozen=True)
class EmgAcquisitionConfig:
    """Parameters of the acquisition (``config/emg_acquisition.yaml`` documents each).

    Attributes:
        source: one of ``SOURCE_KINDS``.
        chunk_ms: timer period, milliseconds (one chunk per tick).
        frame_id: header frame of the chunks.
        file: dataset file/folder (sapsanis, ninapro, csv) or bag directory (bag).
        sample_rate_hz: rate of the simulator / a CSV or NinaPro file without one (0 = default).
        seed: seed of the simulator, trial shuffling and simulated rest gaps.
        loop: restart paced sources at their end instead of ending.
        simulator_model: a Sapsanis subject (``"female_1"``), a JSON path or ``"generic"``.
        channels: channel count of the generic simulator model.
        script: simulator script ``"rest:2,spherical:3,..."``; ``""`` = every grasp
            ``repetitions`` times in shuffled order with rest between.
        repetitions, grasp_s, rest_s: the default script; ``rest_s`` is also the rest gap
            between dataset trials.
        trial_order: ``shuffled``, ``sequential`` or ``interleaved`` dataset trials.
        bag_topic: topic of the ``EmgChunk``s in a replayed bag.
        lsl_name, lsl_type: LSL stream to resolve (by name if given, else by type).
        timeout_s: how long to wait for a live device when starting.
        board_id, serial_port, ip_address, ip_port: BrainFlow board and connection.
        max_drift_s: live sources: re-anchor the stamps beyond this clock drift.
        max_chunk_s: the most signal one chunk carries (a stalled clock catches up in pieces).
    """

    source: str = param("simulated", "where samples come from: simulated, sapsanis, ninapro, csv, bag, lsl or brainflow")
    chunk_ms: float = param(20.0, "timer period in milliseconds; one EmgChunk per tick", range=(1.0, 1000.0))
    frame_id: str = param("emg", "header.frame_id of the chunks")
    file: str = param("", "dataset file or folder (sapsanis, ninapro, csv) or bag directory (bag)")
    sample_rate_hz: float = param(0.0, "sample rate of the simulator or of a file without one, Hz; 0 = the source's own", range=(0.0, 100000.0))
    seed: int = param(0, "seed of the simulator, trial shuffling and simulated rest gaps")
    loop: bool = param(False, "restart paced sources (simulated, files, bag) at their end")
    # A fitted subject by default: the shipped classifiers learnt these subjects, while the generic user's
    # grasp patterns are random draws no classifier was trained on (its cylindrical decodes as hook).
    simulator_model: str = param("female_1", "simulated user: a Sapsanis subject (female_1, female_2, male_1), "
                                 "a model .json, or 'generic' (random patterns, any channel count)")
    channels: int = param(2, "channel count of the generic simulated user", range=(1, 64))
    script: str = param("", "simulator script 'name:seconds,...'; '' = every grasp `repetitions` times, shuffled")
    repetitions: int = param(5, "default script: repetitions of each grasp", range=(1, 1000))
    grasp_s: float = param(3.0, "default script: seconds per grasp")
    rest_s: float = param(2.0, "seconds of rest between grasps (default script) and between dataset trials")
    trial_order: str = param("shuffled", "order of dataset trials: shuffled, sequential or interleaved")
    bag_topic: str = param(TOPIC, "topic of the EmgChunk messages in a replayed bag")
    lsl_name: str = param("", "LSL stream name to resolve ('' = resolve by type)")
    lsl_type: str = param("EMG", "LSL stream type to resolve when no name is given")
    timeout_s: float = param(5.0, "seconds to wait for a live device at start-up")
    board_id: int = param(-1, "BrainFlow board id (-1 = synthetic board)")
    serial_port: str = param("", "BrainFlow serial port")
    ip_address: str = param("", "BrainFlow IP address")
    ip_port: int = param(0, "BrainFlow IP port")
    max_drift_s: float = param(0.25, "live sources: re-anchor stamps beyond this clock drift, seconds")
    max_chunk_s: float = param(1.0, "most seconds of signal in one chunk")

    def __post_init__(self):
        if self.source not in SOURCE_KINDS:
            raise ConfigError(f"unknown source {self.source!r}; choose one of {SOURCE_KINDS}")
        if not (math.isfinite(self.chunk_ms) and 1.0 <= self.chunk_ms <= 1000.0):
            raise ConfigError(f"chunk_ms must be in [1, 1000] ms, got {self.chunk_ms}")
        if self.source in ("sapsanis", "ninapro", "csv", "bag") and not self.file:
            raise ConfigError(f"source {self.source!r} needs 'file' (a dataset file, folder or bag)")
        positive = dict(timeout_s=self.timeout_s, grasp_s=self.grasp_s, max_drift_s=self.max_drift_s,
                        max_chunk_s=self.max_chunk_s)
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        if not (math.isfinite(self.rest_s) and self.rest_s >= 0):
            raise ConfigError(f"rest_s must be >= 0, got {self.rest_s}")
        if not (math.isfinite(self.sample_rate_hz) and self.sample_rate_hz >= 0):
            raise ConfigError(f"sample_rate_hz must be >= 0 (0 = the source's own), got {self.sample_rate_hz}")
        if self.channels < 1 or self.repetitions < 1:
            raise ConfigError("channels and repetitions must be >= 1")
        if self.trial_order not in ("shuffled", "sequential", "interleaved"):
            raise ConfigError(f"trial_order must be shuffled, sequential or interleaved, got {self.trial_order!r}")
        if not self.frame_id:
            raise ConfigError("frame_id must not be empty")


def open_source(config: EmgAcquisitionConfig):
    """Build the ``EmgSource`` the config names (resolving a live device here, once).

    Raises:
        ConfigError, DatasetError, ModelError, BagError, DeviceError: as the source does.
    """
    from ..emg import sources

    rate = config.sample_rate_hz or None
    kind = config.source
    if kind == "simulated":
        from ..emg.simulator.model import SimulatorModel
        from ..emg.simulator.render import EmgSimulator, SimulatorConfig
        from ..emg.simulator.script import default_script, parse_script

        model = _simulator_model(config.simulator_model, SimulatorModel)
        sim = EmgSimulator(model, SimulatorConfig(sample_rate=rate, seed=config.seed), n_channels=config.channels)
        script = (parse_script(config.script) if config.script else
                  default_script(config.repetitions, config.grasp_s, config.rest_s, sim.class_names, config.seed))
        return sources.simulated_source(sim, script, loop=config.loop)
    if kind == "sapsanis":
        return sources.sapsanis_source(config.file, config.trial_order, config.rest_s, config.seed, config.loop)
    if kind == "ninapro":
        return sources.ninapro_source(config.file, rate, loop=config.loop)
    if kind == "csv":
        return sources.csv_source(config.file, rate, config.trial_order, config.rest_s,
                                  config.seed, config.loop)
    if kind == "bag":
        from .bag import BagSource

        return BagSource(config.file, config.bag_topic, loop=config.loop)
    from ..emg import devices

    if kind == "lsl":
        return devices.LslSource(config.lsl_name, config.lsl_type, config.timeout_s)
    return devices.BrainFlowSource(config.board_id, serial_port=config.serial_port, ip_address=config.ip_address,
                                   ip_port=config.ip_port)


#: ``simulator_model`` values naming the generic simulated user (no fitted model)
GENERIC_USER = ("generic", "")


def _simulator_model(name: str, model_cls):
    if name in GENERIC_USER:
        return None
    if name.endswith(".json"):
        return model_cls.load(name)
    return model_cls.shipped(name)


class EmgAcquisition:
    """Publishes ``EmgChunk``s from a source on ``emg/chunks``.

    Args:
        config: parameters.
        source: an ``EmgSource`` to use instead of opening the one ``config`` names.

    Attributes:
        stats: counters ``chunks``, ``samples``, ``nonfinite_samples``,
            ``dropped_samples``, ``reanchors``.
        finished: the source has ended and everything was published.
    """

    name = "emg_acquisition"

    def __init__(self, config: EmgAcquisitionConfig | None = None, source=None):
        self.config = config or EmgAcquisitionConfig()
        self.source = source if source is not None else open_source(self.config)
        self.channel_names = tuple(self.source.channel_names)
        self.sample_rate = float(self.source.sample_rate)
        if not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ConfigError(f"source reports sample rate {self.sample_rate}; expected a positive rate")
        self.period_ns = int(round(self.config.chunk_ms * 1e6))
        self.stats: Counter[str] = Counter()
        self.finished = False
        self._index = 0  # running index of the next sample
        self._t0_ns: int | None = None
        self._last = np.zeros(len(self.channel_names), np.float32)
        self._max_chunk = max(1, int(self.config.max_chunk_s * self.sample_rate))
        self._warned: Counter[str] = Counter()
        #: ground truth of the samples of the latest chunk (class index, -1 rest) when known.
        self.last_labels: np.ndarray | None = None
        self.class_names = tuple(getattr(self.source, "class_names", ())) or GRASP_TYPES

    def ports(self) -> Ports:
        return Ports(outputs={EmgChunk: TOPIC}, timers=[Timer(self.config.chunk_ms / 1000.0, self.on_timer)])

    def close(self) -> None:
        self.source.close()

    def resume(self) -> None:
        """Continue after a pause (the lifecycle node's deactivate, then activate): the next
        timer tick stamps its chunk at its own time instead of catching up the paused time."""
        self._t0_ns = None

    # ---- the timer ---------------------------------------------------------------------
    def on_timer(self, now_ns: int) -> list[EmgChunk]:
        """Pull what is due (paced) or has arrived (live) and wrap it in one chunk."""
        if self.finished:
            return []
        if self._t0_ns is None and not self.source.live:
            self._t0_ns = now_ns - self.period_ns - int(round(self._index * 1e9 / self.sample_rate))
        if self.source.live:
            want = self._max_chunk
        else:
            due = (now_ns - self._t0_ns) * self.sample_rate / 1e9
            want = min(int(math.floor(due + 1e-9)) - self._index, self._max_chunk)
        data = self.source.read(want) if want > 0 else np.zeros((0, len(self.channel_names)), np.float32)
        labels = getattr(self.source, "last_labels", None)
        if len(data) == 0:
            if self.source.ended:
                self.finished = True
                log.info("source ended after %d samples (%d chunks)", self._index, self.stats["chunks"])
            return []
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != len(self.channel_names):
            n = data.shape[0]
            self._index += n
            self.stats["dropped_samples"] += n
            self._throttled("channels", "source gave %s samples for a %d-channel stream; %d samples dropped "
                            "(index advances to %d)", data.shape, len(self.channel_names), n, self._index)
            return []
        data = self._clean(data)
        if self.source.live:
            if self._t0_ns is None:  # the first samples: the last of them arrived about now
                self._t0_ns = now_ns - int(round((self._index + len(data)) * 1e9 / self.sample_rate))
            self._check_drift(now_ns, len(data))
        chunk = EmgChunk(
            header=Header(self._t0_ns + int(round(self._index * 1e9 / self.sample_rate)), self.config.frame_id),
            sample_rate=self.sample_rate,
            channel_names=self.channel_names,
            first_sample_index=self._index,
            data=data,
            units=self.source.units,
        )
        self.last_labels = labels if labels is not None and len(labels) == len(data) else None
        self._index += len(data)
        self.stats["chunks"] += 1
        self.stats["samples"] += len(data)
        return [chunk]

    def _clean(self, data: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(data)
        if not bad.any():
            self._last = data[-1].copy()
            return data
        data = data.copy()
        for k in np.flatnonzero(bad.any(axis=0)):
            col, mask = data[:, k], bad[:, k]
            # Hold the last finite value: index of the latest finite sample at or before each.
            idx = np.where(~mask, np.arange(len(col)), -1)
            np.maximum.accumulate(idx, out=idx)
            col[:] = np.where(idx >= 0, col[np.maximum(idx, 0)], self._last[k])
        n = int(bad.sum())
        self.stats["nonfinite_samples"] += n
        self._throttled("nonfinite", "%d NaN/inf values at sample %d replaced by the channel's last finite value",
                        n, self._index)
        self._last = data[-1].copy()
        return data

    def _check_drift(self, now_ns: int, n: int) -> None:
        # The last sample of this block arrived about now.
        expected_ns = self._t0_ns + (self._index + n) * 1e9 / self.sample_rate
        drift = (now_ns - expected_ns) * 1e-9
        if abs(drift) > self.config.max_drift_s:
            self._t0_ns = now_ns - int(round((self._index + n) * 1e9 / self.sample_rate))
            self.stats["reanchors"] += 1
            self._throttled("drift", "live sample clock off by %.3f s from arrival; stamps re-anchored", drift)

    def _throttled(self, key: str, msg: str, *args) -> None:
        self._warned[key] += 1
        n = self._warned[key]
        if by_count(n):
            log.warning(msg + " (occurrence %d)", *args, n)
