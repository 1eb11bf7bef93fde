"""Few-shot benchmark: a new person after K repetitions per grasp, and the ways to adapt compared.

    python bench/fewshot.py --out bench/results/fewshot.json [--shots 0 1 2 5]

For every Sapsanis subject, a pooled model of the default preset is trained on the other
subjects (with three subjects in the data: on two people), then adapted on the subject's first
K repetitions of every grasp and tested on the remaining ones (``semg-grasp eval intent
--protocol fewshot``, the same code). Reported per subject and K, trial and window level:

    fewshot        the chosen method (``intent.adaptation``): personal LDA on the pooled model's
                   features, trained on the calibration windows and augmented copies of them,
                   static and with online adaptation during use (updates counted with how many
                   were right); K = 0: the pooled model as it is, and ``user_normalised``
                   (``intent.zeroshot``: LDA on the other subjects' features, each z-scored on
                   their own, the person's z-scored on their windows so far, no labels)
    alternatives   what was measured against it on the same splits, K >= 1:
                     pooled_restandardised  the pooled network, its input normaliser refitted on
                                            the calibration windows
                     pooled_finetuned       the same, then every layer fine-tuned on them
                                            (AdamW 1e-3, 10 epochs, batch 64)
                     hidden_layer_lda       LDA (shrinkage 0.3) on the pooled network's last
                                            hidden layer of the re-standardised inputs
                     per_subject_z          a pooled network trained on each subject's features
                                            z-scored on that subject, applied to the new person's
                                            features z-scored on their calibration windows
                     per_subject_z_finetuned  the same, fine-tuned as above
                     per_subject_z_unlabelled  K = 0: per_subject_z with the z-scoring fitted on all
                                            of the person's (unlabelled) windows
                     personal_lda           the chosen method without online adaptation
                   each with its fitting time (one CPU thread)
    targets        K = 2 >= 95 % and K = 0 >= 40 % per trial, every subject
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros.intent.evaluation import load_subjects, train_on_subjects  # noqa: E402
from semg_grasp_ros.emg.windows import active_mask  # noqa: E402
from semg_grasp_ros.intent.base import Standardiser  # noqa: E402
from semg_grasp_ros.intent.fewshot import SHOTS, evaluate_fewshot  # noqa: E402
from semg_grasp_ros.intent.lda import softmax  # noqa: E402
from semg_grasp_ros.intent.models import DEFAULT_MODEL, get_preset  # noqa: E402
from semg_grasp_ros.intent.spec import filter_and_window  # noqa: E402
from semg_grasp_ros.intent.training import TrainConfig, train_classifier  # noqa: E402

TARGETS = {"K2_trial_accuracy_every_subject": 0.95, "K0_trial_accuracy_every_subject": 0.40}
FINETUNE = TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=1e-3, batch_size=64, epochs=10, schedule="constant",
                       label_smoothing=0.1)


def _accuracies(proba_fn, inputs, active, labels) -> dict:
    """Trial (sum of log posteriors of the active windows) and window accuracy."""
    flat = proba_fn(inputs.reshape(-1, inputs.shape[-1])).reshape(*active.shape, -1)
    logp = np.log(np.clip(flat, 1e-12, 1.0))
    trial = np.array([logp[i][active[i]].sum(0).argmax() for i in range(len(labels))])
    windows = flat.argmax(-1)[active]
    truth = np.repeat(labels, active.shape[1]).reshape(active.shape)[active]
    return {"trial_accuracy": float(np.mean(trial == labels)), "window_accuracy": float(np.mean(windows == truth))}


def _hidden(net, z: np.ndarray) -> np.ndarray:
    h = torch.from_numpy(z.astype(np.float32))
    with torch.inference_mode():
        for layer in list(net.layers)[:-1]:
            h = layer(h)
    return h.numpy().astype(np.float64)


def _lda(z, y, n_classes, shrinkage=0.3):
    means = np.stack([z[y == k].mean(0) for k in range(n_classes)])
    centred = z - means[y]
    cov = centred.T @ centred / max(1, len(y) - n_classes)
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    coef = np.linalg.solve(cov, means.T).T
    intercept = -0.5 * np.sum(coef * means, 1)
    return lambda q: softmax(q @ coef.T + intercept)


def _features(model, trials):
    """Encoded windows (n_trials, n_windows, n_features) and the active mask."""
    windows = filter_and_window(trials.data, model.spec)
    active = active_mask(windows)
    n_t, n_w = active.shape
    return model.encode(windows.reshape(n_t * n_w, *windows.shape[2:])).reshape(n_t, n_w, -1), active


def per_subject_z_pool(preset, others, seed=0):
    """A pooled model of ``preset`` trained on each subject's active-window features z-scored on
    that subject (so a new person's features z-scored on their own data match it)."""
    first = others[0]
    model = preset.build(first.sample_rate, first.channel_names, first.class_names)
    xs, ys = [], []
    for t in others:
        x, active = _features(model, t)
        xs.append(Standardiser.fit(x[active])(x[active]))
        ys.append(np.repeat(t.labels, active.shape[1]).reshape(active.shape)[active])
    return model.fit_encoded(np.concatenate(xs), np.concatenate(ys), seed=seed)


def alternatives(pooled, z_pooled, trials, shots) -> dict:
    """The other adaptations of the pooled feature MLP, on the few-shot splits."""
    x, active = _features(pooled, trials)
    n_w = active.shape[1]
    out = {}
    if 0 in shots:  # zero-shot: the person's unlabelled windows (all of them) give the z-scoring
        unlabelled = Standardiser.fit(x[active])
        out["0"] = {"per_subject_z_unlabelled": {
            **_accuracies(lambda q: z_pooled.predict_proba_encoded(unlabelled(q)), x, active, trials.labels),
            "fit_seconds": 0.0}}
    for k in (s for s in shots if s > 0):
        calib, test = trials.repetitions < k, trials.repetitions >= k
        xk = x[calib][active[calib]]
        yk = np.repeat(trials.labels[calib], n_w).reshape(-1, n_w)[active[calib]]
        xt, at, yt = x[test], active[test], trials.labels[test]
        res = {}
        t0 = time.perf_counter()
        restd = copy.deepcopy(pooled)
        restd.normaliser = Standardiser.fit(xk)
        restd._layers = None
        res["pooled_restandardised"] = {**_accuracies(restd.predict_proba_encoded, xt, at, yt),
                                        "fit_seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        tuned = copy.deepcopy(restd)
        train_classifier(tuned.net, tuned._normalise(xk), yk, FINETUNE, seed=0)
        tuned._layers = None
        res["pooled_finetuned"] = {**_accuracies(tuned.predict_proba_encoded, xt, at, yt),
                                   "fit_seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        lda = _lda(_hidden(restd.net, restd.normaliser(xk)), yk, pooled.n_classes)
        fit = time.perf_counter() - t0
        res["hidden_layer_lda"] = {**_accuracies(lambda q: lda(_hidden(restd.net, restd.normaliser(q))), xt, at, yt),
                                   "fit_seconds": fit}
        own = Standardiser.fit(xk)
        res["per_subject_z"] = {**_accuracies(lambda q: z_pooled.predict_proba_encoded(own(q)), xt, at, yt),
                                "fit_seconds": 0.0}
        t0 = time.perf_counter()
        z_tuned = copy.deepcopy(z_pooled)
        train_classifier(z_tuned.net, z_tuned._normalise(own(xk)), yk, FINETUNE, seed=0)
        z_tuned._layers = None
        res["per_subject_z_finetuned"] = {**_accuracies(lambda q: z_tuned.predict_proba_encoded(own(q)), xt, at, yt),
                                          "fit_seconds": time.perf_counter() - t0}
        out[str(k)] = res
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/fewshot.json"))
    parser.add_argument("--shots", type=int, nargs="+", default=list(SHOTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    subjects = load_subjects()
    preset = get_preset(DEFAULT_MODEL)
    pooled, pooled_seconds = {}, {}
    for t in subjects:
        t0 = time.perf_counter()
        pooled[t.subject] = train_on_subjects(preset, [s for s in subjects if s.subject != t.subject])
        pooled_seconds[t.subject] = time.perf_counter() - t0
        print(f"pooled model without {t.subject}: {pooled_seconds[t.subject]:.1f} s", flush=True)
    result = evaluate_fewshot(subjects, pretrained=pooled, shots=args.shots)
    result["pooled_model"] = f"{preset.name} trained on the other {len(subjects) - 1} subjects"
    for name in result["per_subject"]:
        result["pooled"][name]["fit_seconds"] = pooled_seconds[name]
    for t in subjects:
        personal = result["per_subject"][t.subject]
        z_pooled = per_subject_z_pool(preset, [s for s in subjects if s.subject != t.subject])
        alt = alternatives(pooled[t.subject], z_pooled, t, args.shots)
        for k, res in alt.items():
            if k == "0":
                continue
            res["personal_lda"] = {"trial_accuracy": personal[k]["static"]["trial_level"]["accuracy"],
                                   "window_accuracy": personal[k]["static"]["window_level"]["accuracy"],
                                   "fit_seconds": personal[k]["fit_seconds"]}
            res["personal_lda_online"] = {"trial_accuracy": personal[k]["online"]["trial_level"]["accuracy"],
                                          "window_accuracy": personal[k]["online"]["window_level"]["accuracy"]}
        result.setdefault("alternatives", {})[t.subject] = alt
        print(t.subject, json.dumps({k: {m: round(v["trial_accuracy"], 3) for m, v in r.items()} for k, r in alt.items()}),
              flush=True)
    k2 = [result["per_subject"][s]["2"] for s in result["subjects"]] if 2 in args.shots else []
    k0 = [result["per_subject"][s]["0"] for s in result["subjects"]] if 0 in args.shots else []
    result["targets"] = {
        **TARGETS,
        "K2_static_met": bool(k2) and all(r["static"]["trial_level"]["accuracy"] >= 0.95 for r in k2),
        "K2_online_met": bool(k2) and all(r["online"]["trial_level"]["accuracy"] >= 0.95 for r in k2),
        "K0_met": bool(k0) and all(r["static"]["trial_level"]["accuracy"] >= 0.40 for r in k0),
        "K0_user_normalised_met": bool(k0) and all("user_normalised" in r for r in k0)
        and all(r["user_normalised"]["trial_level"]["accuracy"] >= 0.40 for r in k0),
    }
    result["note"] = (f"{len(subjects)} subjects in the data: each pooled model is trained on {len(subjects) - 1} "
                      "people, too few for a model that transfers to a new person zero-shot")
    result["machine"] = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["mean"], indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
