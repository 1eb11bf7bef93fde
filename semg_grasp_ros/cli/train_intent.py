"""``semg-grasp train intent``: train a grasp-type model on Sapsanis-layout subjects and save it.

Examples::

    semg-grasp train intent --config config/intent_150ms.yaml --out models/intent_150ms
    semg-grasp train intent --config config/intent_default.yaml --out models/intent_default
    semg-grasp train intent --subjects female_1 --model lda_td --out out/lda --metrics out/lda_within.json

The recipe (``intent.models.TrainRecipe``: preset, window, epochs, subjects, seed, the training
windows' ``active_fraction``) comes from
``--config`` (a YAML of its fields), each option given on the command line overriding it.
Trains on every trial of the chosen subjects (window models: the active windows of each
trial) and writes ``<out>.json`` + ``<out>.safetensors``. ``--metrics`` copies the summary of
``eval intent`` results into the model's JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from pathlib import Path


from ..errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..intent.models import DEFAULT_MODEL, PRESETS

    parser.add_argument("--data", type=Path, help="folder of subject .mat files (default <data>/emg/sapsanis/Database 1)")
    parser.add_argument("--config", type=Path, help="training recipe YAML (config/intent_*.yaml); options override it")
    parser.add_argument("--subjects", nargs="+", metavar="NAME", help="subjects (file stems); default all in --data")
    parser.add_argument("--model", choices=["default", *PRESETS], help=f"model preset (default = {DEFAULT_MODEL})")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint stem: writes <out>.json and <out>.safetensors")
    parser.add_argument("--epochs", type=int, help="override the training epochs of neural models")
    parser.add_argument("--window-ms", type=float, help="analysis window of a window model, ms (default: the preset's)")
    parser.add_argument("--seed", type=int, help="seed of the weight initialisation and batches (default 0)")
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


def run(args: argparse.Namespace) -> int:
    import torch

    from ..emg.datasets import list_sapsanis_subjects
    from ..intent.evaluation import default_sapsanis_folder, load_subjects, train_on_subjects
    from ..intent.models import TrainRecipe
    from ..intent.progress import tqdm_progress

    torch.set_num_threads(max(1, args.threads))
    metrics = {}
    for path in args.metrics:  # read first: a bad file should not cost a training run
        try:
            result = json.loads(Path(path).read_text())
            metrics[result["protocol"]] = metrics_summary(result)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--metrics {path}: not a readable 'eval intent' result ({type(exc).__name__}: {exc})")
    recipe = TrainRecipe.load(args.config, model=args.model, window_ms=args.window_ms, epochs=args.epochs,
                              subjects=args.subjects, seed=args.seed)
    folder = args.data or default_sapsanis_folder()
    subjects = load_subjects(folder, list(recipe.subjects) or None)
    preset = recipe.preset()
    probe = preset.build(subjects[0].sample_rate, subjects[0].channel_names, subjects[0].class_names,
                         subjects[0].n_samples)
    epochs = getattr(getattr(probe.config, "train", None), "epochs", 1)
    steps = []
    with tqdm_progress(epochs, f"train {preset.name}", enabled=not args.no_progress) as update:
        def progress(epoch: int, total: int, message: str) -> None:
            steps.append(epoch)
            update(message)

        model = train_on_subjects(preset, subjects, seed=recipe.seed, progress=progress,
                                  active_fraction=recipe.active_fraction)
        if not steps:  # closed-form models (LDA) fit in one step
            update("fitted")
    files = list_sapsanis_subjects(folder)
    model.info["recipe"] = asdict(recipe)  # what `eval decoder` retrains on held-out splits
    model.info["training_data"]["files_sha256"] = {t.subject: _sha256(files[t.subject]) for t in subjects}
    if metrics:
        model.info["metrics"] = metrics
    path = model.save(args.out)
    print(f"model {preset.name} trained on {', '.join(t.subject for t in subjects)} "
          f"({model.info['training_data']['examples']} examples); written to {path}")
    return 0
