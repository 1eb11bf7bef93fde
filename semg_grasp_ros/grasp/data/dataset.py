"""Grasp dataset files, the training loader and object-wise splits.

Layout of a dataset folder::

    <root>/index.json            manifest: format version, generator settings, objects (id, group,
                                 family, file, split, grasp counts per type), skipped objects
    <root>/objects/<name>.npz    one file per object (numpy .npz, no pickle)

Each object file holds (N grasps; float32 unless said):

==========================  =========================================================================
``grasps``        (N, 28)   DexGraspNet convention: 22 joints ``robot0:FFJ3..THJ0`` (its order and
                            axis signs), ``WRJRx/y/z`` (palm rotation, Euler ``sxyz``), ``WRJTx/y/z``
                            (palm position, m), in the object frame
``types``         (N,) int8 index into ``GRASP_TYPES``
``object_id``, ``group``, ``family``, ``source``  str; ``scale`` float64 (mesh units -> m)
``sdf``           (50, 50, 50) signed distance, m (negative inside), grid axes = object frame
``sdf_origin``    (3,) centre of voxel (0, 0, 0), m; ``sdf_voxel_size`` () m
``centroid``, ``extent``    (3,) m
``penetration_mm``, ``contact_distance_mm``  (N,) from the physics check at the grasp
``physics_success`` (N,) bool; ``physics_displacement`` (N, 6) m (+x, -x, +y, -y, +z, -z)
``energy``        (N,) synthesis energy (NaN for imported grasps)
``piece_vertices`` (V, 3) float64 m, ``piece_faces`` (F, 3) int32, ``piece_vertex_counts``,
``piece_face_counts`` (P,): the object's convex pieces (for physics checks of new grasps)
==========================  =========================================================================

Splits are by object group (every scale of one mesh lands in the same split), decided by a
hash of the group name, so they stay fixed when objects are added.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ... import GRASP_TYPES
from ...errors import DatasetError
from ...geometry import euler_sxyz_to_matrix, matrix_to_euler_sxyz
from ...hand.convert import dexgraspnet_to_shadow, shadow_to_dexgraspnet

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
#: Keys every object file must hold.
REQUIRED_KEYS = ("grasps", "types", "object_id", "group", "family", "scale", "sdf", "sdf_origin", "sdf_voxel_size",
                 "piece_vertices", "piece_faces", "piece_vertex_counts", "piece_face_counts")


def split_of(group: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for an object group (stable hash of its name)."""
    u = int(hashlib.sha1(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def object_file_name(object_id: str) -> str:
    """File name of an object id (``/``, ``@`` and other separators -> ``_``)."""
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in object_id)
    return f"{safe}.npz"


def arrays_to_grasps(joints, rot, trans) -> np.ndarray:
    """(N, 22) Shadow joints, (N, 3, 3), (N, 3) m -> (N, 28) float32 DexGraspNet vectors."""
    j = np.asarray(shadow_to_dexgraspnet(np.asarray(joints, dtype=np.float64)))
    e = np.asarray(matrix_to_euler_sxyz(np.asarray(rot, dtype=np.float64)))
    return np.concatenate([j, e, np.asarray(trans, dtype=np.float64)], axis=-1).astype(np.float32)


def grasps_to_arrays(grasps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 28) DexGraspNet vectors -> (joints (N, 22) Shadow, rot (N, 3, 3), trans (N, 3) m)."""
    g = np.asarray(grasps, dtype=np.float64)
    if g.shape[-1] != 28:
        raise DatasetError(f"grasp vectors must have 28 columns, got {g.shape}")
    return np.asarray(dexgraspnet_to_shadow(g[..., :22])), np.asarray(euler_sxyz_to_matrix(g[..., 22:25])), g[..., 25:28].copy()


@dataclass(frozen=True, eq=False)
class ObjectRecord:
    """One object file, loaded.

    Attributes:
        object_id, group, family, source: strings; scale: mesh units -> m.
        grasps: (N, 28) float32 DexGraspNet vectors; types: (N,) int64.
        sdf: (50, 50, 50) float32 m; sdf_origin (3,) m; sdf_voxel_size m.
        pieces: convex pieces [(vertices (V, 3) m, faces (F, 3))].
        metrics: per-grasp arrays (penetration_mm, contact_distance_mm, physics_success, ...).
    """

    object_id: str
    group: str
    family: str
    source: str
    scale: float
    grasps: np.ndarray
    types: np.ndarray
    sdf: np.ndarray
    sdf_origin: np.ndarray
    sdf_voxel_size: float
    centroid: np.ndarray
    extent: np.ndarray
    pieces: list
    metrics: dict

    def __len__(self) -> int:
        return int(self.grasps.shape[0])


def save_object(path: str | Path, *, object_id: str, group: str, family: str, source: str, scale: float,
                grasps: np.ndarray, types: np.ndarray, field, pieces, metrics: dict | None = None) -> None:
    """Write one object file atomically (a temporary file renamed into place, so an
    interrupted run never leaves a half-written file that a resumed run would trust).

    Args:
        grasps: (N, 28) DexGraspNet vectors; types: (N,) indices into ``GRASP_TYPES``.
        field: a ``perception.sdf.DistanceField`` (the 50³ grid, object frame).
        pieces: convex pieces [(vertices (V, 3) m, faces (F, 3))].
        metrics: extra per-grasp arrays, each (N, ...).
    """
    path = Path(path)
    grasps = np.asarray(grasps, dtype=np.float32).reshape(-1, 28)
    n = len(grasps)
    types = np.asarray(types, dtype=np.int8).reshape(n)
    verts = [np.asarray(v, dtype=np.float64) for v, _ in pieces]
    faces = [np.asarray(f, dtype=np.int32) for _, f in pieces]
    arrays = dict(
        format_version=np.int32(FORMAT_VERSION), grasps=grasps, types=types, object_id=np.str_(object_id),
        group=np.str_(group), family=np.str_(family), source=np.str_(source), scale=np.float64(scale),
        sdf=np.asarray(field.distances, dtype=np.float32), sdf_origin=np.asarray(field.origin, dtype=np.float64),
        sdf_voxel_size=np.float64(field.voxel_size), sdf_signed=np.bool_(field.is_signed),
        centroid=np.asarray(field.centroid, dtype=np.float64), extent=np.asarray(field.extent, dtype=np.float64),
        piece_vertices=np.concatenate(verts) if verts else np.zeros((0, 3)),
        piece_faces=np.concatenate(faces) if faces else np.zeros((0, 3), dtype=np.int32),
        piece_vertex_counts=np.array([len(v) for v in verts], dtype=np.int32),
        piece_face_counts=np.array([len(f) for f in faces], dtype=np.int32),
    )
    for key, value in (metrics or {}).items():
        value = np.asarray(value)
        if value.shape[:1] != (n,):
            raise DatasetError(f"metric {key!r} has shape {value.shape}, expected ({n}, ...)")
        arrays[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_object(path: str | Path) -> ObjectRecord:
    """Read one object file.

    Raises:
        DatasetError: unreadable file or a missing key.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read grasp object file {path}: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DatasetError(f"{path} lacks {missing}; expected a grasp object file with {list(REQUIRED_KEYS)}")
    pieces, v0, f0 = [], 0, 0
    for nv, nf in zip(data["piece_vertex_counts"], data["piece_face_counts"]):
        pieces.append((data["piece_vertices"][v0 : v0 + nv], data["piece_faces"][f0 : f0 + nf].astype(np.int64)))
        v0, f0 = v0 + nv, f0 + nf
    known = set(REQUIRED_KEYS) | {"format_version", "source", "sdf_signed", "centroid", "extent"}
    return ObjectRecord(
        object_id=str(data["object_id"]), group=str(data["group"]), family=str(data["family"]),
        source=str(data.get("source", "")), scale=float(data["scale"]), grasps=data["grasps"].astype(np.float32),
        types=data["types"].astype(np.int64), sdf=data["sdf"].astype(np.float32),
        sdf_origin=data["sdf_origin"].astype(np.float64), sdf_voxel_size=float(data["sdf_voxel_size"]),
        centroid=data.get("centroid", np.zeros(3)), extent=data.get("extent", np.zeros(3)), pieces=pieces,
        metrics={k: v for k, v in data.items() if k not in known},
    )


def read_index(root: str | Path) -> dict:
    """The manifest ``index.json`` of a dataset folder (an empty one if absent)."""
    path = Path(root) / "index.json"
    if not path.exists():
        return {"format_version": FORMAT_VERSION, "objects": {}, "skipped": {}}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read dataset manifest {path}: {exc}") from exc


def write_index(root: str | Path, index: dict) -> None:
    """Write ``index.json`` atomically."""
    path = Path(root) / "index.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, path)


def dataset_summary(root: str | Path) -> dict:
    """Counts over the objects listed in the manifest: grasps, objects, per type and per split."""
    index = read_index(root)
    per_type = dict.fromkeys(GRASP_TYPES, 0)
    per_split = dict.fromkeys(SPLITS, 0)
    objects = 0
    for entry in index["objects"].values():
        n = sum(entry.get("grasps_per_type", {}).values())
        if n == 0:
            continue
        objects += 1
        per_split[entry["split"]] += n
        for t, k in entry["grasps_per_type"].items():
            per_type[t] += k
    return {"grasps": sum(per_type.values()), "objects": objects, "types": sum(v > 0 for v in per_type.values()),
            "per_type": per_type, "per_split": per_split, "skipped_objects": len(index.get("skipped", {}))}


class GraspDataset(torch.utils.data.Dataset):
    """Grasps with their object's distance field, for training.

    Each item is a dict of tensors:

    * ``grasp`` (28,) float32: DexGraspNet vector (joints with DexGraspNet signs, Euler ``sxyz``,
      translation m), object frame;
    * ``joints`` (22,) Shadow joints rad; ``rot`` (3, 3); ``trans`` (3,) m (the same grasp);
    * ``type`` () int64 index into ``GRASP_TYPES``;
    * ``sdf`` (1, 50, 50, 50) float32 m (shared between the grasps of an object);
    * ``sdf_origin`` (3,) m; ``sdf_voxel_size`` () m; ``object_index`` () int64 into ``objects``.

    Args:
        root: dataset folder (``index.json`` + ``objects/``), or several folders (a list).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        types: keep only these grasp types (default all six).
        physics_only: keep only grasps whose physics check succeeded.

    Raises:
        DatasetError: unknown split or type, or no grasp left.
    """

    def __init__(self, root, split: str = "train", types=None, physics_only: bool = True):
        if split not in SPLITS + ("all",):
            raise DatasetError(f"unknown split {split!r}; expected one of {SPLITS + ('all',)}")
        types = tuple(GRASP_TYPES if types is None else types)
        unknown = [t for t in types if t not in GRASP_TYPES]
        if unknown:
            raise DatasetError(f"unknown grasp types {unknown}; expected some of {GRASP_TYPES}")
        keep_types = np.array([GRASP_TYPES.index(t) for t in types])
        roots = [Path(r) for r in ([root] if isinstance(root, (str, os.PathLike)) else root)]
        self.objects: list[ObjectRecord] = []
        rows = []
        for r in roots:
            index = read_index(r)
            for oid, entry in sorted(index["objects"].items()):
                if split != "all" and entry["split"] != split:
                    continue
                rec = load_object(r / "objects" / entry["file"])
                mask = np.isin(rec.types, keep_types)
                if physics_only and "physics_success" in rec.metrics:
                    mask &= rec.metrics["physics_success"].astype(bool)
                if not mask.any():
                    continue
                k = len(self.objects)
                self.objects.append(rec)
                rows.extend((k, i) for i in np.nonzero(mask)[0])
        if not rows:
            raise DatasetError(f"no grasps of types {types} in split {split!r} under {[str(r) for r in roots]}")
        self._rows = np.array(rows, dtype=np.int64)
        self._sdf = [torch.from_numpy(o.sdf).unsqueeze(0) for o in self.objects]
        grasps = np.stack([self.objects[k].grasps[i] for k, i in self._rows])
        joints, rot, trans = grasps_to_arrays(grasps)
        self._grasp = torch.from_numpy(grasps.astype(np.float32))
        self._joints = torch.from_numpy(joints.astype(np.float32))
        self._rot = torch.from_numpy(rot.astype(np.float32))
        self._trans = torch.from_numpy(trans.astype(np.float32))
        self._type = torch.from_numpy(np.array([self.objects[k].types[i] for k, i in self._rows], dtype=np.int64))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int) -> dict:
        k = int(self._rows[i, 0])
        obj = self.objects[k]
        return {
            "grasp": self._grasp[i], "joints": self._joints[i], "rot": self._rot[i], "trans": self._trans[i],
            "type": self._type[i], "sdf": self._sdf[k],
            "sdf_origin": torch.from_numpy(obj.sdf_origin.astype(np.float32)),
            "sdf_voxel_size": torch.tensor(obj.sdf_voxel_size, dtype=torch.float32),
            "object_index": torch.tensor(k, dtype=torch.int64),
        }

    @property
    def types(self) -> torch.Tensor:
        """(N,) int64 type index of every item."""
        return self._type

    def type_counts(self) -> dict[str, int]:
        """Items per grasp type."""
        counts = np.bincount(self._type.numpy(), minlength=len(GRASP_TYPES))
        return dict(zip(GRASP_TYPES, counts.tolist()))
