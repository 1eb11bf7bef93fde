"""The object set for grasp datasets: DexGraspNet sample objects at their scales plus
procedurally generated shapes a hand can grasp.

Every object is a list of convex pieces in metres, in its own frame (the frame of its grasps
and of its distance field), with an id, a split group (all scales of one mesh share a group,
so a test object is never seen in training at another scale), a family and the grasp types
it affords. Procedural objects are deterministic from ``(seed, family, index)``: adding
objects of one family never changes the others.

Families (sizes in metres):

=========  ==============================================  =====================================
family     shape                                            types
=========  ==============================================  =====================================
sphere     radius 0.012-0.055                               spherical, tip, palmar (by size)
cylinder   radius 0.01-0.04, height 0.06-0.22               cylindrical, palmar, tip
capsule    radius 0.012-0.035, straight part 0.03-0.15      cylindrical, spherical, tip
ellipsoid  semi-axes 0.015-0.06                             spherical, cylindrical, palmar
box        sides 0.015-0.11                                 palmar, cylindrical, tip
plate      thickness 0.002-0.007, sides 0.03-0.10           lateral, tip
handle     bar (r 6-13 mm, 9-13 cm) on posts over a block   hook
ring       closed rectangular loop of capsules              hook
=========  ==============================================  =====================================

Objects that fail :func:`check_object` (non-finite, degenerate or open pieces, too large or
too small for the hand, a raw mesh whose units look wrong) are skipped with a logged reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from ... import GRASP_TYPES
from ...errors import DatasetError, DataError
from ..representation import spec

log = logging.getLogger(__name__)

#: A convex piece: (vertices (V, 3) float64 m, faces (F, 3) int64).
Piece = tuple[np.ndarray, np.ndarray]

#: Largest and smallest bounding-box side a hand grasps (metres).
MAX_EXTENT = 0.30
MIN_EXTENT = 0.012
#: Raw DexGraspNet meshes are normalised to about unit size; larger ones are in other units.
MAX_RAW_EXTENT = 5.0
#: Default number of procedural objects per family (176 in all).
DEFAULT_COUNTS = {"sphere": 24, "cylinder": 28, "capsule": 20, "ellipsoid": 20, "box": 28, "plate": 28,
                  "handle": 16, "ring": 12}
FAMILIES = tuple(DEFAULT_COUNTS) + ("dexgraspnet",)


@dataclass(frozen=True, eq=False)
class GraspObject:
    """One object of the set.

    Attributes:
        object_id: unique id, e.g. ``proc/cylinder-0003`` or ``dgn/core-mug-...@0.100``.
        group: split group (procedural: the id; DexGraspNet: the mesh code).
        family: one of ``FAMILIES``.
        scale: mesh units -> metres (1.0 for procedural objects).
        pieces: convex pieces in metres, object frame.
        types: grasp types the object affords (``GRASP_TYPES`` order).
        params: the generating parameters (metres), for the record.
    """

    object_id: str
    group: str
    family: str
    scale: float
    pieces: tuple[Piece, ...]
    types: tuple[str, ...]
    params: dict = field(default_factory=dict)

    def mesh(self) -> trimesh.Trimesh:
        """All pieces in one mesh (separate bodies; the distance field treats it as their union)."""
        return pieces_mesh(self.pieces)

    @property
    def vertices(self) -> np.ndarray:
        """(V, 3) all piece vertices, metres."""
        return np.concatenate([v for v, _ in self.pieces])

    @property
    def extents(self) -> np.ndarray:
        """(3,) bounding-box size, metres."""
        v = self.vertices
        return v.max(axis=0) - v.min(axis=0)


def check_object(pieces, raw_extent: float | None = None) -> str | None:
    """Why an object cannot be used, or None when it can.

    Args:
        pieces: convex pieces (vertices (V, 3) m, faces (F, 3)).
        raw_extent: largest side of the unscaled mesh (DexGraspNet units), if any.
    """
    if not pieces:
        return "no geometry"
    if raw_extent is not None and raw_extent > MAX_RAW_EXTENT:
        return f"wrong scale: raw mesh spans {raw_extent:.3g} units (normalised meshes span about 1)"
    volume = 0.0
    for i, (v, f) in enumerate(pieces):
        v, f = np.asarray(v), np.asarray(f)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4 or len(f) < 4 or not np.all(np.isfinite(v)):
            return f"degenerate piece {i}: {len(v)} vertices, {len(f)} faces"
        if f.min() < 0 or f.max() >= len(v):
            return f"degenerate piece {i}: face indices out of range"
        m = trimesh.Trimesh(v, f, process=False)
        if not m.is_watertight:
            return f"non-watertight piece {i}"
        if abs(m.volume) < 1e-9:
            return f"degenerate piece {i}: zero volume"
        volume += abs(m.volume)
    ext = np.ptp(np.concatenate([np.asarray(v) for v, _ in pieces]), axis=0)
    if ext.max() > MAX_EXTENT:
        return f"too large for the hand: {ext.max():.3f} m > {MAX_EXTENT} m"
    if ext.max() < MIN_EXTENT:
        return f"too small for the hand: {ext.max():.4f} m < {MIN_EXTENT} m"
    return None


#: Pieces thinner than this (a flat V-HACD / CoACD piece) are thickened to it, metres.
MIN_PIECE_THICKNESS = 0.001


def close_pieces(pieces, name: str = "object", min_thickness: float = MIN_PIECE_THICKNESS) -> list[Piece]:
    """Convex decompositions as they come (V-HACD, CoACD) -> closed convex pieces.

    Each piece is replaced by its convex hull; a flat piece (thinner than ``min_thickness`` along
    its thinnest principal axis: coplanar vertices, which MuJoCo refuses) is thickened to
    ``min_thickness``; a piece with fewer than 3 distinct points or no area is dropped. Both are
    logged as warnings.

    Args:
        pieces: [(vertices (V, 3) m, faces)] (faces are ignored: the hull is recomputed).
        name: for the messages.

    Returns:
        [(vertices (V, 3) float64 m, faces (F, 3) int64)], closed and convex.

    Raises:
        DataError: nothing graspable is left.
    """
    out, dropped, thickened = [], 0, 0
    for verts, _ in pieces:
        v = np.unique(np.asarray(verts, dtype=np.float64).reshape(-1, 3), axis=0)
        v = v[np.all(np.isfinite(v), axis=1)]
        if len(v) < 3:
            dropped += 1
            continue
        centre = v.mean(axis=0)
        _, sing, axes = np.linalg.svd(v - centre, full_matrices=False)
        if sing.size < 2 or sing[1] < 1e-9:  # a point or a line
            dropped += 1
            continue
        thin = axes[-1] if sing.size == 3 else np.cross(axes[0], axes[1])
        depth = np.ptp((v - centre) @ thin)
        if depth < min_thickness:
            v = np.concatenate([v + thin * (min_thickness - depth) / 2, v - thin * (min_thickness - depth) / 2])
            thickened += 1
        hull = trimesh.convex.convex_hull(v)
        out.append((np.asarray(hull.vertices, dtype=np.float64), np.asarray(hull.faces, dtype=np.int64)))
    if dropped or thickened:
        log.warning("%s: %d of %d convex pieces thickened to %.1f mm (flat), %d dropped (degenerate)", name,
                    thickened, len(pieces), 1e3 * min_thickness, dropped)
    if not out:
        raise DataError(f"{name}: nothing graspable is left of its {len(pieces)} convex pieces (all degenerate)")
    return out


def mesh_pieces(path: str | Path, scale: float = 1.0) -> tuple[list[Piece], trimesh.Trimesh]:
    """An object from a mesh file, scaled to metres: its closed convex pieces (``close_pieces``) for
    the physics check, and the mesh its distance field is built from.

    An OBJ with several ``o`` blocks is a convex decomposition (V-HACD, CoACD): its pieces as they
    come, and the field from their closed hulls (decompositions are rarely closed themselves).
    Any other mesh: the convex hull of each connected body, and the field from the mesh itself
    when it is closed, else from those hulls (an open surface has no inside).

    Raises:
        DataError: unreadable or empty mesh, a non-positive scale, or nothing graspable.
    """
    from .dexgraspnet import load_convex_pieces

    path = Path(path)
    if not scale > 0:
        raise DataError(f"scale must be positive, got {scale}")
    if path.suffix.lower() == ".obj" and path.is_file():
        with open(path, errors="replace") as f:
            blocks = sum(line.startswith("o ") for line in f)
        if blocks > 1:
            pieces = close_pieces(load_convex_pieces(path, scale), path.name)
            return pieces, pieces_mesh(pieces)
    try:
        mesh = trimesh.load(str(path), force="mesh")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read mesh {path}: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError(f"{path} holds no triangles")
    mesh.apply_scale(scale)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)  # one vertex per position: faces split by normals join
    bodies = mesh.split(only_watertight=False) or [mesh]
    pieces = close_pieces([(b.vertices, b.faces) for b in bodies], path.name)
    if not all(b.is_watertight for b in bodies):  # an open surface has no inside: the field from the pieces
        mesh = pieces_mesh(pieces)
    return pieces, mesh


def pieces_mesh(pieces) -> trimesh.Trimesh:
    """The union of closed convex ``pieces`` as one mesh of closed bodies (what a distance field
    and a depth camera take), metres."""
    return trimesh.util.concatenate([trimesh.Trimesh(v, f, process=False) for v, f in pieces])


def _piece(mesh: trimesh.Trimesh, transform: np.ndarray | None = None) -> Piece:
    if transform is not None:
        mesh = mesh.copy()
        mesh.apply_transform(transform)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _pose(pos=(0, 0, 0), rot: np.ndarray | None = None) -> np.ndarray:
    t = np.eye(4)
    if rot is not None:
        t[:3, :3] = rot
    t[:3, 3] = pos
    return t


def _capsule_between(a, b, radius: float) -> trimesh.Trimesh:
    """A capsule whose straight part runs from ``a`` to ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    axis = b - a
    length = float(np.linalg.norm(axis))
    m = trimesh.creation.capsule(height=length, radius=radius, count=[10, 10])
    rot = trimesh.geometry.align_vectors([0, 0, 1], axis / length)
    m.apply_transform(_pose((a + b) / 2, rot[:3, :3]))
    return m


def _types_by_size(family: str, widths: np.ndarray) -> tuple[str, ...]:
    """Grasp types whose ``width`` range (see ``grasp.representation``) fits the object, for its family.

    ``widths``: sorted (3,) sizes of the object across its three axes, metres.
    """
    thin, mid, long = widths
    fits = {t: spec(t).width[0] <= thin <= spec(t).width[1] for t in GRASP_TYPES}
    types = set()
    if family in ("sphere", "capsule", "ellipsoid") and fits["spherical"] and long < 1.7 * thin + 0.02:
        types.add("spherical")
    if family in ("cylinder", "capsule", "ellipsoid", "box") and long >= 0.06 \
            and spec("cylindrical").width[0] <= mid <= spec("cylindrical").width[1] + 0.01:
        types.add("cylindrical")
    if family == "handle":  # the block under the bar would draw power grasps away from the bar
        return ("hook",)
    if family == "ring":
        return ("hook",)
    if family in ("sphere", "cylinder", "ellipsoid", "box") and fits["palmar"] and mid <= 0.10:
        types.add("palmar")
    if family not in ("handle", "ring") and fits["tip"] and mid <= 0.10:
        types.add("tip")
    if fits["lateral"] and mid >= 0.025:
        types.add("lateral")
    return tuple(t for t in GRASP_TYPES if t in types)


def _mesh_types(widths: np.ndarray, code: str) -> tuple[str, ...]:
    """Grasp types tried on an arbitrary (e.g. DexGraspNet) mesh of sorted sizes ``widths``.

    Bounding boxes say little about curved or hollow shapes (a banana, a plate), so every type
    whose width range admits the thinnest side is tried and the type descriptor and physics
    check decide; hook only for objects named as having a handle.
    """
    thin, long = widths[0], widths[2]
    types = {t for t in GRASP_TYPES if t != "hook" and thin <= spec(t).width[1] + 0.01 and long >= spec(t).width[0]}
    if "spherical" in types and long > 0.16:
        types.discard("spherical")
    if any(k in code.lower() for k in ("mug", "cup", "bucket", "handle")):
        types.add("hook")
    return tuple(t for t in GRASP_TYPES if t in types)


def _procedural(family: str, rng: np.random.Generator) -> tuple[list[Piece], dict, np.ndarray]:
    """Pieces (untransformed), parameters and widths (sorted sizes) of one procedural object."""
    u = rng.uniform
    if family == "sphere":
        r = u(0.012, 0.055)
        return [_piece(trimesh.creation.icosphere(subdivisions=3, radius=r))], {"radius": r}, np.full(3, 2 * r)
    if family == "cylinder":
        r, h = u(0.01, 0.04), u(0.06, 0.22)
        m = trimesh.creation.cylinder(radius=r, height=h, sections=32)
        return [_piece(m)], {"radius": r, "height": h}, np.sort([2 * r, 2 * r, h])
    if family == "capsule":
        r, h = u(0.012, 0.035), u(0.03, 0.15)
        m = trimesh.creation.capsule(height=h, radius=r, count=[16, 16])
        return [_piece(m)], {"radius": r, "height": h}, np.sort([2 * r, 2 * r, h + 2 * r])
    if family == "ellipsoid":
        axes = np.sort(u(0.015, 0.06, size=3))
        m = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
        m.apply_scale(axes)
        return [_piece(m)], {"semi_axes": axes.tolist()}, 2 * axes
    if family == "box":
        ext = np.sort(u(0.015, 0.11, size=3))
        return [_piece(trimesh.creation.box(extents=ext))], {"extents": ext.tolist()}, ext
    if family == "plate":
        ext = np.array([u(0.002, 0.007), u(0.03, 0.07), u(0.05, 0.10)])
        return [_piece(trimesh.creation.box(extents=ext))], {"extents": ext.tolist()}, np.sort(ext)
    if family == "handle":
        # a bag/bucket handle: a bar along x held by two posts above a block (the load)
        r, length, gap = u(0.006, 0.013), u(0.095, 0.13), u(0.03, 0.042)
        block = np.array([length + u(0.01, 0.04), u(0.03, 0.06), u(0.03, 0.06)])
        post_w = 0.012
        top = block[2] / 2 + gap + r  # bar axis height
        pieces = [_piece(trimesh.creation.box(extents=block)),
                  _piece(trimesh.creation.cylinder(radius=r, height=length + 2 * post_w, sections=24),
                         _pose((0, 0, top), Rotation.from_euler("y", 90, degrees=True).as_matrix()))]
        for sx in (-1, 1):
            h = gap + r + 0.004
            pieces.append(_piece(trimesh.creation.box(extents=(post_w, min(2 * r, block[1]), h)),
                                 _pose((sx * (length + post_w) / 2, 0, block[2] / 2 + h / 2 - 0.002))))
        params = {"bar_radius": r, "bar_length": length, "gap": gap, "block": block.tolist()}
        return pieces, params, np.sort([2 * r, block[1], length])
    if family == "ring":
        # closed rectangular loop of four capsules (a bag handle without the bag)
        r, width, height = u(0.006, 0.012), u(0.09, 0.12), u(0.035, 0.05)
        w, h = width / 2 + r, height / 2 + r
        corners = [(-w, 0, -h), (w, 0, -h), (w, 0, h), (-w, 0, h)]
        pieces = [_piece(_capsule_between(corners[i], corners[(i + 1) % 4], r)) for i in range(4)]
        return pieces, {"bar_radius": r, "inner_width": width, "inner_height": height}, np.sort([2 * r, 2 * h, 2 * w])
    raise DataError(f"unknown object family {family!r}; expected one of {tuple(DEFAULT_COUNTS)}")


def procedural_object(family: str, index: int, seed: int = 0) -> GraspObject:
    """The ``index``-th object of ``family`` for ``seed`` (deterministic), randomly rotated."""
    fam = tuple(DEFAULT_COUNTS).index(family) if family in DEFAULT_COUNTS else -1
    if fam < 0:
        raise DataError(f"unknown object family {family!r}; expected one of {tuple(DEFAULT_COUNTS)}")
    rng = np.random.default_rng([seed, fam, index])
    pieces, params, widths = _procedural(family, rng)
    rot = Rotation.random(random_state=rng).as_matrix()
    pieces = [(v @ rot.T, f) for v, f in pieces]
    centre = (np.concatenate([v for v, _ in pieces]).max(0) + np.concatenate([v for v, _ in pieces]).min(0)) / 2
    pieces = tuple((v - centre, f) for v, f in pieces)
    oid = f"proc/{family}-{index:04d}"
    return GraspObject(oid, oid, family, 1.0, pieces, _types_by_size(family, widths), params)


def procedural_objects(counts: dict[str, int] | None = None, seed: int = 0) -> list[GraspObject]:
    """``counts[family]`` objects of each family (default ``DEFAULT_COUNTS``)."""
    counts = DEFAULT_COUNTS if counts is None else counts
    return [procedural_object(fam, i, seed) for fam, n in counts.items() for i in range(int(n))]


def dexgraspnet_objects(root: str | Path, scales=None) -> tuple[list[GraspObject], list[tuple[str, str]]]:
    """The objects of a DexGraspNet folder (``dataset/*.npy`` + ``meshdata``), one per
    (mesh, scale) pair found in its grasp file (or ``scales``).

    Returns:
        (objects, skipped): skipped = [(object id, reason)], each also logged.

    Raises:
        DatasetError: the folder has no ``dataset/*.npy``.
    """
    from .dexgraspnet import load_convex_pieces, load_grasps, mesh_path

    root = Path(root)
    files = sorted((root / "dataset").glob("*.npy"))
    if not files:
        raise DatasetError(f"{root}/dataset holds no DexGraspNet .npy grasp files")
    objects, skipped = [], []
    for path in files:
        code = path.stem
        try:
            grasp_scales = np.unique(load_grasps(path).scale) if scales is None else np.asarray(scales, float)
            raw = load_convex_pieces(mesh_path(root, code), 1.0)
        except DatasetError as exc:
            skipped.append((f"dgn/{code}", str(exc)))
            log.warning("skipping %s: %s", code, exc)
            continue
        raw_extent = float(np.ptp(np.concatenate([v for v, _ in raw]), axis=0).max())
        for s in grasp_scales:
            oid = f"dgn/{code}@{s:.3f}"
            pieces = tuple((v * float(s), f) for v, f in raw)
            reason = check_object(pieces, raw_extent)
            if reason:
                skipped.append((oid, reason))
                log.warning("skipping %s: %s", oid, reason)
                continue
            widths = np.sort(np.ptp(np.concatenate([v for v, _ in pieces]), axis=0))
            types = _mesh_types(widths, code)
            if not types:
                skipped.append((oid, "affords none of the grasp types"))
                log.warning("skipping %s: affords none of the grasp types (sizes %s m)", oid, widths.round(3))
                continue
            objects.append(GraspObject(oid, f"dgn/{code}", "dexgraspnet", float(s), pieces, types, {"code": code}))
    return objects, skipped


def object_set(seed: int = 0, counts: dict[str, int] | None = None,
               dexgraspnet_root: str | Path | None = None) -> tuple[list[GraspObject], list[tuple[str, str]]]:
    """The full set: DexGraspNet objects (when ``dexgraspnet_root`` is given) + procedural ones,
    each checked with :func:`check_object`.

    Returns:
        (objects, skipped) with skipped = [(object id, reason)].
    """
    objects, skipped = [], []
    if dexgraspnet_root is not None:
        objects, skipped = dexgraspnet_objects(dexgraspnet_root)
    for obj in procedural_objects(counts, seed):
        reason = check_object(obj.pieces)
        if reason:
            skipped.append((obj.object_id, reason))
            log.warning("skipping %s: %s", obj.object_id, reason)
        elif not obj.types:
            skipped.append((obj.object_id, "affords none of the grasp types"))
            log.info("skipping %s: affords none of the grasp types", obj.object_id)
        else:
            objects.append(obj)
    return objects, skipped
