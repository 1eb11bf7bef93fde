"""How far the refinement runs and how many candidates are drawn: on the procedural validation
objects (never the test objects), the same requests with each setting compared (Gauss-Newton
steps of ``grasp.refine.RefineConfig``, candidates per request), every candidate checked against
the true object under the standard protocol.

    python bench/refine.py [--out bench/results/refine.json] [--per-family 4] [--views 1] [--steps 4 8 16]
                           [--candidates 16 32]

Per setting: ``candidate_success`` (every candidate), ``top_success`` (the ranked first),
``verified_success`` (the grasp the generator executes with verification on: the first candidate
that holds against the field's own object, ``grasp.verify``, else the ranked first),
``oracle`` (a request with at least one candidate that holds), ``rejected`` (a pregrasp
penetrating more than 1 cm), ``penetration_mm`` (mean at the grasp, every candidate),
``latency_ms`` (sampling, refinement and ranking of one request's candidates, one thread).
The diffusion samples of a request are the same for every number of steps (the same noise), so
those settings differ only in the refinement.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info, split_objects, write_result  # noqa: E402  (bench/common.py)

import torch  # noqa: E402

from semg_grasp_ros.cli.eval_generator import candidate_postures, eval_object  # noqa: E402
from semg_grasp_ros.grasp.physics import preset  # noqa: E402
from semg_grasp_ros.grasp.physics_batch import evaluate_postures  # noqa: E402
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig  # noqa: E402
from semg_grasp_ros.grasp.verify import VerifyConfig, field_pieces  # noqa: E402
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/refine.json"))
    parser.add_argument("--per-family", type=int, default=4, help="validation objects per family (default 4)")
    parser.add_argument("--views", type=int, choices=(0, 1), default=1, help="0: full mesh, 1: one depth view")
    parser.add_argument("--steps", nargs="+", type=int, default=[RefineConfig.steps, 8, 16],
                        help="Gauss-Newton steps to compare")
    parser.add_argument("--candidates", nargs="+", type=int, default=[None],
                        help="candidates per request to compare (default the model's stored setting)")
    parser.add_argument("--workers", type=int, default=2, help="physics-check processes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    info, start = machine_info("mujoco"), time.perf_counter()
    chosen = split_objects("val", args.per_family)
    sampler = GraspDiffusionComponent(GraspDiffusionConfig(verify_budget_s=0.0)).sampler
    objects = [eval_object(o.object_id, o.mesh(), o.pieces, o.types, args.views, 0) for o in chosen]
    verify = VerifyConfig()
    estimates = [field_pieces(o.field, verify.max_pieces, verify.voxels_per_piece, verify.inset_voxels)
                 for o in objects]
    stored = sampler.config
    settings = {f"steps_{s}" + (f"_candidates_{k}" if k else ""): (replace(RefineConfig(), steps=s), k)
                for k in args.candidates for s in args.steps}
    out = {"what": __doc__.split("\n\n")[0], "machine": info, "objects": [o.object_id for o in chosen],
           "views": args.views, "protocol": "standard", "settings": {}}
    for name, (config, candidates) in settings.items():
        sampler.refiner = GraspRefiner(config)
        sampler.config = replace(stored, num_candidates=candidates or stored.num_candidates)
        gen = torch.Generator().manual_seed(0)
        postures, seen, owner, request, rank, latency = [], [], [], [], [], []
        for k, obj in enumerate(objects):
            cond = sampler.prepare(obj.field)
            for t in obj.types:
                c = sampler.generate(cond, t, generator=gen)
                latency.append(c.seconds * 1e3)
                for i in range(len(c)):
                    postures.append(candidate_postures(obj, c, i))
                    seen.append(c.postures(i))
                    owner.append(k)
                    request.append(len(latency) - 1)
                    rank.append(i)
        results = evaluate_postures(postures, [o.pieces for o in objects], np.array(owner), preset("standard"),
                                    args.workers)
        ok = np.array([bool(r is not None and r.success) for r in results])
        said = np.array([bool(r is not None and r.success) for r in
                         evaluate_postures(seen, estimates, np.array(owner), preset(verify.protocol), args.workers)])
        request, rank = np.array(request), np.array(rank)
        executed = [np.flatnonzero(request == q)[np.argmax(said[request == q])] for q in range(len(latency))]
        out["settings"][name] = row = {
            "refine": {"steps": config.steps}, "num_candidates": sampler.config.num_candidates,
            "requests": len(latency), "candidates": len(ok),
            "candidate_success": float(ok.mean()),
            "top_success": float(ok[rank == 0].mean()),
            "verified_success": float(ok[executed].mean()),
            "oracle": float(np.mean([ok[request == q].any() for q in range(len(latency))])),
            "rejected": float(np.mean([bool(r is not None and r.rejected) for r in results])),
            "penetration_mm": float(np.nanmean([r.penetration_mm if r is not None else np.nan for r in results])),
            "latency_ms": {"p50": float(np.percentile(latency, 50)), "p95": float(np.percentile(latency, 95))},
        }
        print(name, {k: v for k, v in row.items() if k != "refine"}, flush=True)
    write_result(out, args.out, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
