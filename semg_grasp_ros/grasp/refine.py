"""Refinement and ranking of sampled grasps by penetration and contact energies.

Each grasp (finger joints, palm rotation and position in the distance field's frame) of a
requested type ``t`` is moved by a few Gauss-Newton steps on

    E = w_c * sum_{patches of t} min_k |d(p_k) + delta_t|     (contact: the type's patches touch)
      + w_pen * sum_s relu(r_s - d(c_s) - delta_t)            (penetration of the collision spheres)
      + w_clear * sum_{clear points of t} relu(c_t - d)        (e.g. the thumb off the object in a hook)

with ``d`` the trilinear distance field (``perception.sdf.sample_grid``) and ``delta_t`` the
type's contact depth (a pinch's preload of 1-1.5 mm). The terms, their definitions and weights
are those of the synthesis energy (``grasp.data.energy.GraspEnergy``, after DexGraspNet, Wang et al.
2023), so generated grasps are judged by the rules the training grasps were made with; the
refinement is the physics-guided post-processing of DexGrasp-Anything / DexDiffuser applied to
the final samples. Candidates are ranked by the same energy, lowest first (``GraspRefiner.score``;
``grasp.verify`` tries them in simulation).

Why Gauss-Newton: the sampled palm pose is off by a few centimetres (a converged refinement
moves it a median 2.4 cm and 11 degrees on the validation objects), so the hand starts deep
inside the object (16 mm on average). Six gradient steps (Adam) only back the hand out, off its
contacts (2.6 instead of 5.5 links within 5 mm; physics success per candidate 20 % instead of
56 % as sampled); ~30 are needed to close it again. A Gauss-Newton step solves for the palm
motion and joint changes that put the patches on the surface and the spheres outside at once.

The joints move in the hand's coupled space: the 18 actuated coordinates ``a`` of
``hand.model.ACTUATED_JOINTS`` (J1 and J2 of FF, MF, RF, LF driven by one tendon, ``q = C a``),
so every refined grasp is one the real hand can take (the samples are projected onto that set
first, ``hand.model.couple``). Fingers of different digits must not overlap: the synthesis
energy's self-penetration term (pairs of collision spheres of different digits,
``w_spen * sum relu(r_i + r_j - |c_i - c_j|)``) is part of ``E`` and of its ranking, and the
deepest overlap is reported for every grasp (``EnergyTerms.finger_penetration``): on 16 test
objects (full mesh) the top grasp's deepest finger-finger overlap 1.58 -> 0.37 mm on average.

One step, for every grasp of the batch:

1. exact forward kinematics of the current joints -> proxy points ``p`` (spheres, then the
   patch points) in the palm frame and the joint twists (axis ``a_j``, ``o_j x a_j``);
2. distances ``d`` and their gradients ``g`` at the world points ``R p + t`` (trilinear);
3. residuals: the active terms of ``E`` (each |.| by iteratively reweighted least squares,
   weight ``w / max(|r|, residual_floor)``, so the quadratic model has the gradient of ``E``),
   the overlapping finger-finger pairs among them;
4. their Jacobian in the palm translation ``v`` (``g``), rotation ``omega`` (``(R p) x g``) and the
   finger joints (``a_j . (p x g_p) + (o_j x a_j) . g_p`` upstream of the point's link, ``g_p = R^T
   g``; a finger-finger gap: the same along the unit vector between the spheres), times ``C``;
5. the damped normal equations (Levenberg-Marquardt, ``damping * diag``) plus the joint anchor
   ``joint_anchor_weight * |q - q_sampled|^2`` (the fingers keep the sampled shape, and with it
   the grasp type), solved per grasp (24 x 24); the step is bounded per iteration (palm
   translation and rotation, each joint) and each joint's total change stays within
   ``max_joint_change`` of the sample and within the limits;
6. ``t += v``, ``R = exp(omega) R``, ``a += da``, ``q = C a``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .. import GRASP_TYPES
from ..errors import ConfigError, DataError
from ..geometry import axis_angle_to_matrix
from ..hand.model import couple, coupling_matrix, load_hand
from ..perception.field_gradient import sample_grid_gradient
from ..perception.sdf import sample_grid
from .data.energy import GraspEnergy


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings (chosen on the validation objects of ``data/grasps_synth``).

    Attributes:
        steps: Gauss-Newton iterations (0: only evaluate and rank). ``bench/results/refine.json``: 8 or 16
            let more candidates hold, but the grasp executed after verification holds less (32 -> 25 %).
        damping: Levenberg-Marquardt damping, a fraction of the normal matrix's diagonal.
        residual_floor: metres; residuals smaller than this get the weight of this size
            (keeps the reweighting finite at contact).
        max_translation_step: bound of one step of the palm position, metres.
        max_rotation_step: bound of one step of the palm rotation, radians.
        max_joint_step: bound of one step of each joint, radians.
        max_joint_change: bound of each joint's total change from the sample, radians.
        joint_anchor_weight: weight of the squared joint changes (per rad²), so the fingers
            move only as far as the contacts need and the hand keeps the sampled shape.
        rank_by_type: rank candidates whose hand-pose descriptor (``grasp.data.labels``) gives
            the requested type before the others (each group by energy). Costs a descriptor
            evaluation per request (tens of ms on one CPU thread).
        contact_weight, penetration_weight, clearance_weight, finger_penetration_weight: term
            weights (per metre); None takes the synthesis energy's (``grasp.data.energy.EnergyWeights``;
            finger-finger penetration: its ``self_penetration``).
        pregrasp_offset: metres each distal phalanx near the object backs off for the pregrasp
            (``postures``; BODex's 1 cm, as the physics check derives them).
        contact_margin: metres; a distal phalanx within it of the surface is in contact.
        opposition_weight: ranking score ``energy - opposition_weight * opposition`` (``opposition``:
            how well the contact normals balance, 0-1); 0 ranks by the energy alone (the default:
            no weight beat the energy held out on validation objects under the standard physics
            protocol, ``bench/ranking.py``).
        touch_distance: metres; a collision sphere within it of the surface counts as a contact
            for ``opposition``.
    """

    steps: int = 4
    damping: float = 0.1
    residual_floor: float = 0.001
    max_translation_step: float = 0.01
    max_rotation_step: float = 0.15
    max_joint_step: float = 0.15
    max_joint_change: float = 0.3
    joint_anchor_weight: float = 20.0
    rank_by_type: bool = False
    contact_weight: float | None = None
    penetration_weight: float | None = None
    clearance_weight: float | None = None
    finger_penetration_weight: float | None = None
    pregrasp_offset: float = 0.01
    contact_margin: float = 0.01
    opposition_weight: float = 0.0
    touch_distance: float = 0.005

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"refine steps must be an integer >= 0, got {self.steps!r}")
        for name in ("residual_floor", "max_translation_step", "max_rotation_step", "max_joint_step",
                     "max_joint_change"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"refine {name} must be positive, got {getattr(self, name)}")
        for name in ("damping", "joint_anchor_weight", "pregrasp_offset", "contact_margin", "opposition_weight",
                     "touch_distance"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"refine {name} must be >= 0, got {getattr(self, name)}")
        for name in ("contact_weight", "penetration_weight", "clearance_weight", "finger_penetration_weight"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"refine {name} must be >= 0, got {value}")


@dataclass(frozen=True, eq=False)
class EnergyTerms:
    """Per-grasp energies, (B,) tensors.

    Attributes:
        energy: ranking energy (lower is better), with the type's contact depth.
        contact: summed distance of the type's contact patches to the surface, metres.
        penetration: summed sphere penetration depths below the surface, metres.
        clearance: summed clearance violations, metres.
        penetration_depth: deepest sphere penetration, metres (>= 0).
        contact_distance: mean distance of the type's contact patches, metres.
        finger_penetration: deepest overlap of two collision spheres of different digits
            (finger into finger or thumb), metres (>= 0).
    """

    energy: torch.Tensor
    contact: torch.Tensor
    penetration: torch.Tensor
    clearance: torch.Tensor
    penetration_depth: torch.Tensor
    contact_distance: torch.Tensor
    finger_penetration: torch.Tensor


def _fields(terms: EnergyTerms) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(terms, f.name) for f in fields(terms))


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
        self.w_finger = w.self_penetration if config.finger_penetration_weight is None else config.finger_penetration_weight
        # finger-finger pairs: spheres of different digits (the synthesis energy's self-penetration pairs)
        self._pair_i, self._pair_j = e.pair_i.long(), e.pair_j.long()
        self._pair_radius = (e.sphere_radius[e.pair_i] + e.sphere_radius[e.pair_j]).float()
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
        self._depth = e.contact_depth.float()
        by_name = {j.name: j for j in load_hand("free").joints}
        self._joint_link = torch.as_tensor([fk.link_index[by_name[n].child] for n in fk.joint_names])
        self._joint_axis = torch.as_tensor([by_name[n].axis for n in fk.joint_names], dtype=torch.float32)
        self._depends = self._dependency_mask().float()  # (L, J)
        self._point_depends = self._depends[self._link]  # (N, J)
        self.lower, self.upper = fk.lower.float(), fk.upper.float()
        # the coupled space: q = C a, a = the 18 actuated coordinates (hand.model.ACTUATED_JOINTS)
        self._coupling = torch.as_tensor(coupling_matrix(), dtype=torch.float32)  # (22, 18)
        self._coupling_pinv = torch.linalg.pinv(self._coupling)
        self._actuated_scale = 1.0 / self._coupling.amax(0)  # 1 for a joint, 2 for a tendon J0
        # the spheres of each digit's distal phalanx (pregrasp and squeeze postures)
        distal = [fk.link_index[f"rh_{f}distal"] for f in ("ff", "mf", "rf", "lf", "th")]
        self._distal_spheres = [torch.nonzero(e.sphere_link == li).flatten() for li in distal]

    def _dependency_mask(self) -> torch.Tensor:
        """(L, J) bool: whether each link's pose changes with each joint (found numerically, once)."""
        n = self.fk.n_joints
        q = torch.cat([torch.zeros(1, n), 0.3 * torch.eye(n)]).double()
        with torch.no_grad():
            poses = self.fk.link_poses(q)
        return ((poses[1:] - poses[:1]).abs().flatten(2).amax(-1) > 1e-9).T

    def linearise(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Proxy points in the palm frame and the joint twists at ``joints`` (exact kinematics).

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

    def distance_jacobian(self, points: torch.Tensor, twists: torch.Tensor, rot: torch.Tensor,
                          grad: torch.Tensor) -> torch.Tensor:
        """Derivatives of the distances at the proxy points with respect to the grasp.

        Args:
            points: (B, N, 3) palm frame, m; twists: (B, 22, 6) (from ``linearise``);
            rot: (B, 3, 3) palm rotation; grad: (B, N, 3) field gradients at the world points.

        Returns:
            (B, N, 28): d(distance)/d(v, omega, q) for the update ``t + v``,
            ``exp(omega) R``, ``q + dq`` (v m, omega rad, q rad; omega in the field's frame).
        """
        rp = points @ rot.transpose(1, 2)
        gp = grad @ rot  # gradients in the palm frame
        joint = torch.einsum("bnk,bjk->bnj", torch.cat([torch.cross(points, gp, dim=-1), gp], -1), twists)
        return torch.cat([grad, torch.cross(rp, grad, dim=-1), joint * self._point_depends], -1)

    def finger_gaps(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Surface gaps of the finger-finger sphere pairs (< 0: overlap) and their directions.

        Args:
            points: (B, N, 3) proxy points from ``linearise`` (spheres first), palm frame, m.

        Returns:
            gap (B, P) m and unit vectors (B, P, 3) from sphere j to sphere i of each pair.
        """
        diff = points[:, self._pair_i] - points[:, self._pair_j]
        dist = diff.norm(dim=-1)
        return dist - self._pair_radius, diff / dist.clamp_min(1e-9).unsqueeze(-1)

    def finger_jacobian(self, points: torch.Tensor, twists: torch.Tensor, unit: torch.Tensor,
                        pairs: torch.Tensor | None = None) -> torch.Tensor:
        """(B, P, 22) derivatives of the finger-finger gaps by the joints (the palm pose moves both
        spheres alike): ``u . (dc_i/dq - dc_j/dq)`` with the twists of ``linearise``; ``pairs``
        (P,) selects pairs (default all; ``unit`` is (B, P, 3) of those)."""
        pairs = torch.arange(len(self._pair_i)) if pairs is None else pairs

        def moved(idx):
            p = points[:, idx]
            rows = torch.einsum("bnk,bjk->bnj", torch.cat([torch.cross(p, unit, dim=-1), unit], -1), twists)
            return rows * self._point_depends[idx]

        return moved(self._pair_i[pairs]) - moved(self._pair_j[pairs])

    def _residuals(self, d: torch.Tensor, type_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Active residuals of the energy (metres) and their IRLS weights, (B, N) each."""
        S = self.n_spheres
        depth = self._depth[type_index]
        zero = torch.zeros_like(d)
        pen = d[:, :S] - self._radius + depth  # < 0: penetrating beyond the contact depth
        dp = d[:, S:] + depth
        B = d.shape[0]
        index = self._patch_of_point.expand(B, -1)
        closest = torch.full((B, self.n_patches), float("inf")).scatter_reduce(1, index, dp.abs(), "amin")
        touch = (dp.abs() == closest.gather(1, index)) & (self._contact_mask[type_index][self._patch_of_point] > 0)
        clear = d[:, S:] - self._clearance[type_index]
        keep_clear = (self._clear_mask[type_index][self._patch_of_point] > 0) & (clear < 0)
        r = torch.cat([torch.where(pen < 0, pen, zero[:, :S]),
                       torch.where(touch, dp, zero[:, S:]) + torch.where(keep_clear, clear, zero[:, S:])], 1)
        w = torch.cat([torch.where(pen < 0, torch.full_like(pen, self.w_pen), zero[:, :S]),
                       torch.where(touch, self.w_contact, 0.0) + torch.where(keep_clear, self.w_clear, 0.0)], 1)
        return r, w / r.abs().clamp_min(self.config.residual_floor)

    def _terms(self, d: torch.Tensor, type_index: int, gap: torch.Tensor) -> EnergyTerms:
        """Energies from the distances ``d`` (B, N) m at the proxy points (spheres, then patch points)
        and the finger-finger gaps ``gap`` (B, P) m."""
        B = d.shape[0]
        depth = self._depth[type_index]
        radius_gap = self._radius - d[:, : self.n_spheres]
        pen = torch.relu(radius_gap)
        dp = d[:, self.n_spheres :]  # (B, patch points)
        index = self._patch_of_point.expand(B, -1)

        def closest(x):
            return torch.full((B, self.n_patches), float("inf")).scatter_reduce(1, index, x, "amin")

        cmask = self._contact_mask[type_index]
        contact = (cmask * torch.nan_to_num(closest(dp.abs()), posinf=0.0)).sum(-1)
        contact_target = (cmask * torch.nan_to_num(closest((dp + depth).abs()), posinf=0.0)).sum(-1)
        clear = (self._clear_mask[type_index][index] * torch.relu(self._clearance[type_index] - dp)).sum(-1)
        overlap = torch.relu(-gap)
        energy = (self.w_contact * contact_target + self.w_pen * torch.relu(radius_gap - depth).sum(-1)
                  + self.w_clear * clear + self.w_finger * overlap.sum(-1))
        return EnergyTerms(energy, contact, pen.sum(-1), clear, pen.amax(-1), contact / cmask.sum().clamp(min=1),
                           overlap.amax(-1))

    @staticmethod
    def _type_index(grasp_type: str) -> int:
        if grasp_type not in GRASP_TYPES:
            raise DataError(f"unknown grasp type {grasp_type!r}; expected one of {GRASP_TYPES}")
        return GRASP_TYPES.index(grasp_type)

    def evaluate(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, grasp_type: str,
                 sdf: torch.Tensor, origin, voxel_size: float) -> EnergyTerms:
        """Energies of grasps (exact kinematics).

        Args:
            joints: (B, 22) rad; rot: (B, 3, 3); trans: (B, 3) m, in the field's frame.
            grasp_type: one of ``GRASP_TYPES``.
            sdf: (n, n, n) signed distances, metres; origin: (3,) centre of voxel
                (0, 0, 0), metres; voxel_size: metres.
        """
        t = self._type_index(grasp_type)
        with torch.no_grad():
            pts, _ = self.linearise(joints)
            world = (rot.float().unsqueeze(1) @ pts.unsqueeze(-1)).squeeze(-1) + trans.float().unsqueeze(1)
            return self._terms(sample_grid(sdf.float(), origin, voxel_size, world), t, self.finger_gaps(pts)[0])

    @torch.no_grad()
    def refine(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, grasp_type: str,
               sdf: torch.Tensor, origin, voxel_size: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, EnergyTerms]:
        """Refine grasps by ``config.steps`` Gauss-Newton steps on the energy (arguments as ``evaluate``).

        Returns:
            joints (B, 22) rad (within the limits), rot (B, 3, 3), trans (B, 3) m and the
            energies of the refined grasps (exact kinematics): per grasp its lowest-energy
            iterate, so a grasp never leaves worse than it came.

        Raises:
            DataError: non-finite grasps or an unknown type.
        """
        c = self.config
        ti = self._type_index(grasp_type)
        joints, rot, trans = joints.detach().float(), rot.detach().float(), trans.detach().float()
        if not (torch.isfinite(joints).all() and torch.isfinite(rot).all() and torch.isfinite(trans).all()):
            raise DataError("grasps to refine contain NaN or inf")
        sdf = sdf.detach().float()
        origin = torch.as_tensor(origin, dtype=torch.float32)
        C, scale = self._coupling, self._actuated_scale
        q0 = couple(torch.minimum(torch.maximum(joints, self.lower), self.upper))
        a0 = q0 @ self._coupling_pinv.T  # (B, 18)
        a_lo, a_hi = (torch.as_tensor(x, dtype=torch.float32) for x in load_hand("free").actuated_limits())
        lo = torch.maximum(a_lo, a0 - scale * c.max_joint_change)
        hi = torch.minimum(a_hi, a0 + scale * c.max_joint_change)
        q, R, t, a = q0.clone(), rot.clone(), trans.clone(), a0.clone()
        anchor = 2 * c.joint_anchor_weight * (C.T @ C)
        best = None
        for k in range(c.steps + 1):
            pts, twists = self.linearise(q)
            d, grad = sample_grid_gradient(sdf, origin, voxel_size, pts @ R.transpose(1, 2) + t.unsqueeze(1))
            # keep each grasp's lowest-energy iterate: the steps are not line-searched
            gap, unit = self.finger_gaps(pts)
            terms = self._terms(d, ti, gap)
            if best is None:
                best = (q, R, t, terms)
            else:
                better = terms.energy < best[3].energy
                best = (torch.where(better[:, None], q, best[0]), torch.where(better[:, None, None], R, best[1]),
                        torch.where(better[:, None], t, best[2]),
                        EnergyTerms(*(torch.where(better, a, b) for a, b in zip(_fields(terms), _fields(best[3])))))
            if k == c.steps:
                break
            r, w = self._residuals(d, ti)
            jac = self.distance_jacobian(pts, twists, R, grad)  # (B, N, 28)
            # finger-finger overlaps: more residuals, on the joints only (the pairs overlapping in
            # some grasp of the batch; the others have no residual)
            pairs = torch.nonzero((gap < 0).any(0)).flatten()
            if pairs.numel():
                g = gap[:, pairs]
                overlap = g < 0
                r = torch.cat([r, torch.where(overlap, g, torch.zeros_like(g))], 1)
                w = torch.cat([w, torch.where(overlap, self.w_finger, 0.0) / g.abs().clamp_min(c.residual_floor)], 1)
                fj = self.finger_jacobian(pts, twists, unit[:, pairs], pairs)
                jac = torch.cat([jac, torch.cat([torch.zeros(*fj.shape[:2], 6), fj], -1)], 1)
            jac = torch.cat([jac[..., :6], jac[..., 6:] @ C], -1)  # (B, N + P, 24): joints through the coupling
            wj = jac * w.unsqueeze(-1)
            H = wj.transpose(1, 2) @ jac
            g = (wj * r.unsqueeze(-1)).sum(1)
            H[:, 6:, 6:] += anchor
            g[:, 6:] += 2 * c.joint_anchor_weight * (q - q0) @ C
            H = H + torch.diag_embed(c.damping * torch.diagonal(H, dim1=1, dim2=2) + 1e-9)
            step = -torch.linalg.solve(H, g.unsqueeze(-1)).squeeze(-1)
            v, omega = step[:, :3], step[:, 3:6]
            v = v * (c.max_translation_step / v.norm(dim=-1, keepdim=True).clamp_min(c.max_translation_step))
            omega = omega * (c.max_rotation_step / omega.norm(dim=-1, keepdim=True).clamp_min(c.max_rotation_step))
            t = t + v
            R = axis_angle_to_matrix(omega) @ R
            a = torch.minimum(torch.maximum(a + torch.clamp(step[:, 6:], -scale * c.max_joint_step,
                                                            scale * c.max_joint_step), lo), hi)
            q = a @ C.T
        return best

    @torch.no_grad()
    def postures(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, sdf: torch.Tensor, origin,
                 voxel_size: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Pregrasp and squeeze postures of grasps, as BODex / DexGraspBench derive them.

        For each digit whose distal phalanx lies within ``contact_margin`` of the surface (its
        closest collision sphere), the contact point backs off ``pregrasp_offset`` along the
        contact normal through that digit's actuated coordinates (damped least squares on its
        Jacobian, ``da = -offset * j / (j . j + 1e-4)``, the coupled pair moving together): the
        pregrasp, opened towards the approach; the squeeze mirrors it through the grasp,
        ``squeeze = 2 grasp - pregrasp``, closed further towards the contacts (on the hand the
        position servos then press the object). Both are clamped to the limits; the palm pose
        is the grasp's for all three.

        Args:
            joints: (B, 22) rad (coupled); rot, trans, sdf, origin, voxel_size: as ``evaluate``.

        Returns:
            pregrasp (B, 22) and squeeze (B, 22) rad, on the coupled set.
        """
        c, C = self.config, self._coupling
        q = couple(joints.float())
        R, t = rot.float(), trans.float()
        pts, twists = self.linearise(q)
        S = self.n_spheres
        d, grad = sample_grid_gradient(sdf.float(), torch.as_tensor(origin, dtype=torch.float32), voxel_size,
                                       pts[:, :S] @ R.transpose(1, 2) + t.unsqueeze(1))
        gap = d - self._radius
        normal = -(grad @ R) / grad.norm(dim=-1, keepdim=True).clamp_min(1e-9)  # hand -> object, palm frame
        da = torch.zeros(q.shape[0], C.shape[1])
        for spheres in self._distal_spheres:
            k = spheres[gap[:, spheres].argmin(1)]  # (B,) the digit's closest sphere
            rows = torch.arange(q.shape[0])
            n = normal[rows, k]
            point = pts[rows, k] + self._radius[k].unsqueeze(-1) * n
            jq = torch.einsum("bk,bjk->bj", torch.cat([torch.cross(point, n, dim=-1), n], -1), twists)
            ja = (jq * self._point_depends[k]) @ C  # m per unit of each actuated coordinate
            step = -c.pregrasp_offset * ja / ((ja * ja).sum(-1, keepdim=True) + 1e-4)
            da += torch.where((gap[rows, k] < c.contact_margin).unsqueeze(-1), step, torch.zeros_like(step))
        pregrasp = torch.minimum(torch.maximum(q + da @ C.T, self.lower), self.upper)
        squeeze = torch.minimum(torch.maximum(2 * q - pregrasp, self.lower), self.upper)
        return pregrasp, squeeze

    @torch.no_grad()
    def opposition(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, sdf: torch.Tensor, origin,
                   voxel_size: float) -> torch.Tensor:
        """(B,) how well the contact normals of grasps oppose each other, 0-1: ``1 - |mean n|`` over the
        unit field normals ``n`` (the trilinear field's gradient) at the collision spheres within
        ``touch_distance`` of the surface (0 without contacts; 1: the normals cancel, the object is
        squeezed from opposing sides). Arguments as ``evaluate``."""
        pts, _ = self.linearise(joints.float())
        S = self.n_spheres
        world = (rot.float().unsqueeze(1) @ pts[:, :S].unsqueeze(-1)).squeeze(-1) + trans.float().unsqueeze(1)
        d, grad = sample_grid_gradient(sdf.float(), origin, voxel_size, world)
        normal = grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        touch = (d - self._radius < self.config.touch_distance).float()
        count = touch.sum(1)
        mean = (normal * touch.unsqueeze(-1)).sum(1) / count.clamp_min(1).unsqueeze(-1)
        return torch.where(count > 0, 1 - mean.norm(dim=-1), torch.zeros_like(count))

    def score(self, terms: EnergyTerms, opposition: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) ranking score, lower is better: ``energy - opposition_weight * opposition``."""
        if opposition is None or self.config.opposition_weight == 0:
            return terms.energy
        return terms.energy - self.config.opposition_weight * opposition.to(terms.energy)

    @staticmethod
    def rank(terms: EnergyTerms, type_ok: torch.Tensor | None = None, score: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) indices ordering grasps best first: those with ``type_ok`` (B,) bool first
        (when given), each group by ``score`` (default the energy; lowest first); non-finite last."""
        energy = torch.nan_to_num((terms.energy if score is None else score).double(), nan=float("inf"))
        order = torch.argsort(energy, stable=True)
        if type_ok is not None:
            order = order[torch.argsort((~type_ok[order]).to(torch.int8), stable=True)]
        return order
