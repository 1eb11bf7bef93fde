"""Rotations in one place: conversions between matrices, Euler angles, 6-D vectors,
quaternions (ROS order x, y, z, w and MuJoCo/DexGraspBench order w, x, y, z) and axis-angle,
in numpy, or torch (differentiable) where the grasp code needs gradients.

Functions taking "numpy arrays or torch tensors" return the kind they were given.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def to_torch(x) -> tuple[torch.Tensor, bool]:
    """``x`` as a tensor (float64 from numpy), and whether it came as numpy."""
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def from_torch(x: torch.Tensor, numpy: bool):
    """``x`` back in the kind ``to_torch`` was given (numpy when ``numpy``)."""
    return x.detach().cpu().numpy() if numpy else x


def euler_sxyz_to_matrix(euler):
    """Euler angles (..., 3) = (ax, ay, az), static axes x then y then z, -> (..., 3, 3) rotation
    ``Rz(az) @ Ry(ay) @ Rx(ax)`` (transforms3d ``euler2mat(ax, ay, az, 'sxyz')``)."""
    e, np_out = to_torch(euler)
    ax, ay, az = e[..., 0], e[..., 1], e[..., 2]
    cx, sx, cy, sy, cz, sz = ax.cos(), ax.sin(), ay.cos(), ay.sin(), az.cos(), az.sin()
    rows = [
        torch.stack([cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx], -1),
        torch.stack([sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx], -1),
        torch.stack([-sy, cy * sx, cy * cx], -1),
    ]
    return from_torch(torch.stack(rows, -2), np_out)


def matrix_to_euler_sxyz(rot):
    """(..., 3, 3) rotation -> (..., 3) Euler angles ``sxyz``: ax, az in (-pi, pi], ay in [-pi/2, pi/2]."""
    R, np_out = to_torch(rot)
    sy = -R[..., 2, 0]
    cy = torch.sqrt(R[..., 0, 0] ** 2 + R[..., 1, 0] ** 2)
    regular = cy > 1e-9
    ax = torch.where(regular, torch.atan2(R[..., 2, 1], R[..., 2, 2]), torch.atan2(-R[..., 1, 2], R[..., 1, 1]))
    ay = torch.atan2(sy, cy)
    az = torch.where(regular, torch.atan2(R[..., 1, 0], R[..., 0, 0]), torch.zeros_like(sy))
    return from_torch(torch.stack([ax, ay, az], -1), np_out)


def matrix_to_rot6d(rot):
    """(..., 3, 3) -> (..., 6): first column then second column of the rotation."""
    R, np_out = to_torch(rot)
    return from_torch(torch.cat([R[..., :, 0], R[..., :, 1]], -1), np_out)


def rot6d_to_matrix(r6):
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (Zhou et al. 2019); any non-degenerate input is valid."""
    x, np_out = to_torch(r6)
    a, b = x[..., :3], x[..., 3:6]
    c0 = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = b - (c0 * b).sum(-1, keepdim=True) * c0
    c1 = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    c2 = torch.cross(c0, c1, dim=-1)
    return from_torch(torch.stack([c0, c1, c2], -1), np_out)


def quat_xyzw_to_matrix(quat) -> np.ndarray:
    """(..., 4) unit quaternions x, y, z, w (ROS order) -> (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(quat, dtype=np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat_xyzw(rot) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) quaternions x, y, z, w."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(rot, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat().reshape(R.shape[:-2] + (4,))


def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(np.asarray(q, dtype=np.float64)[[1, 2, 3, 0]]).as_matrix()


def matrix_to_quat_wxyz(rot: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(rot).as_quat()[[3, 0, 1, 2]]


def rpy_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z) -> (3, 3) rotation: Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def rotation_to_z(up: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking the unit direction ``up`` to +z (the shortest rotation)."""
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    axis = np.cross(up, [0.0, 0.0, 1.0])
    s, c = np.linalg.norm(axis), up[2]
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * k @ k


def axis_angle_rotations(w: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations by ``theta`` (N,) about unit axes ``w`` (N, 3)."""
    K = np.zeros((len(w), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0] = -w[:, 2], w[:, 1], w[:, 2]
    K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -w[:, 0], -w[:, 1], w[:, 0]
    s, c = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    return np.eye(3) + s * K + (1 - c) * K @ K


def axis_angle_to_matrix(w: torch.Tensor) -> torch.Tensor:
    """(B, 3) axis-angle vectors -> (B, 3, 3) rotations (Rodrigues), smooth at zero."""
    theta2 = (w * w).sum(-1).reshape(-1, 1, 1)
    theta = torch.sqrt(theta2 + 1e-12)
    zero = torch.zeros_like(w[:, 0])
    K = torch.stack([zero, -w[:, 2], w[:, 1], w[:, 2], zero, -w[:, 0], -w[:, 1], w[:, 0], zero], -1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + torch.sin(theta) / theta * K + (1 - torch.cos(theta)) / (theta2 + 1e-12) * (K @ K)


def slerp_wxyz(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (w, x, y, z)."""
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(dot)
    return (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / math.sin(theta)


def rotation_deg(q0: np.ndarray, q1: np.ndarray) -> float:
    """Angle of the rotation from unit quaternion ``q0`` to ``q1`` (w, x, y, z), degrees in [0, 360)
    (DexGraspBench's measure: 2 acos of the real part of q1 q0^-1, unsigned by the double cover)."""
    w = q1[0] * q0[0] + np.dot(q1[1:], q0[1:])
    return math.degrees(2.0 * math.acos(min(1.0, max(-1.0, float(w)))))
