"""DexGraspNet files: grasp ``.npy`` files, CoACD object meshes, and its 22-joint hand MJCF.

Layout (``<data>/grasps/dexgraspnet_sample`` or a full download)::

    dataset/<object_code>.npy                   1-D object array of {"qpos": dict, "scale": float}
    meshdata/<object_code>/coacd/decomposed.obj convex pieces (``o convex_i``), normalised units

Mesh units times the grasp's ``scale`` are metres; the grasp's palm pose is in that scaled
object frame. ``.npy`` files of object arrays are pickles: they are read with a restricted
unpickler that only rebuilds numpy arrays, dicts and floats, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import logging
import pickle
import tokenize
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ...hand.convert import from_dexgraspnet_qpos

log = logging.getLogger(__name__)

_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _BoundedArray(np.ndarray):
    """An array being unpickled: its state may not claim more elements or bytes than the file
    holds (``budget``), so a damaged shape cannot allocate gigabytes."""

    budget = 0

    def __setstate__(self, state):
        shape, dtype = state[1], state[2]
        count = float(np.prod(np.asarray(shape, dtype=np.float64))) if len(shape) else 1.0
        if count > self.budget or count * np.dtype(dtype).itemsize > self.budget:
            raise DatasetError(f"an array of shape {tuple(shape)} cannot come from a file of {self.budget} bytes")
        super().__setstate__(state)


class _ArrayUnpickler(pickle._Unpickler):
    """Rebuilds only numpy arrays, dicts and numbers. The pure-Python unpickler: its memo is a
    dict, where the C one allocates a table as long as any memo index a damaged file claims."""

    def __init__(self, file, budget: int):
        super().__init__(file)
        self.budget = budget

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DatasetError(f"refusing to load {module}.{name} from a grasp file (only numpy arrays and dicts)")
        if name == "_reconstruct":
            return self._reconstruct
        if module.startswith("numpy") and module.endswith("multiarray"):
            from numpy._core import multiarray

            return getattr(multiarray, name)
        return getattr(np, name)

    def _reconstruct(self, subtype, shape, dtype):
        """numpy's ``_reconstruct`` (an empty array that ``__setstate__`` fills), bounded."""
        if subtype is not np.ndarray or np.prod(np.asarray(shape, dtype=np.float64)) > 1:
            raise DatasetError(f"unexpected array reconstruction {subtype!r} {shape!r}")
        array = np.ndarray.__new__(_BoundedArray, shape, dtype)
        array.budget = self.budget
        return array


def read_object_npy(path: str | Path):
    """Read a ``.npy`` file (object arrays included) without executing code from it."""
    path = Path(path)
    try:
        f = io.BytesIO(path.read_bytes())  # a damaged length can then claim no more than the file holds
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror}") from None
    try:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f)
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError) as exc:  # numpy parses the header as Python literals
        raise DatasetError(f"{path} is not a .npy file ({type(exc).__name__}: {exc})") from None
    if not dtype.hasobject:
        count = int(np.prod(shape, dtype=np.float64))
        rest = f.getbuffer()[f.tell():]
        if count * dtype.itemsize != len(rest):
            raise DatasetError(f"{path}: header says {count} values of {dtype}, the file holds {len(rest)} bytes")
        return np.frombuffer(rest, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    try:
        return np.asarray(_ArrayUnpickler(f, len(f.getbuffer())).load()).view(np.ndarray)
    except DatasetError:
        raise
    except Exception as exc:  # the restricted unpickler runs no code: any error means a damaged file
        raise DatasetError(f"{path}: damaged object array ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True, eq=False)
class DexGraspNetGrasps:
    """Grasps of one object, in the project's convention.

    Attributes:
        object_code: file stem, e.g. ``core-mug-8570d9a8d24cb0acbebd3c0c0c70fb03``.
        joints: (N, 22) Shadow finger joints (``FINGER_JOINTS`` order), rad.
        rot: (N, 3, 3) palm rotation in the object frame.
        trans: (N, 3) palm position in the (scaled) object frame, m.
        scale: (N,) object scale (mesh units -> metres).
    """

    object_code: str
    joints: np.ndarray
    rot: np.ndarray
    trans: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return int(self.joints.shape[0])


def load_grasps(path: str | Path) -> DexGraspNetGrasps:
    """Load a DexGraspNet ``dataset/<object_code>.npy`` grasp file.

    Raises:
        DatasetError: unreadable file, wrong layout, missing keys or non-finite values.
    """
    path = Path(path)
    arr = read_object_npy(path)
    entries = list(arr.reshape(-1)) if isinstance(arr, np.ndarray) else None
    if not entries or not all(isinstance(e, dict) and "qpos" in e and "scale" in e for e in entries):
        raise DatasetError(f"{path} is not a DexGraspNet grasp file (an array of dicts with 'qpos' and 'scale')")
    try:
        joints, rot, trans = from_dexgraspnet_qpos([e["qpos"] for e in entries])
    except Exception as exc:  # DataError from the conversion, re-raised with the file name
        raise DatasetError(f"{path}: {exc}") from exc
    scale = np.array([float(e["scale"]) for e in entries])
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise DatasetError(f"{path}: object scales must be positive, got {np.unique(scale)}")
    return DexGraspNetGrasps(path.stem, joints, rot, trans, scale)


def mesh_path(dataset_root: str | Path, object_code: str) -> Path:
    """``<root>/meshdata/<code>/coacd/decomposed.obj`` for a DexGraspNet folder root."""
    return Path(dataset_root) / "meshdata" / object_code / "coacd" / "decomposed.obj"


def load_convex_pieces(path: str | Path, scale: float = 1.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a convex decomposition (CoACD ``decomposed.obj``, V-HACD ``collision_vhacd.obj``) into
    its pieces (one per ``o`` block), scaled to metres; polygons are split into triangles.

    Returns:
        list of (vertices (V, 3) float64 m, faces (F, 3) int, 0-based per piece).

    Raises:
        DatasetError: missing/unreadable file or no geometry.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DatasetError(f"cannot read mesh {path}: {exc}") from exc
    verts, pieces, current = [], [], None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append([float(v) for v in line.split()[1:4]])
        elif line.startswith("o "):
            current = None
        elif line.startswith("f "):
            if current is None:
                current = []
                pieces.append(current)
            # a polygon (v1 v2 v3 v4 ...) as a triangle fan; negative indices count back from the last vertex
            idx = [int(re.split("/", t)[0]) for t in line.split()[1:]]
            idx = [i if i > 0 else len(verts) + 1 + i for i in idx]
            current.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1))
    verts = np.array(verts, dtype=np.float64) * float(scale)
    out = []
    for faces in pieces:
        if not faces:
            continue
        f = np.array(faces) - 1
        used = np.unique(f)
        remap = np.full(len(verts), -1)
        remap[used] = np.arange(used.size)
        out.append((verts[used], remap[f]))
    if not out:
        raise DatasetError(f"{path} holds no faces")
    return out


def load_object_mesh(path: str | Path, scale: float = 1.0):
    """The whole object as one ``trimesh.Trimesh`` in metres (pieces concatenated)."""
    import trimesh

    pieces = load_convex_pieces(path, scale)
    return trimesh.util.concatenate([trimesh.Trimesh(v, f, process=False) for v, f in pieces])


def hand_mjcf_text(hand_dir: str | Path) -> str:
    """DexGraspNet's ``shadow_hand_wrist_free.xml`` made loadable by current MuJoCo.

    Drops the MuJoCo-2 sections (option, size, actuator, contact, tendon, sensor; the tendons
    and actuators reference joints this model lacks) and resolves the mesh/texture folders
    against ``hand_dir`` (``<data>/hand/shadow_dexgraspnet``). Used to check kinematics.
    """
    hand_dir = Path(hand_dir)
    xml = hand_dir / "mjcf" / "shadow_hand_wrist_free.xml"
    try:
        text = xml.read_text()
    except OSError as exc:
        raise DatasetError(f"cannot read {xml}: {exc}") from exc
    for tag in ("option", "size", "actuator", "contact", "tendon", "sensor"):
        text = re.sub(rf"<{tag}[\s>].*?</{tag}>", "", text, flags=re.S)
        text = re.sub(rf"<{tag}\s[^>]*/>", "", text)
    text = text.replace('meshdir="./mjcf/meshes/"', f'meshdir="{hand_dir / "mjcf" / "meshes"}/"')
    return text.replace('texturedir="./mjcf/textures/"', f'texturedir="{hand_dir / "mjcf" / "textures"}/"')
