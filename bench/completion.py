"""How well one depth view's completion matches the true object: chosen on the procedural
validation objects (never the test objects), checked on the real YCB objects.

    python bench/completion.py [--out bench/results/completion.json] [--per-family 4]

Each object stands on the table at three yaws and is seen by the simulated depth camera
(``perception.camera``); its field is computed as the object distance-field node does
(``perception.completion.view_field``) with each completion, and its inside (negative voxels)
compared with the true object's on the same grid: ``iou`` (intersection over union of the
insides), ``missed`` (share of the true inside the completion leaves out: fingers planned there
sink into the object) and ``volume_ratio`` (completed / true volume, median). Completions:
``extrude`` (the surface extended by the visible width), ``mirror`` with each
``backing_depth`` of ``--backings`` (the reflection about the best-agreeing vertical plane, with a
shallow extrusion behind the surface). ``ms``: the field's wall time per view (median).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info, split_objects, write_result  # noqa: E402  (bench/common.py)

from semg_grasp_ros.errors import DataError  # noqa: E402
from semg_grasp_ros.paths import data_root  # noqa: E402
from semg_grasp_ros.perception.camera import DepthCamera, TableScene  # noqa: E402
from semg_grasp_ros.perception.completion import MirrorConfig, view_field  # noqa: E402
from semg_grasp_ros.perception.sdf import _scene  # noqa: E402  (the ray-casting scene of sdf_from_mesh)
from semg_grasp_ros.perception.segmentation import SegmentationConfig, segment_object  # noqa: E402
from semg_grasp_ros.pipeline.closed_loop import load_object_set  # noqa: E402

YAWS = (0.0, 1.1, 2.3)


def inside_of(mesh, points: np.ndarray) -> np.ndarray:
    """(N,) bool: ``points`` (N, 3) inside ``mesh`` (a union of closed bodies; ray-parity votes)."""
    import open3d as o3d

    query = o3d.core.Tensor(np.asarray(points, dtype=np.float32))
    inside = np.zeros(len(points), dtype=bool)
    for body in mesh.split(only_watertight=False):
        inside |= _scene(body.vertices, body.faces).compute_occupancy(query, nsamples=3).numpy().astype(bool)
    return inside


def compare(meshes: dict, variants: dict) -> dict:
    """{variant: {iou, missed, volume_ratio, ms, worst_missed, per_object, unseen_views}} over ``meshes``
    ({name: trimesh}) at every yaw of ``YAWS``; ``variants``: {name: keyword arguments of view_field}."""
    rows, unseen = {v: [] for v in variants}, []
    for name, mesh in meshes.items():
        for yaw in YAWS:
            camera = DepthCamera(TableScene(mesh, yaw=yaw))
            try:
                seg = segment_object(camera.render(0).cloud().points, SegmentationConfig())
            except DataError:  # too small for the camera to find: no field, nothing to compare
                unseen.append(f"{name} yaw {yaw:g}")
                continue
            true_mesh = camera.object_mesh_in_camera()
            for v, kwargs in variants.items():
                t = time.perf_counter()
                field = view_field(seg.points, support_plane=seg.plane, **kwargs)
                ms = 1e3 * (time.perf_counter() - t)
                truth = inside_of(true_mesh, field.layout.centres().reshape(-1, 3)).reshape(field.layout.shape)
                seen = field.distances < 0
                rows[v].append((name, (seen & truth).sum() / (seen | truth).sum(), (truth & ~seen).sum() / truth.sum(),
                                seen.sum() / truth.sum(), ms))
    out = {}
    for v, r in rows.items():
        iou, missed, ratio, ms = (np.array([x[i] for x in r], dtype=float) for i in range(1, 5))
        out[v] = {"iou": float(iou.mean()), "missed": float(missed.mean()), "worst_missed": float(missed.max()),
                  "volume_ratio": float(np.median(ratio)), "ms": float(np.median(ms)),
                  "per_object": {n: float(np.mean([x[1] for x in r if x[0] == n])) for n in meshes
                                 if any(x[0] == n for x in r)}, "unseen_views": unseen}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/completion.json"))
    parser.add_argument("--per-family", type=int, default=4, help="validation objects per family (default 4)")
    parser.add_argument("--backings", nargs="+", type=float, default=[0.0, 0.02, 0.03, 0.04],
                        help="mirror backing depths to compare, metres")
    args = parser.parse_args(argv)
    info, start = machine_info(), time.perf_counter()
    val = {o.object_id: o.mesh() for o in split_objects("val", args.per_family)}
    variants = {"extrude": {"completion": "extrude"},
                **{f"mirror_backing_{b:g}": {"completion": "mirror", "mirror": MirrorConfig(backing_depth=b)}
                   for b in args.backings}}
    validation = compare(val, variants)
    chosen = max((v for v in variants if v.startswith("mirror")), key=lambda v: validation[v]["iou"])
    ycb = {o.name: o.mesh for o in load_object_set(data_root() / "objects" / "ycb")}
    test = compare(ycb, {v: variants[v] for v in ("extrude", chosen, f"mirror_backing_{MirrorConfig.backing_depth:g}")})
    for split, res in (("validation", validation), ("ycb", test)):
        for v, r in res.items():
            print(f"{split:10s} {v:22s} IoU {r['iou']:.3f} missed {r['missed']:.3f} (worst {r['worst_missed']:.2f}) "
                  f"volume x{r['volume_ratio']:.2f} {r['ms']:.0f} ms")
    out = {"what": __doc__.split("\n\n")[0], "machine": info, "yaws_rad": list(YAWS),
           "validation_objects": sorted(val), "chosen_on_validation": chosen,
           "default_backing_depth": MirrorConfig.backing_depth, "validation": validation, "ycb": test}
    write_result(out, args.out, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
