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
from ..config import nested, param
from ..errors import ConfigError, SemgGraspError
from ..intent.base import IntentModel
from ..intent.models import load_model
from ..intent.decoder import NONFINITE, DecoderConfig, Decision, OnlineDecoder
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
    each window's halves. Windows end on the last sample of each 20 ms acquisition chunk, so a
    decision is taken as soon as its chunk arrives. The decoder's settings (``decoder.*``, the
    onset decoder) and why: ``intent.decoder.DecoderConfig``.
    """

    model: str = param("intent_150ms", "shipped model name in models/ or a checkpoint path (.json)", live=True)
    decoder: DecoderConfig = nested(DecoderConfig, "the streaming decision layer (intent.decoder)")
    expected_sample_rate_hz: float = param(0.0, "required model sample rate, Hz (0 = the model's)", (0.0, 1e6))
    expected_channels: int = param(0, "required model channel count (0 = the model's)", (0, 1024))
    frame_id: str = param("", "header.frame_id of the intents ('' = that of the EMG chunks)")
    adapt: bool = param(False, "adapt a personal model (semg-grasp calibrate) to the user during use: unsupervised "
                               "updates after every completed grasp (intent.adaptation)")

    def __post_init__(self):
        if not self.model:
            raise ConfigError("model must name a shipped model or a checkpoint path")


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
        decoder_config = _with_usual_hold(self.config.decoder, model)
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
        self.decoder.reconfigure(_with_usual_hold(config.decoder, self.model))
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
