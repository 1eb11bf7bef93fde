"""Grasp data in DexGraspBench's format (Chen et al., the BODex benchmark), both ways.

A DexGraspBench grasp file is a NumPy ``.npy`` holding a dict (written with ``np.save``; reading
it unpickles, so read only files you trust):

* ``obj_path``: the object folder (``<obj>/urdf/meshes/*.obj`` are its convex pieces, the
  benchmark's MeshProcess layout; ``<obj>/info/simplified.json`` its mass record),
* ``obj_scale``: mesh units -> metres, ``obj_pose``: (7,) position + quaternion (w, x, y, z),
* ``pregrasp_qpos``, ``grasp_qpos``, ``squeeze_qpos``: (29,) the hand root's position and
  quaternion (w, x, y, z) in the world, then the 22 joints of its Shadow hand in its order
  (FF J4..J1, MF, RF, LF J5..J1, TH J5..J1, Shadow's axis signs: the project's ``FINGER_JOINTS``).

The benchmark's hand root sits 34 mm below the palm along the palm's z axis (its MJCF puts
``rh_palm`` at ``0 0 0.034`` in the root); the project's grasps give the palm pose.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix
from ..posture import GraspPostures, HandPosture

log = logging.getLogger(__name__)

#: rh_palm in the benchmark hand's root frame, m.
PALM_IN_ROOT = np.array([0.0, 0.0, 0.034])
POSTURE_KEYS = ("pregrasp_qpos", "grasp_qpos", "squeeze_qpos")


def posture_from_qpos(qpos, obj_pose=(0, 0, 0, 1, 0, 0, 0)) -> HandPosture:
    """A benchmark hand qpos (29,) -> the palm pose in the object frame and the 22 joints."""
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.shape != (29,):
        raise DataError(f"a DexGraspBench Shadow hand qpos has 29 values, got {qpos.shape}")
    obj_pose = np.asarray(obj_pose, dtype=np.float64)
    r_obj, p_obj = quat_wxyz_to_matrix(obj_pose[3:]), obj_pose[:3]
    r_root = quat_wxyz_to_matrix(qpos[3:7])
    palm = qpos[:3] + r_root @ PALM_IN_ROOT
    return HandPosture(qpos[7:], r_obj.T @ r_root, r_obj.T @ (palm - p_obj))


def posture_to_qpos(posture: HandPosture) -> np.ndarray:
    """The palm pose (object frame = the benchmark's world, object at the identity) -> (29,) qpos."""
    root = posture.trans - posture.rot @ PALM_IN_ROOT
    return np.concatenate([root, matrix_to_quat_wxyz(posture.rot), posture.joints]).astype(np.float64)


def read_grasp(path: str | Path) -> tuple[GraspPostures, dict]:
    """One benchmark grasp file -> (postures in the object frame, {obj_path, obj_scale, obj_pose}).

    Raises:
        DataError: unreadable file or missing keys.
    """
    try:
        data = np.load(path, allow_pickle=True).item()
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"cannot read DexGraspBench grasp {path}: {exc}") from exc
    missing = [k for k in ("obj_path", "obj_scale", "obj_pose", *POSTURE_KEYS) if k not in data]
    if missing:
        raise DataError(f"{path} lacks {missing}")
    pre, grasp, squeeze = (posture_from_qpos(data[k], data["obj_pose"]) for k in POSTURE_KEYS)
    meta = {"obj_path": str(data["obj_path"]), "obj_scale": float(data["obj_scale"]),
            "obj_pose": np.asarray(data["obj_pose"], dtype=np.float64)}
    return GraspPostures(grasp, pre, squeeze), meta


def write_grasp(path: str | Path, postures: GraspPostures, obj_path: str | Path, obj_scale: float) -> None:
    """Write one grasp as a benchmark grasp file (object at the identity pose).

    Raises:
        DataError: the postures are incomplete (derive them first, ``GraspSimulator.derive_postures``).
    """
    if not postures.complete:
        raise DataError("a DexGraspBench grasp needs its pregrasp and squeeze postures")
    data = {"obj_path": str(obj_path), "obj_scale": float(obj_scale),
            "obj_pose": np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])}
    for key, posture in zip(POSTURE_KEYS, (postures.pregrasp, postures.grasp, postures.squeeze)):
        data[key] = posture_to_qpos(posture)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, data)


def object_folder(mesh: str | Path) -> Path | None:
    """The benchmark object folder of a mesh inside one (``<obj>/mesh/coacd.obj`` -> ``<obj>``), or
    None when the mesh is not in such a folder (no ``urdf/meshes`` beside its ``mesh`` folder)."""
    mesh = Path(mesh).resolve()
    folder = mesh.parent.parent
    return folder if mesh.parent.name == "mesh" and (folder / "urdf" / "meshes").is_dir() else None


def object_pieces(obj_path: str | Path, scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The convex pieces of a benchmark object folder (``urdf/meshes/*.obj``), scaled to metres."""
    import trimesh

    files = sorted(Path(obj_path, "urdf", "meshes").glob("*.obj"))
    if not files:
        raise DataError(f"{obj_path} has no urdf/meshes/*.obj convex pieces")
    pieces = []
    for f in files:
        hull = trimesh.load(str(f), force="mesh").convex_hull
        pieces.append((np.asarray(hull.vertices) * scale, np.asarray(hull.faces)))
    return pieces
