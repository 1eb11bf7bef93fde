"""Agreement of the project's physics check with DexGraspBench's own evaluation, on the same grasps.

The benchmark (github.com/JYChen18/DexGraspBench) runs outside the project, in its own
environment (numpy 1.26, mujoco 3.3.2, torch, usd-core, hydra-core, transforms3d, trimesh,
qpsolvers, matplotlib, scikit-learn), its submodule ``third_party/mujoco_menagerie/shadow_hand``
pointing at ``<data>/hand/shadow_menagerie``:

    cd DexGraspBench
    python src/main.py task=eval exp_name=example hand=shadow n_worker=1 task.analytic_fc_metrics=null

(``output/example_shadow/graspdata`` ships with it: BODex's grasps of 5 objects at 4 scales.) The
project's grasps of the same objects and scales, the top-ranked of each type, with the field from
the full mesh and from one simulated depth view (as ``semg-grasp eval generator --views 0|1
--export-dexgraspbench``), are written for it by

    python bench/physics_agreement.py --dgb DexGraspBench --export-project [--seed 0]

into ``output/project_shadow`` and ``output/project1view_shadow`` (evaluate them as above with
``exp_name=project`` and ``exp_name=project1view``). Then:

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
    verdicts                      the project's verdicts, "1"/"0" in the order of the sorted paths
    rest_stop                     verdicts changed by ending pushes once the object rests, and the time saved

Protocols compared: ``standard`` with the menagerie hand (the default where the data folder has it),
the same running every push for its full 2 s (no rest stop), ``standard`` with the project's URDF
hand, and ``lenient``.
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

from semg_grasp_ros.grasp import physics, physics_batch  # noqa: E402
from semg_grasp_ros.grasp.data.dexgraspbench import object_pieces, read_grasp  # noqa: E402

VARIANTS = {
    "standard_menagerie": replace(physics.PRESETS["standard"], hand="menagerie"),
    "standard_menagerie_no_rest_stop": replace(physics.PRESETS["standard"], hand="menagerie", rest_stop=False),
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


def run_set(dgb: Path, name: str, verdicts: dict, variants: list[str], workers: int, every: int = 1,
            out: dict | None = None) -> dict:
    """The project's check on set ``name`` (every ``every``-th grasp in path order) for each variant,
    added to ``out`` (the set's earlier results, kept for other variants)."""
    grasp_dir = dgb / "output" / name / "graspdata"
    keys = sorted(verdicts)[::every]
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
    out = dict(out or {})
    out.update({"n": len(verdicts), "objects": len(objects),
                "benchmark_success_rate": float(np.mean([v["success"] for v in verdicts.values()])),
                "benchmark_rejected_rate": float(np.mean([v["delta_pos_m"] >= 100 for v in verdicts.values()]))})
    for variant in variants:
        config = VARIANTS[variant]
        wall = time.perf_counter()
        res = physics_batch.evaluate_postures(grasps, objects, np.array(index), config, workers=workers, chunk_size=4)
        wall = time.perf_counter() - wall
        ours = np.array([r is not None and r.success for r in res])
        rej = np.array([r is not None and r.rejected for r in res])
        ho = np.array([r.penetration_mm for r in res])
        hh = np.array([r.finger_penetration_mm for r in res])
        out[variant] = {
            "n": len(keys),
            "every": every,
            "agreement": float((ours == bench).mean()),
            "benchmark_success_rate": float(bench.mean()),
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
            "verdicts": "".join("1" if v else "0" for v in ours),  # in the order of the sorted paths
        }
        print(f"{name} {variant}: agreement {out[variant]['agreement']:.1%}, project {ours.mean():.1%} vs "
              f"benchmark {bench.mean():.1%} ({wall:.0f} s)", flush=True)
    a, b = out.get("standard_menagerie"), out.get("standard_menagerie_no_rest_stop")
    if a and b and b["every"] % a["every"] == 0:
        va = a["verdicts"][:: b["every"] // a["every"]]
        out["rest_stop"] = {"grasps": len(b["verdicts"]),
                            "verdict_changes": sum(x != y for x, y in zip(va, b["verdicts"])),
                            "time_saved": 1.0 - b["grasps_per_s"] / a["grasps_per_s"]}
    return out


def export_project(dgb: Path, seed: int) -> None:
    """The generator's top-ranked grasp of each type on each example object and scale, field from
    the full mesh and from one depth view, written as benchmark grasp files."""
    import torch

    from semg_grasp_ros import GRASP_TYPES
    from semg_grasp_ros.cli.eval_generator import candidate_postures, object_from_mesh
    from semg_grasp_ros.grasp.data.dexgraspbench import write_grasp
    from semg_grasp_ros.grasp.diffusion.checkpoint import model_folder
    from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler
    from semg_grasp_ros.grasp.physics import GraspSimulator
    from semg_grasp_ros.grasp.refine import GraspRefiner

    torch.set_num_threads(1)
    sampler = GraspSampler.from_pretrained(model_folder("grasp_improved"), refiner=GraspRefiner())
    gen = torch.Generator().manual_seed(seed)
    scales = sorted({float(p.name[5:8]) / 100 for p in (dgb / "output" / "example_shadow" / "graspdata").glob("*/scale*")})
    for folder in sorted((dgb / "assets" / "example_object").iterdir()):
        for scale in scales:
            for views, name in ((0, "project_shadow"), (1, "project1view_shadow")):
                obj = object_from_mesh(folder / "mesh" / "coacd.obj", scale, views=views, seed=seed)
                cond = sampler.prepare(obj.field)
                sim = None
                for t in GRASP_TYPES:
                    post = candidate_postures(obj, sampler.generate(cond, t, generator=gen))
                    if not post.complete:
                        sim = sim or GraspSimulator(obj.pieces)
                        post = sim.derive_postures(post.grasp)
                    write_grasp(dgb / "output" / name / "graspdata" / folder.name / f"scale{round(scale * 100):03d}"
                                / f"{t}.npy", post, folder, scale)
            print(f"{folder.name} scale {scale}: exported", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dgb", type=Path, required=True, help="DexGraspBench checkout (its output/ and assets/)")
    parser.add_argument("--set", action="append", default=[], help="output/<set> of the benchmark (repeatable)")
    parser.add_argument("--export-project", action="store_true", help="write the project's grasps for the benchmark")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed of --export-project")
    parser.add_argument("--verdicts", type=Path, default=Path("bench/results/dexgraspbench_verdicts.json"))
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=int, default=1, help="check every N-th grasp of each set (path order)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/physics_agreement.json"))
    args = parser.parse_args()
    if args.export_project:
        export_project(args.dgb, args.seed)
        return 0
    stored = json.loads(args.verdicts.read_text()) if args.verdicts.exists() else {}
    earlier = json.loads(args.out.read_text()) if args.out.exists() else {}
    report = {"machine": machine_info("mujoco"), "commands": earlier.get("commands", []) + [" ".join(sys.argv)],
              "benchmark": "DexGraspBench (github.com/JYChen18/DexGraspBench), fc setting, shadow hand: "
                           "python src/main.py task=eval exp_name=<name> hand=shadow n_worker=1 "
                           "task.analytic_fc_metrics=null (numpy 1.26.4, mujoco 3.3.2)",
              "protocols": {k: vars(v) for k, v in VARIANTS.items()}, "sets": earlier.get("sets", {})}
    for name in args.set:
        if (args.dgb / "output" / name / "evaluation").is_dir():
            stored[name] = collect_verdicts(args.dgb, name)
        if not stored.get(name):
            raise SystemExit(f"no verdicts of set {name}: evaluate it with DexGraspBench first")
        report["sets"][name] = run_set(args.dgb, name, stored[name], args.variants, args.workers, args.every,
                                       report["sets"].get(name))
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.verdicts.parent.mkdir(parents=True, exist_ok=True)
    args.verdicts.write_text(json.dumps(stored, indent=0, sort_keys=True) + "\n")
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {args.out}, verdicts -> {args.verdicts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
