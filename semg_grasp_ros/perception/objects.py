"""Objects to look at: mesh files, the DexGraspNet sample objects, and primitives with
analytic distance functions (the ground truth of the distance-field tests and benchmark).

DexGraspNet meshes (``grasps/dexgraspnet_sample/meshdata/<code>/coacd/decomposed.obj`` in
the data folder) are CoACD convex decompositions in normalised units; multiplying by a
grasp's ``scale`` (0.06 ... 0.15) gives metres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, DatasetError
from ..geometry import rotation_to_z
from ..paths import data_root

log = logging.getLogger(__name__)

DEXGRASPNET_DIR = Path("grasps") / "dexgraspnet_sample"
PRIMITIVE_KINDS = ("sphere", "box", "cylinder")


def load_mesh(path: str | Path, scale: float = 1.0):
    """Load a triangle mesh file (obj, ply, stl, off, glb ...) as one ``trimesh.Trimesh``,
    vertices multiplied by ``scale`` (to get metres).

    Raises:
        DataError: the file is missing, unreadable or holds no triangles.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise DataError(f"mesh file {path} does not exist")
    if not scale > 0:
        raise DataError(f"mesh scale must be positive, got {scale}")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except (ValueError, KeyError, IndexError, TypeError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read mesh {path}: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError(f"{path} holds no triangles")
    mesh.apply_scale(scale)
    log.debug("loaded %s: %d faces, extent %s m", path, len(mesh.faces), np.round(mesh.extents, 4).tolist())
    return mesh


def dexgraspnet_objects(root: str | Path | None = None) -> list[str]:
    """Codes of the DexGraspNet sample objects in the data folder, sorted.

    Raises:
        DatasetError: the data folder or its ``grasps/dexgraspnet_sample/meshdata`` is missing.
    """
    folder = data_root(root) / DEXGRASPNET_DIR / "meshdata"
    if not folder.is_dir():
        raise DatasetError(f"DexGraspNet sample meshes not found at {folder}")
    return sorted(p.name for p in folder.iterdir() if (p / "coacd" / "decomposed.obj").is_file())


#: Up direction of the source datasets' meshes, by code prefix: ShapeNetCore models
#: ("core-...") are y-up; the other sources of the samples here are z-up (checked by
#: rendering the four samples standing on a table).
UP_AXES = {"core-": (0.0, 1.0, 0.0)}


def dexgraspnet_up_axis(code: str) -> np.ndarray:
    """(3,) upward direction of a DexGraspNet object in its mesh frame."""
    for prefix, axis in UP_AXES.items():
        if code.startswith(prefix):
            return np.asarray(axis)
    return np.array([0.0, 0.0, 1.0])


def load_dexgraspnet_mesh(code: str, scale: float = 0.1, root: str | Path | None = None, upright: bool = False):
    """The CoACD mesh of a DexGraspNet object, in metres (normalised units times ``scale``).

    Args:
        upright: rotate the mesh so the object's natural up direction is +z (to stand it on
            a table); False keeps the dataset frame, in which its grasps are expressed.

    Raises:
        DatasetError: unknown object code.
    """
    path = data_root(root) / DEXGRASPNET_DIR / "meshdata" / code / "coacd" / "decomposed.obj"
    if not path.is_file():
        raise DatasetError(f"DexGraspNet object {code!r} not found at {path}; known: {dexgraspnet_objects(root)}")
    mesh = load_mesh(path, scale)
    if upright:
        t = np.eye(4)
        t[:3, :3] = rotation_to_z(dexgraspnet_up_axis(code))
        mesh.apply_transform(t)
    return mesh


@dataclass(frozen=True)
class Primitive:
    """A primitive solid centred at the origin with an analytic signed distance.

    Attributes:
        kind: ``"sphere"`` (dims = (radius,)), ``"box"`` (dims = (sx, sy, sz) edge lengths)
            or ``"cylinder"`` (dims = (radius, height), axis z).
        dims: metres.
    """

    kind: str
    dims: tuple[float, ...]

    def __post_init__(self):
        expected = {"sphere": 1, "box": 3, "cylinder": 2}
        if self.kind not in expected:
            raise ConfigError(f"primitive kind {self.kind!r} unknown; expected one of {PRIMITIVE_KINDS}")
        if len(self.dims) != expected[self.kind] or min(self.dims) <= 0:
            raise ConfigError(f"{self.kind} needs {expected[self.kind]} positive dimensions, got {self.dims}")

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (...) metres at points (..., 3), negative inside."""
        p = np.asarray(points, dtype=np.float64)
        if self.kind == "sphere":
            return np.linalg.norm(p, axis=-1) - self.dims[0]
        if self.kind == "box":
            q = np.abs(p) - np.asarray(self.dims) / 2
        else:
            q = np.stack([np.linalg.norm(p[..., :2], axis=-1) - self.dims[0],
                          np.abs(p[..., 2]) - self.dims[1] / 2], axis=-1)
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(axis=-1), 0)

    def mesh(self):
        """A triangle mesh of the solid (``trimesh.Trimesh``; faceted for sphere and cylinder)."""
        import trimesh

        if self.kind == "sphere":
            return trimesh.creation.icosphere(subdivisions=4, radius=self.dims[0])
        if self.kind == "box":
            return trimesh.creation.box(extents=self.dims)
        return trimesh.creation.cylinder(radius=self.dims[0], height=self.dims[1], sections=96)

    def sample_surface(self, count: int, seed: int = 0) -> np.ndarray:
        """(count, 3) points uniformly distributed on the exact surface (not the mesh)."""
        rng = np.random.default_rng(seed)
        if self.kind == "sphere":
            v = rng.normal(size=(count, 3))
            return self.dims[0] * v / np.linalg.norm(v, axis=1, keepdims=True)
        if self.kind == "box":
            half = np.asarray(self.dims) / 2
            areas = np.array([self.dims[1] * self.dims[2], self.dims[0] * self.dims[2], self.dims[0] * self.dims[1]])
            axis = rng.choice(3, size=count, p=areas / areas.sum())
            pts = rng.uniform(-half, half, size=(count, 3))
            pts[np.arange(count), axis] = half[axis] * rng.choice([-1.0, 1.0], size=count)
            return pts
        r, h = self.dims
        side, cap = 2 * np.pi * r * h, np.pi * r * r
        on_side = rng.random(count) < side / (side + 2 * cap)
        theta = rng.uniform(0, 2 * np.pi, count)
        rad = np.where(on_side, r, r * np.sqrt(rng.random(count)))
        z = np.where(on_side, rng.uniform(-h / 2, h / 2, count), h / 2 * rng.choice([-1.0, 1.0], size=count))
        return np.stack([rad * np.cos(theta), rad * np.sin(theta), z], axis=1)


def resolve_object(spec: str, scale: float = 0.1, root: str | Path | None = None, upright: bool = True):
    """A mesh (metres) named by a short spec:

    * ``"sphere:R"``, ``"box:SX,SY,SZ"``, ``"cylinder:R,H"``: a primitive (metres, ``scale`` ignored);
    * a path to a mesh file: loaded and multiplied by ``scale``;
    * a DexGraspNet sample code, or a unique part of one (``"mug"``): its mesh times
      ``scale``, stood upright (+z up) when ``upright``.

    Raises:
        ConfigError: malformed primitive spec; DatasetError / DataError: unknown object or bad file.
    """
    kind, _, args = spec.partition(":")
    if kind in PRIMITIVE_KINDS:
        try:
            dims = tuple(float(v) for v in args.split(","))
        except ValueError as exc:
            raise ConfigError(f"object spec {spec!r}: dimensions must be numbers, e.g. 'cylinder:0.035,0.12'") from exc
        return Primitive(kind, dims).mesh()
    if Path(spec).suffix and Path(spec).is_file():
        return load_mesh(spec, scale)
    codes = dexgraspnet_objects(root)
    matches = [c for c in codes if c == spec] or [c for c in codes if spec.lower() in c.lower()]
    if len(matches) != 1:
        raise DatasetError(f"object {spec!r} matches {len(matches)} DexGraspNet samples ({codes}); expected "
                           "exactly one, a mesh file, or a primitive such as 'sphere:0.04'")
    return load_dexgraspnet_mesh(matches[0], scale, root, upright=upright)
