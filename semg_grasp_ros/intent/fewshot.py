"""The few-shot protocol: how well a new person is served after K repetitions per grasp.

For every subject: start from a pooled model that has not seen them (trained on the other
subjects with the chosen preset, or a given pretrained model), build the personal model
(``adaptation.personal_model``) on the subject's first K repetitions of every grasp, and test
on the remaining repetitions. K = 0 is zero-shot: the pooled model as it is and, where the
other subjects are at hand, the subject-normalised LDA of ``zeroshot`` (``user_normalised``:
the other subjects' features each z-scored on their own, the person's on the running
statistics of the windows they have produced so far, no labels).

Two figures per K, at trial and window level (the levels of ``evaluation``):

* ``static``: the personal model as calibrated;
* ``online``: the same model adapted during use (``adaptation.OnlineAdapter``): the test
  trials are streamed in recording order of a session (repetition by repetition, each grasp
  in turn), each is decided with the model as it stands, then adapted on if its windows agree.
  The updates are counted with how many were right (the adapter never sees the truth).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..emg.datasets import TrialSet
from ..errors import ConfigError, DataError
from .adaptation import AdaptConfig, OnlineAdapter, personal_model
from .base import IntentModel
from .evaluation import ACTIVE_PART, SubjectWindows, _predict_trials, train_on_subjects
from .metrics import confusion_matrix, scores
from .models import Preset
from .zeroshot import UserNormaliser, subject_normalised_lda

log = logging.getLogger(__name__)

#: The shot counts the protocol reports by default.
SHOTS = (0, 1, 2, 5)


def _level(true: np.ndarray, pred: np.ndarray, n_classes: int) -> dict:
    conf = confusion_matrix(true, pred, n_classes)
    return {**scores(conf), "confusion": conf.tolist()}


def _trial_log_scores(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, 1e-12, 1.0)).sum(axis=0)


def session_order(trials: TrialSet, idx: np.ndarray) -> np.ndarray:
    """Trials ``idx`` in the order of a session: repetition by repetition, grasps in turn."""
    idx = np.asarray(idx)
    return idx[np.lexsort((trials.labels[idx], trials.repetitions[idx]))]


def _windows(trials: TrialSet, model: IntentModel):
    from ..emg.windows import active_mask
    from .spec import filter_and_window

    model.spec.check_trials(trials.sample_rate, trials.channel_names)
    windows = filter_and_window(trials.data, model.spec)
    return windows, active_mask(windows)


def evaluate_subject(pooled: IntentModel, trials: TrialSet, shots: Sequence[int] = SHOTS,
                     adapt: AdaptConfig = AdaptConfig(), pooled_preset: Preset | None = None,
                     others: Sequence[TrialSet] = ()) -> dict:
    """Few-shot results of one subject (see the module docstring) from a pooled model that
    has not seen them; ``others``: the other subjects, for the zero-shot subject-normalised
    LDA (none: not reported). Returns ``{str(K): {"static": ..., "online": ...}}`` per K."""
    if trials.class_names != pooled.class_names:
        raise DataError(f"subject {trials.subject} has classes {trials.class_names}, the model {pooled.class_names}")
    max_rep = int(trials.repetitions.max()) + 1
    if max(shots) >= max_rep:
        raise ConfigError(f"--shots {max(shots)} leaves no repetition of {trials.subject} to test on ({max_rep} per grasp)")
    windows, active = _windows(trials, pooled)
    n_t, n_w = active.shape
    flat = windows.reshape(n_t * n_w, *windows.shape[2:])
    out: dict = {}
    n_classes = len(trials.class_names)
    personal_inputs = None
    for k in shots:
        test = np.flatnonzero(trials.repetitions >= k)
        if k == 0:
            encoded = pooled.encode(flat).reshape(n_t, n_w, -1)
            preset = pooled_preset or _window_preset()
            fold = _predict_trials(pooled, preset, SubjectWindows(trials, encoded, active, active), test, 0.0)
            out[str(k)] = {"static": _fold_summary(fold, n_classes), "online": None, "fit_seconds": 0.0}
            if others:
                out[str(k)]["user_normalised"] = _user_normalised(pooled, others, trials, flat, active,
                                                                  session_order(trials, test))
            continue
        calib = np.flatnonzero(trials.repetitions < k)
        mask = active[calib]
        x = windows[calib][mask]
        y = np.repeat(trials.labels[calib], n_w).reshape(-1, n_w)[mask]
        t0 = time.perf_counter()
        model = personal_model(pooled, x, y, adapt)
        fit_seconds = time.perf_counter() - t0
        if personal_inputs is None:
            personal_inputs = model.encode(flat).reshape(n_t, n_w, -1)
        data = SubjectWindows(trials, personal_inputs, active, active)
        fold = _predict_trials(model, _window_preset(), data, test, fit_seconds)
        online = _online(model, data, session_order(trials, test), adapt)
        out[str(k)] = {"static": _fold_summary(fold, n_classes), "online": online, "fit_seconds": fit_seconds,
                       "calibration_trials": int(calib.size)}
    return out


def _window_preset() -> Preset:
    """A window-model preset for ``evaluation._predict_trials`` (which reads only ``whole_trial``)."""
    from .models import get_preset

    return get_preset("lda_rich")


def _fold_summary(fold, n_classes: int) -> dict:
    return {
        "trial_level": _level(fold.trial_true, fold.trial_proba.argmax(axis=1), n_classes),
        "window_level": _level(fold.window_true, fold.window_pred, n_classes),
    }


def _online(model, data: SubjectWindows, order: np.ndarray, adapt: AdaptConfig) -> dict:
    """Stream the trials in ``order``: decide each with the current model, then adapt."""
    import copy

    adapter = OnlineAdapter(copy.deepcopy(model), adapt)
    n_classes = model.n_classes
    t_true, t_pred, w_true, w_pred = [], [], [], []
    for i in order:
        act = data.active[i] if data.active[i].any() else np.ones_like(data.active[i])
        x = data.inputs[i][act]
        label = int(data.trials.labels[i])
        proba = adapter.model.predict_proba_encoded(x)
        t_true.append(label)
        t_pred.append(int(np.argmax(_trial_log_scores(proba))))
        w_true.append(np.full(len(x), label))
        w_pred.append(proba.argmax(axis=1))
        adapter.adapt_segment(x, truth=label)
    return {
        "trial_level": _level(np.array(t_true), np.array(t_pred), n_classes),
        "window_level": _level(np.concatenate(w_true), np.concatenate(w_pred), n_classes),
        "adaptation": adapter.summary(),
    }


def _user_normalised(pooled: IntentModel, others: Sequence[TrialSet], trials: TrialSet, flat: np.ndarray,
                     active: np.ndarray, order: np.ndarray) -> dict:
    """Zero-shot with the subject-normalised LDA of ``others``: trials decided in ``order``, the
    person's normaliser updated on each trial's active windows after it is decided."""
    t0 = time.perf_counter()
    model = subject_normalised_lda(pooled, others)
    fit_seconds = time.perf_counter() - t0
    user = UserNormaliser(model)
    inputs = model.encode(flat).reshape(*active.shape, -1)
    t_true, t_pred, w_true, w_pred = [], [], [], []
    for i in order:
        act = active[i] if active[i].any() else np.ones_like(active[i])
        label = int(trials.labels[i])
        proba = model.predict_proba_encoded(inputs[i][act])
        t_true.append(label)
        t_pred.append(int(np.argmax(_trial_log_scores(proba))))
        w_true.append(np.full(int(act.sum()), label))
        w_pred.append(proba.argmax(axis=1))
        user.update(inputs[i][act])
    n_classes = model.n_classes
    return {
        "trial_level": _level(np.array(t_true), np.array(t_pred), n_classes),
        "window_level": _level(np.concatenate(w_true), np.concatenate(w_pred), n_classes),
        "trained_on": [t.subject for t in others],
        "fit_seconds": fit_seconds,
    }


def evaluate_fewshot(
    subjects: Sequence[TrialSet],
    preset: Preset | None = None,
    pretrained: IntentModel | Mapping[str, IntentModel] | None = None,
    shots: Sequence[int] = SHOTS,
    adapt: AdaptConfig = AdaptConfig(),
    seed: int = 0,
    on_subject: Callable[[str], None] | None = None,
) -> dict:
    """Run the few-shot protocol on every subject.

    Args:
        subjects: one ``TrialSet`` each.
        preset: recipe of the pooled model, trained per subject on all the others (needs two
            or more subjects); ignored when ``pretrained`` is given.
        pretrained: a pooled model to start from for every subject, or one per subject name (a
            subject it was trained on is flagged ``seen_in_pretraining``).
        shots: the K values (repetitions per grasp used for calibration).

    Returns:
        The result JSON: per subject and K, static and online accuracy at trial and window
        level with confusion matrices, and their means over subjects.
    """
    if not subjects:
        raise DataError("no subjects for the few-shot protocol")
    shots = sorted({int(k) for k in shots})
    if shots[0] < 0:
        raise ConfigError(f"shots must be >= 0, got {shots}")
    if pretrained is None and (preset is None or len(subjects) < 2):
        raise ConfigError("the few-shot protocol needs --pretrained MODEL or two or more subjects to pool")
    if pretrained is None and preset.whole_trial:
        raise ConfigError(f"model {preset.name} classifies whole trials; the few-shot protocol needs a window model")
    per_subject, pooled_info = {}, {}
    for t in subjects:
        if pretrained is not None:
            pooled = pretrained[t.subject] if isinstance(pretrained, Mapping) else pretrained
            seen_by = pooled.info.get("training_data", {}).get("subjects")
            pooled_info[t.subject] = {"pretrained_on": seen_by, "seen_in_pretraining": t.subject in (seen_by or [])}
        else:
            others = [s for s in subjects if s.subject != t.subject]
            t0 = time.perf_counter()
            pooled = train_on_subjects(preset, others, seed=seed)
            pooled_info[t.subject] = {"pretrained_on": [s.subject for s in others], "seen_in_pretraining": False,
                                      "fit_seconds": time.perf_counter() - t0}
        others = [s for s in subjects if s.subject != t.subject]
        per_subject[t.subject] = evaluate_subject(pooled, t, shots, adapt, None if pretrained is not None else preset,
                                                  others)
        if on_subject is not None:
            on_subject(t.subject)
    means = {}
    for k in shots:
        entry = {}
        for mode in ("static", "online", "user_normalised"):
            rows = [per_subject[s][str(k)][mode] for s in per_subject if per_subject[s][str(k)].get(mode)]
            if rows:
                entry[mode] = {level: float(np.mean([r[level]["accuracy"] for r in rows]))
                               for level in ("trial_level", "window_level")}
                entry[mode]["min_trial_level"] = float(min(r["trial_level"]["accuracy"] for r in rows))
        means[str(k)] = entry
    return {
        "protocol": "fewshot",
        "shots": shots,
        "subjects": [t.subject for t in subjects],
        "class_names": list(subjects[0].class_names),
        "pooled_model": preset.name if pretrained is None else (
            "given per subject" if isinstance(pretrained, Mapping) else pretrained.info.get("preset", pretrained.architecture)),
        "pooled": pooled_info,
        "personal_model": "LDA on the pooled model's window features, normaliser fitted to the calibration windows; "
                          "trained on the calibration windows and transformed copies of them (augmentation)",
        "zero_shot_user_normalised": "K = 0 with two or more subjects: LDA on the other subjects' window features, "
                                     "each subject z-scored on their own active windows; the person's features "
                                     "z-scored on the running statistics of their active windows so far (before "
                                     "the first trial: the training subjects' mean statistics), updated after "
                                     "each trial is decided; trials in session order",
        "adaptation": {k: v for k, v in vars(adapt).items()},
        "calibration_set": "the first K repetitions of every grasp; test = the remaining repetitions",
        "online_order": "test trials streamed repetition by repetition, the grasps in turn; each trial decided "
                        "with the model as it stands, then adapted on when its windows agree",
        "trial_level_rule": "sum of log posteriors of the trial's active windows",
        "active_part": ACTIVE_PART,
        "per_subject": per_subject,
        "mean": means,
    }


def format_fewshot(result: dict) -> str:
    """A table: per subject and K, trial and window accuracy, static and online."""
    lines = [f"{'subject':<12}{'K':>3}{'trial':>9}{'window':>9}{'trial+online':>14}{'window+online':>15}"
             f"{'updates right':>15}"]
    for subject, per_k in result["per_subject"].items():
        for k, r in per_k.items():
            s, o = r["static"], r["online"]
            row = f"{subject:<12}{k:>3}{100 * s['trial_level']['accuracy']:8.1f}%{100 * s['window_level']['accuracy']:8.1f}%"
            if o:
                a = o["adaptation"]
                right = f"{a['updates_right']}/{a['updates_with_truth']}"
                row += (f"{100 * o['trial_level']['accuracy']:13.1f}%{100 * o['window_level']['accuracy']:14.1f}%"
                        f"{right:>15}")
            u = r.get("user_normalised")
            if u:
                row += (f"   zero-shot normalised on the user: {100 * u['trial_level']['accuracy']:.1f}% / "
                        f"{100 * u['window_level']['accuracy']:.1f}%")
            lines.append(row)
    return "\n".join(lines)
