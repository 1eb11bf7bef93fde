"""The calibration component: a guided session that makes a personal grasp-type model.

The session prompts rest and then every grasp in turn, ``repetitions`` times ("cylindrical:
grasp and hold", a countdown), with rest between. It is fed ``EmgChunk``s (``on_emg``) and
keeps time by the samples it received, so the labels of the recording follow the prompts
exactly whatever the source (a simulated user, a file, a live armband) and however fast it
runs. Each prompt is published as a ``GraspIntent`` on ``calibration/cue`` (the cued grasp,
confidence 1, ``rest`` between grasps): the ground truth of the recording, stored in the
session bag next to the EMG.

When the session is over, ``train()`` fits the personal model (``intent.adaptation``: LDA on
the pretrained model's window features, on the hold windows after ``settle_s`` and augmented
copies of them), scores it by
leave-one-repetition-out cross-validation (one decision per hold, as the trial level of
``intent.evaluation``) and returns it with its confusion matrix. The model is an ordinary
checkpoint: the classifier node, the demo and the standalone runtime load it.

The command line (``semg-grasp calibrate``) and the classifier node's calibration service
both drive this class.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import REST
from ..config import param
from ..emg.filters import filter_trials
from ..emg.windows import active_mask, sliding_windows
from ..errors import ConfigError, DataError
from ..intent.adaptation import AdaptConfig, personal_model
from ..intent.base import IntentModel
from ..intent.level import usual_hold_rms
from ..intent.metrics import confusion_matrix, scores
from ..topics import CALIBRATION_CUE, EMG_CHUNKS
from ..types import EmgChunk, GraspIntent, Header
from .component import Ports

log = logging.getLogger(__name__)

INPUT_TOPIC = EMG_CHUNKS
CUE_TOPIC = CALIBRATION_CUE


@dataclass(frozen=True)
class CalibrationConfig:
    """The guided session and the personal model.

    Attributes:
        repetitions: holds of every grasp (K of the few-shot protocol).
        hold_s: seconds of each hold.
        rest_s: seconds of rest before each hold.
        lead_s: seconds of rest before the first hold (the decoder's rest level is measured
            on the start of a stream).
        settle_s: seconds at the start of each hold left out of training (reaction time and
            the onset, which looks like another grasp).
        shrinkage: covariance shrinkage of the personal LDA.
    """

    repetitions: int = param(2, "holds of every grasp", (1, 50))
    hold_s: float = param(4.0, "seconds of each hold", (1.0, 60.0))
    rest_s: float = param(2.5, "seconds of rest before each hold", (0.5, 60.0))
    lead_s: float = param(4.0, "seconds of rest before the first hold", (0.5, 60.0))
    settle_s: float = param(1.0, "seconds at the start of each hold not trained on", (0.0, 30.0))
    shrinkage: float = param(AdaptConfig.shrinkage, "covariance shrinkage of the personal LDA", (0.0, 1.0))

    def __post_init__(self):
        for name in ("hold_s", "rest_s", "lead_s", "settle_s", "shrinkage"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be finite")
        if self.repetitions < 1 or self.hold_s <= 0 or self.rest_s < 0 or self.lead_s < 0:
            raise ConfigError("repetitions >= 1, hold_s > 0, rest_s and lead_s >= 0 needed")
        if not 0 <= self.settle_s < self.hold_s:
            raise ConfigError(f"settle_s must be in [0, hold_s = {self.hold_s}), got {self.settle_s}")


@dataclass(frozen=True)
class Step:
    """One prompt of the session: ``label`` -1 = rest; times in seconds from the start."""

    label: int
    name: str
    repetition: int
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def prompt(self) -> str:
        return "rest: relax the hand" if self.label < 0 else f"{self.name}: grasp and hold"


def protocol(class_names, config: CalibrationConfig) -> list[Step]:
    """Rest (``lead_s``), then for every repetition every grasp in turn, each after ``rest_s`` of rest."""
    steps, t = [], 0.0
    for r in range(config.repetitions):
        for k, name in enumerate(class_names):
            rest = config.lead_s if not steps else config.rest_s
            if rest > 0:
                steps.append(Step(-1, REST, r, t, rest))
                t += rest
            steps.append(Step(k, name, r, t, config.hold_s))
            t += config.hold_s
    return steps


def protocol_script(steps: list[Step]) -> str:
    """The simulator script (``name:seconds,...``) of a protocol: a simulated user following it."""
    return ",".join(f"{s.name}:{s.duration_s:g}" for s in steps)


@dataclass(frozen=True)
class Prompt:
    """What the person is asked to do now.

    Attributes:
        step: index of the step; ``steps`` in total.
        text: the prompt ("cylindrical: grasp and hold").
        remaining_s: seconds left in this step (the countdown).
        progress: fraction of the session done, in [0, 1].
    """

    step: int
    steps: int
    text: str
    remaining_s: float
    progress: float


@dataclass
class CalibrationResult:
    """The personal model and how well it did in cross-validation."""

    model: IntentModel
    cross_validation: dict | None
    train_seconds: float
    windows: int
    notes: list[str] = field(default_factory=list)


class CalibrationSession:
    """A guided calibration session fed by ``EmgChunk``s (see the module docstring).

    Args:
        pretrained: the pooled model the personal model starts from (input spec, features).
        config: the session and model settings.

    Attributes:
        steps: the protocol.
        finished: every step has its samples.
    """

    name = "calibration"

    def __init__(self, pretrained: IntentModel, config: CalibrationConfig | None = None):
        self.pretrained = pretrained
        self.config = config or CalibrationConfig()
        self.steps = protocol(pretrained.class_names, self.config)
        self.duration_s = self.steps[-1].end_s
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._rate: float | None = None
        self._channels: tuple[str, ...] | None = None
        self._next_index: int | None = None
        self._cued = -1

    def ports(self) -> Ports:
        return Ports(inputs={INPUT_TOPIC: self.on_emg}, outputs={GraspIntent: CUE_TOPIC})

    @property
    def elapsed_s(self) -> float:
        return self._samples / self._rate if self._rate else 0.0

    @property
    def finished(self) -> bool:
        return self._rate is not None and self.elapsed_s >= self.duration_s - 1e-9

    def step_at(self, t_s: float) -> int:
        """Index of the step in force at ``t_s`` seconds (the last one past the end)."""
        starts = np.array([s.start_s for s in self.steps])
        return int(np.clip(np.searchsorted(starts, t_s + 1e-9, side="right") - 1, 0, len(self.steps) - 1))

    def prompt(self) -> Prompt:
        """The prompt in force now (by the samples received so far)."""
        i = self.step_at(self.elapsed_s)
        step = self.steps[i]
        return Prompt(i, len(self.steps), step.prompt, max(0.0, step.end_s - self.elapsed_s),
                      min(1.0, self.elapsed_s / self.duration_s))

    def on_emg(self, chunk: EmgChunk) -> list[GraspIntent]:
        """Take a chunk (samples beyond the session's end are ignored); returns the cue of each
        step that starts within it.

        Raises:
            DataError: the stream changes rate or channels, or skips samples.
        """
        if self._rate is None:
            self._rate, self._channels = float(chunk.sample_rate), tuple(chunk.channel_names)
        elif abs(chunk.sample_rate - self._rate) > 1e-6 * self._rate or tuple(chunk.channel_names) != self._channels:
            raise DataError(f"calibration stream changed from {self._channels} at {self._rate} Hz to "
                            f"{tuple(chunk.channel_names)} at {chunk.sample_rate} Hz")
        if self._next_index is not None and chunk.first_sample_index != self._next_index:
            raise DataError(f"calibration stream lost samples (index {chunk.first_sample_index}, expected "
                            f"{self._next_index}); start the session again")
        self._next_index = chunk.next_sample_index
        if self.finished:
            return []
        need = int(round(self.duration_s * self._rate)) - self._samples
        data = np.asarray(chunk.data, dtype=np.float64)[:need]
        if not np.all(np.isfinite(data)):
            raise DataError("calibration stream has NaN/inf samples; check the electrodes and start again")
        start = self._samples
        self._chunks.append(data)
        self._samples += len(data)
        cues = []
        while self._cued + 1 < len(self.steps) and self.steps[self._cued + 1].start_s * self._rate < self._samples:
            self._cued += 1
            step = self.steps[self._cued]
            offset = max(0, int(round(step.start_s * self._rate)) - start)
            stamp = chunk.header.stamp_ns + int(round(offset * 1e9 / self._rate))
            cues.append(self.cue(step, Header(stamp, chunk.header.frame_id)))
        return cues

    def cue(self, step: Step, header: Header) -> GraspIntent:
        """The ground-truth message of a step: the cued grasp with confidence 1, or rest."""
        names = self.pretrained.class_names
        probs = np.zeros(len(names), np.float32)
        if step.label >= 0:
            probs[step.label] = 1.0
        return GraspIntent(header, step.name, step.label, 1.0, names, probs, step.duration_s)

    def recording(self) -> np.ndarray:
        """(n_samples, n_channels) float64 raw signal of the session so far."""
        if not self._chunks:
            return np.zeros((0, len(self._channels or ())))
        return np.concatenate(self._chunks)

    # --- training ---------------------------------------------------------------------

    def hold_windows(self, spec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Filtered windows of every hold after ``settle_s``.

        Returns:
            windows (n_holds, n_windows, window, n_channels), active (n_holds, n_windows) bool,
            labels (n_holds,), repetitions (n_holds,).
        """
        if not self.finished:
            raise DataError(f"the session has {self.elapsed_s:.1f} s of {self.duration_s:.1f} s; nothing to train on")
        filtered = filter_trials(self.recording()[None], spec.sos())[0]
        holds = [s for s in self.steps if s.label >= 0]
        first = int(round(self.config.settle_s * self._rate))
        n = int(round(self.config.hold_s * self._rate)) - first
        if n < spec.window:
            raise ConfigError(f"hold_s - settle_s = {n / self._rate:.2f} s is shorter than the model's "
                              f"{spec.window_ms:g} ms window")
        segments = np.stack([filtered[int(round(s.start_s * self._rate)) + first:][:n] for s in holds])
        windows = np.ascontiguousarray(sliding_windows(segments, spec.window, spec.stride))
        return (windows, active_mask(windows), np.array([s.label for s in holds]),
                np.array([s.repetition for s in holds]))

    def personal_spec(self):
        """The pretrained model's input spec at the stream's rate and channels."""
        spec = self.pretrained.spec
        if self._rate is None:
            return spec
        return replace(spec, sample_rate=self._rate, channel_names=self._channels)

    def train(self, adapt: AdaptConfig | None = None) -> CalibrationResult:
        """Fit the personal model on every hold and cross-validate it (leave one repetition out)."""
        adapt = adapt or replace(AdaptConfig(), shrinkage=self.config.shrinkage)
        base = self.pretrained
        spec = self.personal_spec()
        if spec != base.spec:
            log.info("stream at %g Hz with %d channels: the personal model keeps the pretrained model's filter, "
                     "window and features at the stream's rate and channels", spec.sample_rate, spec.n_channels)
            base = _respecified(base, spec)
        windows, active, labels, reps = self.hold_windows(spec)
        n_w = active.shape[1]

        def fit(idx):
            mask = active[idx]
            return personal_model(base, windows[idx][mask], np.repeat(labels[idx], n_w).reshape(-1, n_w)[mask], adapt)

        t0 = time.perf_counter()
        model = fit(np.arange(len(labels)))
        train_seconds = time.perf_counter() - t0
        cv, notes = None, []
        if self.config.repetitions >= 2:
            true, pred = [], []
            for r in range(self.config.repetitions):
                held = reps == r
                fold = fit(np.flatnonzero(~held))
                for i in np.flatnonzero(held):
                    act = active[i] if active[i].any() else np.ones(n_w, bool)
                    proba = fold.predict_proba(windows[i][act])
                    pred.append(int(np.argmax(np.log(np.clip(proba, 1e-12, 1.0)).sum(axis=0))))
                    true.append(int(labels[i]))
            conf = confusion_matrix(np.array(true), np.array(pred), model.n_classes)
            cv = {**scores(conf), "confusion": conf.tolist(),
                  "protocol": f"leave one repetition out ({self.config.repetitions} folds), one decision per hold "
                              "(sum of log posteriors of its active windows)"}
        else:
            notes.append("cross-validation needs --repetitions 2 or more")
        # proportional closing closes the hand fully at the usual hold (GraspClassifier, ``decoder.level.max_rms`` 0)
        usual = usual_hold_rms(w[a] if a.any() else w for w, a in zip(windows, active))
        model.info["calibration"] = {
            "usual_hold_rms": [float(v) for v in usual],
            "protocol": {"repetitions": self.config.repetitions, "hold_s": self.config.hold_s,
                         "rest_s": self.config.rest_s, "lead_s": self.config.lead_s, "settle_s": self.config.settle_s,
                         "duration_s": self.duration_s},
            "cross_validation": cv,
            "train_seconds": train_seconds,
        }
        return CalibrationResult(model, cv, train_seconds, int(active.sum()), notes)


def _respecified(model: IntentModel, spec) -> IntentModel:
    """An unfitted stand-in for ``model`` with another input spec (only spec, classes and
    features are read by ``personal_model``)."""
    from ..intent.lda import LdaConfig, LdaModel
    from ..intent.adaptation import features_of

    stand_in = LdaModel(spec, model.class_names, LdaConfig(features_of(model)))
    stand_in.info = {k: v for k, v in model.info.items() if k in ("preset", "description", "training_data")}
    return stand_in


def finish(session: CalibrationSession, out, **provenance) -> tuple[CalibrationResult, Path]:
    """Train the personal model of a finished session and save it to ``out`` (a checkpoint
    stem); ``provenance`` (session bag, source) goes into ``info["calibration"]``."""
    result = session.train()
    result.model.info["calibration"].update({k: str(v) for k, v in provenance.items()})
    return result, result.model.save(out)


@dataclass(frozen=True)
class CalibrationOutcome:
    """How a calibration run ended (the result of the node's ``calibrate`` action)."""

    success: bool
    message: str
    model_path: str = ""
    accuracy: float = float("nan")
    confusion: tuple[int, ...] = ()
    class_names: tuple[str, ...] = ()


class CalibrationRunner:
    """Calibration sessions of a running classifier: the logic of the classifier node's
    ``calibrate`` action. ``start`` a session, feed it the classifier's chunks (``on_emg``);
    when the session is complete the personal model is trained, saved (with the session bag
    ``<out>_session``) and, unless ``keep_model``, decoded with from the next chunk on.

    Args:
        classifier: the classifier whose model is the starting point and is replaced.
        default_dir: folder of the models of runs started without an ``out`` path.
    """

    def __init__(self, classifier, default_dir):
        self.classifier = classifier
        self.default_dir = Path(default_dir)
        self.session: CalibrationSession | None = None
        self._bag = None

    @property
    def active(self) -> bool:
        return self.session is not None

    def start(self, config: CalibrationConfig, out: str = "", keep_model: bool = False) -> Path:
        """Begin a session from the next chunk; returns the model path it will write.

        Raises:
            ConfigError: a session is running, or the output exists.
        """
        from .bag import BagWriter

        if self.active:
            raise ConfigError("a calibration session is already running")
        stem = Path(out) if out else self.default_dir / time.strftime("personal_%Y%m%d_%H%M%S")
        bag_path = stem.with_name(stem.name + "_session")
        if stem.with_suffix(".json").exists() or bag_path.exists():
            raise ConfigError(f"{stem}.json or {bag_path} exists already; give another output path")
        self.session = CalibrationSession(self.classifier.model, config)
        self._bag = BagWriter(bag_path)
        self._stem, self._bag_path, self._keep = stem, bag_path, keep_model
        log.info("calibration started: %d hold(s) per grasp, %.0f s; model to %s", config.repetitions,
                 self.session.duration_s, stem)
        return stem.with_suffix(".json")

    def on_emg(self, chunk: EmgChunk, stamp_ns: int | None = None) -> tuple[list[GraspIntent], CalibrationOutcome | None]:
        """Feed one chunk to the running session (nothing happens without one).

        Returns:
            The cues of the steps starting in the chunk (for ``calibration/cue``), and the
            outcome once the session has ended (successfully or not).
        """
        if self.session is None:
            return [], None
        try:
            cues = self.session.on_emg(chunk)
            now = chunk.header.stamp_ns if stamp_ns is None else stamp_ns
            self._bag.write(INPUT_TOPIC, chunk, now)
            for cue in cues:
                self._bag.write(CUE_TOPIC, cue, now)
            if not self.session.finished:
                return cues, None
            self._bag.close()
            result, path = finish(self.session, self._stem, session_bag=self._bag_path)
            if not self._keep:
                self.classifier.set_model(str(path))
            cv = result.cross_validation
            outcome = CalibrationOutcome(
                True, f"personal model written to {path}" + ("" if self._keep else " and in use") +
                (f"; cross-validated accuracy {100 * cv['accuracy']:.1f} %" if cv else "; " + "; ".join(result.notes)),
                str(path), cv["accuracy"] if cv else float("nan"),
                tuple(int(v) for row in cv["confusion"] for v in row) if cv else (), result.model.class_names)
        except (DataError, ConfigError) as exc:
            outcome = CalibrationOutcome(False, f"calibration failed: {exc}")
        self._end()
        return (cues if outcome.success else []), outcome

    def cancel(self) -> CalibrationOutcome:
        """Stop the running session (what was recorded stays in the session bag)."""
        self._end()
        return CalibrationOutcome(False, "calibration cancelled")

    def _end(self) -> None:
        if self._bag is not None:
            self._bag.close()
        self.session, self._bag = None, None
