"""Drift benchmark: a change in the middle of a session, without and with online adaptation.

    python bench/drift.py --out bench/results/drift.json

Per Sapsanis subject, the personal model of ``semg-grasp calibrate`` (2 repetitions per grasp,
the classifier node's 150 ms model as the pretrained model, trained on the calibration windows
and their augmented copies: ``intent.adaptation.augment_windows``) decodes the remaining trials in
session order (repetition by repetition, the grasps in turn; 6 s each). Halfway through, the
signal changes and stays changed:

    gain_0.7, gain_1.3     channel 1 amplified x0.7 / x1.3 (electrode contact, sweat)
    electrode_shift        each channel picks up 25 % of the other (x' = M x, M = [[.75, .25], [.25, .75]])
    fatigue                median frequency lowered by 15 % (each trial time-stretched: x'(t) = x(0.85 t))

Reported per change, without and with online adaptation (``intent.adaptation.OnlineAdapter``:
unsupervised updates from completed grasps whose windows agree), trial and window accuracy

    before         the trials before the change
    right_after    the trials of the first 30 s after it
    after_30s      the trials that start 30 s or more after it
    unshifted      the same trials as after_30s with no change (the yardstick of the target:
                   adapted accuracy 30 s after the change within 2 points of it)

and, with adaptation, the updates made after the change and how many were of the right class.
The same without augmentation (``AdaptConfig(augment_copies=0)``) is summarised under
``without_augmentation``, and with other seeds of the augmented copies (``--seeds``) under
``augmentation_seeds`` (how much the figures owe to one draw).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros.emg.windows import active_mask  # noqa: E402
from semg_grasp_ros.intent.adaptation import AdaptConfig, OnlineAdapter, personal_model  # noqa: E402
from semg_grasp_ros.intent.evaluation import load_subjects  # noqa: E402
from semg_grasp_ros.intent.fewshot import session_order  # noqa: E402
from semg_grasp_ros.intent.models import load_model  # noqa: E402
from semg_grasp_ros.intent.spec import filter_and_window  # noqa: E402
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifierConfig  # noqa: E402

SHOTS = 2
AFTER_S = 30.0
TARGET_POINTS = 2.0
MIX = np.array([[0.75, 0.25], [0.25, 0.75]])


def _gain(factor):
    def change(x):
        out = x.copy()
        out[..., 0] *= factor
        return out
    return change


def _mix(x):
    return x @ MIX.T


def _fatigue(x, factor=0.85):
    """Spectrum compressed by ``factor``: every trial resampled at ``factor`` x its time axis."""
    n = x.shape[1]
    t = np.arange(n)
    return np.stack([np.stack([np.interp(factor * t, t, trial[:, c]) for c in range(x.shape[2])], axis=1)
                     for trial in x])


CHANGES = {"gain_0.7": _gain(0.7), "gain_1.3": _gain(1.3), "electrode_shift": _mix, "fatigue": _fatigue}


def _encoded(model, data):
    windows = filter_and_window(data, model.spec)
    active = active_mask(windows)
    n_t, n_w = active.shape
    return model.encode(windows.reshape(n_t * n_w, *windows.shape[2:])).reshape(n_t, n_w, -1), active


def stream(model, inputs, active, labels, adapt: AdaptConfig | None, change_at: int):
    """Decide every trial in order (trial: sum of log posteriors); adapt after each when asked.

    Returns per-trial correctness, per-trial window accuracy and the adapter's updates after
    ``change_at`` (class, truth)."""
    adapter = OnlineAdapter(copy.deepcopy(model), adapt) if adapt is not None else None
    current = adapter.model if adapter else model
    trial_ok, window_acc, updates = [], [], []
    for i in range(len(labels)):
        act = active[i] if active[i].any() else np.ones_like(active[i])
        x = inputs[i][act]
        proba = current.predict_proba_encoded(x)
        trial_ok.append(int(np.argmax(np.log(np.clip(proba, 1e-12, 1)).sum(0))) == labels[i])
        window_acc.append(float(np.mean(proba.argmax(1) == labels[i])))
        if adapter is not None:
            update = adapter.adapt_segment(x, truth=int(labels[i]))
            if update is not None and i >= change_at:
                updates.append((update.class_index, update.truth))
    return np.array(trial_ok), np.array(window_acc), updates


def run(pretrained, subjects, adapt: AdaptConfig, verbose: bool = True) -> tuple[dict, dict]:
    """Per subject and change the figures of the module docstring, and their summary."""
    results, summary = {}, {}
    for trials in subjects:
        calib = np.flatnonzero(trials.repetitions < SHOTS)
        windows = filter_and_window(trials.data[calib], pretrained.spec)
        act = active_mask(windows)
        n_w = act.shape[1]
        model = personal_model(pretrained, windows[act], np.repeat(trials.labels[calib], n_w).reshape(-1, n_w)[act],
                               adapt)
        order = session_order(trials, np.flatnonzero(trials.repetitions >= SHOTS))
        labels = trials.labels[order]
        trial_s = trials.n_samples / trials.sample_rate
        change_at = len(order) // 2
        after = change_at + int(np.ceil(AFTER_S / trial_s))
        clean_inputs, clean_active = _encoded(model, trials.data[order])
        base = {mode: stream(model, clean_inputs, clean_active, labels, a, change_at)
                for mode, a in (("static", None), ("adaptive", adapt))}
        per_change = {}
        for name, change in CHANGES.items():
            data = trials.data[order].astype(np.float64)
            data[change_at:] = change(data[change_at:])
            inputs, active = _encoded(model, data)
            entry = {}
            for mode, a in (("static", None), ("adaptive", adapt)):
                ok, wacc, updates = stream(model, inputs, active, labels, a, change_at)
                cok, cwacc, _ = base[mode]
                entry[mode] = {
                    "before": {"trial": float(ok[:change_at].mean()), "window": float(wacc[:change_at].mean())},
                    "right_after": {"trial": float(ok[change_at:after].mean()), "window": float(wacc[change_at:after].mean())},
                    "after_30s": {"trial": float(ok[after:].mean()), "window": float(wacc[after:].mean())},
                    "unshifted": {"trial": float(cok[after:].mean()), "window": float(cwacc[after:].mean())},
                }
                if a is not None:
                    entry[mode]["updates_after_change"] = len(updates)
                    entry[mode]["updates_right"] = int(sum(c == t for c, t in updates))
            per_change[name] = entry
            s, d = entry["adaptive"]["after_30s"]["trial"], entry["adaptive"]["unshifted"]["trial"]
            if verbose:
                print(f"{trials.subject:<10} {name:<16} static {100 * entry['static']['after_30s']['trial']:5.1f} "
                      f"adaptive {100 * s:5.1f} (unshifted {100 * d:5.1f}); updates right "
                      f"{entry['adaptive']['updates_right']}/{entry['adaptive']['updates_after_change']}", flush=True)
        results[trials.subject] = per_change
    for name in CHANGES:
        gaps = [100 * (results[s][name]["adaptive"]["unshifted"]["trial"] - results[s][name]["adaptive"]["after_30s"]["trial"])
                for s in results]
        summary[name] = {
            "static_after_30s_trial": float(np.mean([results[s][name]["static"]["after_30s"]["trial"] for s in results])),
            "adaptive_after_30s_trial": float(np.mean([results[s][name]["adaptive"]["after_30s"]["trial"] for s in results])),
            "adaptive_unshifted_trial": float(np.mean([results[s][name]["adaptive"]["unshifted"]["trial"] for s in results])),
            "static_unshifted_trial": float(np.mean([results[s][name]["static"]["unshifted"]["trial"] for s in results])),
            "gap_points_adaptive": {s: g for s, g in zip(results, gaps)},
            "max_gap_points_adaptive": float(max(gaps)),
            "target_met": bool(max(gaps) <= TARGET_POINTS),
            "updates_right_fraction": float(
                sum(results[s][name]["adaptive"]["updates_right"] for s in results)
                / max(1, sum(results[s][name]["adaptive"]["updates_after_change"] for s in results))),
        }
    return results, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/drift.json"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2],
                        help="further seeds of the augmented copies to summarise (the main figures: seed 0)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pretrained = load_model(GraspClassifierConfig().model)
    adapt = AdaptConfig()
    subjects = load_subjects()
    results, summary = run(pretrained, subjects, adapt)
    _, plain = run(pretrained, subjects, dataclasses.replace(adapt, augment_copies=0), verbose=False)
    seeds = {seed: run(pretrained, subjects, dataclasses.replace(adapt, augment_seed=seed), verbose=False)[1]
             for seed in args.seeds}
    out = {
        "calibration": f"first {SHOTS} repetitions per grasp; personal model from {GraspClassifierConfig().model}",
        "changes": {"gain_0.7": "channel 1 x0.7", "gain_1.3": "channel 1 x1.3",
                    "electrode_shift": f"x' = M x, M = {MIX.tolist()}", "fatigue": "time axis x0.85 (median frequency -15 %)"},
        "change_at": "halfway through the test trials (session order)",
        "after_30s": f"trials starting {AFTER_S:g} s or more after the change (6 s per trial)",
        "adaptation": dataclasses.asdict(adapt),
        "target": f"adaptive after_30s within {TARGET_POINTS:g} points of unshifted (trial level, every subject)",
        "summary": summary,
        "without_augmentation": {"adaptation": {"augment_copies": 0}, "summary": plain},
        "augmentation_seeds": {str(seed): {name: {k: v[k] for k in ("gap_points_adaptive", "max_gap_points_adaptive",
                                                                    "target_met", "updates_right_fraction")}
                                           for name, v in summ.items()} for seed, summ in seeds.items()},
        "per_subject": results,
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
