"""Grasp energy for type-conditioned synthesis (in the spirit of DexGraspNet, Wang et al. 2023).

For a batch of hand configurations ``(q, rot, trans)`` around objects given by signed distance
grids, each candidate with a requested grasp type ``t``:

``E = w_c E_contact + w_pen E_pen + w_spen E_spen + w_clear E_clear + w_fc E_fc + w_cen E_centre
+ w_prior E_prior + w_lim E_limits``

* ``E_contact``: for each contact patch of type ``t`` (``grasp.representation``), the distance of its
  closest point to the type's contact depth, ``min_k |d(p_k) + depth_t|`` (m), summed over the
  patches (pinches press ``depth_t`` = 1-1.5 mm into the surface: a preload, as in a real
  pinch, without which the light objects of a pinch slip at the smallest push).
* ``E_pen``: penetration of the collision spheres beyond that depth, ``sum relu(r - d(c) - depth_t)``
  (m).
* ``E_spen``: self-penetration between spheres of different digits, ``sum relu(r_i + r_j - |c_i - c_j|)``.
* ``E_clear``: patches that must stay clear (e.g. the thumb in a hook), ``sum relu(clearance - d)``.
* ``E_fc``: force closure with unit inward normal forces at the contacts (DexGraspNet's
  ``|G c|``): squared norm of the net force and torque (torque over a 5 cm lever), times the
  type's ``force_closure`` weight, per contact.
* ``E_centre``: for pinches (``GraspTypeSpec.centre_pinch``), the distance of the object
  centre from the line through the thumb and finger contacts (m): a two-point pinch cannot
  resist torques about that line, so it should run through the centre of mass.
* ``E_prior``: weighted squared distance of the finger joints to the type's pre-shape (rad²).
* ``E_limits``: joint angles beyond their limits (rad).

Everything is differentiable in ``q``, ``rot`` and ``trans`` through the hand's FK and the
trilinear distance lookup (``perception.sdf.sample_grid``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ... import GRASP_TYPES
from ...errors import ConfigError, DataError
from ...hand.kinematics import HandKinematics
from ...hand.proxies import build_proxies
from ...perception.sdf import sample_grid
from ..representation import SPECS, Patch

#: Lever (m) dividing torques in the force-closure term, so forces and torques weigh alike.
TORQUE_LEVER = 0.05
#: Digit of each link, for the self-penetration pairs.
_DIGITS = ("ff", "mf", "rf", "lf", "th")


@dataclass(frozen=True)
class EnergyWeights:
    """Weights of the energy terms (distances in metres, angles in radians)."""

    contact: float = 100.0
    penetration: float = 300.0
    self_penetration: float = 100.0
    clearance: float = 100.0
    force_closure: float = 3.0
    centring: float = 100.0
    prior: float = 0.5
    joint_limits: float = 10.0

    def __post_init__(self):
        for name, value in self.__dict__.items():
            if not value >= 0:
                raise ConfigError(f"energy weight {name} must be >= 0, got {value}")


@dataclass(frozen=True, eq=False)
class FieldBatch:
    """Signed distance grids, one per group of candidates.

    Attributes:
        distances: (G, nx, ny, nz) m, negative inside.
        origin: (G, 3) centre of voxel (0, 0, 0), m.
        voxel_size: (G,) m.
        centre: (G, 3) object centre (torque reference), m.
    """

    distances: torch.Tensor
    origin: torch.Tensor
    voxel_size: torch.Tensor
    centre: torch.Tensor

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Distances (G, ...) at points (G, ..., 3)."""
        return sample_grid(self.distances, self.origin, self.voxel_size, points)

    def normals(self, points: torch.Tensor) -> torch.Tensor:
        """Unit outward normals (G, ..., 3) at points (G, ..., 3) by central differences (no gradient)."""
        with torch.no_grad():
            h = (self.voxel_size * 0.5).reshape(-1, *([1] * (points.dim() - 1)))
            grads = []
            for axis in range(3):
                e = torch.zeros(3, dtype=points.dtype, device=points.device)
                e[axis] = 1.0
                grads.append(self(points + h * e) - self(points - h * e))
            g = torch.stack(grads, -1)
            return g / g.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _patch_points(fk: HandKinematics, patch: Patch) -> np.ndarray:
    """(k, 3) points of a patch in its link frame, on the link's collision capsule (or palm box)."""
    side = np.asarray(patch.side, dtype=np.float64)
    if patch.link == "rh_palm":
        box = max((c for c in fk.collisions if c.link == "rh_palm" and c.kind == "box"), key=lambda c: np.prod(c.size))
        half = np.asarray(box.size) / 2
        pts = [box.origin[:3, 3] + box.origin[:3, :3] @ np.array([fx * half[0], side[1] * half[1], (2 * fz - 1) * half[2]])
               for fx in (-0.5, 0.0, 0.5) for fz in patch.fractions]
        return np.array(pts)
    cyl = [c for c in fk.collisions if c.link == patch.link and c.kind == "cylinder"]
    if not cyl:
        raise ConfigError(f"link {patch.link} has no collision capsule to put a contact patch on")
    c = cyl[0]
    radius, length = c.size
    axis = c.origin[:3, 2]
    e0 = c.origin[:3, 3] - axis * length / 2
    pts = [e0 + f * length * axis + radius * side for f in patch.fractions]
    if patch.tip:
        n = (side + axis) / np.linalg.norm(side + axis)
        pts.append(e0 + length * axis + radius * n)
    return np.array(pts)


#: GraspEnergy's index tensors and float constants (moved to the candidates' device and dtype).
_INDICES = ("sphere_link", "pair_i", "pair_j", "patch_link", "patch_valid", "pinch")
_CONSTANTS = ("sphere_centre", "sphere_radius", "patch_local", "contact_mask", "clear_mask", "clearance",
              "preshape", "prior_w", "fc_w", "centre_w", "contact_depth")


class GraspEnergy:
    """The energy of the module docstring for one hand (geometry precomputed once).

    Args:
        fk: hand kinematics (default: the palm-rooted ``free`` hand).
        weights: term weights.
    """

    def __init__(self, fk: HandKinematics | None = None, weights: EnergyWeights = EnergyWeights()):
        self.fk = fk if fk is not None else HandKinematics.load("free")
        self.weights = weights
        prox = build_proxies(self.fk)
        self.sphere_link = torch.as_tensor(prox.sphere_link)
        self.sphere_centre = torch.as_tensor(prox.sphere_centre)
        self.sphere_radius = torch.as_tensor(prox.sphere_radius)
        # self-penetration: up to three spheres per phalanx, pairs of different digits
        link_names = self.fk.link_names
        digit = [next((d for d in _DIGITS if link_names[l].startswith(f"rh_{d}")), None) for l in prox.sphere_link]
        chosen = []
        for link in np.unique(prox.sphere_link):
            idx = np.nonzero(prox.sphere_link == link)[0]
            if digit[idx[0]] is None or not any(s in link_names[link] for s in ("proximal", "middle", "distal")):
                continue
            chosen.extend(idx[np.unique(np.linspace(0, len(idx) - 1, 3).round().astype(int))])
        chosen = np.array(chosen)
        ii, jj = np.triu_indices(len(chosen), 1)
        keep = np.array([digit[chosen[i]] != digit[chosen[j]] for i, j in zip(ii, jj)])
        self.pair_i = torch.as_tensor(chosen[ii[keep]])
        self.pair_j = torch.as_tensor(chosen[jj[keep]])
        # patch table over the six types
        patches: list[Patch] = []
        for s in SPECS.values():
            for p in s.contacts + s.clear:
                if p not in patches:
                    patches.append(p)
        self.patches = tuple(patches)
        pts = [_patch_points(self.fk, p) for p in patches]
        kmax = max(len(p) for p in pts)
        local = np.zeros((len(patches), kmax, 3))
        valid = np.zeros((len(patches), kmax), dtype=bool)
        for i, p in enumerate(pts):
            local[i, : len(p)] = p
            local[i, len(p):] = p[-1]
            valid[i, : len(p)] = True
        self.patch_local = torch.as_tensor(local)
        self.patch_valid = torch.as_tensor(valid)
        self.patch_link = torch.as_tensor([self.fk.link_index[p.link] for p in patches])
        n_t, n_p = len(GRASP_TYPES), len(patches)
        contact = np.zeros((n_t, n_p))
        clear = np.zeros((n_t, n_p))
        clearance = np.zeros(n_t)
        depth = np.zeros(n_t)
        preshape = np.zeros((n_t, 22))
        prior_w = np.zeros((n_t, 22))
        fc_w = np.ones(n_t)
        centre_w = np.zeros(n_t)
        pinch = np.zeros((n_t, 2), dtype=np.int64)
        for t, s in enumerate(SPECS.values()):
            for p in s.contacts:
                contact[t, patches.index(p)] = 1.0
            for p in s.clear:
                clear[t, patches.index(p)] = 1.0
            clearance[t] = s.clearance
            depth[t] = s.contact_depth
            preshape[t] = s.preshape_vector()
            prior_w[t] = s.prior_weights()
            fc_w[t] = s.force_closure / max(len(s.contacts), 1)
            thumb = [patches.index(p) for p in s.contacts if p.link.startswith("rh_th")]
            finger = [patches.index(p) for p in s.contacts if not p.link.startswith("rh_th")]
            if s.centre_pinch and thumb and finger:
                centre_w[t] = 1.0
                pinch[t] = thumb[0], finger[0]
        self.contact_mask = torch.as_tensor(contact)
        self.clear_mask = torch.as_tensor(clear)
        self.clearance = torch.as_tensor(clearance)
        self.contact_depth = torch.as_tensor(depth)
        self.preshape = torch.as_tensor(preshape)
        self.prior_w = torch.as_tensor(prior_w)
        self.fc_w = torch.as_tensor(fc_w)
        self.centre_w = torch.as_tensor(centre_w)
        self.pinch = torch.as_tensor(pinch)

    def _to(self, like: torch.Tensor) -> None:
        """Constants on ``like``'s device and in its dtype, converted from the originals as built
        (a float64 -> float32 -> float64 round trip would lose precision and make results depend
        on what the energy computed before)."""
        if not hasattr(self, "_originals"):
            self._originals = {name: getattr(self, name) for name in _CONSTANTS + _INDICES}
        for name in _INDICES:
            if getattr(self, name).device != like.device:
                setattr(self, name, self._originals[name].to(like.device))
        for name in _CONSTANTS:
            t = getattr(self, name)
            if t.device != like.device or t.dtype != like.dtype:
                setattr(self, name, self._originals[name].to(device=like.device, dtype=like.dtype))

    def hand_points(self, q: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor):
        """World sphere centres (B, S, 3) and patch points (B, P, K, 3) from one FK pass."""
        self._to(q)
        poses = self.fk.link_poses(q, rot, trans)
        T = poses[:, self.sphere_link]
        spheres = (T[..., :3, :3] @ self.sphere_centre.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
        Tp = poses[:, self.patch_link].unsqueeze(2)  # (B, P, 1, 4, 4)
        patch = (Tp[..., :3, :3] @ self.patch_local.unsqueeze(-1)).squeeze(-1) + Tp[..., :3, 3]
        return spheres, patch

    def __call__(self, field: FieldBatch, q: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor,
                 type_index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Energy terms of ``B = G * K`` candidates, grouped by grid (candidate ``b`` uses grid ``b // K``).

        Args:
            field: ``G`` distance grids.
            q: (B, 22) Shadow finger joints, rad.
            rot: (B, 3, 3) palm rotations; trans: (B, 3) palm positions, m (object frame).
            type_index: (B,) int64 index into ``GRASP_TYPES``.

        Returns:
            dict of (B,) tensors: ``total`` and each term (``contact``, ``penetration``,
            ``self_penetration``, ``clearance``, ``force_closure``, ``centre``, ``prior``,
            ``joint_limits``),
            plus diagnostics in metres: ``max_penetration``, ``max_contact_distance`` (the worst
            contact patch), ``mean_contact_distance``, ``min_clearance``. ``contact`` and
            ``penetration`` are reported against the surface itself; ``total`` uses them shifted
            by the type's contact depth (see the module docstring).
        """
        B = q.shape[0]
        G = field.distances.shape[0]
        if B % G:
            raise DataError(f"{B} candidates cannot be split evenly over {G} distance grids")
        K = B // G
        w = self.weights
        spheres, patch = self.hand_points(q, rot, trans)
        P, Kp = patch.shape[1], patch.shape[2]
        d_sph = field(spheres.reshape(G, K, -1, 3)).reshape(B, -1)
        pen = torch.relu(self.sphere_radius - d_sph)
        depth = self.contact_depth[type_index].unsqueeze(-1)  # (B, 1)
        pen_energy = torch.relu(self.sphere_radius - d_sph - depth)
        d_patch = field(patch.reshape(G, K, -1, 3)).reshape(B, P, Kp)
        big = torch.full_like(d_patch, 1.0)
        abs_patch = torch.where(self.patch_valid, (d_patch + depth.unsqueeze(-1)).abs(), big)
        dmin, arg = abs_patch.min(dim=-1)  # (B, P), to the pressed-in target
        cmask = self.contact_mask[type_index]  # (B, P)
        e_contact_target = (cmask * dmin).sum(-1)
        # the reported contact distance is to the surface itself
        dsurf = torch.where(self.patch_valid, d_patch.abs(), big).min(dim=-1).values
        e_contact = (cmask * dsurf).sum(-1)
        clear_viol = torch.where(self.patch_valid, torch.relu(self.clearance[type_index].reshape(B, 1, 1) - d_patch),
                                 torch.zeros_like(d_patch))
        kmask = self.clear_mask[type_index]
        e_clear = (kmask.unsqueeze(-1) * clear_viol).sum((-1, -2))
        # force closure at each patch's closest point
        x = torch.gather(patch, 2, arg.reshape(B, P, 1, 1).expand(B, P, 1, 3)).squeeze(2)  # (B, P, 3)
        n_out = field.normals(x.detach().reshape(G, K, P, 3)).reshape(B, P, 3)
        force = -n_out
        centre = field.centre.to(x).repeat_interleave(K, 0).unsqueeze(1)
        torque = torch.cross(x - centre, force, dim=-1) / TORQUE_LEVER
        wrench = (cmask.unsqueeze(-1) * torch.cat([force, torque], -1)).sum(1)
        e_fc = self.fc_w[type_index] * wrench.square().sum(-1)
        pinch = self.pinch[type_index]  # (B, 2): thumb patch, finger patch
        x_th = torch.gather(x, 1, pinch[:, :1, None].expand(B, 1, 3)).squeeze(1)
        x_f = torch.gather(x, 1, pinch[:, 1:, None].expand(B, 1, 3)).squeeze(1)
        u = x_f - x_th
        off = torch.cross(centre.squeeze(1) - x_th, u, dim=-1).norm(dim=-1) / u.norm(dim=-1).clamp_min(1e-4)
        e_centre = self.centre_w[type_index] * off
        # self-penetration between digits
        dist = (spheres[:, self.pair_i] - spheres[:, self.pair_j]).norm(dim=-1)
        e_spen = torch.relu(self.sphere_radius[self.pair_i] + self.sphere_radius[self.pair_j] - dist).sum(-1)
        lo, hi = self.fk.lower.to(q), self.fk.upper.to(q)
        e_lim = (torch.relu(q - hi) + torch.relu(lo - q)).sum(-1)
        e_prior = (self.prior_w[type_index] * (q - self.preshape[type_index]).square()).sum(-1)
        e_pen = pen.sum(-1)
        total = (w.contact * e_contact_target + w.penetration * pen_energy.sum(-1) + w.self_penetration * e_spen
                 + w.clearance * e_clear + w.force_closure * e_fc + w.centring * e_centre + w.prior * e_prior
                 + w.joint_limits * e_lim)
        with torch.no_grad():
            worst_contact = torch.where(cmask > 0, dsurf, torch.zeros_like(dsurf)).max(-1).values
            mean_contact = e_contact / cmask.sum(-1).clamp_min(1)
            d_clear = torch.where(self.patch_valid, d_patch, big).min(-1).values
            min_clear = torch.where(kmask > 0, d_clear, torch.ones_like(d_clear)).min(-1).values
        return {
            "total": total, "contact": e_contact, "penetration": e_pen, "self_penetration": e_spen,
            "clearance": e_clear, "force_closure": e_fc, "centre": e_centre, "prior": e_prior,
            "joint_limits": e_lim,
            "max_penetration": pen.max(-1).values.detach(), "max_contact_distance": worst_contact,
            "mean_contact_distance": mean_contact.detach(),
            "min_clearance": min_clear,
        }
