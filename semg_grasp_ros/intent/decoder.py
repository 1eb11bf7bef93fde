"""Online grasp-intent decoding: the streaming wrapper around an offline model.

Per block of samples: check the block (finite values, continuity), filter it with the
model's causal filter (``emg.filters.StreamFilter``), cut the model's windows at the
decision stride (``emg.windows.WindowBuffer``), and for each window:

1. reject it when a channel is flat (disconnected) or clipped (saturated);
2. call it ``rest`` when its energy stays below the rest threshold on every channel
   (the threshold is a multiple of the per-channel RMS of a rest segment, calibrated
   from the first ``calibration_s`` of the stream or set explicitly);
3. otherwise ask the model (``IntentModel.predict_proba``, the same features as in
   training) and reject posteriors below ``min_confidence``;
4. majority vote over the last ``vote_window`` window decisions;
5. debounce: the published intent changes only after the vote has named the same new
   intent for ``debounce`` consecutive decisions (from no grasp to a grasp), for
   ``release_debounce`` (from a grasp to no grasp) or ``switch_debounce`` (from one grasp
   type to another): a grasp starts fast, and a held grasp neither flickers to another type
   nor drops out for a moment. During the first ``correction_ms`` of a grasp its type may
   still change after ``debounce`` votes: the first windows of a contraction often look like
   another grasp, and the onset's type is corrected as soon as the contraction shows its own.

With ``evidence_threshold`` > 0 the decision layer accumulates evidence instead of voting
(the onset decoder): a contraction starts after ``onset_windows`` consecutive active windows
(step 2 with the rest level at ``rest_percentile`` of the user's own rest windows), and from its
first window on the weighted log posteriors of its windows are summed (a sequential probability
ratio test between the classes). While the leading class's accumulated posterior stays below
``evidence_threshold`` the intent is *undecided* (published as no grasp: the hand stays open);
once it is reached that type is published and held for the whole contraction, which ends after
``release_debounce`` windows below ``release_factor`` x the rest level (hysteresis; on their newest
``release_window_ms``). The next contraction decides afresh. ``max_undecided_ms`` bounds the
undecided state. Every decision also carries the contraction ``level`` (0-1) for proportional
closing (``intent.level``).

Windows end on the last samples of ``stride``-sample blocks of the stream (absolute sample
indices ``k * stride - 1``), so with chunks of a multiple of the stride a decision is taken as
soon as the chunk completing its window arrives.

Deterministic: the output depends only on the samples and their indices.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from .. import REST
from ..config import nested, param
from ..emg.filters import filter_trials
from ..emg.windows import samples_for_ms
from ..errors import ConfigError, DataError
from ..throttle import Throttle
from .base import IntentModel
from .level import ContractionLevel, LevelConfig, given_per_channel
from .signal_checks import signal_problem

log = logging.getLogger(__name__)

#: Label used in the vote for "no grasp" (rest or a rejected window).
NO_GRASP = -1
#: rejection reason of a window with NaN or inf samples
NONFINITE = "non-finite samples"
#: A repeated rejection reason is logged at most once per this many seconds of signal.
LOG_EVERY_S = 5.0


@dataclass(frozen=True)
class DecoderConfig:
    """Streaming decision parameters (see the module docstring); the classifier node's ``decoder.*``.

    Why the defaults (the onset decoder: ``evidence_threshold`` 0.95, ``evidence_weight`` 0.05,
    ``onset_windows`` 1, rest level at the 95th percentile of the user's rest windows, ``rest_factor``
    1.2, ``release_factor`` 1.0, ``release_debounce`` 3 on the newest 80 ms of each window): chosen
    with the 150 ms model on validation repetitions 18-23 of the Sapsanis subjects (models trained on
    0-17) against the vote decoder (``bench/decoder_vote.yaml``) and other settings. The first windows
    of a contraction often look like another grasp, so it waits for evidence (the hand stays open,
    about 0.7 s) and then names the grasp once, instead of pre-shaping on every early guess;
    ``evidence_ramp_ms`` 400 helps on repetitions 12-17 (models trained on 0-11: first decided type
    90.7 -> 97.2 %) but not on 18-23 (97.2 % either way) and costs 0.1 s, so it stays off; the rest
    threshold from the spread of the user's own rest keeps grasps from starting out of rest, so one
    active window starts a contraction (controller delay about 90 ms); the end of a contraction is
    seen on the newest samples, so the hand opens about 0.2 s after the user relaxes
    (``bench/results/decoder.json``: held-out repetitions 24-29). For ``evidence_threshold`` 0 (the
    vote decoder) ``switch_debounce`` 10 and ``correction_ms`` 200 (an onset's type corrected, then a
    held grasp switches only on firm evidence), a low ``min_confidence``; the vote settings give a
    controller delay (half the window + processing + vote lag, Farrell & Weir 2007) of about 110 ms:
    75 + a few ms + (1 + 0 + 1/2) x 20 ms (``bench/e2e.py`` measures both side by side).
    ``clip_samples`` 4: real quantised sEMG reaches its window maximum at most 3 samples in a row
    (Sapsanis: max run 3 over every window of the three subjects); a clipped amplifier stays there.
    """

    stride_ms: float = param(20.0, "time between decisions, ms (decision rate = 1000 / stride_ms Hz)", (1.0, 1000.0))
    vote_window: int = param(3, "window decisions in the majority vote", (1, 100), live=True)
    min_confidence: float = param(0.3, "posteriors below this are rejected (no grasp)", (0.0, 1.0), live=True)
    debounce: int = param(1, "consecutive identical votes needed to start a grasp (from no grasp)", (1, 100),
                          live=True)
    release_debounce: int = param(3, "votes needed to go from a grasp to no grasp (0 = debounce)", (0, 1000),
                                  live=True)
    switch_debounce: int = param(10, "votes needed to go from one grasp type to another (0 = debounce)", (0, 1000),
                                 live=True)
    correction_ms: float = param(200.0, "for this long after a grasp starts (ms), another type takes over after "
                                      "debounce votes instead of switch_debounce (0 = never)", (0.0, 10000.0),
                               live=True)
    rest_factor: float = param(1.2, "a channel is active above rest_factor x its rest RMS", (0.1, 1000.0), live=True)
    rest_rms: tuple[float, ...] = param((0.0,), "rest RMS of the filtered signal per channel (one value = all "
                                                "channels); 0 = calibrate")
    calibration_s: float = param(2.0, "seconds of rest at the stream start used to calibrate", (0.0, 600.0))
    flat_std: float = param(1e-6, "raw channel std below this (signal units) = flat electrode", (0.0, 1e6))
    clip_samples: int = param(4, "consecutive samples at the channel's rail = clipped (0 = off)", (0, 100000))
    saturation_level: float = param(0.0, "absolute raw level treated as saturation (0 = off)", (0.0, 1e12))
    rest_percentile: float = param(95.0, "percentile of the calibration windows' RMS taken as the rest level",
                                   (1.0, 100.0))
    evidence_threshold: float = param(0.95, "onset decoder: accumulated posterior at which a type is published "
                                           "(0 = the vote decoder)", (0.0, 0.999999), live=True)
    evidence_weight: float = param(0.05, "onset decoder: weight of each window's log posterior (0 = stride / window)",
                                   (0.0, 10.0), live=True)
    onset_windows: int = param(1, "onset decoder: consecutive active windows that start a contraction", (1, 100),
                               live=True)
    release_factor: float = param(1.0, "onset decoder: a contraction's window is rest below release_factor x the "
                                       "rest level (0 = rest_factor)", (0.0, 1000.0), live=True)
    max_undecided_ms: float = param(0.0, "onset decoder: undecided this long publishes the leading type (0 = never)",
                                    (0.0, 100000.0), live=True)
    release_window_ms: float = param(80.0, "onset decoder: a contraction ends on the newest this many ms of each "
                                          "window being quiet (0 = the whole window)", (0.0, 10000.0))
    evidence_ramp_ms: float = param(0.0, "onset decoder: a contraction's windows weigh in the evidence in "
                                         "proportion to their time since its start over this, up to 1 (0 = all "
                                         "alike)", (0.0, 10000.0), live=True)
    level: LevelConfig = nested(LevelConfig, "the contraction level for proportional closing (intent.level)")

    def __post_init__(self):
        object.__setattr__(self, "rest_rms", given_per_channel(self.rest_rms))
        if not self.stride_ms > 0:
            raise ConfigError(f"stride_ms must be > 0, got {self.stride_ms}")
        if self.vote_window < 1 or self.debounce < 1:
            raise ConfigError(f"vote_window ({self.vote_window}) and debounce ({self.debounce}) must be >= 1")
        if not 0 <= self.correction_ms < 1e6:
            raise ConfigError(f"correction_ms must be in [0, 1e6), got {self.correction_ms}")
        if self.release_debounce < 0 or self.switch_debounce < 0:
            raise ConfigError(f"release_debounce ({self.release_debounce}) and switch_debounce "
                              f"({self.switch_debounce}) must be >= 0 (0 = debounce)")
        if not 0 <= self.min_confidence <= 1:
            raise ConfigError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not self.rest_factor > 0 or self.calibration_s < 0 or self.flat_std < 0 or self.clip_samples < 0:
            raise ConfigError("rest_factor must be > 0; calibration_s, flat_std, clip_samples >= 0")
        if any(not (v > 0 and np.isfinite(v)) for v in self.rest_rms):
            raise ConfigError(f"rest_rms values must be finite and > 0 (all 0 = calibrate), got {self.rest_rms}")
        if not self.rest_rms and self.calibration_s <= 0:
            raise ConfigError("give rest_rms or a calibration_s > 0 to calibrate the rest level")
        if not (0 < self.rest_percentile <= 100 and 0 <= self.evidence_threshold < 1 and self.evidence_weight >= 0
                and self.onset_windows >= 1 and self.release_factor >= 0 and self.max_undecided_ms >= 0
                and self.release_window_ms >= 0 and self.evidence_ramp_ms >= 0):
            raise ConfigError("need 0 < rest_percentile <= 100, 0 <= evidence_threshold < 1, evidence_weight >= 0, "
                              "onset_windows >= 1, release_factor >= 0, max_undecided_ms >= 0, "
                              "release_window_ms >= 0, evidence_ramp_ms >= 0")
        if not self.saturation_level >= 0:
            raise ConfigError(f"saturation_level must be > 0, or 0 for no check, got {self.saturation_level}")

    def for_channels(self, n_channels: int) -> DecoderConfig:
        """This config with ``n_channels`` values (or none) in ``rest_rms`` and ``level.max_rms``.

        Raises:
            ConfigError: neither one nor ``n_channels`` values.
        """
        def expand(name, values):
            if values and len(values) not in (1, n_channels):
                raise ConfigError(f"{name} needs 1 or {n_channels} values, got {len(values)}")
            return values * n_channels if len(values) == 1 else values

        return replace(self, rest_rms=expand("rest_rms", self.rest_rms),
                       level=replace(self.level, max_rms=expand("max_rms", self.level.max_rms)))


@dataclass(frozen=True)
class Decision:
    """One decision of the decoder.

    Attributes:
        end_index: stream index of the last sample of the deciding window (or of the
            rejected block).
        class_index: published intent: index into the model's classes, -1 for no grasp.
        confidence: probability of the published intent (window-level, of the latest
            window); 1 for a confident rest, 0 for a rejection.
        probabilities: (n_classes,) model posteriors of the latest window (zeros when the
            model was not consulted).
        window_label: this window's own decision before vote and debounce (-1 = none).
        reason: ``"grasp"``, ``"rest"``, ``"low confidence"``, ``"undecided"``, ``"calibrating"`` or the
            reason of a rejection (``"non-finite samples"``, ``"flat channel ch2"``, ...).
        window_samples: samples in the deciding window.
        level: contraction level 0-1 for proportional closing (0 for rejected windows and
            while calibrating).
    """

    end_index: int
    class_index: int
    confidence: float
    probabilities: np.ndarray
    window_label: int
    reason: str
    window_samples: int
    level: float = 0.0

    @property
    def rejected(self) -> bool:
        return self.reason not in ("grasp", "rest", "low confidence", "undecided", "calibrating")


class OnlineDecoder:
    """Streaming decoder around a fitted window model (see module docstring)."""

    def __init__(self, model: IntentModel, config: DecoderConfig = DecoderConfig()):
        if not model.fitted:
            raise ConfigError("the online decoder needs a trained model")
        spec = model.spec
        config = config.for_channels(spec.n_channels)
        self.model, self.config, self.spec = model, config, spec
        self.stride = samples_for_ms(config.stride_ms, spec.sample_rate)
        self.correction = int(round(config.correction_ms * spec.sample_rate / 1e3))
        # samples of the stream calibrated on: calibration_s, at least two windows (the first is dropped)
        self.n_calibration = max(int(round(config.calibration_s * spec.sample_rate)), 2 * spec.window)
        self._filter = spec.stream_filter()
        self._raw = spec.window_buffer(self.stride)
        self._filtered = spec.window_buffer(self.stride)
        self.rest_rms = np.asarray(config.rest_rms, dtype=np.float64) if config.rest_rms else None
        self.rest_median = self.rest_rms  # the level's rest: the median window RMS (rest_rms at rest_percentile)
        # samples of the quiet test at a contraction's end, and their rest level (rest_rms until calibrated)
        self.release_samples = min(max(samples_for_ms(config.release_window_ms, spec.sample_rate), 1), spec.window) \
            if config.release_window_ms else spec.window
        self.release_rms = self.rest_rms
        self.level = ContractionLevel(config.level, config.stride_ms / 1e3)
        self._calibration: list[np.ndarray] = []
        self._calibrated_samples = 0
        self._throttle = Throttle(LOG_EVERY_S * spec.sample_rate, per_key=False)  # rejection reasons, by sample
        self.reset_stream()
        self.reset_decisions()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    @property
    def window_samples(self) -> int:
        return self.spec.window

    def reset_decisions(self) -> None:
        """Forget the vote history and the published intent (back to no grasp)."""
        self._votes: deque[int] = deque(maxlen=self.config.vote_window)
        self._current = NO_GRASP
        self._candidate = NO_GRASP
        self._candidate_run = 0
        self._started_at = 0  # stream index of the decision that started the current grasp
        # onset decoder: active-window run, contraction state, accumulated log evidence, quiet run
        self._active_run = 0
        self._contraction = False
        self._evidence = np.zeros(len(self.class_names))
        self._contraction_start = 0
        self._quiet_run = 0

    def reconfigure(self, config: DecoderConfig) -> None:
        """Decide with ``config`` from the next window on, keeping the stream, the calibration
        and the votes (the latest ``vote_window`` of them). Stride, calibration length and release
        window are fixed while streaming.

        Raises:
            ConfigError: ``config`` changes ``stride_ms``, ``calibration_s`` or ``release_window_ms``, or
                does not fit the model's channels (``for_channels``).
        """
        config = config.for_channels(self.spec.n_channels)
        fixed = ("stride_ms", "calibration_s", "release_window_ms")
        if any(getattr(config, k) != getattr(self.config, k) for k in fixed):
            raise ConfigError("stride_ms, calibration_s and release_window_ms cannot change while streaming")
        self.config = config
        self.correction = int(round(config.correction_ms * self.spec.sample_rate / 1e3))
        self._votes = deque(self._votes, maxlen=config.vote_window)

    def reset_stream(self) -> None:
        """Forget filter state and buffered samples (after a gap or bad samples)."""
        self._filter.reset()
        self._raw.reset()
        self._filtered.reset()
        self._expected_index = None
        self._stream_offset = 0

    def calibrate(self, rest: np.ndarray) -> np.ndarray:
        """Set the rest level from a rest segment (n_samples, n_channels) of raw signal.

        Returns:
            (n_channels,) rest RMS of the filtered segment (its first window dropped so
            the filter has settled).
        """
        rest = np.asarray(rest, dtype=np.float64)
        if rest.ndim != 2 or rest.shape[1] != self.spec.n_channels or rest.shape[0] < 2 * self.spec.window:
            raise DataError(
                f"rest segment must be (>= {2 * self.spec.window} samples, {self.spec.n_channels}), got {rest.shape}"
            )
        if not np.all(np.isfinite(rest)):
            raise DataError("rest segment contains NaN or inf")
        self.rest_rms, self.rest_median, self.release_rms = self._rest_level(
            filter_trials(rest, self.spec.sos())[self.spec.window :])
        log.info("rest level calibrated: RMS %s", np.array2string(self.rest_rms, precision=4))
        return self.rest_rms

    def _rest_level(self, filtered: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n_channels,) rest RMS of a filtered segment (n_samples, n_channels) at ``rest_percentile``
        of its non-overlapping windows' RMS, their median (a brief movement does not count), and the
        RMS at ``rest_percentile`` of its pieces of the release test's length."""
        def percentiles(w, qs):
            n = max(filtered.shape[0] // w, 1)
            pieces = filtered[: n * w].reshape(n, -1, filtered.shape[1])
            rms = np.sqrt(np.mean(np.square(pieces), axis=1))
            return [np.maximum(np.percentile(rms, q, axis=0), 1e-12) for q in qs]

        rest, median = percentiles(self.spec.window, (self.config.rest_percentile, 50.0))
        release = percentiles(self.release_samples, (self.config.rest_percentile,))[0] \
            if self.release_samples != self.spec.window else rest
        return rest, median, release

    # --- per block -------------------------------------------------------------------

    def process(self, block: np.ndarray, first_index: int, sample_rate: float | None = None,
                n_channels: int | None = None) -> list[Decision]:
        """Feed (n_samples, n_channels) raw samples whose first has stream index ``first_index``.

        Returns:
            The decisions of the windows completed by this block (or one rejection).
        """
        block = np.asarray(block)
        end = int(first_index) + max(block.shape[0] if block.ndim else 0, 1) - 1
        if sample_rate is not None and abs(sample_rate - self.spec.sample_rate) > 1e-6 * self.spec.sample_rate:
            return [self._reject(end, f"sample rate {sample_rate} Hz, model expects {self.spec.sample_rate} Hz")]
        channels = block.shape[1] if block.ndim == 2 else n_channels
        if block.ndim != 2 or channels != self.spec.n_channels or (n_channels is not None and n_channels != channels):
            return [self._reject(end, f"{channels} channels, model expects {self.spec.n_channels}")]
        if block.shape[0] == 0:
            return []
        block = block.astype(np.float64)
        if not np.all(np.isfinite(block)):
            self.reset_stream()
            return [self._reject(end, NONFINITE)]
        if self._expected_index is not None and first_index != self._expected_index:
            log.warning("sample index jumps from %d to %d; stream reset", self._expected_index, first_index)
            self.reset_stream()
        if self._expected_index is None:
            self._stream_offset = int(first_index)
            # windows end on absolute indices k * stride - 1 (the last samples of aligned chunks)
            first_end = self.spec.window - 1 + (-(int(first_index) + self.spec.window)) % self.stride
            self._raw.reset(first_end)
            self._filtered.reset(first_end)
        self._expected_index = int(first_index) + block.shape[0]
        filtered = self._filter.process(block)
        if self.rest_rms is None:
            self._collect_calibration(filtered)
        raw_windows, ends = self._raw.push(block)
        filt_windows, _ = self._filtered.push(filtered)
        return [self._decide(raw_windows[i], filt_windows[i], int(ends[i]) + self._stream_offset)
                for i in range(ends.size)]

    def _collect_calibration(self, filtered: np.ndarray) -> None:
        self._calibration.append(filtered)
        self._calibrated_samples += filtered.shape[0]
        # the first calibration_s of the stream, less the first window (the filter settling)
        if self._calibrated_samples >= self.n_calibration:
            data = np.concatenate(self._calibration)[self.spec.window : self.n_calibration]
            self.rest_rms, self.rest_median, self.release_rms = self._rest_level(data)
            self._calibration = []
            log.info("rest level calibrated from the stream: RMS %s", np.array2string(self.rest_rms, precision=4))

    def _decide(self, raw: np.ndarray, filtered: np.ndarray, end: int) -> Decision:
        zeros = np.zeros(len(self.class_names))
        c = self.config
        problem = signal_problem(raw, self.spec.channel_names, c.flat_std, c.saturation_level or None,
                                 c.clip_samples)
        if problem is not None:
            return self._reject(end, problem)
        if self.rest_rms is None:
            return self._publish(end, NO_GRASP, 0.0, zeros, "calibrating")
        power = np.einsum("ij,ij->j", filtered, filtered) / filtered.shape[0]
        self.level.update(np.sqrt(power), self.rest_median)
        if self.config.evidence_threshold > 0:
            return self._accumulate(end, power, filtered)
        if np.all(power < (self.config.rest_factor * self.rest_rms) ** 2):
            return self._publish(end, NO_GRASP, 1.0, zeros, "rest")
        proba = self.model.predict_proba(filtered[None])[0]
        label = int(np.argmax(proba))
        if proba[label] < self.config.min_confidence:
            return self._publish(end, NO_GRASP, 1.0 - float(proba[label]), proba, "low confidence")
        return self._publish(end, label, float(proba[label]), proba, "grasp")

    def _accumulate(self, end: int, power: np.ndarray, filtered: np.ndarray) -> Decision:
        """The onset decoder's step for one window (see the module docstring)."""
        c = self.config
        zeros = np.zeros(len(self.class_names))
        active = bool(np.any(power >= (c.rest_factor * self.rest_rms) ** 2))
        if not self._contraction:
            self._active_run = self._active_run + 1 if active else 0
            if not active:
                self._evidence[:] = 0.0
                return self._emit(end, NO_GRASP, 1.0, zeros, NO_GRASP, "rest")
        else:
            # a grasp opens on the newest samples going quiet; an undecided contraction (the hand
            # open already) keeps its evidence until whole windows are quiet
            recent = filtered[-self.release_samples:] if self._current != NO_GRASP else filtered
            rest = self.release_rms if self._current != NO_GRASP else self.rest_rms
            quiet = bool(np.all(np.einsum("ij,ij->j", recent, recent) / recent.shape[0]
                                < ((c.release_factor or c.rest_factor) * rest) ** 2))
            self._quiet_run = self._quiet_run + 1 if quiet else 0
            if self._quiet_run >= (c.release_debounce or c.debounce):
                self._contraction, self._current, self._active_run = False, NO_GRASP, 0
                self._evidence[:] = 0.0
                return self._emit(end, NO_GRASP, 1.0, zeros, NO_GRASP, "rest")
            if quiet:  # a dip inside the contraction: no evidence, the published intent holds
                conf = 1.0 if self._current == NO_GRASP else 0.0
                return self._emit(end, self._current, conf, zeros, NO_GRASP, "rest")
        proba = self.model.predict_proba(filtered[None])[0]
        label = int(np.argmax(proba))
        if not self._contraction and self._active_run == 1:
            self._contraction_start = end
        weight = c.evidence_weight or self.stride / self.spec.window
        if c.evidence_ramp_ms:  # the contraction's first windows (partly rest, its rise) count less
            since_ms = (end - self._contraction_start) * 1e3 / self.spec.sample_rate + c.stride_ms
            weight *= min(1.0, since_ms / c.evidence_ramp_ms)
        self._evidence += weight * np.log(np.clip(proba, 1e-4, 1.0))
        if not self._contraction:
            if self._active_run < c.onset_windows:
                return self._emit(end, NO_GRASP, 0.0, proba, label, "undecided")
            self._contraction, self._quiet_run = True, 0
        posterior = np.exp(self._evidence - self._evidence.max())
        posterior /= posterior.sum()
        if self._current == NO_GRASP:
            lead = int(np.argmax(posterior))
            waited = (end - self._contraction_start) * 1e3 / self.spec.sample_rate
            if posterior[lead] >= c.evidence_threshold or (c.max_undecided_ms and waited >= c.max_undecided_ms):
                self._current, self._started_at = lead, end
            else:
                return self._emit(end, NO_GRASP, float(1.0 - posterior[lead]), proba, label, "undecided")
        return self._emit(end, self._current, float(posterior[self._current]), proba, label, "grasp")

    def _emit(self, end: int, current: int, conf: float, proba: np.ndarray, label: int, reason: str) -> Decision:
        level = self.level.level if self.rest_rms is not None and reason != "calibrating" else 0.0
        return Decision(end, current, float(np.clip(conf, 0.0, 1.0)), proba, label, reason, self.spec.window, level)

    def _vote(self) -> int:
        """Most frequent label of the history; ties go to the most recent of the tied."""
        labels = list(self._votes)
        counts = {lab: labels.count(lab) for lab in labels}
        best = max(counts.values())
        for lab in reversed(labels):
            if counts[lab] == best:
                return lab
        return NO_GRASP

    def _needed(self, voted: int, end: int) -> int:
        """Consecutive votes needed to publish ``voted`` instead of the current intent at the
        decision whose window ends on stream index ``end``."""
        c = self.config
        if self._current == NO_GRASP:
            return c.debounce
        if voted == NO_GRASP:
            return c.release_debounce or c.debounce
        if end - self._started_at < self.correction:
            return c.debounce
        return c.switch_debounce or c.debounce

    def _publish(self, end: int, label: int, confidence: float, proba: np.ndarray, reason: str) -> Decision:
        self._votes.append(label)
        voted = self._vote()
        if voted == self._current:
            self._candidate, self._candidate_run = voted, 0
        else:
            if voted == self._candidate:
                self._candidate_run += 1
            else:
                self._candidate, self._candidate_run = voted, 1
            if self._candidate_run >= self._needed(voted, end):
                if self._current == NO_GRASP:
                    self._started_at = end
                self._current, self._candidate_run = voted, 0
        current = self._current
        if current == NO_GRASP:
            conf = confidence if label == NO_GRASP else 1.0 - confidence
        else:
            conf = float(proba[current]) if proba.any() else 0.0
        return self._emit(end, current, conf, proba, label, reason)

    def _reject(self, end: int, reason: str) -> Decision:
        """A rejected window: counts as no grasp in the vote, reason logged (throttled:
        when the reason changes, else once per ``LOG_EVERY_S`` of signal)."""
        if self._throttle(reason, end):
            log.warning("grasp decision rejected at sample %d: %s", end, reason)
        self._votes.append(NO_GRASP)
        # A bad signal must not keep an old grasp alive: drop the published intent at once.
        self._current, self._candidate, self._candidate_run = NO_GRASP, NO_GRASP, 0
        self._contraction, self._active_run, self._evidence[:] = False, 0, 0.0
        self.level.reset()
        return Decision(end, NO_GRASP, 0.0, np.zeros(len(self.class_names)), NO_GRASP, reason, self.spec.window)

    @staticmethod
    def intent_name(class_names, index: int) -> str:
        return REST if index < 0 else class_names[index]
