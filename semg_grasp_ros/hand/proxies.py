"""Collision proxies and contact candidates of the hand, built from the URDF's collision primitives.

* Collision spheres: every collision primitive filled with spheres (a cylinder by spheres of its
  radius every half radius along its axis, a box by spheres of its smallest half extent on a grid
  over the other two axes). Penetration of the hand into an object with signed distance ``sdf``
  is ``relu(radius - sdf(centre))`` per sphere.
* Contact candidates: points on the grasping (palmar) side of the phalanges (proximal, middle
  and distal of each finger, middle and distal of the thumb) and of the palm, with outward
  normals; a grasp type's contact energy pulls the relevant candidates onto the surface.

Everything is in link frames; ``HandProxies.world`` poses them with the FK.

Example::

    fk = HandKinematics.load("free")
    prox = build_proxies(fk)
    centres, radii = prox.spheres_world(fk, q, rot, trans)     # (B, S, 3), (S,)
    pts, normals = prox.contacts_world(fk, q, rot, trans)     # (B, P, 3), (B, P, 3)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from .kinematics import HandKinematics

#: Grasping side of each contact link (unit vector in the link frame): the phalanx pads face
#: -y (the thumb middle phalanx -x, its frame is not turned like the distal one's).
PAD_DIRECTION = {
    **{f"rh_{f}{p}": (0.0, -1.0, 0.0) for f in ("ff", "mf", "rf", "lf") for p in ("proximal", "middle", "distal")},
    "rh_thmiddle": (-1.0, 0.0, 0.0),
    "rh_thdistal": (0.0, -1.0, 0.0),
}
#: Angles (rad) around the pad direction and fractions along the phalanx for contact candidates.
_PAD_ANGLES = (-0.6, 0.0, 0.6)
_PAD_FRACTIONS = (0.2, 0.5, 0.8)


@dataclass(frozen=True, eq=False)
class HandProxies:
    """Spheres and contact candidates, indices into ``HandKinematics.link_names``.

    Attributes:
        sphere_link: (S,) int64 link index of each sphere.
        sphere_centre: (S, 3) centre in the link frame, m.
        sphere_radius: (S,) m.
        contact_link: (P,) int64 link index of each candidate.
        contact_point: (P, 3) in the link frame, m.
        contact_normal: (P, 3) outward unit normal in the link frame.
        contact_names: (P,) link name of each candidate (to select fingers).
    """

    sphere_link: np.ndarray
    sphere_centre: np.ndarray
    sphere_radius: np.ndarray
    contact_link: np.ndarray
    contact_point: np.ndarray
    contact_normal: np.ndarray
    contact_names: tuple[str, ...]

    def spheres_world(self, fk: HandKinematics, q, rot=None, trans=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, 3) sphere centres in the world (differentiable) and (S,) radii."""
        c = fk.points(q, self.sphere_link, self.sphere_centre, rot, trans)
        return c, torch.as_tensor(self.sphere_radius, dtype=c.dtype, device=c.device)

    def contacts_world(self, fk: HandKinematics, q, rot=None, trans=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P, 3) contact candidates and (B, P, 3) their outward normals in the world."""
        poses = fk.link_poses(q, rot, trans)
        idx = torch.as_tensor(self.contact_link, dtype=torch.long, device=poses.device)
        T = poses[:, idx]
        p = torch.as_tensor(self.contact_point, dtype=poses.dtype, device=poses.device)
        n = torch.as_tensor(self.contact_normal, dtype=poses.dtype, device=poses.device)
        pts = (T[..., :3, :3] @ p.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
        return pts, (T[..., :3, :3] @ n.unsqueeze(-1)).squeeze(-1)


def _capsules(fk: HandKinematics) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Per link, the capsule written as cylinder + end spheres: (radius, end0, end1) in the link frame."""
    out = {}
    for c in fk.collisions:
        if c.kind == "cylinder":
            axis = c.origin[:3, 2]
            half = c.size[1] / 2
            out[c.link] = (c.size[0], c.origin[:3, 3] - half * axis, c.origin[:3, 3] + half * axis)
    return out


def build_proxies(fk: HandKinematics) -> HandProxies:
    """Collision spheres and contact candidates for the URDF behind ``fk``."""
    s_link, s_centre, s_radius = [], [], []
    for c in fk.collisions:
        li = fk.link_index[c.link]
        if c.kind == "sphere":
            centres, radius = [c.origin[:3, 3]], c.size[0]
        elif c.kind == "cylinder":
            radius, length = c.size
            n = max(2, int(np.ceil(length / (radius / 2))) + 1)
            zs = np.linspace(-length / 2, length / 2, n)
            centres = [c.origin[:3, :3] @ np.array([0, 0, z]) + c.origin[:3, 3] for z in zs]
        else:  # box: spheres of the smallest half extent, on a grid over the other two axes
            half = np.array(c.size) / 2
            thin = int(np.argmin(half))
            radius = half[thin]
            axes = [a for a in range(3) if a != thin]
            grids = []
            for a in axes:
                span = max(half[a] - radius, 0.0)
                grids.append(np.linspace(-span, span, max(1, int(np.ceil(2 * span / radius)) + 1)))
            centres = []
            for u in grids[0]:
                for v in grids[1]:
                    local = np.zeros(3)
                    local[axes[0]], local[axes[1]] = u, v
                    centres.append(c.origin[:3, :3] @ local + c.origin[:3, 3])
        for ctr in centres:
            s_link.append(li)
            s_centre.append(ctr)
            s_radius.append(radius)

    c_link, c_point, c_normal, c_names = [], [], [], []
    caps = _capsules(fk)
    for link, pad in PAD_DIRECTION.items():
        if link not in caps or link not in fk.link_index:
            continue
        r, e0, e1 = caps[link]
        axis = (e1 - e0) / np.linalg.norm(e1 - e0)
        pad = np.array(pad)
        side = np.cross(axis, pad)
        for frac in _PAD_FRACTIONS:
            for ang in _PAD_ANGLES:
                n = np.cos(ang) * pad + np.sin(ang) * side
                c_point.append(e0 + frac * (e1 - e0) + r * n)
                c_normal.append(n)
                c_link.append(fk.link_index[link])
                c_names.append(link)
        if link.endswith("distal"):  # the fingertip pad, between pad and tip directions
            n = (pad + axis) / np.linalg.norm(pad + axis)
            c_point.append(e1 + r * n)
            c_normal.append(n)
            c_link.append(fk.link_index[link])
            c_names.append(link)
    # palm face: a 3 x 3 grid on the grasping side of the largest palm box
    boxes = defaultdict(list)
    for c in fk.collisions:
        if c.kind == "box":
            boxes[c.link].append(c)
    root = fk.link_names[0] if "rh_palm" not in fk.link_index else "rh_palm"
    if boxes.get(root):
        box = max(boxes[root], key=lambda b: np.prod(b.size))
        half = np.array(box.size) / 2
        for fx in (-0.6, 0.0, 0.6):
            for fz in (-0.6, 0.0, 0.6):
                local = np.array([fx * half[0], -half[1], fz * half[2]])
                c_point.append(box.origin[:3, :3] @ local + box.origin[:3, 3])
                c_normal.append(box.origin[:3, :3] @ np.array([0.0, -1.0, 0.0]))
                c_link.append(fk.link_index[root])
                c_names.append(root)
    return HandProxies(
        sphere_link=np.array(s_link, dtype=np.int64),
        sphere_centre=np.array(s_centre),
        sphere_radius=np.array(s_radius),
        contact_link=np.array(c_link, dtype=np.int64),
        contact_point=np.array(c_point),
        contact_normal=np.array(c_normal),
        contact_names=tuple(c_names),
    )
