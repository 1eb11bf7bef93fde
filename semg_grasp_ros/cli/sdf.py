"""``semg-grasp sdf``: a distance field from a mesh or a point-cloud file, saved as .npz.

Examples::

    semg-grasp sdf --mesh mug.obj --scale 0.1 --out mug.npz
    semg-grasp sdf --cloud scan.pcd --segment --out object.npz

The .npz holds ``distances`` (nx, ny, nz) float32 metres, ``origin`` (3,) (centre of
voxel 0, 0, 0), ``voxel_size``, ``is_signed``, ``centroid`` and ``extent``
(``DistanceField.load_npz`` reads it back; no pickle).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..perception.sdf import DistanceField, GridSpec, sdf_from_mesh, sdf_from_points
from ..perception.segmentation import SegmentationConfig, segment_object
from .args import count, existing_file, number, output_file, positive

CLOUD_SUFFIXES = (".pcd", ".ply", ".xyz", ".xyzn", ".pts", ".npy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--mesh", type=existing_file(), help="triangle mesh file (obj, ply, stl, off, glb ...)")
    src.add_argument("--cloud", type=existing_file(*CLOUD_SUFFIXES), help=f"point cloud file ({', '.join(CLOUD_SUFFIXES)}; .npy = (N, 3))")
    parser.add_argument("--out", type=output_file(".npz"), required=True, help="output .npz")
    parser.add_argument("--scale", type=positive(), default=1.0, help="multiply coordinates by this to get metres")
    parser.add_argument("--size", type=count(2, 512), default=50, help="voxels per axis (default 50)")
    parser.add_argument("--margin", type=number(float, 0, 10, unit="m"), default=0.03, help="metres around the object (default 0.03)")
    parser.add_argument("--fixed-extent", type=number(float, 0, 10, above=True, unit="m"), default=None,
                        help="span the grid over this many metres instead of object size + margin")
    parser.add_argument("--unsigned", action="store_true", help="mesh: unsigned distance (default signed)")
    parser.add_argument("--fast", action="store_true",
                        help="mesh: distances from dense surface samples (fast) instead of exact")
    parser.add_argument("--signed-hull", action="store_true",
                        help="cloud: sign from the convex hull of the points (see sdf_from_points)")
    parser.add_argument("--segment", action="store_true",
                        help="cloud: a raw sensor cloud (sensor at the origin): remove the table, keep the object")


def read_cloud(path: Path, scale: float = 1.0) -> np.ndarray:
    """(N, 3) float64 points of a cloud file, times ``scale``.

    Raises:
        DataError: missing, unreadable or empty file, or an unknown suffix.
    """
    if not path.is_file():
        raise DataError(f"cloud file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in CLOUD_SUFFIXES:
        raise DataError(f"cloud file {path}: unknown suffix {suffix!r}; expected one of {CLOUD_SUFFIXES}")
    if suffix == ".npy":
        try:
            pts = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
    else:
        import open3d as o3d

        pts = np.asarray(o3d.io.read_point_cloud(str(path)).points)
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
        raise DataError(f"{path} holds no (N, 3) points (got shape {pts.shape})")
    return pts * scale


def build_field(args: argparse.Namespace) -> DistanceField:
    """The field described by the command-line arguments."""
    from ..perception.objects import load_mesh

    spec = GridSpec(size=args.size, margin=args.margin,
                    extent_mode="object" if args.fixed_extent is None else "fixed",
                    fixed_extent=args.fixed_extent or GridSpec.fixed_extent)
    if args.mesh is not None:
        mesh = load_mesh(args.mesh, args.scale)
        return sdf_from_mesh(mesh, spec, signed=not args.unsigned, method="sampled" if args.fast else "exact")
    points = read_cloud(args.cloud, args.scale)
    plane = None
    if args.segment:
        seg = segment_object(points, SegmentationConfig())
        points, plane = seg.points, seg.plane
    return sdf_from_points(points, spec, signed="hull" if args.signed_hull else "none", support_plane=plane)


def run(args: argparse.Namespace) -> int:
    field = build_field(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    field.save_npz(args.out)
    d = field.distances
    print(f"{args.out}: {d.shape[0]}x{d.shape[1]}x{d.shape[2]} voxels of {field.voxel_size * 1000:.2f} mm, "
          f"{'signed' if field.is_signed else 'unsigned'}, distances {d.min():.4f}..{d.max():.4f} m, "
          f"object extent {np.round(field.extent, 4).tolist()} m")
    return 0
