"""``semg-grasp eval grasps FILE [--mesh MESH --scale S] --json OUT``: the physics check of a grasp file.

FILE is a DexGraspNet ``.npy`` (``dataset/<code>.npy``; its mesh is found at
``../meshdata/<code>/coacd/decomposed.obj`` unless ``--mesh`` is given, and each grasp's own
``scale`` applies unless ``--scale`` is given) or one of the project's grasp object files
(``.npz`` from ``semg-grasp data ...``, which carry their convex pieces in metres).
The protocol is ``grasp.physics``'s standard one (``--protocol`` names another preset: ``tabletop``,
``lenient``); the JSON holds the summary and one record per grasp.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .args import count, existing_file, output_file, positive


def add_arguments(parser) -> None:
    parser.add_argument("file", type=existing_file(".npy", ".npz"), help="DexGraspNet .npy grasp file or a project grasp object .npz")
    parser.add_argument("--mesh", type=existing_file(), default=None, help="object mesh (OBJ, convex pieces as 'o' groups)")
    parser.add_argument("--scale", type=positive(), default=None, help="mesh units -> metres (overrides the file's)")
    parser.add_argument("--json", type=output_file(".json"), required=True, help="output JSON file")
    parser.add_argument("--workers", type=count(1, 256), default=2, help="worker processes (default 2)")
    parser.add_argument("--limit", type=count(1), default=None, help="evaluate only the first N grasps")
    parser.add_argument("--pictures", type=count(0), default=0,
                        help="draw N of the grasps (evenly spread, 1280x720 with the verdict) into <json>_pictures/")
    parser.add_argument("--protocol", default="standard", choices=("standard", "tabletop", "lenient"),
                        help="physics protocol preset (default standard: BODex / DexGraspBench)")


def _load(args):
    """(joints, rot, trans, objects, object_index, label) from the arguments."""
    from ..grasp.data.dexgraspnet import load_convex_pieces, load_grasps

    path = args.file
    if not path.is_file():
        raise DatasetError(f"grasp file {path} does not exist")
    if args.scale is not None and not args.scale > 0:
        raise DatasetError(f"--scale must be positive, got {args.scale}")
    if path.suffix == ".npy":
        g = load_grasps(path)
        joints, rot, trans = g.joints, g.rot, g.trans
        scales = np.full(len(g), args.scale) if args.scale is not None else g.scale
        mesh = args.mesh or path.parent.parent / "meshdata" / g.object_code / "coacd" / "decomposed.obj"
        keys = sorted(set(np.round(scales, 6)))
        objects = [load_convex_pieces(mesh, s) for s in keys]
        index = np.array([keys.index(s) for s in np.round(scales, 6)])
        return joints, rot, trans, objects, index, g.object_code
    if path.suffix == ".npz":
        from ..grasp.data.dataset import grasps_to_arrays, load_object

        rec = load_object(path)
        joints, rot, trans = grasps_to_arrays(rec.grasps)
        if args.mesh is not None:
            pieces = load_convex_pieces(args.mesh, args.scale if args.scale is not None else rec.scale)
        else:
            pieces = rec.pieces
        return joints, rot, trans, [pieces], np.zeros(len(joints), dtype=int), rec.object_id
    raise DatasetError(f"unknown grasp file type {path.suffix!r}; expected a DexGraspNet .npy or a project .npz")


def run(args) -> int:
    from tqdm import tqdm

    from ..grasp.physics import preset, resolve_hand
    from ..grasp.physics_batch import evaluate_grasps, summarize

    joints, rot, trans, objects, index, label = _load(args)
    if args.limit is not None:
        joints, rot, trans, index = joints[: args.limit], rot[: args.limit], trans[: args.limit], index[: args.limit]
    config = preset(args.protocol)
    with tqdm(total=len(joints), desc=f"physics check {label}", unit="grasp") as bar:
        results = evaluate_grasps(joints, rot, trans, objects, index, config, workers=args.workers, progress=bar.update)
    summary = summarize(results, config)
    out = {
        "file": str(args.file),
        "object": label,
        "protocol": {"name": args.protocol, **vars(config), "hand": resolve_hand(config.hand)},
        "summary": summary,
        "grasps": [r.to_dict() if r is not None else None for r in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    if args.pictures:
        from ..grasp.render import picture_sample, verdict

        drawn = picture_sample([
            (f"grasp_{i:04d}", joints[i], rot[i], trans[i], objects[index[i]],
             f"grasp {i} of {label}\nphysics ({args.protocol}): " + (verdict(r.to_dict()) if r is not None else "not evaluated"))
            for i, r in enumerate(results)], args.json.with_name(args.json.stem + "_pictures"), args.pictures)
        print(f"{len(drawn)} pictures in {args.json.with_name(args.json.stem + '_pictures')}/")
    print(
        f"{summary['n']} grasps ({args.protocol}): {summary['success_rate']:.1%} hold, "
        f"{summary['rejected_rate']:.1%} rejected (pregrasp penetration); mean penetration "
        f"{summary['mean_penetration_mm']:.2f} mm; {summary['limit_violation_rate']:.1%} beyond a joint limit "
        f"-> {args.json}"
    )
    return 0
