"""The grasp-classifier component: ``EmgChunk`` on ``emg/chunks`` -> ``GraspIntent`` on ``grasp/intent``.

Wraps ``intent.decoder.OnlineDecoder`` around a trained window model (the shipped
default unless told otherwise): one ``GraspIntent`` per decision, every ``stride_ms`` of
signal, stamped with the time of the last sample of the deciding window. Bad input
(NaN/inf, a flat or clipped channel, a wrong sample rate or channel count, gaps in
``first_sample_index``) gives a rejected intent (``rest``, class -1, confidence 0) with a
logged reason; a gap also restarts the filter and window buffers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace

from .. import REST
from ..config import param
from ..errors import ConfigError, SemgGraspError
from ..intent.base import IntentModel
from ..intent.models import load_model
from ..intent.decoder import NONFINITE, DecoderConfig, Decision, OnlineDecoder
from ..intent.level import LevelConfig
from ..topics import EMG_CHUNKS, GRASP_INTENT
from ..types import EmgChunk, GraspIntent, Header
from .component import Ports

log = logging.getLogger(__name__)

INPUT_TOPIC = EMG_CHUNKS
OUTPUT_TOPIC = GRASP_INTENT


@dataclass(frozen=True)
class GraspClassifierConfig:
    """Parameters of the classifier node (``config/grasp_classifier.yaml`` sets those that differ).

    Why the defaults: ``intent_150ms`` is the rich-feature MLP trained on the three Sapsanis
    subjects with 150 ms windows (``intent_default``: 250 ms, slower to react), on the
    contraction's rise too (the windows this decoder accumulates first) and on the features of
    each window's halves. Windows end
    on the last sample of each 20 ms acquisition chunk, so a decision is taken as soon as its
    chunk arrives. The onset decoder (``evidence_threshold`` 0.95, ``evidence_weight`` 0.05,
    ``onset_windows`` 1, rest level at the 95th percentile of the user's rest windows,
    ``rest_factor`` 1.2, ``release_factor`` 1.0, ``release_debounce`` 3 on the newest 80 ms of each
    window, ``release_window_ms``) was chosen on validation repetitions 18-23 of the Sapsanis
    subjects (models trained on 0-17) against the vote decoder (``bench/decoder_vote.yaml``) and
    other settings: the first windows of a contraction often look like another grasp, so it waits
    for evidence (the hand stays open, about 0.7 s) and then names the grasp once, instead of
    pre-shaping on every early guess; weighing the rise's windows less (``evidence_ramp_ms`` 400)
    helps on repetitions 12-17 (models trained on 0-11: first decided type 90.7 -> 97.2 %) but not on
    18-23 (97.2 % either way) and costs 0.1 s, so it stays off; the rest threshold from the spread of the user's own rest
    keeps grasps from starting out of rest, so one active window starts a contraction (the
    controller delay); the end of a contraction is seen on the newest samples, so the hand opens
    about 0.2 s after the user relaxes (``bench/results/decoder.json``: held-out repetitions
    24-29). For ``evidence_threshold`` 0 (the vote decoder) ``switch_debounce`` 10 and
    ``correction_ms`` 200 (an onset's type corrected, then a held grasp switches only on firm
    evidence), a low ``min_confidence``. ``clip_samples`` 4: quantised real sEMG stays at its window
    maximum for at most 3 samples.
    """

    model: str = param("intent_150ms", "shipped model name in models/ or a checkpoint path (.json)", live=True)
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
    rest_rms: tuple[float, ...] = param(
        (0.0,), "rest RMS of the filtered signal per channel (one value = all channels); 0 = calibrate"
    )
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
    max_rms: tuple[float, ...] = param(
        (0.0,), "RMS of the filtered signal per channel at which the hand closes fully (one value = all channels); "
                "0 = the personal model's usual calibration hold (semg-grasp calibrate), else the strongest seen so far"
    )
    level_smoothing_s: float = param(0.1, "level: time constant of the fast power estimate, s", (0.001, 10.0))
    level_steady_s: float = param(4.0, "level: a held contraction's power is averaged over up to this long, s",
                                  (0.001, 600.0))
    level_track_s: float = param(0.4, "level: after a change the level follows the fast estimate this long, s",
                                 (0.0, 10.0))
    level_noise: float = param(0.1, "level: relative standard deviation of the fast power estimate", (0.001, 10.0))
    level_change: float = param(5.0, "level: a change is a departure of the fast estimate from the held mean by "
                                     "more than this many standard deviations", (0.01, 100.0))
    level_band: float = param(1.5, "level: the published level holds while within this many standard deviations "
                                   "of the held mean", (0.0, 100.0))
    level_deadband: float = param(0.05, "levels below this are 0", (0.0, 0.99))
    expected_sample_rate_hz: float = param(0.0, "required model sample rate, Hz (0 = the model's)", (0.0, 1e6))
    expected_channels: int = param(0, "required model channel count (0 = the model's)", (0, 1024))
    frame_id: str = param("", "header.frame_id of the intents ('' = that of the EMG chunks)")
    adapt: bool = param(False, "adapt a personal model (semg-grasp calibrate) to the user during use: unsupervised "
                               "updates after every completed grasp (intent.adaptation)")

    def __post_init__(self):
        if not self.model:
            raise ConfigError("model must name a shipped model or a checkpoint path")
        self.decoder_config(1)  # validate the decoder parameters now

    def decoder_config(self, n_channels: int) -> DecoderConfig:
        """The ``DecoderConfig`` for a model with ``n_channels`` channels."""
        def per_channel(values):
            values = tuple(float(v) for v in values)
            return () if all(v == 0 for v in values) else values * n_channels if len(values) == 1 else values

        return DecoderConfig(
            stride_ms=self.stride_ms,
            vote_window=self.vote_window,
            min_confidence=self.min_confidence,
            debounce=self.debounce,
            release_debounce=self.release_debounce,
            switch_debounce=self.switch_debounce,
            correction_ms=self.correction_ms,
            rest_factor=self.rest_factor,
            rest_rms=per_channel(self.rest_rms),
            calibration_s=self.calibration_s,
            flat_std=self.flat_std,
            clip_samples=self.clip_samples,
            saturation_level=self.saturation_level or None,
            rest_percentile=self.rest_percentile,
            evidence_threshold=self.evidence_threshold,
            evidence_weight=self.evidence_weight,
            onset_windows=self.onset_windows,
            release_factor=self.release_factor,
            max_undecided_ms=self.max_undecided_ms,
            release_window_ms=self.release_window_ms,
            evidence_ramp_ms=self.evidence_ramp_ms,
            level=LevelConfig(per_channel(self.max_rms), self.level_smoothing_s, self.level_steady_s,
                              self.level_track_s, self.level_noise, self.level_change, self.level_band,
                              self.level_deadband),
        )


def _with_usual_hold(config, model: IntentModel):
    """``config`` (``DecoderConfig``) with the level's full closure at the personal model's usual
    calibration hold (``info["calibration"]["usual_hold_rms"]``) when no ``max_rms`` is given."""
    usual = (model.info.get("calibration") or {}).get("usual_hold_rms")
    if config.level.max_rms or not usual or len(usual) != model.spec.n_channels:
        return config
    return replace(config, level=replace(config.level, max_rms=tuple(float(v) for v in usual)))


class GraspClassifier:
    """Online grasp-type decoder component.

    Args:
        config: parameters.
        model: a trained ``IntentModel`` to use instead of loading ``config.model``.

    Raises:
        ConfigError: the model does not match ``expected_sample_rate_hz`` /
            ``expected_channels``, or parameters are invalid.
        ModelError: the model cannot be loaded.
    """

    name = "grasp_classifier"

    def __init__(self, config: GraspClassifierConfig | None = None, model: IntentModel | None = None):
        self.config = config or GraspClassifierConfig()
        #: every decision of the latest ``on_emg`` call (reasons included), for diagnostics.
        self.last_decisions: list[Decision] = []
        #: running counts: ``decisions``, ``rejected`` (bad input or signal), ``nonfinite_windows``,
        #: ``sample_gaps`` (chunks whose first sample does not follow the previous chunk's last).
        self.stats: Counter[str] = Counter()
        self._next_index: int | None = None
        self.set_model(model if model is not None else self.config.model)

    def set_model(self, model: IntentModel | str) -> None:
        """Decode with ``model`` (a model, or a shipped name or checkpoint path) from the next
        chunk on; the decoder starts afresh (filter, windows, rest level). On an error the
        current model stays in use.

        Raises:
            ModelError: the checkpoint cannot be loaded.
            ConfigError: the model does not fit ``expected_sample_rate_hz`` / ``expected_channels``
                / ``rest_rms``.
        """
        source = model if isinstance(model, str) else None
        model = load_model(model) if source is not None else model
        name = source or "given model"
        spec = model.spec
        if self.config.expected_sample_rate_hz and abs(self.config.expected_sample_rate_hz - spec.sample_rate) > 1e-6:
            raise ConfigError(
                f"model {name} was trained at {spec.sample_rate} Hz, the stream is configured for "
                f"{self.config.expected_sample_rate_hz} Hz"
            )
        if self.config.expected_channels and self.config.expected_channels != spec.n_channels:
            raise ConfigError(
                f"model {name} expects {spec.n_channels} channels, the stream is configured for "
                f"{self.config.expected_channels}"
            )
        decoder_config = _with_usual_hold(self.config.decoder_config(spec.n_channels), model)
        for values, given in (("rest_rms", decoder_config.rest_rms), ("max_rms", decoder_config.level.max_rms)):
            if given and len(getattr(self.config, values)) not in (1, spec.n_channels):
                raise ConfigError(f"{values} needs 1 or {spec.n_channels} values, got "
                                  f"{len(getattr(self.config, values))}")
        adapter = None
        if self.config.adapt:
            from ..intent.adaptation import StreamAdapter

            adapter = StreamAdapter(model)  # ConfigError for a model that is not a personal LDA
        self.decoder = OnlineDecoder(model, decoder_config)
        self.adapter = adapter
        self.model = model
        #: where the model in use came from (a name or path; None for a model given as an object).
        self.model_source = source
        log.info("decoding with %s (%s)", name, model.architecture)

    def reconfigure(self, config: GraspClassifierConfig) -> None:
        """Apply new ``live`` parameters: another ``model`` is loaded (``set_model``: the decoder
        starts afresh; on an error the current config and model stay); thresholds, vote and
        debounce go to the running decoder, keeping its calibration, filters and votes.

        Raises:
            ModelError, ConfigError: as ``set_model``, or the decoder refuses the values.
        """
        if config.model != self.config.model and config.model != self.model_source:
            current, self.config = self.config, config
            try:
                self.set_model(config.model)
            except SemgGraspError:
                self.config = current
                raise
            return
        self.decoder.reconfigure(_with_usual_hold(config.decoder_config(self.model.spec.n_channels), self.model))
        self.config = config

    def ports(self) -> Ports:
        return Ports(inputs={INPUT_TOPIC: self.on_emg}, outputs={GraspIntent: OUTPUT_TOPIC})

    def on_emg(self, chunk: EmgChunk) -> list[GraspIntent]:
        """Decode one chunk; returns one intent per decision it completes."""
        if self._next_index is not None and chunk.first_sample_index != self._next_index:
            self.stats["sample_gaps"] += 1  # chunks lost on the way (the decoder restarts its stream)
        self._next_index = chunk.first_sample_index + chunk.sample_count
        decisions = self.decoder.process(
            chunk.data, chunk.first_sample_index, sample_rate=chunk.sample_rate, n_channels=chunk.n_channels
        )
        self.last_decisions = decisions
        self.stats["decisions"] += len(decisions)
        self.stats["rejected"] += sum(d.rejected for d in decisions)
        self.stats["nonfinite_windows"] += sum(d.reason == NONFINITE for d in decisions)
        if self.adapter is not None:
            self.adapter.process(chunk.data, chunk.first_sample_index, decisions)
        frame = self.config.frame_id or chunk.header.frame_id
        names = self.model.class_names
        out = []
        for d in decisions:
            offset = d.end_index - chunk.first_sample_index
            stamp = chunk.header.stamp_ns + int(round(offset * 1e9 / chunk.sample_rate))
            out.append(
                GraspIntent(
                    header=Header(stamp, frame),
                    grasp_type=REST if d.class_index < 0 else names[d.class_index],
                    class_index=d.class_index,
                    confidence=d.confidence,
                    class_names=names,
                    probabilities=d.probabilities,
                    window_duration=d.window_samples / self.model.spec.sample_rate,
                    level=d.level,
                )
            )
        return out
