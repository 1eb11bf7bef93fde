"""Batched, differentiable forward kinematics of the ShadowHand, parsed from the project's URDF.

A small tree walker in torch (no extra dependency): each revolute joint is ``origin @ R(axis, q)``
with Rodrigues' formula, fixed joints are constant transforms. Gradients flow to the joint
angles and to the wrist pose.

Example::

    fk = HandKinematics.load("free")                 # palm-rooted, 22 finger joints
    q = torch.zeros(8, 22, requires_grad=True)       # (B, 22) rad, FINGER_JOINTS order
    tips = fk.fingertips(q, rot, trans)              # (B, 5, 3) m; rot (B, 3, 3), trans (B, 3)
    poses = fk.link_poses(q, rot, trans)             # (B, L, 4, 4), columns fk.link_names
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..geometry import rpy_matrix
from .model import FINGER_JOINTS, FINGERTIPS, WRIST_JOINTS, urdf_path


def _origin(elem) -> np.ndarray:
    t = np.eye(4)
    o = elem.find("origin") if elem is not None else None
    if o is not None:
        t[:3, :3] = rpy_matrix([float(v) for v in o.get("rpy", "0 0 0").split()])
        t[:3, 3] = [float(v) for v in o.get("xyz", "0 0 0").split()]
    return t


@dataclass(frozen=True)
class CollisionShape:
    """A URDF collision primitive: ``kind`` box (size = full extents), sphere (radius,),
    cylinder (radius, length, along local z); ``origin`` (4, 4) in the link frame."""

    link: str
    kind: str
    size: tuple[float, ...]
    origin: np.ndarray


def parse_collisions(urdf_text: str) -> list[CollisionShape]:
    """Collision primitives of every link of a URDF (meshes are not supported: primitives only)."""
    out = []
    for link in ET.fromstring(urdf_text).findall("link"):
        for col in link.findall("collision"):
            geom = col.find("geometry")
            g = geom[0] if geom is not None and len(geom) else None
            if g is None:
                continue
            if g.tag == "box":
                size = tuple(float(v) for v in g.get("size").split())
            elif g.tag == "sphere":
                size = (float(g.get("radius")),)
            elif g.tag == "cylinder":
                size = (float(g.get("radius")), float(g.get("length")))
            else:
                raise ConfigError(f"collision geometry {g.tag!r} of {link.get('name')} is not a primitive")
            out.append(CollisionShape(link.get("name"), g.tag, size, _origin(col)))
    return out


class HandKinematics:
    """Forward kinematics of one URDF tree, batched over configurations.

    Attributes:
        joint_names: actuated joints in the order of the ``q`` columns (finger joints in
            ``FINGER_JOINTS`` order, preceded by ``rh_WRJ2, rh_WRJ1`` for the fixed variant).
        link_names: every link, parents before children (index 0 = root).
        lower, upper: (n_joints,) float64 tensors of limits (rad).
    """

    def __init__(self, urdf_text: str, joint_order: tuple[str, ...] | None = None):
        robot = ET.fromstring(urdf_text)
        joints = robot.findall("joint")
        child_of = {j.find("child").get("link"): j for j in joints}
        links = [l.get("name") for l in robot.findall("link")]
        roots = [l for l in links if l not in child_of]
        if len(roots) != 1:
            raise ConfigError(f"URDF must have exactly one root link, found {roots}")
        # parents before children
        order, frontier = [roots[0]], [roots[0]]
        while frontier:
            parent = frontier.pop(0)
            for j in joints:
                if j.find("parent").get("link") == parent:
                    order.append(j.find("child").get("link"))
                    frontier.append(order[-1])
        self.link_names: tuple[str, ...] = tuple(order)
        self.link_index = {n: i for i, n in enumerate(order)}
        actuated = [j.get("name") for j in joints if j.get("type") in ("revolute", "continuous")]
        self.joint_names: tuple[str, ...] = tuple(joint_order) if joint_order else tuple(actuated)
        if sorted(self.joint_names) != sorted(actuated):
            raise ConfigError(f"joint order {self.joint_names} does not match the URDF joints {actuated}")
        parent_idx, origins, axes, qcol = [-1], [np.eye(4)], [np.zeros(3)], [-1]
        jcol = {n: i for i, n in enumerate(self.joint_names)}
        lim = {}
        for link in order[1:]:
            j = child_of[link]
            parent_idx.append(self.link_index[j.find("parent").get("link")])
            origins.append(_origin(j))
            if j.get("type") in ("revolute", "continuous"):
                ax = np.array([float(v) for v in (j.find("axis").get("xyz") if j.find("axis") is not None else "1 0 0").split()])
                axes.append(ax / np.linalg.norm(ax))
                qcol.append(jcol[j.get("name")])
                l = j.find("limit")
                lim[j.get("name")] = (float(l.get("lower")), float(l.get("upper"))) if l is not None else (-np.pi, np.pi)
            elif j.get("type") == "fixed":
                axes.append(np.zeros(3))
                qcol.append(-1)
            else:
                raise ConfigError(f"joint {j.get('name')} of type {j.get('type')!r} is not supported")
        self._parent = parent_idx
        self._qcol = qcol
        origins = np.stack(origins)
        axes = np.stack(axes)
        self._rev = [i for i, c in enumerate(qcol) if c >= 0]  # links moved by a revolute joint
        self._rev_slot = {link: k for k, link in enumerate(self._rev)}
        k = axes[self._rev]
        K = np.zeros((len(k), 3, 3))  # cross-product matrices of the joint axes (Rodrigues)
        K[:, 0, 1], K[:, 0, 2], K[:, 1, 0], K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = (
            -k[:, 2], k[:, 1], k[:, 2], -k[:, 0], -k[:, 1], k[:, 0]
        )
        self._const = {
            "R0": torch.tensor(origins[:, :3, :3]),  # (L, 3, 3) joint origin rotations
            "t0": torch.tensor(origins[:, :3, 3]),  # (L, 3) joint origin translations
            "K": torch.tensor(K),
            "K2": torch.tensor(K @ K),
            "R0rev": torch.tensor(origins[self._rev, :3, :3]),
            "qcol": torch.tensor([qcol[i] for i in self._rev], dtype=torch.long),
        }
        self._cache: dict = {}
        self.lower = torch.tensor([lim[n][0] for n in self.joint_names], dtype=torch.float64)
        self.upper = torch.tensor([lim[n][1] for n in self.joint_names], dtype=torch.float64)
        self.collisions = parse_collisions(urdf_text)

    @classmethod
    def load(cls, variant: str = "free") -> "HandKinematics":
        """FK of a shipped hand variant (``"free"``: palm root, 22 joints; ``"fixed"``: forearm root, 24)."""
        return cls.from_urdf(urdf_path(variant))

    @classmethod
    def from_urdf(cls, path: str | Path) -> "HandKinematics":
        text = Path(path).read_text()
        robot = ET.fromstring(text)
        names = {j.get("name") for j in robot.findall("joint") if j.get("type") == "revolute"}
        order = None
        if set(FINGER_JOINTS) <= names:
            order = tuple(n for n in WRIST_JOINTS if n in names) + FINGER_JOINTS
            order = order if set(order) == names else None
        return cls(text, order)

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    def _prepare(self, q, rot, trans):
        q = torch.as_tensor(q)
        if not q.is_floating_point():
            q = q.double()
        if q.ndim == 1:
            q = q.unsqueeze(0)
        if q.shape[-1] != self.n_joints:
            raise DataError(f"q has {q.shape[-1]} columns, the hand has {self.n_joints} joints {self.joint_names}")
        return q

    def link_poses(self, q, rot=None, trans=None) -> torch.Tensor:
        """Poses of every link.

        Args:
            q: (B, n_joints) joint angles, rad (columns ``joint_names``).
            rot: optional (B, 3, 3) rotation of the root link in the world.
            trans: optional (B, 3) position of the root link in the world, m.

        Returns:
            (B, L, 4, 4) homogeneous transforms world <- link, in ``link_names`` order; same
            dtype/device as ``q``.
        """
        q = self._prepare(q, rot, trans)
        dtype, device = q.dtype, q.device
        c = self._consts(dtype, device)
        B = q.shape[0]
        # every joint rotation at once: R = I + sin(q) K + (1 - cos(q)) K^2, then origin @ R
        theta = q[:, c["qcol"]][..., None, None]  # (B, J, 1, 1)
        eye = torch.eye(3, dtype=dtype, device=device)
        local_rot = c["R0rev"] @ (eye + torch.sin(theta) * c["K"] + (1 - torch.cos(theta)) * c["K2"])
        R_root = torch.as_tensor(rot, dtype=dtype, device=device).reshape(B, 3, 3) if rot is not None else eye.expand(B, 3, 3)
        p_root = (torch.as_tensor(trans, dtype=dtype, device=device).reshape(B, 3) if trans is not None
                  else torch.zeros(B, 3, dtype=dtype, device=device))
        rots, pos = [R_root], [p_root]
        for i in range(1, len(self.link_names)):
            R_par, p_par = rots[self._parent[i]], pos[self._parent[i]]
            p = p_par + R_par @ c["t0"][i]
            slot = self._rev_slot.get(i)
            R = R_par @ (local_rot[:, slot] if slot is not None else c["R0"][i])
            rots.append(R)
            pos.append(p)
        R = torch.stack(rots, dim=1)  # (B, L, 3, 3)
        p = torch.stack(pos, dim=1).unsqueeze(-1)  # (B, L, 3, 1)
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=dtype, device=device).expand(B, len(rots), 1, 4)
        return torch.cat([torch.cat([R, p], dim=-1), bottom], dim=-2)

    @property
    def parent_names(self) -> tuple[str, ...]:
        """Parent link of each of ``link_names`` ('' for the root)."""
        return tuple(self.link_names[p] if p >= 0 else "" for p in self._parent)

    @property
    def moving_links(self) -> tuple[bool, ...]:
        """Per link of ``link_names``: True when a revolute joint moves it relative to its parent."""
        return tuple(c >= 0 for c in self._qcol)

    def joint_transforms(self, q) -> torch.Tensor:
        """Transforms parent <- link of every link (what robot_state_publisher publishes on TF).

        Args:
            q: (B, n_joints) joint angles, rad.

        Returns:
            (B, L, 4, 4) in ``link_names`` order; index 0 (the root) is the identity.
        """
        poses = self.link_poses(q)
        parents = poses[:, [max(p, 0) for p in self._parent]]
        rt = parents[..., :3, :3].transpose(-1, -2)
        rel = poses.clone()
        rel[..., :3, :3] = rt @ poses[..., :3, :3]
        rel[..., :3, 3] = (rt @ (poses[..., :3, 3] - parents[..., :3, 3]).unsqueeze(-1)).squeeze(-1)
        rel[:, 0] = torch.eye(4, dtype=poses.dtype, device=poses.device)
        return rel

    def _consts(self, dtype, device) -> dict:
        key = (dtype, device)
        if key not in self._cache:
            self._cache[key] = {k: (v.to(device) if k == "qcol" else v.to(device=device, dtype=dtype))
                                for k, v in self._const.items()}
        return self._cache[key]

    def points(self, q, link_idx, local_points, rot=None, trans=None) -> torch.Tensor:
        """World positions of points fixed on links.

        Args:
            q: (B, n_joints) rad.
            link_idx: (P,) long, index into ``link_names`` of each point's link.
            local_points: (P, 3) positions in the link frames, m.
            rot, trans: optional root pose, (B, 3, 3) and (B, 3).

        Returns:
            (B, P, 3) metres.
        """
        poses = self.link_poses(q, rot, trans)
        link_idx = torch.as_tensor(link_idx, dtype=torch.long, device=poses.device)
        pts = torch.as_tensor(local_points, dtype=poses.dtype, device=poses.device)
        T = poses[:, link_idx]  # (B, P, 4, 4)
        return (T[..., :3, :3] @ pts.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]

    def fingertips(self, q, rot=None, trans=None) -> torch.Tensor:
        """(B, 5, 3) positions of ``FINGERTIPS`` (ff, mf, rf, lf, th), metres."""
        idx = [self.link_index[n] for n in FINGERTIPS]
        return self.link_poses(q, rot, trans)[:, idx, :3, 3]
