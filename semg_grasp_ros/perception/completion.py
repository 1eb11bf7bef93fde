"""Completing what one depth view cannot see.

A single view observes an object's front; the space behind that surface along the sensor's
rays may be object or air. Grasps planned against the observed surface alone reach into that
space (fingers sink into the unseen back), so the pipeline treats it as occupied to a plausible
depth: :func:`view_completion` extrudes the observed surface away from the sensor, and
:func:`view_field` turns that into a signed distance field.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import ConfigError, DataError
from .sdf import (
    METHODS,
    DistanceField,
    GridLayout,
    GridSpec,
    _clean_points,
    _layout,
    _unsigned_edt,
    _unsigned_kdtree,
)


def view_completion(points: np.ndarray, viewpoint=(0.0, 0.0, 0.0), depth: float = 0.0,
                    support_plane: np.ndarray | None = None, max_depth: float = 0.12, min_depth: float = 0.02,
                    step: float = 0.002) -> np.ndarray:
    """The space a single view cannot see behind an object's observed surface, as points.

    A depth sensor sees the front of an object; the rest of it is hidden behind that surface
    along the viewing rays. Each observed point ``p`` is extended along its ray (from
    ``viewpoint`` through ``p``) by ``depth`` metres, filled every ``step`` metres, and cut at
    the support plane: an extrusion of the visible surface away from the sensor, the unseen
    part treated as occupied to a plausible depth (a grasp planned against it does not reach
    into space the object may fill).

    Args:
        points: (N, 3) observed object points, metres, in the sensor's frame or any frame in
            which ``viewpoint`` is the sensor's origin.
        viewpoint: (3,) sensor origin, metres (the origin for a cloud in the optical frame).
        depth: how far behind the surface the object extends, metres; 0 = its visible width
            across the view (the horizontal extent perpendicular to the viewing direction,
            in the support plane when given), clipped to [``min_depth``, ``max_depth``]: round and
            box-like objects are about as deep as they are wide.
        support_plane: (4,) plane ``n . p + d = 0`` the object stands on; nothing is filled below it.
        step: spacing of the filled points along each ray, metres.

    Returns:
        (M, 3) points: the observed points and the filled space behind them.

    Raises:
        DataError: no finite point, or a viewpoint among the points.
    """
    pts = _clean_points(points)
    eye = np.asarray(viewpoint, dtype=np.float64).reshape(3)
    rays = pts - eye
    length = np.linalg.norm(rays, axis=1)
    if not np.all(length > 1e-6):
        raise DataError("the viewpoint lies on an observed point; expected the sensor's origin")
    rays /= length[:, None]
    normal = None
    if support_plane is not None:
        plane = np.asarray(support_plane, dtype=np.float64).reshape(4)
        scale = np.linalg.norm(plane[:3])
        normal, offset = plane[:3] / scale, plane[3] / scale
        if np.mean(pts @ normal + offset) < 0:  # orient the normal towards the object
            normal, offset = -normal, -offset
    if not depth > 0:
        view = rays.mean(axis=0)
        if normal is not None:
            view = view - (view @ normal) * normal
            across = np.cross(normal, view)
        else:
            across = np.cross(view, np.array([0.0, 0.0, 1.0]) if abs(view[2]) < 0.9 else np.array([0.0, 1.0, 0.0]))
        across /= max(np.linalg.norm(across), 1e-12)
        width = float(np.ptp(pts @ across))
        depth = float(np.clip(width, min_depth, max_depth))
    # one ray per step-sized cell of the surface: denser rays add points, not coverage
    _, keep = np.unique(np.floor(pts / step).astype(np.int64), axis=0, return_index=True)
    t = np.arange(step, depth + 0.5 * step, step)
    pts, rays = pts[keep], rays[keep]
    filled = (pts[:, None, :] + rays[:, None, :] * t[None, :, None]).reshape(-1, 3)
    if normal is not None:
        filled = filled[filled @ normal + offset >= 0.0]
    return np.concatenate([pts, filled])


def view_field(points: np.ndarray, spec: GridSpec | GridLayout = GridSpec(), method: str = "edt",
               support_plane: np.ndarray | None = None, viewpoint=(0.0, 0.0, 0.0),
               view_depth: float = 0.0) -> DistanceField:
    """Signed distance field of an object seen from one viewpoint, its unseen back completed.

    Args:
        points, spec, method, support_plane: as for ``sdf.sdf_from_points``.
        viewpoint, view_depth: the sensor origin and the depth behind the observed surface, as
            ``viewpoint`` and ``depth`` of :func:`view_completion`.

    Returns:
        A signed :class:`DistanceField`: outside, the distance to the completed object; inside,
        minus the depth below its boundary; grid, centroid and extent cover the completed object.
    """
    if method not in METHODS:
        raise ConfigError(f"distance method {method!r} unknown; expected one of {METHODS}")
    pts = _clean_points(points)
    coarse = view_completion(pts, viewpoint, view_depth, support_plane, step=0.01)
    layout = _layout(coarse, spec)
    solid = view_completion(pts, viewpoint, view_depth, support_plane, step=0.75 * layout.voxel_size)
    outside = _unsigned_edt(solid, layout) if method == "edt" else _unsigned_kdtree(solid, layout)
    ijk = np.rint((solid - layout.origin) / layout.voxel_size).astype(np.int64)
    ijk = ijk[((ijk >= 0) & (ijk < np.array(layout.shape))).all(axis=1)]
    occupied = np.zeros(layout.shape, dtype=bool)
    occupied[tuple(ijk.T)] = True
    occupied = ndimage.binary_fill_holes(ndimage.binary_closing(occupied, iterations=1))
    depth = ndimage.distance_transform_edt(occupied) * layout.voxel_size
    dist = np.where(occupied, -np.maximum(depth - 0.5 * layout.voxel_size, 0.0), outside).astype(np.float32)
    return DistanceField(dist, layout.origin, layout.voxel_size, True, solid.mean(axis=0),
                         solid.max(axis=0) - solid.min(axis=0))
