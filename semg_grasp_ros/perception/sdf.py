"""Distance fields on a regular grid around an object, from point clouds and meshes.

The grasp generator is conditioned on a cubic ``size``³ grid (50³ by default: the
paper's Euclidean distance map) centred on the object: each voxel holds the distance in
metres to the closest surface point. Voxels are cubic; ``origin`` is the centre of
voxel (0, 0, 0), voxel (i, j, k) is centred at ``origin + voxel_size * (i, j, k)``, and
the grid axes are those of the cloud's (or mesh's) frame.

* :func:`sdf_from_points`: unsigned distance to the observed points, computed with a
  Euclidean distance transform (EDT) of the occupied voxels plus a sub-voxel
  correction (the exact distance to the point kept for the nearest occupied voxel), or
  exactly with a KD-tree. Optionally signed from a closed reconstruction of the cloud
  (its convex hull, optionally extended down to the supporting table plane); the field of
  the space a single view cannot see is ``perception.completion``'s.
* :func:`sdf_from_mesh`: signed distance of a closed mesh (open3d ``RaycastingScene``),
  with meshes made of several closed, overlapping parts (e.g. CoACD decompositions)
  treated as the union of their parts.
* :func:`sample_grid`: differentiable trilinear lookup in torch, for optimising hand
  poses against the field.
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError, cKDTree

from ..config import param
from ..errors import ConfigError, DataError
from ..types import Header, ObjectSdf, Pose

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EXTENT_MODES = ("object", "fixed")
CENTRES = ("bbox", "centroid")
SIGNED_METHODS = ("none", "hull")
METHODS = ("edt", "kdtree")


@dataclass(frozen=True)
class GridSpec:
    """How to place a cubic grid around an object; the object distance-field node's
    ``grid.*`` parameters.

    ``extent_mode`` ``"object"``: the grid spans the object's largest bounding-box side plus
    ``margin`` on each side (adapts to the object); ``"fixed"``: the grid spans
    ``fixed_extent`` metres whatever the object (use the same value in training and at
    inference so a voxel means the same distance).
    """

    size: int = param(50, "voxels per axis of the cubic grid (the paper's 50^3 distance map)", (2, 256))
    extent_mode: str = param("object", "'object': object bounding box + margin; 'fixed': fixed_extent "
                             "(match training)")
    margin: float = param(0.03, "metres added on every side of the object in 'object' mode (room for the hand)",
                          (0.0, 1.0))
    fixed_extent: float = param(0.3, "metres between the first and last voxel centres in 'fixed' mode", (0.01, 5.0))
    centre: str = param("bbox", "grid centre: 'bbox' (bounding-box centre) or 'centroid' (mean point)")
    min_extent: float = param(0.02, "smallest span in 'object' mode, metres (guards degenerate objects)",
                              (0.001, 5.0))

    def __post_init__(self):
        if int(self.size) != self.size or self.size < 2:
            raise ConfigError(f"grid size must be an integer >= 2, got {self.size}")
        if self.extent_mode not in EXTENT_MODES:
            raise ConfigError(f"grid extent_mode {self.extent_mode!r} unknown; expected one of {EXTENT_MODES}")
        if self.centre not in CENTRES:
            raise ConfigError(f"grid centre {self.centre!r} unknown; expected one of {CENTRES}")
        if not (self.margin >= 0 and self.fixed_extent > 0 and self.min_extent > 0):
            raise ConfigError(f"grid margin must be >= 0 and fixed_extent, min_extent > 0 (metres), got "
                              f"{self.margin}, {self.fixed_extent}, {self.min_extent}")

    def layout(self, points: np.ndarray, centre: np.ndarray | None = None) -> "GridLayout":
        """The grid for an object given by its points (or mesh vertices) (N, 3) metres.

        ``centre`` (3,) overrides the centre rule.

        Raises:
            DataError: no finite points.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if pts.shape[0] == 0 or not np.isfinite(pts).all():
            raise DataError(f"a grid needs at least one point and only finite points, got {pts.shape[0]} points")
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        if centre is None:
            centre = (lo + hi) / 2 if self.centre == "bbox" else pts.mean(axis=0)
        if self.extent_mode == "fixed":
            span = self.fixed_extent
        else:
            span = max(float((hi - lo).max()) + 2 * self.margin, self.min_extent)
        voxel = span / (self.size - 1)
        return GridLayout(np.asarray(centre, dtype=np.float64) - span / 2, voxel, (self.size,) * 3)


@dataclass(frozen=True, eq=False)
class GridLayout:
    """Where a grid lies: ``origin`` (3,) centre of voxel (0, 0, 0) in metres,
    ``voxel_size`` metres, ``shape`` (nx, ny, nz)."""

    origin: np.ndarray
    voxel_size: float
    shape: tuple[int, int, int]

    def __post_init__(self):
        object.__setattr__(self, "origin", np.asarray(self.origin, dtype=np.float64).reshape(3))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if not self.voxel_size > 0 or len(self.shape) != 3 or min(self.shape) < 2:
            raise DataError(f"grid needs voxel_size > 0 and 3 axes of >= 2 voxels, got "
                            f"{self.voxel_size}, {self.shape}")

    def centres(self, dtype=np.float64) -> np.ndarray:
        """Voxel centres (nx, ny, nz, 3) metres."""
        axes = [self.origin[i] + self.voxel_size * np.arange(n) for i, n in enumerate(self.shape)]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).astype(dtype)


@dataclass(frozen=True, eq=False)
class DistanceField:
    """A distance field on an axis-aligned grid (the array side of ``ObjectSdf``).

    Attributes:
        distances: (nx, ny, nz) float32 metres, C order (x slowest).
        origin: (3,) centre of voxel (0, 0, 0), metres.
        voxel_size: metres between voxel centres.
        is_signed: negative inside the object when True.
        centroid: (3,) object centroid, metres.
        extent: (3,) object bounding-box size, metres.
    """

    distances: np.ndarray
    origin: np.ndarray
    voxel_size: float
    is_signed: bool
    centroid: np.ndarray
    extent: np.ndarray

    @property
    def layout(self) -> GridLayout:
        return GridLayout(self.origin, self.voxel_size, self.distances.shape)

    def to_object_sdf(self, header: Header) -> ObjectSdf:
        """The domain message (grid axes = header frame axes)."""
        return ObjectSdf(header=header, origin=Pose(self.origin), voxel_size=float(self.voxel_size),
                         distances=self.distances, is_signed=bool(self.is_signed),
                         centroid=self.centroid, extent=self.extent)

    @classmethod
    def from_object_sdf(cls, sdf: ObjectSdf) -> "DistanceField":
        """The field of a message whose grid axes are those of its frame.

        Raises:
            DataError: the grid is rotated (transform query points into the grid frame instead).
        """
        if not np.allclose(np.abs(sdf.origin.orientation[3]), 1.0, atol=1e-6):
            raise DataError("ObjectSdf grid is rotated relative to its frame; only axis-aligned grids "
                            "are supported here (express points in the grid frame first)")
        return cls(np.asarray(sdf.distances, dtype=np.float32), sdf.origin.position.copy(), float(sdf.voxel_size),
                   bool(sdf.is_signed), np.asarray(sdf.centroid), np.asarray(sdf.extent))

    def sample(self, points: np.ndarray) -> np.ndarray:
        """Trilinear distance at points (..., 3) metres -> (...) metres (see :func:`sample_grid`)."""
        import torch

        with torch.no_grad():
            out = sample_grid(torch.tensor(self.distances), self.origin,
                              self.voxel_size, torch.tensor(np.asarray(points, dtype=np.float64)))
        return out.numpy()

    def save_npz(self, path: str | Path) -> None:
        """Write ``distances, origin, voxel_size, is_signed, centroid, extent`` to an .npz (no pickle)."""
        np.savez_compressed(path, distances=self.distances, origin=self.origin, voxel_size=self.voxel_size,
                            is_signed=self.is_signed, centroid=self.centroid, extent=self.extent)

    @classmethod
    def load_npz(cls, path: str | Path) -> "DistanceField":
        """Read a field written by :meth:`save_npz`.

        Raises:
            DataError: a key is missing or the distances are not 3-D.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                d = {k: z[k] for k in ("distances", "origin", "voxel_size", "is_signed", "centroid", "extent")}
        except (KeyError, ValueError, OSError, EOFError, NotImplementedError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{path} is not a distance-field .npz (distances, origin, voxel_size, "
                            f"is_signed, centroid, extent): {exc}") from exc
        if d["distances"].ndim != 3:
            raise DataError(f"{path}: distances must be 3-D, got {d['distances'].shape}")
        return cls(d["distances"].astype(np.float32), d["origin"].astype(np.float64), float(d["voxel_size"]),
                   bool(d["is_signed"]), d["centroid"], d["extent"])


def _layout(points: np.ndarray, spec: GridSpec | GridLayout) -> GridLayout:
    return spec if isinstance(spec, GridLayout) else spec.layout(points)


def _clean_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.shape[0] == 0:
        raise DataError("distance field needs at least one finite point, got none")
    return pts


def _unsigned_edt(points: np.ndarray, layout: GridLayout) -> np.ndarray:
    """Unsigned distance (nx, ny, nz) float32 metres to ``points`` via the EDT feature transform.

    Each occupied voxel keeps the point nearest its centre; the EDT gives, for every
    voxel, the nearest occupied voxel, and the distance is taken to that voxel's kept
    point. That point is never nearer than the true nearest point, and at most sqrt(3)
    voxels farther (half a voxel diagonal on each side: the nearest point's voxel and the
    kept point's voxel); typically a tenth of a voxel near the surface (see the tests).
    """
    shape = layout.shape
    u = ((points - layout.origin) / layout.voxel_size).astype(np.float32)
    ijk = np.rint(u).astype(np.int32)
    inside = ((ijk >= 0) & (ijk < np.array(shape, dtype=np.int32))).all(axis=1)
    if not inside.any():
        raise DataError("no point lies inside the distance-field grid")
    if not inside.all():
        log.debug("%d of %d points lie outside the grid and are ignored", (~inside).sum(), len(u))
        u, ijk = u[inside], ijk[inside]
    flat = (ijk[:, 0] * shape[1] + ijk[:, 1]) * shape[2] + ijk[:, 2]
    # Keep, per voxel, the point closest to its centre: sort by (voxel, offset).
    order = np.lexsort((np.square(u - ijk).sum(axis=1), flat))
    sorted_flat = flat[order]
    first = order[np.r_[True, sorted_flat[1:] != sorted_flat[:-1]]]
    n_vox = shape[0] * shape[1] * shape[2]
    kept = np.zeros((3, n_vox), dtype=np.float32)
    kept[:, flat[first]] = u[first].T
    empty = np.ones(n_vox, dtype=bool)
    empty[flat[first]] = False
    nearest = ndimage.distance_transform_edt(empty.reshape(shape), return_distances=False, return_indices=True)
    nearest_flat = (nearest[0] * shape[1] + nearest[1]) * shape[2] + nearest[2]
    d2 = np.zeros(shape, dtype=np.float32)
    for axis in range(3):
        index = np.arange(shape[axis], dtype=np.float32).reshape([-1 if a == axis else 1 for a in range(3)])
        d2 += np.square(kept[axis][nearest_flat] - index)
    return np.sqrt(d2, out=d2) * np.float32(layout.voxel_size)


def _unsigned_kdtree(points: np.ndarray, layout: GridLayout) -> np.ndarray:
    """Exact unsigned distance (nx, ny, nz) float32 metres (KD-tree query of every voxel centre)."""
    dist, _ = cKDTree(points).query(layout.centres().reshape(-1, 3), workers=-1)
    return dist.reshape(layout.shape).astype(np.float32)


def convex_hull_inside(points: np.ndarray, layout: GridLayout, max_hull_points: int = 500,
                       seed: int = 0) -> np.ndarray:
    """Which voxel centres lie inside the convex hull of ``points`` (N, 3); (nx, ny, nz) bool.

    Each grid column (fixed x, y) meets the hull in one z interval, found from the hull's
    half-spaces, so the cost is columns x faces rather than voxels x faces. The hull is
    built from at most ``max_hull_points`` points (a seeded subsample).

    Raises:
        DataError: the points are degenerate (fewer than 4, or coplanar).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[0] > max_hull_points:
        pts = pts[np.random.default_rng(seed).choice(pts.shape[0], max_hull_points, replace=False)]
    try:
        hull = ConvexHull(pts)
    except (QhullError, ValueError) as exc:
        raise DataError(f"cannot close the surface: the points have no 3-D convex hull ({exc})") from exc
    eq = hull.equations.astype(np.float32)
    normal_xy, offset, normal_z = eq[:, :2], eq[:, 3], eq[:, 2]  # inside: normal . p + offset <= 0
    axes = [(layout.origin[i] + layout.voxel_size * np.arange(n)).astype(np.float32)
            for i, n in enumerate(layout.shape)]
    up, down, flat = normal_z > 1e-6, normal_z < -1e-6, np.abs(normal_z) <= 1e-6
    inside = np.zeros(layout.shape, dtype=bool)
    for ix, x in enumerate(axes[0]):  # one x slice at a time keeps the (ny, faces) temporaries small
        xy = np.stack([np.full_like(axes[1], x), axes[1]], axis=-1)
        rhs = -(xy @ normal_xy.T + offset)  # (ny, faces): normal_z * z <= rhs inside
        z_hi = (rhs[:, up] / normal_z[up]).min(axis=1, initial=np.inf)
        z_lo = (rhs[:, down] / normal_z[down]).max(axis=1, initial=-np.inf)
        ok = (rhs[:, flat] >= 0).all(axis=1)
        inside[ix] = ok[:, None] & (axes[2] >= z_lo[:, None] - 1e-7) & (axes[2] <= z_hi[:, None] + 1e-7)
    return inside


def sdf_from_points(
    points: np.ndarray,
    spec: GridSpec | GridLayout = GridSpec(),
    *,
    method: str = "edt",
    signed: str = "none",
    support_plane: np.ndarray | None = None,
) -> DistanceField:
    """Distance field of an object seen as a point cloud.

    Args:
        points: (N, 3) object points, metres (non-finite rows are dropped).
        spec: a :class:`GridSpec` (grid placed around the points) or a fixed :class:`GridLayout`.
            With ``"edt"``, points outside a fixed grid are ignored (voxels near its border
            then see only the points inside).
        method: ``"edt"`` (fast: EDT of the occupied voxels with a sub-voxel correction,
            about 10 ms for 50³) or ``"kdtree"`` (exact distance to the nearest point; about
            a second for 50³, as most voxels are far from the points).
        signed: ``"none"``: unsigned distance to the observed points. ``"hull"``: the
            surface is closed by the convex hull of the points (plus, when
            ``support_plane`` is given, their projections onto it, since an object
            standing on a table fills the space down to it); voxels inside the hull get
            a negative sign. Limits: concavities (a mug's opening, a banana's bend) are
            filled, the unseen back side is closed by a flat hull face, and the magnitude
            stays the distance to the *observed* points, so depths inside are
            over-estimated where the back was not seen.
        support_plane: (4,) plane ``n . p + d = 0`` the object stands on (e.g. the table
            found by segmentation), used by ``signed="hull"`` only.

    Returns:
        A :class:`DistanceField` with the object's centroid (mean point) and bounding-box extent.

    Raises:
        DataError: no finite point, no point inside a fixed grid, or a hull that cannot be built.
        ConfigError: unknown ``method`` or ``signed``.
    """
    if method not in METHODS:
        raise ConfigError(f"distance method {method!r} unknown; expected one of {METHODS}")
    if signed not in SIGNED_METHODS:
        raise ConfigError(f"signed method {signed!r} unknown; expected one of {SIGNED_METHODS}")
    pts = _clean_points(points)
    layout = _layout(pts, spec)
    dist = _unsigned_edt(pts, layout) if method == "edt" else _unsigned_kdtree(pts, layout)
    if signed == "hull":
        closure = pts
        if support_plane is not None:
            plane = np.asarray(support_plane, dtype=np.float64).reshape(4)
            normal = plane[:3] / np.linalg.norm(plane[:3])
            height = pts @ normal + plane[3] / np.linalg.norm(plane[:3])
            closure = np.concatenate([pts, pts - height[:, None] * normal])
        inside = convex_hull_inside(closure, layout)
        dist = np.where(inside, -dist, dist).astype(np.float32)
    return DistanceField(dist, layout.origin, layout.voxel_size, signed != "none",
                         pts.mean(axis=0), pts.max(axis=0) - pts.min(axis=0))


MESH_METHODS = ("exact", "sampled")


def _scene(vertices: np.ndarray, faces: np.ndarray):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices, dtype=np.float32)),
                        o3d.core.Tensor(np.asarray(faces, dtype=np.uint32)))
    return scene


def sdf_from_mesh(mesh, spec: GridSpec | GridLayout = GridSpec(), signed: bool = True, *,
                  method: str = "exact", nsamples: int = 3, surface_points: int = 200_000,
                  seed: int = 0) -> DistanceField:
    """Distance field of a triangle mesh (metres), e.g. a dataset object.

    Magnitude: ``"exact"`` = closest point on the triangles (open3d ``RaycastingScene``;
    about a second for 50³ on one core); ``"sampled"`` = :func:`sdf_from_points` of
    ``surface_points`` seeded surface samples (tens of milliseconds, about a tenth of a
    voxel off near the surface). Sign: ray-parity inside tests with ``nsamples`` voting
    rays, per closed body. A mesh made of several closed bodies (e.g. a CoACD convex
    decomposition, whose parts overlap) is treated as the union of its bodies: outside
    it the field is the exact distance to the union; inside, the depth is the largest
    depth within one body, a lower bound of the true depth (the usual CSG union). Open
    (non-watertight) bodies get a warning: their sign is unreliable.

    Args:
        mesh: a ``trimesh.Trimesh``.
        spec: grid rule (placed around the mesh vertices) or a fixed :class:`GridLayout`.
        signed: negative inside when True, else the unsigned distance to the surface.
        method: ``"exact"`` or ``"sampled"``.
        nsamples: odd number of rays voting for each inside test.
        surface_points, seed: surface sampling of the ``"sampled"`` method.

    Returns:
        A :class:`DistanceField` with the mesh's volume centroid (vertex mean if open)
        and bounding-box extent.

    Raises:
        DataError: the mesh has no triangles.
        ConfigError: unknown ``method``.
    """
    import open3d as o3d
    import trimesh

    if method not in MESH_METHODS:
        raise ConfigError(f"mesh distance method {method!r} unknown; expected one of {MESH_METHODS}")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if faces.shape[0] == 0:
        raise DataError("mesh has no triangles")
    layout = _layout(vertices, spec)
    centres = layout.centres(np.float32).reshape(-1, 3)
    queries = o3d.core.Tensor(centres)
    if method == "exact":
        dist = _scene(vertices, faces).compute_distance(queries).numpy()
    else:
        samples, _ = trimesh.sample.sample_surface(mesh, surface_points, seed=seed)
        dist = sdf_from_points(samples, layout).distances.reshape(-1)
    if signed:
        bodies = mesh.split(only_watertight=False)
        if not all(b.is_watertight for b in bodies):
            log.warning("mesh is not closed (%d bodies, not all watertight): the sign of its field is "
                        "unreliable", len(bodies))
        depth = np.zeros_like(dist)
        for body in bodies:
            scene = _scene(body.vertices, body.faces)
            inside = scene.compute_occupancy(queries, nsamples=nsamples).numpy().astype(bool)
            if inside.any():
                body_depth = scene.compute_distance(o3d.core.Tensor(centres[inside])).numpy()
                depth[inside] = np.maximum(depth[inside], body_depth)
        dist = np.where(depth > 0, -depth, dist)
    centroid = np.asarray(mesh.centroid if mesh.is_watertight else vertices.mean(axis=0), dtype=np.float64)
    return DistanceField(dist.reshape(layout.shape).astype(np.float32), layout.origin, layout.voxel_size,
                         bool(signed), centroid, vertices.max(axis=0) - vertices.min(axis=0))


def sample_grid(distances: torch.Tensor, origin, voxel_size, points: torch.Tensor) -> torch.Tensor:
    """Trilinear lookup of a distance grid at arbitrary points, differentiable in ``points``
    (and in ``distances``).

    Points outside the grid are clamped onto its boundary and the distance from the point
    to its clamped position is added: the result keeps growing (with a gradient pointing
    back to the grid) outside, an upper-bound style extension of an unsigned field.

    Args:
        distances: (nx, ny, nz) or batched (B, nx, ny, nz) tensor, metres; each axis >= 2.
        origin: (3,) or (B, 3) centre of voxel (0, 0, 0), metres (tensor or array).
        voxel_size: scalar or (B,) metres.
        points: (..., 3) for an unbatched grid, (B, ..., 3) for a batched one, metres, in
            the grid frame.

    Returns:
        (...) or (B, ...) distances in metres, dtype of ``points``.

    Raises:
        DataError: shapes that do not match.
    """
    import torch  # imported here: the cloud-to-field path needs no torch

    batched = distances.dim() == 4
    if distances.dim() not in (3, 4) or min(distances.shape[-3:]) < 2:
        raise DataError(f"sample_grid needs distances (nx, ny, nz) or (B, nx, ny, nz) with every axis >= 2, "
                        f"got {tuple(distances.shape)}")
    if points.shape[-1] != 3 or (batched and (points.dim() < 2 or points.shape[0] != distances.shape[0])):
        raise DataError(f"sample_grid points must be (..., 3) (with the batch first for a batched grid), got "
                        f"{tuple(points.shape)} for distances {tuple(distances.shape)}")
    grid = distances if batched else distances.unsqueeze(0)
    pts = points if batched else points.unsqueeze(0)
    b, shape = grid.shape[0], grid.shape[1:]
    dtype, device = pts.dtype, pts.device
    origin_t = torch.as_tensor(origin, dtype=dtype, device=device).reshape(-1, 1, 3)
    voxel_t = torch.as_tensor(voxel_size, dtype=dtype, device=device).reshape(-1, 1, 1)
    flat_pts = pts.reshape(b, -1, 3)
    u = (flat_pts - origin_t) / voxel_t
    upper = torch.tensor([s - 1 for s in shape], dtype=dtype, device=device)
    uc = torch.minimum(torch.clamp(u, min=0.0), upper)
    out_sq = ((u - uc) * voxel_t).square().sum(dim=-1)
    # sqrt has no gradient at 0: take it only where the point is outside.
    outside = torch.where(out_sq > 0, out_sq.clamp_min(1e-30).sqrt(), torch.zeros_like(out_sq))
    i0 = torch.minimum(uc.detach().floor(), upper - 1).long()
    t = uc - i0.to(dtype)
    values = grid.reshape(b, -1).to(dtype)
    ny, nz = shape[1], shape[2]
    result = torch.zeros_like(out_sq)
    for dx in (0, 1):
        wx = t[..., 0] if dx else 1 - t[..., 0]
        for dy in (0, 1):
            wy = t[..., 1] if dy else 1 - t[..., 1]
            for dz in (0, 1):
                wz = t[..., 2] if dz else 1 - t[..., 2]
                index = ((i0[..., 0] + dx) * ny + (i0[..., 1] + dy)) * nz + (i0[..., 2] + dz)
                result = result + wx * wy * wz * torch.gather(values, 1, index)
    result = (result + outside).reshape(pts.shape[:-1])
    return result if batched else result.squeeze(0)
