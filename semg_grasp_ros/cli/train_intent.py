"""``semg-grasp train intent``: train a grasp-type model on Sapsanis-layout subjects and save it.

Examples::

    semg-grasp train intent --model mlp_rich --out models/intent_default
    semg-grasp train intent --model mlp_rich --window-ms 150 --out models/intent_150ms
    semg-grasp train intent --subjects female_1 --model lda_td --out out/lda --metrics out/lda_within.json

Trains on every trial of the chosen subjects (window models: the active windows of
each trial) and writes ``<out>.json`` + ``<out>.safetensors``. ``--metrics`` copies the
summary of ``eval intent`` results into the model's JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..intent.models import DEFAULT_MODEL, PRESETS

    parser.add_argument("--data", type=Path, help="folder of subject .mat files (default <data>/emg/sapsanis/Database 1)")
    parser.add_argument("--subjects", nargs="+", metavar="NAME", help="subjects (file stems); default all in --data")
    parser.add_argument("--model", default="default", choices=["default", *PRESETS],
                        help=f"model preset (default = {DEFAULT_MODEL})")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint stem: writes <out>.json and <out>.safetensors")
    parser.add_argument("--epochs", type=int, help="override the training epochs of neural models")
    parser.add_argument("--window-ms", type=float, help="analysis window of a window model, ms (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weight initialisation and batches")
    parser.add_argument("--metrics", type=Path, nargs="*", default=[], help="eval intent JSON results to embed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def metrics_summary(result: dict) -> dict:
    """The headline figures of an ``eval intent`` result."""
    out = {
        "model": result["model"],
        "protocol": result["protocol"],
        "folds": result["folds"],
        "repeats": result["repeats"],
        "subjects": result["subjects"],
    }
    for level in ("trial_level", "window_level"):
        if result.get(level):
            out[level] = {
                "per_subject": result[level]["per_subject"],
                "mean_accuracy": result[level]["mean_accuracy"],
                "mean_macro_f1": result[level]["mean_macro_f1"],
            }
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_on_subjects(preset, subjects, seed: int = 0, progress=None):
    """Fit a fresh model of ``preset`` on every trial of ``subjects`` (list of ``TrialSet``).

    Returns:
        The fitted model, with ``info["training_data"]`` describing what it saw.
    """
    from ..intent.evaluation import ACTIVE_PART, _train_arrays, prepare_subject

    first = subjects[0]
    model = preset.build(first.sample_rate, first.channel_names, first.class_names, first.n_samples)
    parts = [
        _train_arrays(prepare_subject(t, model, preset.whole_trial), np.arange(t.n_trials), preset.whole_trial, 100_000 * i)
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
            f"trial: {ACTIVE_PART}"),
        "filter": model.spec.filter.to_dict(),
        "seed": seed,
    }
    return model


def run(args: argparse.Namespace) -> int:
    import torch

    from ..emg.datasets import list_sapsanis_subjects
    from ..intent.evaluation import default_sapsanis_folder, load_subjects
    from ..intent.models import get_preset, with_train
    from ..intent.progress import tqdm_progress

    torch.set_num_threads(max(1, args.threads))
    metrics = {}
    for path in args.metrics:  # read first: a bad file should not cost a training run
        try:
            result = json.loads(Path(path).read_text())
            metrics[result["protocol"]] = metrics_summary(result)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--metrics {path}: not a readable 'eval intent' result ({type(exc).__name__}: {exc})")
    folder = args.data or default_sapsanis_folder()
    subjects = load_subjects(folder, args.subjects)
    preset = get_preset(args.model)
    if args.epochs is not None:
        preset = with_train(preset, epochs=args.epochs)
    if args.window_ms is not None:
        if preset.whole_trial or not args.window_ms > 0:
            raise ConfigError(f"--window-ms needs a window model and a positive value, got {preset.name}, "
                              f"{args.window_ms}")
        preset = replace(preset, window_ms=args.window_ms)
    probe = preset.build(subjects[0].sample_rate, subjects[0].channel_names, subjects[0].class_names,
                         subjects[0].n_samples)
    epochs = getattr(getattr(probe.config, "train", None), "epochs", 1)
    steps = []
    with tqdm_progress(epochs, f"train {preset.name}", enabled=not args.no_progress) as update:
        def progress(epoch: int, total: int, message: str) -> None:
            steps.append(epoch)
            update(message)

        model = train_on_subjects(preset, subjects, seed=args.seed, progress=progress)
        if not steps:  # closed-form models (LDA) fit in one step
            update("fitted")
    files = list_sapsanis_subjects(folder)
    model.info["training_data"]["files_sha256"] = {t.subject: _sha256(files[t.subject]) for t in subjects}
    if metrics:
        model.info["metrics"] = metrics
    path = model.save(args.out)
    print(f"model {preset.name} trained on {', '.join(t.subject for t in subjects)} "
          f"({model.info['training_data']['examples']} examples); written to {path}")
    return 0
