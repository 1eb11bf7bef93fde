"""Refinement and ranking of sampled grasps by penetration and contact energies.

Each grasp (finger joints, palm rotation and position in the distance field's frame) of a
requested type ``t`` is moved by a few gradient steps on

    E = w_c * sum_{patches of t} min_k |d(p_k)|          (contact: the type's patches touch)
      + w_pen * sum_s relu(r_s - d(c_s))                 (penetration of the collision spheres)
      + w_clear * sum_{clear patches of t} relu(c_t - d) (e.g. the thumb off the object in a hook)

with ``d`` the trilinear distance field (``perception.sdf.sample_grid``). The type
definitions (contact and clear patches, clearance) and the weights are those of the
synthesis energy (``grasp.energy.GraspEnergy``, after DexGraspNet, Wang et al. 2023), so
generated grasps are judged by the rules the training grasps were made with; the refinement
is the physics-guided post-processing of DexGrasp-Anything / DexDiffuser applied to the
final samples. Candidates are ranked by the same energy, lowest first.

Speed: the hand's forward kinematics runs once per batch. Every proxy point is then moved
with the kinematic Jacobian of the finger joints (dp/dq_j = a_j x (p - o_j) for each
joint j upstream of the point's link, a_j, o_j its axis and origin) and the exact rigid
motion of the palm, so a gradient step costs a few small tensor operations instead of a
kinematic chain. Joint changes are bounded by ``max_joint_change`` (first-order error
about 1 mm at 0.1 rad, see the tests); the refined grasps are evaluated with the exact
kinematics for the ranking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .. import GRASP_TYPES
from ..errors import ConfigError, DataError
from ..hand.model import load_hand
from ..perception.sdf import sample_grid
from .energy import GraspEnergy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings.

    Attributes:
        steps: gradient steps (0: only evaluate and rank).
        lr_translation: Adam step of the palm position, metres.
        lr_rotation: Adam step of the palm rotation (axis-angle), radians.
        lr_joints: Adam step of the finger joints, radians.
        max_joint_change: bound of each joint's change, radians (keeps the linearised
            kinematics accurate).
        joint_anchor_weight: weight of the squared joint changes (per rad²), so the fingers
            move only as far as the contacts need and the hand keeps the sampled shape (and
            with it the grasp type).
        rank_by_type: rank candidates whose hand-pose descriptor (``grasp.labels``) gives
            the requested type before the others (each group by energy).
        contact_weight, penetration_weight, clearance_weight: term weights (per metre);
            None takes the synthesis energy's (``grasp.energy.EnergyWeights``).
    """

    steps: int = 6
    lr_translation: float = 0.002
    lr_rotation: float = 0.02
    lr_joints: float = 0.03
    max_joint_change: float = 0.15
    joint_anchor_weight: float = 20.0
    rank_by_type: bool = True
    contact_weight: float | None = None
    penetration_weight: float | None = None
    clearance_weight: float | None = None

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"refine steps must be an integer >= 0, got {self.steps!r}")
        for name in ("lr_translation", "lr_rotation", "lr_joints", "max_joint_change"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"refine {name} must be positive, got {getattr(self, name)}")
        if not self.joint_anchor_weight >= 0:
            raise ConfigError(f"refine joint_anchor_weight must be >= 0, got {self.joint_anchor_weight}")
        for name in ("contact_weight", "penetration_weight", "clearance_weight"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"refine {name} must be >= 0, got {value}")


@dataclass(frozen=True, eq=False)
class EnergyTerms:
    """Per-grasp energies, (B,) tensors.

    Attributes:
        energy: ranking energy (lower is better).
        contact: summed distance of the type's contact patches to the surface, metres.
        penetration: summed sphere penetration depths, metres.
        clearance: summed clearance violations, metres.
        penetration_depth: deepest sphere penetration, metres (>= 0).
        contact_distance: mean distance of the type's contact patches, metres.
    """

    energy: torch.Tensor
    contact: torch.Tensor
    penetration: torch.Tensor
    clearance: torch.Tensor
    penetration_depth: torch.Tensor
    contact_distance: torch.Tensor


def axis_angle_to_matrix(w: torch.Tensor) -> torch.Tensor:
    """(B, 3) axis-angle vectors -> (B, 3, 3) rotations (Rodrigues), smooth at zero."""
    theta2 = (w * w).sum(-1).reshape(-1, 1, 1)
    theta = torch.sqrt(theta2 + 1e-12)
    zero = torch.zeros_like(w[:, 0])
    K = torch.stack([zero, -w[:, 2], w[:, 1], w[:, 2], zero, -w[:, 0], -w[:, 1], w[:, 0], zero], -1).reshape(-1, 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + torch.sin(theta) / theta * K + (1 - torch.cos(theta)) / (theta2 + 1e-12) * (K @ K)


class GraspRefiner:
    """Evaluates, refines and ranks grasps against a distance field (see the module doc).

    Args:
        config: refinement settings.
        energy: the synthesis energy providing the hand, its proxies and the type
            definitions (default: ``GraspEnergy()``, the palm-rooted hand).
    """

    def __init__(self, config: RefineConfig = RefineConfig(), energy: GraspEnergy | None = None):
        self.config = config
        self.energy = energy or GraspEnergy()
        e, fk = self.energy, self.energy.fk
        if fk.n_joints != 22:
            raise ConfigError(f"refinement needs the palm-rooted 22-joint hand, got {fk.n_joints} joints")
        w = e.weights
        self.w_contact = w.contact if config.contact_weight is None else config.contact_weight
        self.w_pen = w.penetration if config.penetration_weight is None else config.penetration_weight
        self.w_clear = w.clearance if config.clearance_weight is None else config.clearance_weight
        self.fk = fk
        self.n_spheres = int(e.sphere_link.shape[0])
        # Patch points: the valid entries of the (P patches, K points) table, in that order.
        valid = e.patch_valid.bool()
        self.n_patches = int(valid.shape[0])
        self._patch_of_point = torch.arange(self.n_patches).repeat_interleave(valid.sum(1))
        # Every proxy point: spheres first, then the valid patch points.
        self._link = torch.cat([e.sphere_link.long(), e.patch_link.long()[self._patch_of_point]])
        self._local = torch.cat([e.sphere_centre, e.patch_local[valid]]).float()
        self._radius = e.sphere_radius.float()
        self._contact_mask = e.contact_mask.float()
        self._clear_mask = e.clear_mask.float()
        self._clearance = e.clearance.float()
        by_name = {j.name: j for j in load_hand("free").joints}
        self._joint_link = torch.as_tensor([fk.link_index[by_name[n].child] for n in fk.joint_names])
        self._joint_axis = torch.as_tensor([by_name[n].axis for n in fk.joint_names], dtype=torch.float32)
        self._depends = self._dependency_mask().float()  # (L, J)
        self.lower, self.upper = fk.lower.float(), fk.upper.float()

    def _dependency_mask(self) -> torch.Tensor:
        """(L, J) bool: whether each link's pose changes with each joint (found numerically, once)."""
        n = self.fk.n_joints
        q = torch.cat([torch.zeros(1, n), 0.3 * torch.eye(n)]).double()
        with torch.no_grad():
            poses = self.fk.link_poses(q)
        return ((poses[1:] - poses[:1]).abs().flatten(2).amax(-1) > 1e-9).T

    def linearise(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Proxy points in the palm frame and the joint twists at ``joints``.

        Args:
            joints: (B, 22) rad.

        Returns:
            points (B, N, 3) m (spheres, then patch points) and twists (B, 22, 6): per joint
            its axis a_j and o_j x a_j (o_j a point on the axis), in the palm frame, so that a
            point p on a link downstream of joint j moves by a_j x p + o_j x a_j per radian.
        """
        with torch.no_grad():
            poses = self.fk.link_poses(joints.detach().double()).float()  # (B, L, 4, 4)
        T = poses[:, self._link]
        pts = (T[..., :3, :3] @ self._local.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
        Tj = poses[:, self._joint_link]
        axis = (Tj[..., :3, :3] @ self._joint_axis.unsqueeze(-1)).squeeze(-1)  # (B, J, 3)
        return pts, torch.cat([axis, torch.cross(Tj[..., :3, 3], axis, dim=-1)], -1)

    def move(self, points: torch.Tensor, twists: torch.Tensor, dq: torch.Tensor) -> torch.Tensor:
        """First-order motion of the proxy points for joint changes ``dq`` (B, 22) rad.

        Each link moves by the sum of its upstream joints' twists (omega, v); a point p on it
        moves to p + omega x p + v. Returns (B, N, 3) m in the palm frame.
        """
        link_twist = self._depends @ (dq.unsqueeze(-1) * twists)  # (B, L, 6)
        tw = link_twist[:, self._link]  # (B, N, 6)
        return points + torch.cross(tw[..., :3], points, dim=-1) + tw[..., 3:]

    def _terms(self, world: torch.Tensor, type_index: torch.Tensor, sdf: torch.Tensor, origin, voxel_size: float) -> EnergyTerms:
        B = world.shape[0]
        d = sample_grid(sdf, origin, voxel_size, world)  # (B, N)
        pen = torch.relu(self._radius - d[:, : self.n_spheres])
        dp = d[:, self.n_spheres :]  # (B, patch points)
        index = self._patch_of_point.expand(B, -1)
        dmin = torch.full((B, self.n_patches), float("inf")).scatter_reduce(1, index, dp.abs(), "amin")
        cmask = self._contact_mask[type_index]
        contact = (cmask * torch.nan_to_num(dmin, posinf=0.0)).sum(-1)
        clear_viol = torch.relu(self._clearance[type_index].unsqueeze(1) - dp)
        clear = (self._clear_mask[type_index].gather(1, index) * clear_viol).sum(-1)
        pen_sum = pen.sum(-1)
        energy = self.w_contact * contact + self.w_pen * pen_sum + self.w_clear * clear
        return EnergyTerms(energy, contact, pen_sum, clear, pen.amax(-1), contact / cmask.sum(-1).clamp(min=1))

    @staticmethod
    def _type_index(grasp_type: str, batch: int) -> torch.Tensor:
        if grasp_type not in GRASP_TYPES:
            raise DataError(f"unknown grasp type {grasp_type!r}; expected one of {GRASP_TYPES}")
        return torch.full((batch,), GRASP_TYPES.index(grasp_type), dtype=torch.long)

    def evaluate(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, grasp_type: str,
                 sdf: torch.Tensor, origin, voxel_size: float) -> EnergyTerms:
        """Energies of grasps (exact kinematics).

        Args:
            joints: (B, 22) rad; rot: (B, 3, 3); trans: (B, 3) m, in the field's frame.
            grasp_type: one of ``GRASP_TYPES``.
            sdf: (n, n, n) signed distances, metres; origin: (3,) centre of voxel
                (0, 0, 0), metres; voxel_size: metres.
        """
        types = self._type_index(grasp_type, joints.shape[0])
        with torch.no_grad():
            pts, _ = self.linearise(joints)
            world = (rot.float().unsqueeze(1) @ pts.unsqueeze(-1)).squeeze(-1) + trans.float().unsqueeze(1)
            return self._terms(world, types, sdf.float(), origin, voxel_size)

    def refine(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, grasp_type: str,
               sdf: torch.Tensor, origin, voxel_size: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, EnergyTerms]:
        """Refine grasps by ``config.steps`` Adam steps on the energy (arguments as ``evaluate``).

        Returns:
            joints (B, 22) rad (within the limits), rot (B, 3, 3), trans (B, 3) m and the
            energies of the refined grasps (evaluated with the exact kinematics).

        Raises:
            DataError: non-finite grasps or an unknown type.
        """
        c = self.config
        types = self._type_index(grasp_type, joints.shape[0])
        joints, rot, trans = joints.detach().float(), rot.detach().float(), trans.detach().float()
        if not (torch.isfinite(joints).all() and torch.isfinite(rot).all() and torch.isfinite(trans).all()):
            raise DataError("grasps to refine contain NaN or inf")
        sdf = sdf.detach().float()
        joints = torch.minimum(torch.maximum(joints, self.lower), self.upper)
        pts0, twists = self.linearise(joints)
        B, J = joints.shape
        lo = torch.maximum(self.lower - joints, torch.full_like(joints, -c.max_joint_change))
        hi = torch.minimum(self.upper - joints, torch.full_like(joints, c.max_joint_change))
        dq = torch.zeros(B, J, requires_grad=True)
        w = torch.zeros(B, 3, requires_grad=True)
        t = trans.clone().requires_grad_(True)

        def pose_points():
            R = axis_angle_to_matrix(w) @ rot
            return R, self.move(pts0, twists, dq) @ R.transpose(1, 2) + t.unsqueeze(1)

        if c.steps:
            opt = torch.optim.Adam([{"params": [t], "lr": c.lr_translation}, {"params": [w], "lr": c.lr_rotation},
                                    {"params": [dq], "lr": c.lr_joints}])
            with torch.enable_grad():
                for _ in range(c.steps):
                    _, world = pose_points()
                    loss = (self._terms(world, types, sdf, origin, voxel_size).energy.sum()
                            + c.joint_anchor_weight * dq.square().sum())
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    with torch.no_grad():
                        dq.copy_(torch.minimum(torch.maximum(dq, lo), hi))
        with torch.no_grad():
            R, _ = pose_points()
            joints, R, t = joints + dq.detach(), R.detach(), t.detach()
        return joints, R, t, self.evaluate(joints, R, t, grasp_type, sdf, origin, voxel_size)

    @staticmethod
    def rank(terms: EnergyTerms, type_ok: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) indices ordering grasps best first: those with ``type_ok`` (B,) bool first
        (when given), each group by energy (lowest first); non-finite energies last."""
        energy = torch.nan_to_num(terms.energy.double(), nan=float("inf"))
        order = torch.argsort(energy, stable=True)
        if type_ok is not None:
            order = order[torch.argsort((~type_ok[order]).to(torch.int8), stable=True)]
        return order
