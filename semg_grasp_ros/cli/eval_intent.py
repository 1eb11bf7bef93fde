"""``semg-grasp eval intent``: cross-validate a grasp-type model on Sapsanis-layout data.

Examples::

    semg-grasp eval intent --subjects female_1 male_1 --protocol within --model mlp_rich --json out/mlp.json
    semg-grasp eval intent --config config/intent_150ms.yaml --protocol within --json out/150ms.json
    semg-grasp eval intent --data "/data/sapsanis/Database 1" --protocol loso --model lda_td --json out/lda.json
    semg-grasp eval intent --protocol fewshot --shots 0 1 2 5 --json out/fewshot.json

The model is a training recipe (``intent.models.TrainRecipe``, as ``train intent`` reads it):
``--config`` (a recipe YAML: preset, window, epochs, subjects, seed, training windows' active
fraction, feature segments), each option given on the command line overriding it; without it the
defaults with ``--model``. Prints per-subject accuracy and macro F1 at trial and window level and the pooled
confusion matrices; ``--json`` writes the full result, ``--png`` (default: next to the
JSON) the confusion matrices.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ..intent.metrics import format_confusion


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..intent.evaluation import PROTOCOLS
    from ..intent.models import DEFAULT_MODEL, PRESETS

    parser.add_argument("--data", type=Path, help="folder of subject .mat files (default <data>/emg/sapsanis/Database 1)")
    parser.add_argument("--subjects", nargs="+", metavar="NAME", help="subjects (file stems); default all in --data")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "fewshot"), default="within",
                        help="within: per-subject repeated stratified k-fold over trials; loso: leave one subject out; "
                        "pooled: the within-subject folds of all subjects trained as one model; fewshot: per subject, "
                        "a model pooled without them adapted on their first K repetitions per grasp, tested on the rest")
    parser.add_argument("--shots", type=int, nargs="+", default=[0, 1, 2, 5], metavar="K",
                        help="fewshot: repetitions per grasp used to adapt (0 = zero-shot); default 0 1 2 5")
    parser.add_argument("--pretrained", metavar="MODEL",
                        help="fewshot: start every subject from this model (name or path) instead of pooling the others")
    parser.add_argument("--config", type=Path, help="training recipe YAML (config/intent_*.yaml) to cross-validate; "
                        "--model, --subjects, --epochs and --seed override it")
    parser.add_argument("--model", choices=["default", *PRESETS],
                        help=f"model preset (default: the recipe's, else {DEFAULT_MODEL})")
    parser.add_argument("--folds", type=int, default=5, help="folds of the within-subject protocol")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of the k-fold with new shuffles")
    parser.add_argument("--seed", type=int, help="seed of the fold shuffles and of training (default: the recipe's)")
    parser.add_argument("--epochs", type=int, help="override the training epochs of neural models")
    parser.add_argument("--runs", type=Path, help="folder for per-fold results; an interrupted run resumes from it")
    parser.add_argument("--json", type=Path, help="write the result JSON here")
    parser.add_argument("--png", type=Path, help="confusion-matrix figure (default: the JSON path with .png)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def print_summary(result: dict) -> None:
    """Per-subject table and confusion matrices of an evaluation result."""
    trial, window = result["trial_level"], result["window_level"]
    seen = "whole trials" if result["whole_trial"] else f"{result['input']['window_ms']:g} ms windows"
    print(f"model {result['model']} on {seen} ({result['protocol']}, {result['folds']} folds x "
          f"{result['repeats']} repeats)")
    print(f"{'subject':<14}{'trial acc':>10}{'trial F1':>10}{'window acc':>12}{'window F1':>11}")
    for name in result["subjects"]:
        t = trial["per_subject_metrics"][name]
        w = window["per_subject_metrics"].get(name) if window else None
        wa = f"{100 * w['accuracy']:11.1f}%" if w else f"{'n/a':>12}"
        wf = f"{100 * w['macro_f1']:10.1f}%" if w else f"{'n/a':>11}"
        print(f"{name:<14}{100 * t['accuracy']:9.1f}%{100 * t['macro_f1']:9.1f}%{wa}{wf}")
    wm = f"{100 * window['mean_accuracy']:11.1f}%{100 * window['mean_macro_f1']:10.1f}%" if window else ""
    print(f"{'mean':<14}{100 * trial['mean_accuracy']:9.1f}%{100 * trial['mean_macro_f1']:9.1f}%{wm}")
    print("\ntrial-level confusion (all subjects)")
    print(format_confusion(trial["confusion"], result["class_names"]))
    if window:
        print("\nwindow-level confusion (all subjects)")
        print(format_confusion(window["confusion"], result["class_names"]))


def save_confusion_png(result: dict, path: Path) -> Path:
    """Row-normalised confusion matrices (trial and window level) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    levels = [("trial level", result["trial_level"]), ("window level", result["window_level"])]
    levels = [(n, lv) for n, lv in levels if lv]
    names = result["class_names"]
    fig, axes = plt.subplots(1, len(levels), figsize=(5.2 * len(levels), 4.6), squeeze=False)
    for ax, (title, level) in zip(axes[0], levels):
        conf = np.asarray(level["confusion"], dtype=float)
        norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title}: {100 * level['mean_accuracy']:.1f} % (mean over subjects)")
    fig.suptitle(f"{result['model']} - {result['protocol']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _run_fewshot(args: argparse.Namespace, subjects, preset, seed: int) -> int:
    from ..intent.fewshot import evaluate_fewshot, format_fewshot
    from ..intent.models import load_model
    from ..intent.progress import tqdm_progress

    pretrained = load_model(args.pretrained) if args.pretrained else None
    with tqdm_progress(len(subjects), "eval fewshot", enabled=not args.no_progress) as update:
        result = evaluate_fewshot(subjects, preset, pretrained, args.shots, seed=seed, on_subject=update)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"pooled model {result['pooled_model']}; personal model: {result['personal_model']}")
    print(format_fewshot(result))
    if args.json:
        print(f"\nresult written to {args.json}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from ..intent.evaluation import EvalSettings, evaluate, load_subjects
    from ..intent.models import TrainRecipe
    from ..intent.progress import tqdm_progress

    torch.set_num_threads(max(1, args.threads))
    recipe = TrainRecipe.load(args.config, model=args.model, epochs=args.epochs, subjects=args.subjects,
                              seed=args.seed)
    subjects = load_subjects(args.data, list(recipe.subjects) or None)
    preset = recipe.preset()
    if args.protocol == "fewshot":
        return _run_fewshot(args, subjects, preset, recipe.seed)
    settings = EvalSettings(args.protocol, args.folds, args.repeats, recipe.seed)
    n_jobs = {"within": len(subjects) * settings.folds * settings.repeats, "loso": len(subjects),
              "pooled": settings.folds * settings.repeats}[settings.protocol]
    with tqdm_progress(n_jobs, f"eval {preset.name}", enabled=not args.no_progress) as update:
        result = evaluate(preset, subjects, settings, run_dir=args.runs, on_fold=update,
                          active_fraction=recipe.active_fraction)
    result["recipe"] = {"file": str(args.config) if args.config else None, **asdict(recipe)}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    png = args.png or (args.json.with_suffix(".png") if args.json else None)
    if png:
        save_confusion_png(result, png)
    print_summary(result)
    if args.json:
        print(f"\nresult written to {args.json}")
    if png:
        print(f"confusion matrices written to {png}")
    return 0
