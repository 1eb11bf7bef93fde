"""The streaming decoder on held-out trials, scored as the hand sees it.

For each subject: a model of the node model's training recipe (``TrainRecipe.of``: the recipe in
its JSON) or of each recipe given is trained on the subject's repetitions below ``test_from``;
the repetitions in ``[test_from, test_to)`` are played as one session through ``OnlineDecoder`` in chunks of the
acquisition's ``chunk_ms``, in a seeded shuffled order, each trial after ``rest_s`` of rest.

Rest comes from the recording's own quiet parts where it has them (each trial's lead-in before
its envelope first rises ``QUIET_LEVEL`` of the way from its quiet to its typical level,
``emg.datasets.active_bounds``, less ``QUIET_MARGIN_S``, at least ``QUIET_MIN_S`` long; at least
``QUIET_TOTAL_S`` of them in all, both among the training trials, for the calibration, and among
the others, for the gaps), spliced with short cross-fades; else from the subject's simulator model (``SimulatorModel.shipped`` or one fitted
to the recording). The session opens with ``calibration_s`` of rest for the decoder's rest
calibration, taken from the quiet parts of the training trials (not scored).

Truth per sample: the trial's grasp from its detected onset on, rest (-1) in the gaps, ignored
(-2) from the trial's cue to its onset and during the calibration. Scores (per subject and
their mean over subjects) are defined in ``SCORE_DEFINITIONS``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..emg.datasets import active_bounds
from ..emg.filters import FilterConfig
from ..emg.recordings import TrialSet
from ..emg.simulator.fit import fit_simulator
from ..emg.simulator.model import SimulatorModel
from ..emg.simulator.render import EmgSimulator, SimulatorConfig
from ..errors import ConfigError, DataError, ModelError
from ..intent.base import IntentModel
from ..intent.decoder import DecoderConfig, OnlineDecoder
from ..intent.evaluation import _train_arrays, prepare_subject
from ..intent.models import TrainRecipe, load_model
from .emg_acquisition import EmgAcquisitionConfig
from .grasp_classifier import GraspClassifierConfig
from .grasp_diffusion import GraspDiffusionConfig
from .intent_gate import IntentGate

log = logging.getLogger(__name__)

#: Quiet parts of a trial end where its envelope first rises this far from its quiet to its typical level.
QUIET_LEVEL = 0.1
#: ... less this margin, s.
QUIET_MARGIN_S = 0.2
#: Shorter quiet parts are not used, s.
QUIET_MIN_S = 0.2
#: A recording with less quiet signal than this in all gets simulated rest, s.
QUIET_TOTAL_S = 5.0
#: Cross-fade between spliced rest pieces, s.
FADE_S = 0.02
#: Decisions up to this long after a performed grasp ends still belong to it, s.
AFTER_S = 0.5
#: Truth label of samples that are not scored.
IGNORED = -2

SCORE_DEFINITIONS = {
    "first_decided_type_correct": "the first grasp type published from the trial's cue to its end is the "
                                  "performed one (the hand's first pre-shape)",
    "grasps_started_per_performed_grasp": "changes of the published intent to a grasp type (from rest or from "
                                          "another type, during grasps and rest alike) per performed grasp",
    "rest_grasp_fraction": "decisions during rest that publish a grasp type started during rest (a grasp out of "
                           "rest) / decisions during rest",
    "rest_time_with_a_grasp": "decisions during rest that publish any grasp type, also one held over from the "
                              "grasp before until its release / decisions during rest",
    "release_ms_median": "from a grasp's end to the first decision publishing no grasp (median)",
    "correct_while_held": "decisions from a grasp's onset to its end that publish the performed type",
    "no_grasp_while_held": "decisions from a grasp's onset to its end that publish rest (or undecided)",
    "onset_to_decision_ms_median": "from a grasp's detected onset to its first published grasp type (median)",
    "never_decided": "performed grasps without a published grasp type from their onset to their end (per subject)",
    "generated_grasps_per_performed_grasp": "grasps the generator's commit rule (a type intended for commit_s at "
                                            "its min_confidence) makes per performed grasp",
    "first_generated_grasp_correct": "the first of those within a performed grasp is of its type",
}


@dataclass(frozen=True)
class Session:
    """A held-out session of one subject.

    Attributes:
        data: (n_samples, n_channels) raw signal.
        truth: (n_samples,) grasp index, -1 rest, ``IGNORED``.
        rest_source: ``"recording"`` (its quiet parts) or ``"simulated"``.
        n_trials: performed grasps.
    """

    data: np.ndarray
    truth: np.ndarray
    rest_source: str
    n_trials: int


def train_on(recipe: TrainRecipe, trials: TrialSet, idx: np.ndarray, seed: int = 0,
             filter_config: FilterConfig | None = None) -> IntentModel:
    """A model of ``recipe`` (preset, window, epochs, training windows at its ``active_fraction``)
    trained on trials ``idx``, with ``seed`` and the node model's ``filter_config``."""
    model = recipe.preset().build(trials.sample_rate, trials.channel_names, trials.class_names, trials.n_samples,
                                  filter_config=filter_config)
    x, y, g = _train_arrays(prepare_subject(trials, model, False, recipe.active_fraction), idx, False, 0)
    model.fit_encoded(x, y, groups=g, seed=seed)
    return model


def quiet_parts(trials: TrialSet, idx: np.ndarray) -> list[np.ndarray]:
    """Raw (n, n_channels) lead-ins of trials ``idx`` before their envelope rises (``QUIET_LEVEL``,
    less ``QUIET_MARGIN_S``), those at least ``QUIET_MIN_S`` long."""
    onsets = active_bounds(trials, level=QUIET_LEVEL)[:, 0]
    margin, shortest = (int(round(s * trials.sample_rate)) for s in (QUIET_MARGIN_S, QUIET_MIN_S))
    return [trials.data[i, : onsets[i] - margin].astype(np.float64) for i in idx
            if onsets[i] - margin >= shortest]


def splice(pieces: list[np.ndarray], n: int, fade: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``pieces`` drawn in random order (repeated as needed), each joined to
    the previous with a linear cross-fade of ``fade`` samples."""
    if not pieces:
        raise DataError("no pieces to splice")
    out = np.zeros((0, pieces[0].shape[1]))
    while out.shape[0] < n:
        for k in rng.permutation(len(pieces)):
            p = pieces[k]
            f = min(fade, out.shape[0], p.shape[0] - 1)
            if f:
                ramp = np.linspace(0.0, 1.0, f + 2)[1:-1, None]
                out[-f:] = out[-f:] * (1 - ramp) + p[:f] * ramp
            out = np.concatenate([out, p[f:]])
            if out.shape[0] >= n:
                break
    return out[:n]


def heldout_session(trials: TrialSet, test_idx: np.ndarray, train_idx: np.ndarray, rest_s: float,
                    calibration_s: float, seed: int = 0) -> Session:
    """The test trials of a subject as one session (see the module docstring)."""
    fs = trials.sample_rate
    rng = np.random.default_rng(seed)
    order = rng.permutation(test_idx)
    n_rest, n_cal, fade = (int(round(s * fs)) for s in (rest_s, calibration_s, FADE_S))
    calib = quiet_parts(trials, train_idx)
    gaps = quiet_parts(trials, np.setdiff1d(np.arange(trials.n_trials), train_idx))
    quiet_s = min(sum(p.shape[0] for p in calib), sum(p.shape[0] for p in gaps)) / fs
    if quiet_s >= QUIET_TOTAL_S:
        source = "recording"
        rest_cal = splice(calib, n_cal, fade, rng)
        rest = [splice(gaps, n_rest, fade, rng) for _ in order]
    else:
        source = "simulated"
        try:
            model = SimulatorModel.shipped(trials.subject)
        except ModelError:
            model = fit_simulator(trials)
        sim = EmgSimulator(model, SimulatorConfig(seed=seed, sample_rate=fs))
        block = sim.render([("rest", (n_cal + n_rest * len(order)) / fs)]).data.astype(np.float64)
        rest_cal = block[:n_cal]
        rest = [block[n_cal + k * n_rest: n_cal + (k + 1) * n_rest] for k in range(len(order))]
    onsets = active_bounds(trials)[:, 0]
    data, truth = [rest_cal], [np.full(n_cal, IGNORED)]
    for gap, i in zip(rest, order):
        label = np.full(trials.n_samples, int(trials.labels[i]))
        label[: onsets[i]] = IGNORED
        data += [gap, trials.data[i].astype(np.float64)]
        truth += [np.full(gap.shape[0], -1), label]
    return Session(np.concatenate(data), np.concatenate(truth), source, len(order))


@dataclass
class Stream:
    """Decisions of a streaming run: ``ends`` (n,) stream index of each deciding window's last
    sample, ``classes`` (n,) published intent (-1 none), ``confidence`` (n,), ``seconds`` (n_chunks,)
    wall time of each ``process`` call that decided."""

    ends: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    seconds: np.ndarray


def run_stream(model: IntentModel, config: DecoderConfig, data: np.ndarray, chunk: int) -> Stream:
    """``data`` fed to a fresh ``OnlineDecoder`` in chunks of ``chunk`` samples."""
    decoder = OnlineDecoder(model, config)
    ends, classes, conf, seconds = [], [], [], []
    for i in range(0, len(data) - chunk + 1, chunk):
        t0 = time.perf_counter()
        out = decoder.process(data[i:i + chunk], i)
        if out:
            seconds.append(time.perf_counter() - t0)
        for d in out:
            ends.append(d.end_index)
            classes.append(d.class_index)
            conf.append(d.confidence)
    return Stream(np.array(ends, np.int64), np.array(classes, np.int64), np.array(conf), np.array(seconds))


def commits(ends, classes, confidence, commit: int, min_confidence: float) -> list[tuple[int, int]]:
    """(end index, class) of each grasp the generator makes, by its rule (``IntentGate``): an
    intent of a type (confidence at least ``min_confidence``; lower ones are ignored) grasped once
    that type has been intended for ``commit`` samples since its first intent; rest ends the type."""
    gate, out, done = IntentGate(min_confidence, commit), [], False
    for e, c, p in zip(ends, classes, confidence):
        if gate.update(None if c < 0 else int(c), p, e):
            done = False
        if not done and gate.committed:
            out.append((int(e), int(c)))
            done = True
    return out


def score(stream: Stream, truth: np.ndarray, rate: float, commit_s: float, min_confidence: float,
          activation: np.ndarray | None = None) -> dict:
    """The scores of ``SCORE_DEFINITIONS`` for one session. ``truth``: (n_samples,) as in
    ``Session``; ``activation`` (simulated users): (n_samples,) known muscle activation, then the
    onset is where it first reaches half."""
    ends, classes, conf = stream.ends, stream.classes, stream.confidence
    t = truth[ends]
    held, rest = t >= 0, t == -1
    after = int(AFTER_S * rate)
    # performed grasps: [cue, onset, end) of each run of the truth that is a grasp or leads into one
    edges = np.flatnonzero(np.diff(np.r_[-3, truth]) != 0)
    runs = list(zip(edges, np.r_[edges[1:], truth.size]))
    performed = []
    for k, (s, e) in enumerate(runs):
        if truth[s] >= 0:
            cue = runs[k - 1][0] if k and truth[runs[k - 1][0]] == IGNORED else s
            onset = s if activation is None else s + int(np.argmax(activation[s:e] >= 0.5))
            performed.append((cue, onset, e, int(truth[s])))
    changed = np.r_[True, classes[1:] != classes[:-1]]
    started = int(np.sum(changed & (classes >= 0)))
    run_start = np.maximum.accumulate(np.where(changed, np.arange(classes.size), 0))  # decision starting each run
    out_of_rest = (classes >= 0) & (t[run_start] == -1)
    grasps = commits(ends, classes, conf, int(round(commit_s * rate)), min_confidence)
    first_ok, first_gen_ok, delays, releases = [], [], [], []
    for cue, onset, e, label in performed:
        inside = np.flatnonzero((ends >= cue) & (ends < e) & (classes >= 0))
        first_ok.append(bool(inside.size) and classes[inside[0]] == label)
        decided = np.flatnonzero((ends >= onset) & (ends < e) & (classes >= 0))
        if decided.size:
            delays.append((ends[decided[0]] - onset) / rate)
        released = np.flatnonzero((ends >= e) & (classes < 0))
        if released.size:
            releases.append((ends[released[0]] - e) / rate)
        made = [c for g, c in grasps if cue <= g < e + after]
        first_gen_ok.append(bool(made) and made[0] == label)
    n = max(len(performed), 1)
    return {
        "performed_grasps": len(performed),
        "decisions": int(ends.size),
        "first_decided_type_correct": float(np.mean(first_ok)) if first_ok else None,
        "grasps_started_per_performed_grasp": started / n,
        "rest_grasp_fraction": float(np.mean(out_of_rest[rest])) if rest.any() else None,
        "rest_time_with_a_grasp": float(np.mean(classes[rest] >= 0)) if rest.any() else None,
        "release_ms_median": round(1e3 * float(np.median(releases)), 1) if releases else None,
        "correct_while_held": float(np.mean(classes[held] == t[held])) if held.any() else None,
        "no_grasp_while_held": float(np.mean(classes[held] < 0)) if held.any() else None,
        "onset_to_decision_ms_median": round(1e3 * float(np.median(delays)), 1) if delays else None,
        "never_decided": len(performed) - len(delays),
        "generated_grasps_per_performed_grasp": len(grasps) / n,
        "first_generated_grasp_correct": float(np.mean(first_gen_ok)) if first_gen_ok else None,
    }


def mean_scores(results: list[dict]) -> dict:
    """Mean over subjects of every numeric score."""
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: round(float(np.mean([r[k] for r in results if r.get(k) is not None])), 4) for k in keys
            if any(r.get(k) is not None for r in results)}


def vote_lag_ms(stride_ms: float, vote_window: int, debounce: int) -> float:
    """Lag the vote decoder adds to a clean switch of the window decisions: the majority vote
    (ties to the most recent) names the new class ``ceil(n / 2) - 1`` strides after its first
    window, the debounce ``debounce - 1`` strides later; a change is seen at the next decision
    instant, on average half a stride after it happened."""
    return (-(-vote_window // 2) - 1 + debounce - 1) * stride_ms + stride_ms / 2


def buffering_ms(window: int, stride: int, chunk: int, rate: float) -> float:
    """Mean wait of a window's last sample for the end of its chunk (all in samples), over a full
    cycle of window ends (on indices k * stride - 1) against chunk ends (k * chunk - 1)."""
    first = window - 1 + (-window) % stride
    ends = first + stride * np.arange(chunk * stride)
    wait = (ends // chunk + 1) * chunk - ends
    return 1e3 * float(np.mean(wait)) / rate


def decision_lag_ms(config: DecoderConfig) -> float:
    """Lag of the decision layer: the vote's (``vote_lag_ms``) or, for the onset decoder, its
    ``onset_windows`` after the first active window plus half a stride for the next decision
    instant (the evidence it then waits for is measured: ``onset_to_decision_ms_median``)."""
    if config.evidence_threshold == 0:
        return vote_lag_ms(config.stride_ms, config.vote_window, config.debounce)
    return (config.onset_windows - 1) * config.stride_ms + config.stride_ms / 2


def controller_delay(window_ms: float, lag_ms: float, processing_ms: float, buffer_ms: float) -> dict:
    """Half the window + chunk wait + processing + the decision layer's lag (Farrell & Weir 2007), ms."""
    return {"total_ms": round(window_ms / 2 + buffer_ms + processing_ms + lag_ms, 1), "half_window_ms": window_ms / 2,
            "buffering_ms": round(buffer_ms, 1), "processing_ms": round(processing_ms, 2),
            "decision_lag_ms": round(lag_ms, 1)}


def evaluate_decoder(subjects: list[TrialSet], configs: dict[str, DecoderConfig],
                     model: str = GraspClassifierConfig.model, test_from: int = 24, test_to: int | None = None,
                     rest_s: float = 2.5, chunk_ms: float = EmgAcquisitionConfig.chunk_ms,
                     commit_s: float = GraspDiffusionConfig.commit_s,
                     min_confidence: float = GraspDiffusionConfig.min_confidence, seed: int = 0,
                     recipes: dict[str, TrainRecipe] | None = None) -> dict:
    """Every decoder setting of ``configs`` (name -> config) on the held-out sessions of every
    subject, with a model of each training recipe of ``recipes`` (name -> recipe; default: the
    recipe of ``model``) per subject, trained on its repetitions below ``test_from`` (the filter of
    ``model``).

    Returns:
        {"settings": ..., "<name>": {"overall": mean scores, "per_subject": {...},
        "controller_delay": terms}, ...}, one entry per setting, named ``"<recipe>+<setting>"``
        when there are several recipes.
    """
    if not subjects:
        raise DataError("no subjects to evaluate")
    if not configs:
        raise ConfigError("no decoder settings to evaluate")
    node_model = load_model(model)
    if not recipes:
        recipes = {Path(model).stem: TrainRecipe.of(node_model)}
    runs = {(f"{r}+{c}" if len(recipes) > 1 else c): (r, config) for r in recipes for c, config in configs.items()}
    out: dict = {"model_recipe": model, "test_repetitions": [test_from, test_to], "rest_s": rest_s,
                 "chunk_ms": chunk_ms, "commit_s": commit_s, "generator_min_confidence": min_confidence,
                 "seed": seed, "training_recipes": {name: asdict(r) for name, r in recipes.items()},
                 "scores": SCORE_DEFINITIONS}
    per: dict[str, dict] = {name: {} for name in runs}
    seconds: dict[str, list] = {name: [] for name in runs}
    specs = {}
    for t in subjects:
        reps = t.repetitions
        train_idx = np.flatnonzero(reps < test_from)
        test_idx = np.flatnonzero((reps >= test_from) & ((reps < test_to) if test_to is not None else True))
        if not train_idx.size or not test_idx.size:
            raise DataError(f"{t.subject}: no training ({train_idx.size}) or test ({test_idx.size}) trials for "
                            f"repetitions split at {test_from}")
        fitted = {r: train_on(recipe, t, train_idx, seed, node_model.spec.filter) for r, recipe in recipes.items()}
        specs = {r: m.spec for r, m in fitted.items()}
        chunk = max(1, int(round(chunk_ms * t.sample_rate / 1e3)))
        for name, (r, config) in runs.items():
            session = heldout_session(t, test_idx, train_idx, rest_s, config.calibration_s, seed)
            stream = run_stream(fitted[r], config, session.data, chunk)
            per[name][t.subject] = {**score(stream, session.truth, t.sample_rate, commit_s, min_confidence),
                                    "rest_source": session.rest_source}
            seconds[name].append(stream.seconds)
            log.info("%s %s: %s", name, t.subject, per[name][t.subject])
    for name, (r, config) in runs.items():
        spec = specs[r]
        window_ms = spec.window_ms
        stride = max(1, int(round(config.stride_ms * spec.sample_rate / 1e3)))
        processing = 1e3 * float(np.percentile(np.concatenate(seconds[name]), 95))
        buffer = buffering_ms(spec.window, stride, int(round(chunk_ms * spec.sample_rate / 1e3)), spec.sample_rate)
        out[name] = {"decoder": asdict(config), "overall": mean_scores(list(per[name].values())),
                     "per_subject": per[name],
                     "controller_delay": controller_delay(window_ms, decision_lag_ms(config), processing, buffer)}
    return out

