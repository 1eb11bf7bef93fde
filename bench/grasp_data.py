"""Benchmark of the grasp-dataset tools: synthesis throughput and quality per grasp type, the
dataset built by ``semg-grasp data synth``, and the type labellers against hand labels.

Usage::

    python bench/grasp_data.py --out bench/results/grasp_data.json [--dataset data/grasps_synth]

Synthesis part: two objects per grasp type (procedural, fixed ids), ``--candidates`` per
(object, type), the production settings otherwise; every raw candidate goes through the
physics check so the raw success per type is measured, not inferred. ``grasps_per_s`` is the
production rate: accepted grasps over the time of object preparation, optimisation and the
physics check of the pre-accepted candidates (what ``data synth`` runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.grasp.data import labels as lb
from semg_grasp_ros.grasp.data.dataset import dataset_summary, grasps_to_arrays, load_object, read_index
from semg_grasp_ros.grasp.data.energy import GraspEnergy
from semg_grasp_ros.grasp.data.objects import procedural_object
from semg_grasp_ros.grasp.data.synthesis import SynthesisConfig, accepted, optimise, physics_check, prepare_object
from semg_grasp_ros.perception.sdf import DistanceField

#: (family, index, type): two objects per type that afford it under seed 0.
BENCH_TASKS = (
    ("sphere", 3, "spherical"), ("ellipsoid", 0, "spherical"),
    ("cylinder", 0, "cylindrical"), ("capsule", 0, "cylindrical"),
    ("ring", 0, "hook"), ("handle", 0, "hook"),
    ("box", 0, "palmar"), ("sphere", 1, "palmar"),
    ("sphere", 7, "tip"), ("capsule", 0, "tip"),
    ("plate", 0, "lateral"), ("plate", 2, "lateral"),
)
LABELS = Path(__file__).resolve().parent.parent / "test" / "unit" / "grasp" / "data" / "grasp_type_labels.json"


def machine() -> dict:
    return {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "load_average": list(os.getloadavg())}


def bench_synthesis(candidates: int, steps: int, workers: int, seed: int = 0) -> dict:
    cfg = SynthesisConfig(candidates=candidates, steps=steps)
    energy = GraspEnergy(weights=cfg.weights)
    t0 = time.perf_counter()
    preps = {}
    for fam, i, _ in BENCH_TASKS:
        if (fam, i) not in preps:
            preps[(fam, i)] = prepare_object(procedural_object(fam, i, seed), cfg, seed=seed)
    t_prepare = time.perf_counter() - t0
    for fam, i, t in BENCH_TASKS:
        assert t in preps[(fam, i)].obj.types, (fam, i, t)
    tasks = [(preps[(fam, i)], t) for fam, i, t in BENCH_TASKS]
    t0 = time.perf_counter()
    cands = optimise(tasks, cfg, energy, seed=seed)
    t_opt = time.perf_counter() - t0
    pre = np.nonzero(cands.pre_accepted)[0]
    rest = np.nonzero(~cands.pre_accepted)[0]
    t0 = time.perf_counter()
    results = dict(physics_check(cands, tasks, pre, workers=workers))
    t_phys_pre = time.perf_counter() - t0
    t0 = time.perf_counter()
    results.update(physics_check(cands, tasks, rest, workers=workers))
    t_phys_rest = time.perf_counter() - t0
    n = len(cands.joints)
    ok = cands.pre_accepted & np.array([accepted(results.get(i), cfg) for i in range(n)])
    success = np.array([results.get(i) is not None and results[i].success for i in range(n)])
    pen = np.array([results[i].penetration_mm if results.get(i) is not None else np.nan for i in range(n)])
    per_type = {}
    for k, t in enumerate(GRASP_TYPES):
        m = cands.type_index == k
        acc = m & ok
        per_type[t] = {
            "candidates": int(m.sum()),
            "raw_success_rate": float(success[m].mean()),
            "pre_accepted_fraction": float(cands.pre_accepted[m].mean()),
            "accepted_fraction": float(acc.sum() / m.sum()),
            "pre_accepted_physics_success_rate": float(success[m & cands.pre_accepted].mean()) if (m & cands.pre_accepted).any() else None,
            "mean_penetration_mm": float(np.nanmean(pen[acc])) if acc.any() else None,
            "mean_contact_mm": float(cands.mean_contact_mm[acc].mean()) if acc.any() else None,
            "joint_std_rad": float(cands.joints[acc].std(0).mean()) if acc.sum() > 1 else None,
            "translation_std_m": float(cands.trans[acc].std(0).mean()) if acc.sum() > 1 else None,
        }
    production = t_prepare + t_opt + t_phys_pre
    return {
        "objects": len(preps), "tasks": len(tasks), "candidates": n, "steps": steps,
        "seconds": {"prepare": t_prepare, "optimise": t_opt, "physics_pre_accepted": t_phys_pre,
                    "physics_rest": t_phys_rest},
        "candidates_per_s_optimise": n / t_opt,
        "physics_grasps_per_s": n / (t_phys_pre + t_phys_rest),
        "accepted": int(ok.sum()),
        "grasps_per_s": float(ok.sum() / production),
        "raw_success_rate": float(success.mean()),
        "mean_penetration_mm": float(np.nanmean(pen[ok])) if ok.any() else None,
        "per_type": per_type,
    }


def bench_dataset(root: Path) -> dict:
    summary = dataset_summary(root)
    index = read_index(root)
    pen, consistent, consistent_contacts, seconds = [], 0, 0, []
    joint_std = {t: [] for t in GRASP_TYPES}
    stats = {t: {"candidates": 0, "pre_accepted": 0, "physics_success": 0, "accepted": 0} for t in GRASP_TYPES}
    for entry in index["objects"].values():
        seconds.append(entry.get("seconds", np.nan))
        for t, s in entry.get("stats", {}).items():
            for k in stats[t]:
                stats[t][k] += s[k]
        rec = load_object(root / "objects" / entry["file"])
        if len(rec) == 0:
            continue
        pen.extend(rec.metrics["penetration_mm"].tolist())
        j, R, tr = grasps_to_arrays(rec.grasps)
        consistent += int(np.sum(lb.classify(j) == rec.types))
        field = DistanceField(rec.sdf, rec.sdf_origin, rec.sdf_voxel_size, True, rec.centroid, rec.extent)
        consistent_contacts += int(np.sum(lb.classify(j, R, tr, field) == rec.types))
        for k, t in enumerate(GRASP_TYPES):
            joint_std[t].append(j[rec.types == k])
    reasons = {}
    for reason in index.get("skipped", {}).values():
        key = reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    n = max(summary["grasps"], 1)
    return {
        **summary,
        "mean_penetration_mm": float(np.mean(pen)) if pen else None,
        "max_penetration_mm": float(np.max(pen)) if pen else None,
        "physics_success_rate_of_accepted": 1.0,
        "type_consistency_joints": consistent / n,
        "type_consistency_with_contacts": consistent_contacts / n,
        "joint_std_rad": {t: float(np.concatenate(v).std(0).mean()) if v and sum(map(len, v)) > 1 else None
                          for t, v in joint_std.items()},
        "production_stats": {t: {**s, "raw_success_lower_bound": s["physics_success"] / s["candidates"] if s["candidates"] else None,
                                 "accepted_fraction": s["accepted"] / s["candidates"] if s["candidates"] else None}
                             for t, s in stats.items()},
        "seconds_per_object_median": float(np.nanmedian(seconds)) if seconds else None,
        # the whole run's rate: every object's share of its batch's wall time
        "production_grasps_per_s": summary["grasps"] / float(np.nansum(seconds)) if seconds else None,
        "skipped_reasons": reasons,
    }


def bench_labels(data_root: Path | None) -> dict:
    doc = json.loads(LABELS.read_text())
    rows = []
    for e in doc["examples"]:
        y = -1 if e["label"] is None else GRASP_TYPES.index(e["label"])
        if e["source"] == "synthesis":
            rows.append(("synthesis", np.array(e["grasp"]), y))
        elif data_root is not None:
            from semg_grasp_ros.grasp.data.dataset import arrays_to_grasps
            from semg_grasp_ros.grasp.data.dexgraspnet import load_grasps

            g = load_grasps(data_root / "dataset" / f"{e['object_code']}.npy")
            i = e["index"]
            rows.append(("dexgraspnet_sample", arrays_to_grasps(g.joints[i:i + 1], g.rot[i:i + 1], g.trans[i:i + 1])[0], y))
    out = {}
    for src in ("synthesis", "dexgraspnet_sample"):
        sel = [r for r in rows if r[0] == src]
        if not sel:
            continue
        g = np.array([r[1] for r in sel])
        y = np.array([r[2] for r in sel])
        joints, _, _ = grasps_to_arrays(g)
        first = {t: i for i, t in reversed(list(enumerate(y))) if t >= 0}
        refs = g[list(first.values())]
        d = np.linalg.norm(g[:, None] - refs[None], axis=-1).min(1)
        other = np.setdiff1d(np.arange(len(g)), list(first.values()))
        ref = lb.ReferenceLabeller(refs, np.array(list(first)), float(np.median(d)))
        ref_j = lb.ReferenceLabeller(refs, np.array(list(first)),
                                     float(np.median(np.linalg.norm(g[:, None, :22] - refs[None, :, :22], axis=-1).min(1))),
                                     joints_only=True)
        out[src] = {
            "n": len(sel),
            "descriptor": lb.confusion(y, lb.classify(joints)),
            "reference_28d": lb.confusion(y[other], ref.label(g[other])),
            "reference_joints_only": lb.confusion(y[other], ref_j.label(g[other])),
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--dataset", default=None, help="a dataset folder written by `semg-grasp data synth`")
    p.add_argument("--candidates", type=int, default=16, help="candidates per (object, type) (default 16)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--workers", type=int, default=1, help="physics processes (default 1)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from semg_grasp_ros.errors import DatasetError
    from semg_grasp_ros.paths import data_root

    try:
        dgn = data_root() / "grasps" / "dexgraspnet_sample"
        dgn = dgn if dgn.is_dir() else None
    except DatasetError:
        dgn = None
    result = {"machine": machine()}
    synth = bench_synthesis(args.candidates, args.steps, args.workers)
    result["synthesis"] = synth
    result["grasps_per_s"] = synth["grasps_per_s"]
    result["per_type"] = {t: {"accepted_fraction": v["accepted_fraction"], "raw_success_rate": v["raw_success_rate"]}
                          for t, v in synth["per_type"].items()}
    if args.dataset:
        ds = bench_dataset(Path(args.dataset))
        result["dataset"] = ds
        result["mean_penetration_mm"] = ds["mean_penetration_mm"]
    else:
        result["dataset"] = {"grasps": 0, "objects": 0, "types": 0}
        result["mean_penetration_mm"] = synth["mean_penetration_mm"]
    result["labels"] = bench_labels(dgn)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("grasps_per_s", "per_type", "mean_penetration_mm")}, indent=1))
    print("dataset:", {k: result["dataset"].get(k) for k in ("grasps", "objects", "types")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
