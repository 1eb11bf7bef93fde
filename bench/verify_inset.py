"""How the verifier's simulated object is chosen: on the procedural validation objects (never the
test objects), from one simulated depth view, every candidate of each request tried against the
field's object at several insets (``grasp.verify.VerifyConfig.inset_voxels``) and against the true
object.

    python bench/verify_inset.py [--out bench/results/verify_inset.json] [--per-family 6]

For each inset: ``selected`` = how often the grasp executed (the first candidate that holds in the
verifier's simulation, else the top-ranked) holds on the true object under the standard protocol;
``precision`` / ``recall`` of the verifier's verdicts against the true ones. ``ranking_alone``: the
top-ranked candidate, no verification.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info, split_objects, write_result  # noqa: E402  (bench/common.py)

import torch  # noqa: E402

from semg_grasp_ros.errors import DataError  # noqa: E402

from semg_grasp_ros.cli.eval_generator import candidate_postures, eval_object  # noqa: E402
from semg_grasp_ros.grasp.physics import GraspSimulator, preset  # noqa: E402
from semg_grasp_ros.grasp.verify import field_pieces  # noqa: E402
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/verify_inset.json"))
    parser.add_argument("--per-family", type=int, default=6, help="validation objects per family (default 6)")
    parser.add_argument("--insets", nargs="+", type=float, default=[0.0, 1.0, 2.0], help="insets to compare, voxels")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    info, start = machine_info("mujoco"), time.perf_counter()
    chosen = split_objects("val", args.per_family)
    sampler = GraspDiffusionComponent(GraspDiffusionConfig(verify_budget_s=0.0)).sampler
    gen = torch.Generator().manual_seed(0)
    standard = preset("standard")
    rows = []
    for o in chosen:
        obj = eval_object(o.object_id, o.mesh(), o.pieces, o.types, 1, 0)
        sims = {}
        for inset in args.insets:  # a thin object's field may hold no voxel that deep: nothing verified
            try:
                sims[inset] = GraspSimulator(field_pieces(obj.field, inset_voxels=inset), standard)
            except DataError:
                sims[inset] = None
        true = GraspSimulator(o.pieces, standard)
        cond = sampler.prepare(obj.field)
        for t in o.types:
            c = sampler.generate(cond, t, generator=gen)
            for i in range(len(c)):
                row = {"object": o.object_id, "type": t, "rank": i,
                       "true": bool(true.evaluate(candidate_postures(obj, c, i)).success)}
                row.update({str(inset): sim is not None and bool(sim.evaluate(c.postures(i)).success)
                            for inset, sim in sims.items()})
                rows.append(row)
        print(o.object_id, flush=True)
    requests = defaultdict(list)
    for r in rows:
        requests[(r["object"], r["type"])].append(r)
    truth = np.array([r["true"] for r in rows])
    out = {"what": __doc__.split("\n\n")[0], "machine": info, "objects": [o.object_id for o in chosen],
           "requests": len(requests), "candidates": len(rows),
           "ranking_alone": float(np.mean([v[0]["true"] for v in requests.values()])),
           "oracle": float(np.mean([any(x["true"] for x in v) for v in requests.values()])), "insets": {}}
    for inset in map(str, args.insets):
        said = np.array([r[inset] for r in rows])
        out["insets"][inset] = {
            "selected": float(np.mean([next((x for x in v if x[inset]), v[0])["true"] for v in requests.values()])),
            "precision": float(truth[said].mean()) if said.any() else None,
            "recall": float(said[truth].mean()) if truth.any() else None}
    print({k: out[k] for k in ("ranking_alone", "oracle")}, out["insets"])
    write_result(out, args.out, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
