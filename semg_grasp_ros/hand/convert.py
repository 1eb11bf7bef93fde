"""Grasp conventions and vector representations.

A grasp here is ``(joints, rot, trans)``: ``joints`` (..., 22) finger angles in Shadow naming
and axis signs (``FINGER_JOINTS`` order), ``rot`` (..., 3, 3) and ``trans`` (..., 3) the pose of the
hand root ``rh_palm`` in the object frame (metres).

DexGraspNet stores ``qpos`` dicts: ``robot0:FFJ3..`` (22 joints, names shifted by one, four
axes reversed, see ``model``), ``WRJRx/y/z`` = Euler angles of the palm rotation in the
``sxyz`` convention of transforms3d (static axes: R = Rz(WRJRz) @ Ry(WRJRy) @ Rx(WRJRx)), and
``WRJTx/y/z`` = palm position.

Vector representations for learning, all components in [-1, 1] for grasps within the limits:

* 28-D (``to_vector28``): 22 joints scaled by their limits, 3 Euler angles ``sxyz`` divided
  by (pi, pi/2, pi), 3 translations divided by ``translation_range`` (metres).
* 31-D (``to_vector31``): 22 joints, the continuous 6-D rotation (first two columns of ``rot``,
  Zhou et al. 2019, column 0 then column 1), 3 translations.

Decoding (``from_vector28``, ``from_vector31``) maps the joints onto the hand's coupled set
(``model.couple``: J1 = J2 of FF, MF, RF, LF, the pair's mean): a model trained on grasps with
independent J1/J2 (DexGraspNet's convention) still yields postures the real hand can take.

All functions accept numpy arrays or torch tensors (differentiable) and return the same kind;
the rotation conversions themselves are in ``semg_grasp_ros.geometry``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError
from ..geometry import euler_sxyz_to_matrix, from_torch, matrix_to_euler_sxyz, matrix_to_quat_xyzw, matrix_to_rot6d, quat_xyzw_to_matrix, rot6d_to_matrix, to_torch
from .model import (
    DEXGRASPNET_JOINTS,
    DEXGRASPNET_ROTATION,
    DEXGRASPNET_SIGN,
    DEXGRASPNET_TRANSLATION,
    FINGER_JOINTS,
    couple,
    load_hand,
)

log = logging.getLogger(__name__)
N_JOINTS = len(FINGER_JOINTS)


# ---------------------------------------------------------------- DexGraspNet <-> Shadow


def dexgraspnet_to_shadow(joints_dg):
    """(..., 22) DexGraspNet joint values (its order) -> (..., 22) Shadow values (FINGER_JOINTS)."""
    q, np_out = to_torch(joints_dg)
    return from_torch(q * torch.as_tensor(DEXGRASPNET_SIGN, dtype=q.dtype, device=q.device), np_out)


def shadow_to_dexgraspnet(joints):
    """(..., 22) Shadow values -> (..., 22) DexGraspNet values (the sign change is its own inverse)."""
    return dexgraspnet_to_shadow(joints)


def from_dexgraspnet_qpos(qpos: Mapping[str, float] | Sequence[Mapping[str, float]]):
    """DexGraspNet ``qpos`` dict(s) -> (joints (N, 22), rot (N, 3, 3), trans (N, 3)) numpy float64.

    Raises:
        DataError: a key is missing or a value is not finite.
    """
    dicts = [qpos] if isinstance(qpos, Mapping) else list(qpos)
    keys = DEXGRASPNET_JOINTS + DEXGRASPNET_ROTATION + DEXGRASPNET_TRANSLATION
    rows = []
    for i, d in enumerate(dicts):
        missing = [k for k in keys if k not in d]
        if missing:
            raise DataError(f"DexGraspNet qpos #{i} lacks {missing}; expected keys {list(keys)}")
        rows.append([float(d[k]) for k in keys])
    arr = np.array(rows, dtype=np.float64).reshape(-1, len(keys))
    if not np.all(np.isfinite(arr)):
        bad = np.unique(np.nonzero(~np.isfinite(arr))[0]).tolist()
        raise DataError(f"DexGraspNet qpos entries {bad} contain NaN or inf")
    joints = dexgraspnet_to_shadow(arr[:, :N_JOINTS])
    rot = euler_sxyz_to_matrix(arr[:, N_JOINTS : N_JOINTS + 3])
    return joints, rot, arr[:, N_JOINTS + 3 :].copy()


def to_dexgraspnet_qpos(joints, rot, trans) -> list[dict[str, float]]:
    """(N, 22) Shadow joints, (N, 3, 3), (N, 3) -> list of DexGraspNet ``qpos`` dicts."""
    joints = np.asarray(shadow_to_dexgraspnet(np.asarray(joints, dtype=np.float64))).reshape(-1, N_JOINTS)
    euler = np.asarray(matrix_to_euler_sxyz(np.asarray(rot, dtype=np.float64))).reshape(-1, 3)
    trans = np.asarray(trans, dtype=np.float64).reshape(-1, 3)
    out = []
    for j, e, t in zip(joints, euler, trans):
        d = dict(zip(DEXGRASPNET_JOINTS, map(float, j)))
        d.update(zip(DEXGRASPNET_ROTATION, map(float, e)))
        d.update(zip(DEXGRASPNET_TRANSLATION, map(float, t)))
        out.append(d)
    return out


def joints_by_name(names: Sequence[str], values, fill=None) -> np.ndarray:
    """Reorder named joint values into a (22,) FINGER_JOINTS vector.

    Accepts Shadow names (``rh_FFJ4``, also without the ``rh_`` prefix) and DexGraspNet names
    (``robot0:FFJ3``, converted with their sign). Wrist joints (``rh_WRJ1/2``) are ignored.

    Args:
        names: joint names, one per value.
        values: (n,) radians.
        fill: (22,) values for joints not given; None -> every finger joint is required.

    Raises:
        DataError: unknown name, non-finite value, duplicate, or a missing joint without ``fill``.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(names) != values.size:
        raise DataError(f"{len(names)} joint names but {values.size} values")
    out = np.full(N_JOINTS, np.nan) if fill is None else np.array(fill, dtype=np.float64).copy()
    seen = set()
    for name, v in zip(names, values):
        if name in ("rh_WRJ1", "rh_WRJ2", "WRJ1", "WRJ2"):
            continue
        if name in DEXGRASPNET_JOINTS:
            i = DEXGRASPNET_JOINTS.index(name)
            v = v * DEXGRASPNET_SIGN[i]
        else:
            full = name if name.startswith("rh_") else f"rh_{name}"
            if full not in FINGER_JOINTS:
                raise DataError(f"unknown joint name {name!r}; expected Shadow names {FINGER_JOINTS} "
                                "or DexGraspNet names robot0:FFJ3 ...")
            i = FINGER_JOINTS.index(full)
        if not math.isfinite(v):
            raise DataError(f"joint {name!r} has a non-finite value {v}")
        if i in seen:
            raise DataError(f"joint {name!r} given twice")
        seen.add(i)
        out[i] = v
    if np.isnan(out).any():
        missing = [FINGER_JOINTS[i] for i in np.nonzero(np.isnan(out))[0]]
        raise DataError(f"joints {missing} not given")
    return out


# ---------------------------------------------------------------- normalised vectors


@dataclass(frozen=True)
class GraspNormalizer:
    """Maps grasps to normalised vectors and back.

    Attributes:
        lower, upper: (22,) joint limits (rad); default: the ``free`` hand's (DexGraspNet) limits.
        translation_range: metres mapped to +-1 for each translation component.
    """

    lower: tuple[float, ...] = field(default_factory=lambda: tuple(map(float, load_hand("free").limits()[0])))
    upper: tuple[float, ...] = field(default_factory=lambda: tuple(map(float, load_hand("free").limits()[1])))
    translation_range: float = 0.3

    def __post_init__(self):
        if len(self.lower) != N_JOINTS or len(self.upper) != N_JOINTS:
            raise DataError(f"GraspNormalizer needs {N_JOINTS} limits, got {len(self.lower)}/{len(self.upper)}")
        if not all(u > l for l, u in zip(self.lower, self.upper)):
            raise DataError("GraspNormalizer upper limits must exceed lower limits")
        if not self.translation_range > 0:
            raise DataError(f"translation_range must be positive, got {self.translation_range}")

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored with model weights)."""
        return {"lower": list(self.lower), "upper": list(self.upper), "translation_range": self.translation_range}

    @classmethod
    def from_dict(cls, d: Mapping) -> "GraspNormalizer":
        return cls(tuple(d["lower"]), tuple(d["upper"]), float(d["translation_range"]))

    def _limits(self, like: torch.Tensor):
        lo = torch.as_tensor(self.lower, dtype=like.dtype, device=like.device)
        hi = torch.as_tensor(self.upper, dtype=like.dtype, device=like.device)
        return lo, hi

    def normalize_joints(self, joints):
        """(..., 22) rad -> (..., 22) in [-1, 1] within the limits."""
        q, np_out = to_torch(joints)
        lo, hi = self._limits(q)
        return from_torch(2 * (q - lo) / (hi - lo) - 1, np_out)

    def denormalize_joints(self, x):
        x, np_out = to_torch(x)
        lo, hi = self._limits(x)
        return from_torch(lo + (x + 1) * 0.5 * (hi - lo), np_out)

    def to_vector28(self, joints, rot, trans):
        """(..., 22), (..., 3, 3), (..., 3) -> (..., 28): joints, Euler sxyz / (pi, pi/2, pi), trans / range."""
        q, np_out = to_torch(joints)
        R = to_torch(rot)[0].to(q)
        t = to_torch(trans)[0].to(q)
        e = matrix_to_euler_sxyz(R) / torch.tensor([math.pi, math.pi / 2, math.pi], dtype=q.dtype, device=q.device)
        return from_torch(torch.cat([self.normalize_joints(q), e, t / self.translation_range], -1), np_out)

    def from_vector28(self, x):
        """(..., 28) -> (joints (..., 22) coupled, rot (..., 3, 3), trans (..., 3))."""
        x, np_out = to_torch(x)
        if x.shape[-1] != 28:
            raise DataError(f"expected a 28-D grasp vector, got {x.shape[-1]}")
        e = x[..., 22:25] * torch.tensor([math.pi, math.pi / 2, math.pi], dtype=x.dtype, device=x.device)
        out = (couple(self.denormalize_joints(x[..., :22])), euler_sxyz_to_matrix(e),
               x[..., 25:28] * self.translation_range)
        return tuple(from_torch(o, np_out) for o in out)

    def to_vector31(self, joints, rot, trans):
        """(..., 22), (..., 3, 3), (..., 3) -> (..., 31): joints, 6-D rotation, trans / range."""
        q, np_out = to_torch(joints)
        R = to_torch(rot)[0].to(q)
        t = to_torch(trans)[0].to(q)
        return from_torch(torch.cat([self.normalize_joints(q), matrix_to_rot6d(R), t / self.translation_range], -1), np_out)

    def from_vector31(self, x):
        """(..., 31) -> (joints (..., 22) coupled, rot (..., 3, 3), trans (..., 3))."""
        x, np_out = to_torch(x)
        if x.shape[-1] != 31:
            raise DataError(f"expected a 31-D grasp vector, got {x.shape[-1]}")
        out = (couple(self.denormalize_joints(x[..., :22])), rot6d_to_matrix(x[..., 22:28]),
               x[..., 28:31] * self.translation_range)
        return tuple(from_torch(o, np_out) for o in out)

    def clamp_joints(self, joints):
        """Clamp (..., 22) joint angles to the limits (differentiable almost everywhere)."""
        q, np_out = to_torch(joints)
        lo, hi = self._limits(q)
        return from_torch(torch.minimum(torch.maximum(q, lo), hi), np_out)


# ---------------------------------------------------------------- HandGrasp messages


def hand_grasp_to_arrays(grasp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``HandGrasp`` -> (joints (22,) rad, rot (3, 3), trans (3,) m) of ``rh_palm`` in its header frame.

    Raises:
        DataError: unknown, duplicate, missing or non-finite joints.
    """
    joints = joints_by_name(grasp.joint_names, grasp.joint_positions)
    return joints, quat_xyzw_to_matrix(grasp.wrist_pose.orientation), np.array(grasp.wrist_pose.position)


def hand_grasp_postures(grasp) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The pregrasp and squeeze postures of a ``HandGrasp``, (22,) rad each in ``FINGER_JOINTS``
    order, None where the grasp does not give one.

    Raises:
        DataError: unknown, duplicate, missing or non-finite joints.
    """
    return tuple(joints_by_name(grasp.joint_names, q) if len(q) else None
                 for q in (grasp.pregrasp_positions, grasp.squeeze_positions))


def arrays_to_hand_grasp(joints, rot, trans, header, grasp_type: str, **scores):
    """(22,), (3, 3), (3,) -> ``HandGrasp`` with Shadow joint names (``scores``: score,
    penetration_depth, contact_distance, finger_penetration_depth, and the (22,) postures
    pregrasp_positions, squeeze_positions)."""
    from ..types import HandGrasp, Pose

    pose = Pose(np.asarray(trans, dtype=np.float64), matrix_to_quat_xyzw(np.asarray(rot, dtype=np.float64)))
    return HandGrasp(header, grasp_type, pose, FINGER_JOINTS, np.asarray(joints, dtype=np.float64), **scores)
