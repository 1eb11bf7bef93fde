"""Completing what one depth view cannot see.

A single view observes an object's front; the space behind that surface along the sensor's
rays may be object or air. Grasps planned against the observed surface alone reach into that
space (fingers sink into the unseen back), and grasps planned against too much of it close on
air. Two completions, both turned into a signed distance field by :func:`view_field`:

* ``"mirror"`` (:func:`find_mirror`): most everyday objects are mirror-symmetric about a
  vertical plane. The visible surface is reflected about the vertical plane that best agrees with
  what the sensor saw: reflected points must lie inside the object's silhouette and behind the
  observed surface (Bohg et al. 2011, "Mind the gap - robotic grasping under incomplete
  observation", ICRA), the largest such completion when several agree. The space between the
  surface and its reflection is the object, together with a shallow extrusion of the surface
  (``MirrorConfig.backing_depth``) where the reflection falls short.
* ``"extrude"`` (:func:`view_completion`): the observed surface extended away from the sensor to a
  plausible depth (about the object's visible width). Used where no mirror plane agrees with
  the view (``MirrorConfig.max_violation``) and without a support plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..config import param
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

COMPLETIONS = ("mirror", "extrude")
_MAX_RASTER = 1024  # most cells per side of the view's raster in find_mirror


@dataclass(frozen=True)
class MirrorConfig:
    """How the mirror plane of a single view is searched; the object distance-field node's
    ``mirror.*`` parameters."""

    yaw_range_deg: float = param(75.0, "plane normals searched up to this many degrees either side of the "
                                       "horizontal viewing direction, degrees", (0.0, 90.0))
    yaw_step_deg: float = param(15.0, "step of that search, degrees", (1.0, 90.0))
    positions: int = param(40, "plane positions searched along each normal", (2, 1000))
    silhouette_px: float = param(2.5, "a reflected point within this many point spacings of an observed ray "
                                      "lies in the silhouette", (0.5, 20.0))
    occlusion_margin: float = param(0.01, "a reflected point this far or more in front of the observed surface "
                                          "along its ray contradicts the view, metres", (0.0, 0.2))
    tolerance: float = param(0.02, "planes whose share of contradicting points is within this of the best "
                                   "agree; the deepest completion among them is taken", (0.0, 1.0))
    max_violation: float = param(0.1, "no plane with a smaller share of contradicting points: extrude "
                                      "instead", (0.0, 1.0))
    backing_depth: float = param(0.03, "the observed surface is also extended this far away from the sensor, "
                                       "where a reflection falls short of the true back (0: the reflection "
                                       "alone), metres", (0.0, 0.5))
    max_points: int = param(500, "observed points used in the search (a seeded subsample)", (50, 1_000_000))

    def __post_init__(self):
        if not (self.yaw_range_deg >= 0 and self.yaw_step_deg > 0 and self.positions >= 2 and self.max_points > 0):
            raise ConfigError("mirror search needs yaw_range_deg >= 0, yaw_step_deg > 0, positions >= 2 and "
                              "max_points > 0")


@dataclass(frozen=True)
class Mirror:
    """A vertical mirror plane ``normal . p = offset`` (normal (3,) unit, metres) and the share of
    reflected points that contradict the view (0-1)."""

    normal: np.ndarray
    offset: float
    violation: float

    def fill(self, points: np.ndarray, step: float) -> np.ndarray:
        """The observed points (N, 3), their reflections and the segments between them filled
        every ``step`` metres: (M, 3) points of the completed object."""
        s = points @ self.normal
        gap = 2.0 * (self.offset - s)  # signed distance from each point to its reflection along normal
        t = np.arange(0.0, np.abs(gap).max() + step, step)
        seg = points[:, None, :] + np.sign(gap)[:, None, None] * self.normal * t[None, :, None]
        return np.concatenate([seg[t[None, :] <= np.abs(gap)[:, None]], points + gap[:, None] * self.normal])


def _support(pts: np.ndarray, support_plane) -> tuple[np.ndarray, float]:
    """Unit normal (3,) of the support plane pointing towards the object, and its offset."""
    plane = np.asarray(support_plane, dtype=np.float64).reshape(4)
    scale = np.linalg.norm(plane[:3])
    if not scale > 0:
        raise DataError("the support plane needs a non-zero normal")
    normal, offset = plane[:3] / scale, plane[3] / scale
    if np.mean(pts @ normal + offset) < 0:
        normal, offset = -normal, -offset
    return normal, offset


def find_mirror(points: np.ndarray, support_plane, viewpoint=(0.0, 0.0, 0.0),
                config: MirrorConfig = MirrorConfig()) -> Mirror:
    """The vertical mirror plane that best explains one view of an object standing on a plane.

    Candidate planes are perpendicular to the support plane, their normals within
    ``yaw_range_deg`` of the horizontal viewing direction, at ``positions`` offsets from the
    front of the observed points to half their depth beyond the back. A reflected point
    contradicts the view when its ray from ``viewpoint`` passes no observed point (it would have
    been seen beside the object) or meets the observed surface more than ``occlusion_margin``
    behind it (it would have hidden that surface). Among the planes within ``tolerance`` of the
    fewest contradictions, the one reflecting the points farthest (the deepest object) wins.

    Args:
        points: (N, 3) observed object points, metres.
        support_plane: (4,) plane ``n . p + d = 0`` the object stands on.
        viewpoint: (3,) sensor origin, metres.

    Returns:
        The chosen :class:`Mirror`; its ``violation`` says how well it agrees with the view.

    Raises:
        DataError: fewer than 3 finite points, or a viewpoint among them.
    """
    pts = _clean_points(points)
    if len(pts) < 3:
        raise DataError(f"a mirror plane needs at least 3 observed points, got {len(pts)}")
    up, _ = _support(pts, support_plane)
    eye = np.asarray(viewpoint, dtype=np.float64).reshape(3)
    rays = pts - eye
    depth = np.linalg.norm(rays, axis=1)
    if not np.all(depth > 1e-6):
        raise DataError("the viewpoint lies on an observed point; expected the sensor's origin")
    axis = rays.mean(axis=0) / np.linalg.norm(rays.mean(axis=0))
    if not np.all(rays @ axis > 1e-6 * depth):  # points beside or behind the sensor: no image to agree with
        return Mirror(np.array([1.0, 0.0, 0.0]), 0.0, 1.0)
    across = np.cross(axis, up if abs(axis @ up) < 0.99 else np.array([1.0, 0.0, 0.0]))
    across /= np.linalg.norm(across)
    basis = np.stack([across, np.cross(axis, across)])

    def image(p):  # (M, 2) normalised image coordinates and (M,) ranges of points p (M, 3)
        r = p - eye
        return (r @ basis.T) / (r @ axis)[:, None], np.linalg.norm(r, axis=1)

    seen, seen_range = image(pts)
    # the view as a raster of point spacings: each cell knows its nearest observed cell and range
    spacing = float(np.median(cKDTree(seen).query(seen, k=2)[0][:, 1]))
    spacing = max(spacing, float(np.ptp(seen, axis=0).max()) / _MAX_RASTER, 1e-9)  # duplicated or stray points
    pad = int(np.ceil(config.silhouette_px)) + 1
    lo = seen.min(axis=0) - pad * spacing
    cells = np.floor((seen - lo) / spacing).astype(np.int64)
    seen_img = np.full(tuple(cells.max(axis=0) + pad + 1), np.inf)
    np.minimum.at(seen_img, tuple(cells.T), seen_range)
    gap_px, nearest = ndimage.distance_transform_edt(~np.isfinite(seen_img), return_indices=True)
    nearest_range = seen_img[tuple(nearest)]
    back = axis - (axis @ up) * up
    if np.linalg.norm(back) < 1e-6:  # looking straight down: any horizontal direction
        back = across - (across @ up) * up
    back /= np.linalg.norm(back)
    side = np.cross(up, back)
    if len(pts) > config.max_points:  # the reflections of a subsample are scored against every point
        pts = pts[np.random.default_rng(0).choice(len(pts), config.max_points, replace=False)]
    best = []  # (violation, mean reflection distance, normal, offset)
    for yaw in np.radians(np.arange(-config.yaw_range_deg, config.yaw_range_deg + 1e-9, config.yaw_step_deg)):
        normal = np.cos(yaw) * back + np.sin(yaw) * side
        s = pts @ normal
        offsets = np.linspace(np.percentile(s, 5), s.max() + 0.5 * np.ptp(s), config.positions)
        gap = 2.0 * (offsets[:, None] - s[None, :])  # (P, N) reflection distance per plane and point
        uv, rng = image((pts[None] + gap[..., None] * normal).reshape(-1, 3))
        c = np.floor((uv - lo) / spacing).astype(np.int64)
        inside = ((c >= 0) & (c < seen_img.shape)).all(axis=1)
        c = tuple(np.where(inside[:, None], c, 0).T)
        beside = ~inside | (gap_px[c] > config.silhouette_px)
        hiding = ~beside & (rng < nearest_range[c] - config.occlusion_margin)
        wrong = (beside | hiding).reshape(gap.shape).mean(axis=1)
        best += [(float(w), float(np.abs(g).mean()), normal, float(o)) for w, g, o in zip(wrong, gap, offsets)]
    fewest = min(b[0] for b in best)
    violation, _, normal, offset = max((b for b in best if b[0] <= fewest + config.tolerance), key=lambda b: b[1])
    return Mirror(normal, float(offset), violation)


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
        normal, offset = _support(pts, support_plane)
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
               view_depth: float = 0.0, completion: str = "mirror",
               mirror: MirrorConfig = MirrorConfig()) -> DistanceField:
    """Signed distance field of an object seen from one viewpoint, its unseen back completed.

    Args:
        points, spec, method, support_plane: as for ``sdf.sdf_from_points``.
        viewpoint, view_depth: the sensor origin and the depth behind the observed surface, as
            ``viewpoint`` and ``depth`` of :func:`view_completion`.
        completion: ``"mirror"`` (:func:`find_mirror`; extrusion where no plane agrees with the
            view or without a support plane) or ``"extrude"`` (:func:`view_completion`).
        mirror: the mirror plane search.

    Returns:
        A signed :class:`DistanceField`: outside, the distance to the completed object; inside,
        minus the depth below its boundary; grid, centroid and extent cover the completed object.
    """
    if method not in METHODS:
        raise ConfigError(f"distance method {method!r} unknown; expected one of {METHODS}")
    if completion not in COMPLETIONS:
        raise ConfigError(f"completion {completion!r} unknown; expected one of {COMPLETIONS}")
    pts = _clean_points(points)
    plane = None
    if completion == "mirror" and support_plane is not None and len(pts) >= 3:
        plane = find_mirror(pts, support_plane, viewpoint, mirror)
        plane = plane if plane.violation <= mirror.max_violation else None

    def solid_points(step):
        if plane is not None:
            if not mirror.backing_depth > 0:
                return plane.fill(pts, step)
            backing = view_completion(pts, viewpoint, mirror.backing_depth, support_plane, step=step)
            return np.concatenate([plane.fill(pts, step), backing])
        return view_completion(pts, viewpoint, view_depth, support_plane, step=step)

    layout = _layout(solid_points(0.01), spec)
    solid = solid_points(0.75 * layout.voxel_size)
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
