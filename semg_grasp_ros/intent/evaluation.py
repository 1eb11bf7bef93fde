"""Evaluation protocols for grasp-type models on trial data.

Protocols:

* ``within``: per subject, stratified k-fold cross-validation over *trials*, repeated
  with different shuffles (default 5 x 5, as the paper's 5 runs). Every window of a test
  trial is kept out of training.
* ``loso``: leave one subject out; train on all trials of the others.
* ``pooled``: one model for all subjects (as the shipped model): the within-subject folds
  of every subject are trained together and each subject's test trials scored.

Levels:

* trial level: one decision per trial. Window models combine the posteriors of the
  trial's active windows (sum of log posteriors); whole-trial models classify the trial.
* window level: one decision per window (the model's window and stride, e.g. 250 ms / 50 ms) of
  the active part of each test trial (``emg.windows.active_mask`` at ``ACTIVE_FRACTION``), as
  online control sees it, without voting.

Models train on the windows of each training trial at the recipe's ``active_fraction``
(``evaluate(..., active_fraction)``, as ``train_on_subjects``); the test windows stay the
active part whatever it is, so results of different recipes score the same windows.

Fold results can be written to a run folder (one JSON per fold) so a long evaluation
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emg.recordings import TrialSet
from ..emg.windows import ACTIVE_FRACTION, ACTIVE_PERCENTILE, active_mask
from ..errors import ConfigError, DataError
from .base import IntentModel
from .metrics import confusion_matrix, scores
from .models import Preset
from .spec import filter_and_window

log = logging.getLogger(__name__)

PROTOCOLS = ("within", "loso", "pooled")


def active_part(fraction: float = ACTIVE_FRACTION) -> str:
    """Definition of the windows a trial contributes at ``fraction`` (``emg.windows.active_mask``)."""
    return (f"windows whose envelope (per-channel RMS, geometric mean over channels) is at least "
            f"{fraction:g} x the {ACTIVE_PERCENTILE:g}th percentile of that trial's window envelopes")


#: Definition of the window-level test set, stored with every result.
ACTIVE_PART = active_part()


def stratified_folds(labels: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """Trial indices of each test fold: every class's trials shuffled with ``seed`` and
    dealt round-robin, so folds are class-balanced and disjoint."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    offset = 0
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        for j, i in enumerate(idx):
            folds[(j + offset) % n_folds].append(int(i))
        offset += len(idx)
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


@dataclass
class SubjectWindows:
    """One subject's trials, filtered and windowed once for all folds.

    Attributes:
        trials: the subject's ``TrialSet``.
        inputs: model inputs: (n_trials, n_windows, ...) for window models, (n_trials, ...)
            for whole-trial models.
        active: (n_trials, n_windows) bool active-part mask at ``ACTIVE_FRACTION``: the test
            windows and those of the trial-level vote (window models only).
        train_active: (n_trials, n_windows) bool mask of the training windows (window models only).
    """

    trials: TrialSet
    inputs: np.ndarray
    active: np.ndarray | None
    train_active: np.ndarray | None


def prepare_subject(trials: TrialSet, template: IntentModel, whole_trial: bool,
                    active_fraction: float = ACTIVE_FRACTION) -> SubjectWindows:
    """Filter, window and encode a subject's trials for the model family of ``template``; the
    training windows at ``active_fraction``, the test windows at ``ACTIVE_FRACTION``."""
    template.spec.check_trials(trials.sample_rate, trials.channel_names)
    if whole_trial:
        windows = filter_and_window(trials.data, template.spec)[:, 0]  # (n_trials, samples, ch)
        return SubjectWindows(trials, template.encode(windows), None, None)
    windows = filter_and_window(trials.data, template.spec)
    n_t, n_w = windows.shape[:2]
    encoded = template.encode(windows.reshape(n_t * n_w, *windows.shape[2:]))
    return SubjectWindows(trials, encoded.reshape(n_t, n_w, *encoded.shape[1:]),
                          active_mask(windows, ACTIVE_FRACTION), active_mask(windows, active_fraction))


@dataclass
class FoldResult:
    """Predictions on the test trials of one fold.

    Attributes:
        subject: test subject.
        trial_index: (n_test,) indices into the subject's trials.
        trial_true: (n_test,) labels.
        trial_proba: (n_test, n_classes) trial-level posteriors.
        window_true, window_pred: (n_windows,) labels of the active test windows (empty
            for whole-trial models).
        fit_seconds: training time.
    """

    subject: str
    trial_index: np.ndarray
    trial_true: np.ndarray
    trial_proba: np.ndarray
    window_true: np.ndarray
    window_pred: np.ndarray
    fit_seconds: float

    def to_dict(self) -> dict:
        return {
            "subject": self.subject,
            "trial_index": self.trial_index.tolist(),
            "trial_true": self.trial_true.tolist(),
            "trial_proba": np.round(self.trial_proba, 6).tolist(),
            "window_true": self.window_true.tolist(),
            "window_pred": self.window_pred.tolist(),
            "fit_seconds": self.fit_seconds,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FoldResult":
        return cls(
            d["subject"],
            np.asarray(d["trial_index"], np.int64),
            np.asarray(d["trial_true"], np.int64),
            np.asarray(d["trial_proba"], np.float64),
            np.asarray(d["window_true"], np.int64),
            np.asarray(d["window_pred"], np.int64),
            float(d["fit_seconds"]),
        )


def _train_arrays(data: SubjectWindows, idx: np.ndarray, whole_trial: bool, group_offset: int):
    """Inputs, labels and trial groups of trials ``idx`` (training windows only)."""
    labels = data.trials.labels[idx]
    if whole_trial:
        return data.inputs[idx], labels, idx + group_offset
    act = data.train_active[idx]
    n_w = act.shape[1]
    return (
        data.inputs[idx][act],
        np.repeat(labels, n_w).reshape(-1, n_w)[act],
        np.repeat(idx + group_offset, n_w).reshape(-1, n_w)[act],
    )


def run_fold(
    preset: Preset,
    train: Sequence[tuple[SubjectWindows, np.ndarray]],
    tests: Sequence[tuple[SubjectWindows, np.ndarray]],
    seed: int = 0,
    progress=None,
) -> list[FoldResult]:
    """Train a fresh model of ``preset`` on ``train`` (subject data, trial indices) pairs
    and predict the trials of each of ``tests`` (one ``FoldResult`` each)."""
    first = train[0][0].trials
    model = preset.build(first.sample_rate, first.channel_names, first.class_names, first.n_samples)
    parts = [_train_arrays(d, idx, preset.whole_trial, 100_000 * i) for i, (d, idx) in enumerate(train)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    g = np.concatenate([p[2] for p in parts])
    t0 = time.perf_counter()
    model.fit_encoded(x, y, groups=g, seed=seed, progress=progress)
    fit_seconds = time.perf_counter() - t0
    return [_predict_trials(model, preset, data, idx, fit_seconds) for data, idx in tests]


def _predict_trials(model: IntentModel, preset: Preset, data: SubjectWindows, idx: np.ndarray,
                    fit_seconds: float) -> FoldResult:
    labels = data.trials.labels[idx]
    if preset.whole_trial:
        proba = model.predict_proba_encoded(data.inputs[idx])
        empty = np.zeros(0, np.int64)
        return FoldResult(data.trials.subject, idx, labels, proba, empty, empty, fit_seconds)
    act = data.active[idx]
    inputs = data.inputs[idx]
    flat = model.predict_proba_encoded(inputs.reshape(-1, *inputs.shape[2:])).reshape(*act.shape, -1)
    log_p = np.log(np.clip(flat, 1e-12, 1.0))
    trial_scores = np.stack([log_p[i][act[i]].sum(axis=0) if act[i].any() else log_p[i].sum(axis=0)
                             for i in range(len(idx))])
    trial_scores -= trial_scores.max(axis=1, keepdims=True)
    trial_proba = np.exp(trial_scores) / np.exp(trial_scores).sum(axis=1, keepdims=True)
    window_pred = flat.argmax(axis=-1)[act]
    window_true = np.repeat(labels, act.shape[1]).reshape(act.shape)[act]
    return FoldResult(data.trials.subject, idx, labels, trial_proba, window_true, window_pred, fit_seconds)


@dataclass(frozen=True)
class EvalSettings:
    """Protocol parameters (stored with the result)."""

    protocol: str = "within"
    folds: int = 5
    repeats: int = 5
    seed: int = 0

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol {self.protocol!r} unknown; choose from {PROTOCOLS}")
        if self.folds < 2 or self.repeats < 1:
            raise ConfigError(f"need folds >= 2 and repeats >= 1, got {self.folds}, {self.repeats}")


def _fold_key(preset: Preset, settings: EvalSettings, subject_sets: Sequence[TrialSet], tag: str,
              active_fraction: float) -> str:
    first = subject_sets[0]
    model = preset.build(first.sample_rate, first.channel_names, first.class_names, first.n_samples)
    ident = {
        "model": model.to_json(),
        "settings": [settings.protocol, settings.folds, settings.seed],
        "train_fraction": active_fraction,
        "data": [(t.subject, t.n_trials, t.n_samples, float(np.sum(t.data[:, ::97], dtype=np.float64))) for t in subject_sets],
        "tag": tag,
    }
    ident["model"].pop("package_version", None)
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def evaluate(
    preset: Preset,
    subjects: Sequence[TrialSet],
    settings: EvalSettings = EvalSettings(),
    run_dir: Path | None = None,
    on_fold: Callable[[str], None] | None = None,
    active_fraction: float = ACTIVE_FRACTION,
) -> dict:
    """Run a protocol and summarise it (see ``summarise``).

    Args:
        preset: the model recipe (``TrainRecipe.preset``: its window, epochs and features).
        subjects: one ``TrialSet`` per subject (``loso`` needs two or more).
        run_dir: folder for per-fold JSON results (resumed when present).
        on_fold: called with a description after every fold (progress bars).
        active_fraction: window models train on the windows of each training trial at this
            fraction (``TrainRecipe.active_fraction``); the test windows are the active part.
    """
    if not subjects:
        raise DataError("no subjects to evaluate")
    if settings.protocol == "loso" and len(subjects) < 2:
        raise ConfigError("leave-one-subject-out needs at least two subjects")
    names = subjects[0].class_names
    for t in subjects[1:]:
        if t.class_names != names or t.channel_names != subjects[0].channel_names or t.sample_rate != subjects[0].sample_rate:
            raise DataError(f"subject {t.subject} differs from {subjects[0].subject} in classes, channels or sample rate")
    first = subjects[0]
    template = preset.build(first.sample_rate, first.channel_names, names, first.n_samples)
    prepared = {t.subject: prepare_subject(t, template, preset.whole_trial, active_fraction) for t in subjects}
    jobs = []
    if settings.protocol in ("within", "pooled"):
        for r in range(settings.repeats):
            folds = {t.subject: stratified_folds(t.labels, settings.folds, settings.seed + 1000 * r) for t in subjects}
            for f in range(settings.folds):
                split = {t.subject: (np.setdiff1d(np.arange(t.n_trials), folds[t.subject][f]), folds[t.subject][f])
                         for t in subjects}
                if settings.protocol == "pooled":
                    train = [(prepared[t.subject], split[t.subject][0]) for t in subjects]
                    tests = [(prepared[t.subject], split[t.subject][1]) for t in subjects]
                    jobs.append((f"pooled_r{r}_f{f}", list(subjects), train, tests, r))
                    continue
                for t in subjects:
                    train_idx, test_idx = split[t.subject]
                    jobs.append((f"{t.subject}_r{r}_f{f}", [t], [(prepared[t.subject], train_idx)],
                                 [(prepared[t.subject], test_idx)], r))
    else:
        for t in subjects:
            others = [s for s in subjects if s.subject != t.subject]
            train = [(prepared[s.subject], np.arange(s.n_trials)) for s in others]
            jobs.append((f"loso_{t.subject}", [t, *others], train, [(prepared[t.subject], np.arange(t.n_trials))], 0))
    results: list[tuple[int, FoldResult]] = []
    for tag, sets, train, tests, repeat in jobs:
        key = _fold_key(preset, settings, sets, tag, active_fraction)
        path = None if run_dir is None else Path(run_dir) / f"{tag}.json"
        folds_done = None
        if path is not None and path.is_file():
            try:
                stored = json.loads(path.read_text())
                if stored.get("key") == key:
                    folds_done = [FoldResult.from_dict(d) for d in stored["results"]]
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("ignoring unreadable fold result %s", path)
        if folds_done is None:
            folds_done = run_fold(preset, train, tests, seed=settings.seed + repeat)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"key": key, "results": [f.to_dict() for f in folds_done]}))
                tmp.replace(path)
        results += [(repeat, f) for f in folds_done]
        if on_fold is not None:
            on_fold(tag)
    return summarise(preset, template, settings, subjects, results, active_fraction)


def _level_summary(per_subject: dict[str, list[tuple[int, np.ndarray, np.ndarray]]], n_classes: int) -> dict:
    """Metrics per subject (pooled over folds and repeats) and their mean."""
    out: dict = {"per_subject": {}, "per_subject_metrics": {}}
    total = np.zeros((n_classes, n_classes), np.int64)
    for subject, items in per_subject.items():
        conf = sum((confusion_matrix(t, p, n_classes) for _, t, p in items), np.zeros((n_classes, n_classes), np.int64))
        m = scores(conf)
        repeats = sorted({r for r, _, _ in items})
        per_rep = []
        for r in repeats:
            t = np.concatenate([t for rr, t, _ in items if rr == r])
            p = np.concatenate([p for rr, _, p in items if rr == r])
            per_rep.append(float(np.mean(t == p)) if t.size else float("nan"))
        m["accuracy_std_over_repeats"] = float(np.std(per_rep)) if len(per_rep) > 1 else 0.0
        m["confusion"] = conf.tolist()
        out["per_subject"][subject] = m["accuracy"]
        out["per_subject_metrics"][subject] = m
        total += conf
    subj = list(out["per_subject_metrics"].values())
    out["mean_accuracy"] = float(np.mean([m["accuracy"] for m in subj]))
    out["mean_macro_f1"] = float(np.mean([m["macro_f1"] for m in subj]))
    out["mean_macro_precision"] = float(np.mean([m["macro_precision"] for m in subj]))
    out["mean_macro_recall"] = float(np.mean([m["macro_recall"] for m in subj]))
    out["confusion"] = total.tolist()
    return out


def summarise(preset: Preset, template: IntentModel, settings: EvalSettings, subjects, results,
              active_fraction: float = ACTIVE_FRACTION) -> dict:
    """The result JSON: per-subject and mean metrics at trial and window level, and which windows
    the models trained on (``active_fraction``) and were scored on."""
    n_classes = len(subjects[0].class_names)
    trial: dict = {}
    window: dict = {}
    for repeat, f in results:
        trial.setdefault(f.subject, []).append((repeat, f.trial_true, f.trial_proba.argmax(axis=1)))
        if f.window_true.size:
            window.setdefault(f.subject, []).append((repeat, f.window_true, f.window_pred))
    out = {
        "model": preset.name,
        "description": preset.description,
        "architecture": template.architecture,
        "protocol": settings.protocol,
        "folds": len(subjects) if settings.protocol == "loso" else settings.folds,
        "repeats": 1 if settings.protocol == "loso" else settings.repeats,
        "seed": settings.seed,
        "subjects": [t.subject for t in subjects],
        "class_names": list(subjects[0].class_names),
        "input": template.spec.to_dict(),
        "whole_trial": preset.whole_trial,
        "trial_level": _level_summary(trial, n_classes),
        "trial_level_rule": "whole-trial model" if preset.whole_trial else "sum of log posteriors of the trial's active windows",
        "window_level": _level_summary(window, n_classes) if window else None,
        "window_level_rule": None if preset.whole_trial else (
            f"one decision per {template.spec.window_ms:g} ms window every {template.spec.stride_ms:g} ms of the "
            "active part of each test trial (active_part), no voting; the trial's other windows are not scored"),
        "active_part": ACTIVE_PART,
        "train_windows": "whole trials" if preset.whole_trial else active_part(active_fraction),
        "fit_seconds_mean": float(np.mean([f.fit_seconds for _, f in results])),
        "n_fits": len(results),
    }
    return out


def train_on_subjects(preset, subjects, seed: int = 0, progress=None, active_fraction: float = ACTIVE_FRACTION):
    """Fit a fresh model of ``preset`` on every trial of ``subjects`` (list of ``TrialSet``), window
    models on the windows of each trial at ``active_fraction`` (``prepare_subject``).

    Returns:
        The fitted model, with ``info["training_data"]`` describing what it saw.
    """
    first = subjects[0]
    model = preset.build(first.sample_rate, first.channel_names, first.class_names, first.n_samples)
    parts = [
        _train_arrays(prepare_subject(t, model, preset.whole_trial, active_fraction), np.arange(t.n_trials),
                      preset.whole_trial, 100_000 * i)
        for i, t in enumerate(subjects)
    ]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    g = np.concatenate([p[2] for p in parts])
    model.fit_encoded(x, y, groups=g, seed=seed, progress=progress)
    model.info["training_data"] = {
        "dataset": "Sapsanis et al. 2013, sEMG for Basic Hand movements, Database 1",
        "subjects": [t.subject for t in subjects],
        "trials": int(sum(t.n_trials for t in subjects)),
        "examples": int(y.size),
        "examples_per_class": np.bincount(y, minlength=model.n_classes).tolist(),
        "unit": first.units,
        "windows": "whole trials" if preset.whole_trial else (
            f"{model.spec.window_ms:g} ms windows every {model.spec.stride_ms:g} ms of the active part of each "
            f"trial: {active_part(active_fraction)}"),
        "filter": model.spec.filter.to_dict(),
        "seed": seed,
    }
    return model


def default_sapsanis_folder() -> Path:
    """``<data root>/emg/sapsanis/Database 1``."""
    from ..paths import data_root

    return data_root() / "emg" / "sapsanis" / "Database 1"


def load_subjects(folder=None, names: Sequence[str] | None = None) -> list[TrialSet]:
    """Load Sapsanis-layout subjects from ``folder`` (every ``.mat`` there, or ``names``).

    Raises:
        DatasetError: missing folder, no files, or a named subject not in the folder.
    """
    from ..emg.datasets import list_sapsanis_subjects, load_sapsanis
    from ..errors import DatasetError

    found = list_sapsanis_subjects(folder if folder is not None else default_sapsanis_folder())
    names = list(names) if names else list(found)
    missing = [n for n in names if n not in found]
    if missing:
        raise DatasetError(f"subjects {missing} not found; the folder has {sorted(found)}")
    return [load_sapsanis(found[n]) for n in names]
