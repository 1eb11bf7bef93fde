"""Grasps the standalone pipeline executes on single-view distance fields.

    python bench/demo_sessions.py --out bench/results/demo_sessions.json [--seeds 0 1]

bench/grasp.py measures the generator on fields computed from complete meshes. In the
pipeline the field comes from one simulated depth view of the object on a table
(``config/object_sdf.yaml``). This benchmark runs ``semg-grasp demo`` sessions (the
simulated user performs each of the six grasps once, with rests between them) on
several objects and seeds, using the shipped defaults. Every executed grasp is checked
in MuJoCo against the true object mesh.

Per object and overall it reports:
    grasps                      how many grasps were executed (the decoded intents decide this)
    success_rate                the fraction of them the physics check passes
    rejected_rate               the fraction whose pregrasp penetrates (object or fingers) > 1 cm
    per_type                    the success rate for each executed grasp type
    grasps_per_performed_grasp  executed grasps / 6 (above 1: onset flicker re-triggers generation)
    served_rate                 the fraction of performed grasps during which (up to 0.5 s after) a
                                grasp of the performed type was executed; first_type_correct_rate:
                                the first grasp executed during a performed grasp is of its type
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros import GRASP_TYPES  # noqa: E402
from semg_grasp_ros.emg.simulator.script import parse_script  # noqa: E402
from semg_grasp_ros.pipeline.demo import Demo, DemoConfig  # noqa: E402

OBJECTS = ("cylinder:0.035,0.12", "box:0.06,0.05,0.1", "sphere:0.04", "bottle", "mug")
SCRIPT = "rest:2.5," + ",".join(f"{t}:3,rest:2" for t in GRASP_TYPES)


def _rates(grasps: list[dict]) -> dict:
    n = len(grasps)
    per_type = defaultdict(list)
    for g in grasps:
        per_type[g["grasp_type"]].append(g["physics_success"])
    return {
        "grasps": n,
        "success_rate": sum(g["physics_success"] for g in grasps) / n if n else None,
        "rejected_rate": sum(g["physics_rejected"] for g in grasps) / n if n else None,
        "per_type": {t: sum(v) / len(v) for t, v in sorted(per_type.items())},
    }


def _served(timeline: list[dict], script: str) -> list[dict]:
    """Per performed grasp of ``script``: its type, whether a grasp of that type was executed
    during it (up to 0.5 s after its end), and whether the first one executed was."""
    out, t = [], 0.0
    for name, seconds in parse_script(script):
        start, t = t, t + seconds
        if name == "rest":
            continue
        types = [e["grasp_type"] for e in timeline if e["event"] == "grasp" and start <= e["t"] < t + 0.5]
        out.append({"grasp_type": name, "served": name in types, "first_correct": bool(types) and types[0] == name})
    return out


def _served_rates(rows: list[dict]) -> dict:
    per_type = defaultdict(list)
    for r in rows:
        per_type[r["grasp_type"]].append(r["served"])
    return {"served_rate": sum(r["served"] for r in rows) / len(rows),
            "first_type_correct_rate": sum(r["first_correct"] for r in rows) / len(rows),
            "served_per_type": {k: sum(v) / len(v) for k, v in sorted(per_type.items())}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--objects", nargs="+", default=list(OBJECTS), help="demo --object specs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="session seeds per object")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    per_object, every, performed = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for obj in args.objects:
            grasps, served = [], []
            for seed in args.seeds:
                out = Path(tmp) / f"{len(every)}_{seed}"
                summary = Demo(DemoConfig(object=obj, script=SCRIPT, seed=seed, render=False), out).run()
                grasps += [e for e in summary["timeline"] if e["event"] == "grasp"]
                served += _served(summary["timeline"], SCRIPT)
            row = {**_rates(grasps), **_served_rates(served)}
            row["grasps_per_performed_grasp"] = len(grasps) / (len(GRASP_TYPES) * len(args.seeds))
            performed += served
            per_object[obj] = row
            every += grasps
            print(f"{obj}: {row['grasps']} grasps, success {row['success_rate']:.2f}", flush=True)
    result = {
        "what": __doc__.split("\n\n")[1].strip().replace("\n", " "),
        "script": SCRIPT,
        "seeds": args.seeds,
        "overall": {**_rates(every), **_served_rates(performed), "grasps_per_performed_grasp": len(every) / (len(GRASP_TYPES) * len(args.seeds)
                                                                                 * len(args.objects))},
        "objects": per_object,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"overall success {result['overall']['success_rate']:.3f} over {result['overall']['grasps']} grasps "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
