"""Benchmark of the generator on real objects: the shipped model on a folder of real object
meshes (default the YCB objects of the data folder, never trained on), every grasp type, the
field from the full mesh and from one simulated depth view, with and without trying the ranked
grasps in simulation first (``grasp.verify``), side by side in one run.

    python bench/grasp_real.py --out bench/results/grasp_real.json [--objects DIR] [--repeats R]

Objects: ``pipeline.closed_loop.load_object_set`` (a subfolder per object naming its collision
mesh in ``model.urdf``, as ``objects/ycb``), each standing on a table as it is stored. Each
(object, type) is requested ``--repeats`` times (fresh noise); the grasp the generator puts first
is checked with its pregrasp -> grasp -> squeeze postures under the standard protocol
(``grasp.physics``: BODex / DexGraspBench "fc") against the object's true convex pieces
(``cli.eval_generator.evaluate_generator``). ``verify_budget_s`` 0 is the ranking alone; a
positive budget tries candidates best-ranked first against the object as its field describes it
(from the full mesh: the object to a voxel; from one view: the completed estimate) and executes
the first that holds. ``verified_rate``: requests whose executed grasp held in that simulation;
``success_given_verified``: how often those hold on the true object (the verification's precision).
``--insets``: the verifier's simulated object that many voxels inside the field's surface.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info, write_result  # noqa: E402  (bench/common.py)

import torch  # noqa: E402

from semg_grasp_ros import GRASP_TYPES  # noqa: E402
from semg_grasp_ros.cli.eval_generator import eval_object, evaluate_generator  # noqa: E402
from semg_grasp_ros.grasp.diffusion.checkpoint import model_folder  # noqa: E402
from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler  # noqa: E402
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig  # noqa: E402
from semg_grasp_ros.grasp.verify import GraspVerifier, VerifyConfig  # noqa: E402
from semg_grasp_ros.paths import data_root  # noqa: E402
from semg_grasp_ros.pipeline.closed_loop import load_object_set  # noqa: E402
from semg_grasp_ros.perception.completion import COMPLETIONS  # noqa: E402
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionConfig  # noqa: E402
from semg_grasp_ros.pipeline.object_sdf import ObjectSdfConfig  # noqa: E402

KEYS = ("success_rate", "rejected_rate", "verified_rate", "success_given_verified", "mean_penetration_mm",
        "mean_finger_penetration_mm", "type_consistency")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output JSON")
    parser.add_argument("--objects", type=Path, default=None, help="object folder (default <data>/objects/ycb)")
    parser.add_argument("--model", default=GraspDiffusionConfig.model)
    parser.add_argument("--views", nargs="+", type=int, choices=(0, 1), default=[0, 1],
                        help="0: field from the full mesh, 1: from one depth view")
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.0, 60.0],
                        help="verification budgets to compare, seconds per request (0: ranking alone; default 60: "
                             "every candidate, as the node's 1 s fits on an unloaded core, whatever the load)")
    parser.add_argument("--insets", nargs="+", type=float, default=[VerifyConfig.inset_voxels],
                        help="insets of the verifier's simulated object to compare, voxels")
    parser.add_argument("--completions", nargs="+", choices=COMPLETIONS, default=list(COMPLETIONS),
                        help="what fills the unseen back of one view (perception.completion), compared")
    parser.add_argument("--candidates", nargs="+", type=int, default=[None],
                        help="grasps sampled per request to compare (default the model's stored setting)")
    parser.add_argument("--repeats", type=int, default=1, help="requests per (object, type)")
    parser.add_argument("--workers", type=int, default=2, help="physics-check processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    info = machine_info("mujoco")
    start = time.perf_counter()
    folder = args.objects or data_root() / "objects" / "ycb"
    table = load_object_set(folder)
    path = model_folder(args.model)
    runs = []
    settings = [(v, c, k, b, i) for v in args.views for c in (args.completions if v else [None])
                for k in args.candidates for b in args.budgets for i in (args.insets if b > 0 else [None])]
    objects, made = None, None
    stored = GraspSampler.from_pretrained(path).config
    for views, completion, candidates, budget, inset in settings:
        if made != (views, completion):
            config = ObjectSdfConfig() if completion is None else ObjectSdfConfig(completion=completion)
            objects = [eval_object(o.name, o.mesh, o.pieces, GRASP_TYPES, views, args.seed, sdf_config=config)
                       for o in table]
            made = (views, completion)
        verify = VerifyConfig(budget_s=budget) if inset is None else VerifyConfig(budget_s=budget, inset_voxels=inset)
        sampling = stored if candidates is None else replace(stored, num_candidates=candidates)
        sampler = GraspSampler.from_pretrained(path, sampling, refiner=GraspRefiner(RefineConfig()),
                                               verifier=GraspVerifier(verify))
        report = evaluate_generator(sampler, objects, seed=args.seed, protocols=("standard",),
                                    workers=args.workers, repeats=args.repeats, progress=False)
        standard = report["protocols"]["standard"]
        row = {"views": views, "completion": completion, "candidates": sampling.num_candidates,
               "verify_budget_s": budget, "inset_voxels": inset, **{k: report[k] for k in KEYS},
               "latency_ms": report["latency_ms"], "per_type": standard["per_type"],
               "per_object": standard["per_object"], "requests": report["requests"]}
        runs.append(row)
        print(f"views {views} ({completion or 'full mesh'}), {sampling.num_candidates} candidates, verify {budget:g} s "
              f"(inset {inset}): success {row['success_rate']:.1%}, rejected {row['rejected_rate']:.1%}, verified "
              f"{row['verified_rate'] or 0:.1%}, latency p50 {row['latency_ms']['p50']:.0f} ms", flush=True)
    out = {"what": "the shipped generator on real objects never trained on, top grasp, standard protocol",
           "machine": info, "objects": [o.name for o in table], "object_folder": str(folder), "model": str(path),
           "repeats": args.repeats, "seed": args.seed, "runs": runs}
    write_result(out, args.out, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
