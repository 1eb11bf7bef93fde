"""Agreement of the project's physics check with DexGraspBench's own evaluation, on the same grasps.

The benchmark (github.com/JYChen18/DexGraspBench) runs outside the project, in its own
environment (numpy 1.26, mujoco 3.3.2, torch, usd-core, hydra-core, transforms3d, trimesh,
qpsolvers, matplotlib, scikit-learn), its submodule ``third_party/mujoco_menagerie/shadow_hand``
pointing at ``<data>/hand/shadow_menagerie``:

    cd DexGraspBench
    python src/main.py task=eval exp_name=example hand=shadow n_worker=1 task.analytic_fc_metrics=null

(``output/example_shadow/graspdata`` ships with it: BODex's grasps of 5 objects at 4 scales;
``semg-grasp eval generator ... --export-dexgraspbench DexGraspBench/output/project_shadow/graspdata``
writes the project's grasps there, evaluated the same way with ``exp_name=project``.) Then:

    python bench/physics_agreement.py --dgb DexGraspBench --set example_shadow --set project_shadow \\
        --out bench/results/physics_agreement.json

reads each set's grasps (``output/<set>/graspdata``) and the benchmark's verdicts
(``output/<set>/evaluation``, collected into ``--verdicts``, default
``bench/results/dexgraspbench_verdicts.json``, so the comparison can be re-checked from that file
without running the benchmark again), runs the project's check on the same grasps (same object
pieces ``<object>/urdf/meshes``, scales, postures), and writes per set and protocol:

    n, agreement                  share of grasps with the same verdict
    confusion                     {both_success, both_fail, project_only, benchmark_only}
    success_rate, benchmark_success_rate
    rejected_agreement            same "pregrasp penetrates > 1 cm" verdict
    penetration_mae_mm            |project - benchmark| hand-object / finger-finger penetration at the grasp
    grasps_per_s                  throughput of the project's check (``--workers`` processes)
    disagreements                 the grasps whose verdicts differ (set-relative paths)

Protocols compared: ``standard`` with the menagerie hand (the default where the data folder has it),
``standard`` with the project's URDF hand, and ``lenient``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info  # noqa: E402  (bench/common.py)

from semg_grasp_ros.grasp import physics  # noqa: E402
from semg_grasp_ros.grasp.data.dexgraspbench import object_pieces, read_grasp  # noqa: E402

VARIANTS = {
    "standard_menagerie": replace(physics.PRESETS["standard"], hand="menagerie"),
    "standard_urdf": replace(physics.PRESETS["standard"], hand="urdf"),
    "lenient": physics.PRESETS["lenient"],
}


def collect_verdicts(dgb: Path, name: str) -> dict:
    """The benchmark's verdicts of set ``name`` from its evaluation folder: {relative path: record}."""
    grasp_dir, eval_dir = dgb / "output" / name / "graspdata", dgb / "output" / name / "evaluation"
    out = {}
    for f in sorted(eval_dir.rglob("*.npy")):
        rec = np.load(f, allow_pickle=True).item()
        rel = str(f.relative_to(eval_dir))
        if not (grasp_dir / rel).exists():
            continue
        out[rel] = {"success": bool(rec["succ_flag"]), "ho_pene_mm": round(1e3 * float(rec["ho_pene"]), 3),
                    "self_pene_mm": round(1e3 * float(rec["self_pene"]), 3),
                    "delta_pos_m": round(float(rec["delta_pos"]), 5), "delta_angle_deg": round(float(rec["delta_angle"]), 3)}
    return out


def run_set(dgb: Path, name: str, verdicts: dict, variants: list[str], workers: int) -> dict:
    grasp_dir = dgb / "output" / name / "graspdata"
    keys = sorted(verdicts)
    grasps, index, objects, object_keys = [], [], [], []
    for rel in keys:
        postures, meta = read_grasp(grasp_dir / rel)
        obj = Path(meta["obj_path"])
        obj = obj if obj.is_absolute() else dgb / obj
        key = (str(obj), round(meta["obj_scale"], 6))
        if key not in object_keys:
            object_keys.append(key)
            objects.append(object_pieces(obj, meta["obj_scale"]))
        grasps.append(postures)
        index.append(object_keys.index(key))
    bench = np.array([verdicts[k]["success"] for k in keys])
    bench_rej = np.array([max(verdicts[k]["delta_pos_m"], 0) >= 100 for k in keys])  # the benchmark's "100" marker
    out = {"n": len(keys), "objects": len(objects), "benchmark_success_rate": float(bench.mean()),
           "benchmark_rejected_rate": float(bench_rej.mean())}
    for variant in variants:
        config = VARIANTS[variant]
        wall = time.perf_counter()
        res = physics.evaluate_postures(grasps, objects, np.array(index), config, workers=workers, chunk_size=4)
        wall = time.perf_counter() - wall
        ours = np.array([r is not None and r.success for r in res])
        rej = np.array([r is not None and r.rejected for r in res])
        ho = np.array([r.penetration_mm for r in res])
        hh = np.array([r.finger_penetration_mm for r in res])
        out[variant] = {
            "agreement": float((ours == bench).mean()),
            "confusion": {"both_success": int((ours & bench).sum()), "both_fail": int((~ours & ~bench).sum()),
                          "project_only": int((ours & ~bench).sum()), "benchmark_only": int((~ours & bench).sum())},
            "success_rate": float(ours.mean()),
            "rejected_rate": float(rej.mean()),
            "rejected_agreement": float((rej == bench_rej).mean()),
            "penetration_mae_mm": float(np.mean(np.abs(ho - [verdicts[k]["ho_pene_mm"] for k in keys]))),
            "finger_penetration_mae_mm": float(np.mean(np.abs(hh - [verdicts[k]["self_pene_mm"] for k in keys]))),
            "grasps_per_s": len(keys) / wall,
            "workers": workers,
            "disagreements": [k for k, a, b in zip(keys, ours, bench) if a != b],
        }
        print(f"{name} {variant}: agreement {out[variant]['agreement']:.1%}, project {ours.mean():.1%} vs "
              f"benchmark {bench.mean():.1%} ({wall:.0f} s)", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dgb", type=Path, required=True, help="DexGraspBench checkout (its output/ and assets/)")
    parser.add_argument("--set", action="append", required=True, help="output/<set> of the benchmark (repeatable)")
    parser.add_argument("--verdicts", type=Path, default=Path("bench/results/dexgraspbench_verdicts.json"))
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results/physics_agreement.json"))
    args = parser.parse_args()
    stored = json.loads(args.verdicts.read_text()) if args.verdicts.exists() else {}
    report = {"machine": machine_info("mujoco"), "command": " ".join(sys.argv),
              "benchmark": "DexGraspBench (github.com/JYChen18/DexGraspBench), fc setting, shadow hand: "
                           "python src/main.py task=eval exp_name=<name> hand=shadow n_worker=1 "
                           "task.analytic_fc_metrics=null (numpy 1.26.4, mujoco 3.3.2)",
              "protocols": {k: vars(v) for k, v in VARIANTS.items() if k in args.variants}, "sets": {}}
    for name in args.set:
        if (args.dgb / "output" / name / "evaluation").is_dir():
            stored[name] = collect_verdicts(args.dgb, name)
        if not stored.get(name):
            raise SystemExit(f"no verdicts of set {name}: evaluate it with DexGraspBench first")
        report["sets"][name] = run_set(args.dgb, name, stored[name], args.variants, args.workers)
    args.verdicts.parent.mkdir(parents=True, exist_ok=True)
    args.verdicts.write_text(json.dumps(stored, indent=0, sort_keys=True) + "\n")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.out}, verdicts -> {args.verdicts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
