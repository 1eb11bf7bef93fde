"""Type-conditioned grasp synthesis: batched energy optimisation, then the physics check as a filter.

For each (object, grasp type) task, ``K`` candidates start from wrist poses around the object
(see :func:`initial_poses`): a surface point ``p`` with outward normal ``n`` is drawn, the
hand is oriented by the type's approach (``"palm"``: the palm faces ``-n``, the finger row
aligned with the local long axis of the surface for cylindrical and hook grasps;
``"pinch"``: the thumb-to-finger opposition axis along ``n``, so the object lies between
thumb and fingers), placed at the surface (power grasps) or with the grasp centre inside the
object by half its local thickness (pinches, hooks), fingers half-way between open and the
type's pre-shape. Adam then minimises :class:`~.energy.GraspEnergy` over joints, wrist
rotation (continuous 6-D) and translation for ``steps`` iterations; joints are kept within
their limits and on the hand's coupled set (J1 = J2 of FF, MF, RF, LF: ``hand.model.couple``)
by projection after every step.

A candidate is *pre-accepted* when its deepest collision sphere penetrates less than
``max_penetration_mm``, its contact patches lie on average within ``mean_contact_mm`` of the
surface and none farther than ``max_contact_mm``,
the clear patches keep half their clearance and the hand-pose descriptor (``grasp.data.labels``,
with the contact descriptors on the object) gives the requested type; it is *accepted* when it also passes the physics check
(``grasp.physics``, all six directions) with less than ``max_physics_penetration_mm``
penetration. Tasks of several objects are optimised in one batch (one distance grid per
task), on the GPU when one is given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial import cKDTree

from ... import GRASP_TYPES
from ...errors import ConfigError, DataError
from ...geometry import axis_angle_rotations, matrix_to_rot6d, rot6d_to_matrix
from ...hand.model import couple
from ...perception.sdf import DistanceField, GridLayout, GridSpec, sdf_from_mesh
from ..representation import spec
from .energy import EnergyWeights, FieldBatch, GraspEnergy
from .labels import classify
from .objects import GraspObject

log = logging.getLogger(__name__)

#: Point on the palm's grasping face (palm frame, m) placed at the surface in power grasps.
PALM_GRIP_POINT = np.array([0.011, -0.0111, 0.065])


@dataclass(frozen=True)
class SynthesisConfig:
    """Settings of the synthesis (lengths in metres unless the name says mm).

    Attributes:
        candidates: candidates per (object, type) task.
        steps: optimiser iterations.
        lr_joints, lr_rotation, lr_translation: Adam step sizes (rad, 6-D units, m).
        grid_size: voxels per axis of the fine distance grid used for optimisation.
        grid_margin: space around the object inside that grid.
        surface_samples: surface points drawn per object for initial poses.
        opening: (min, max) fraction of the way from the open hand to the pre-shape at the start.
        palm_gap: (min, max) distance of the palm from the surface at the start (power grasps).
        max_penetration_mm, mean_contact_mm, max_contact_mm: pre-acceptance thresholds (see
            module docstring).
        max_physics_penetration_mm: acceptance threshold on the physics check's penetration.
        weights: energy weights.
    """

    candidates: int = 32
    steps: int = 200
    lr_joints: float = 0.03
    lr_rotation: float = 0.02
    lr_translation: float = 0.002
    grid_size: int = 80
    grid_margin: float = 0.03
    surface_samples: int = 3000
    opening: tuple[float, float] = (0.3, 0.8)
    palm_gap: tuple[float, float] = (0.0, 0.015)
    max_penetration_mm: float = 3.0
    mean_contact_mm: float = 4.0
    max_contact_mm: float = 10.0
    max_physics_penetration_mm: float = 3.0
    weights: EnergyWeights = field(default_factory=EnergyWeights)

    def __post_init__(self):
        if self.candidates < 1 or self.steps < 0 or self.grid_size < 8 or self.surface_samples < 10:
            raise ConfigError(f"synthesis needs candidates >= 1, steps >= 0, grid_size >= 8, surface_samples >= 10; "
                              f"got {self.candidates}, {self.steps}, {self.grid_size}, {self.surface_samples}")
        if not 0 <= self.opening[0] <= self.opening[1] <= 1:
            raise ConfigError(f"opening must be 0 <= min <= max <= 1, got {self.opening}")
        for name in ("lr_joints", "lr_rotation", "lr_translation", "max_penetration_mm", "mean_contact_mm",
                     "max_contact_mm",
                     "max_physics_penetration_mm"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"SynthesisConfig.{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True, eq=False)
class PreparedObject:
    """An object ready for synthesis.

    Attributes:
        obj: the object.
        fine: the optimisation grid (``grid_size``³, signed).
        field50: the dataset grid (50³ default ``GridSpec``, signed).
        surface: (M, 3) points on the outer surface, m; normals: (M, 3) outward unit normals.
        thickness: (M,) extent of the object along ``-normal`` from each point, m (capped at 0.15).
        axis: (M, 3) unit direction of the largest spread of the nearby surface, in the tangent plane.
    """

    obj: GraspObject
    fine: DistanceField
    field50: DistanceField
    surface: np.ndarray
    normals: np.ndarray
    thickness: np.ndarray
    axis: np.ndarray

    def field_tensors(self, dtype=torch.float32, device="cpu"):
        """(distances (n, n, n), origin (3,), voxel (), centre (3,)) of the fine grid as tensors."""
        f = self.fine
        centre = np.asarray(f.origin) + f.voxel_size * (np.array(f.distances.shape) - 1) / 2
        return (torch.as_tensor(f.distances, dtype=dtype, device=device),
                torch.as_tensor(f.origin, dtype=dtype, device=device),
                torch.as_tensor(f.voxel_size, dtype=dtype, device=device),
                torch.as_tensor(centre, dtype=dtype, device=device))


def prepare_object(obj: GraspObject, config: SynthesisConfig = SynthesisConfig(), seed: int = 0) -> PreparedObject:
    """Distance grids, surface samples, normals, local thickness and axes of an object.

    Raises:
        DataError: the mesh yields no outer surface points (degenerate).
    """
    import trimesh

    mesh = obj.mesh()
    v = obj.vertices
    lo, hi = v.min(0), v.max(0)
    span = float((hi - lo).max()) + 2 * config.grid_margin
    voxel = span / (config.grid_size - 1)
    layout = GridLayout((lo + hi) / 2 - span / 2, voxel, (config.grid_size,) * 3)
    fine = sdf_from_mesh(mesh, layout)
    field50 = sdf_from_mesh(mesh, GridSpec())
    pts, _ = trimesh.sample.sample_surface(mesh, config.surface_samples, seed=seed)
    d = fine.sample(pts)
    pts = pts[np.abs(d) < 0.6 * voxel + 2e-4]  # drop faces buried inside other pieces
    if len(pts) < 10:
        raise DataError(f"{obj.object_id}: fewer than 10 outer surface points; the mesh looks degenerate")
    fb = FieldBatch(*(t.unsqueeze(0) for t in _np_field(fine)))
    tp = torch.as_tensor(pts, dtype=torch.float64).unsqueeze(0)
    normals = fb.normals(tp)[0].numpy()
    steps = np.arange(0.001, 0.15, 0.001)
    probe = pts[:, None, :] - normals[:, None, :] * steps[None, :, None]
    dp = fine.sample(probe)
    outside = (dp > 0) & (steps[None, :] > 0.002)
    thickness = np.where(outside.any(1), steps[np.argmax(outside, axis=1)], 0.15)
    axis = _local_axes(pts, normals)
    return PreparedObject(obj, fine, field50, pts, normals, thickness, axis)


def _np_field(f: DistanceField):
    centre = np.asarray(f.origin) + f.voxel_size * (np.array(f.distances.shape) - 1) / 2
    return (torch.as_tensor(f.distances, dtype=torch.float64), torch.as_tensor(f.origin, dtype=torch.float64),
            torch.as_tensor(f.voxel_size, dtype=torch.float64), torch.as_tensor(centre, dtype=torch.float64))


def _local_axes(points: np.ndarray, normals: np.ndarray, radius: float = 0.025) -> np.ndarray:
    """(M, 3) local long axis of the surface at each point, in its tangent plane.

    On a curved surface it is the direction of least curvature (perpendicular to the main
    variation of the nearby normals: the axis of a cylinder or handle bar); on a flat one, the
    direction of largest spread of the nearby points (the long side of a face).
    """
    tree = cKDTree(points)
    out = np.zeros_like(points)
    for i, nb in enumerate(tree.query_ball_point(points, radius)):
        n = normals[i]
        tangent = np.eye(3) - np.outer(n, n)
        if len(nb) < 3:
            a = tangent @ ([1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
        else:
            dn = (normals[nb] - normals[nb].mean(0)) @ tangent
            w, v = np.linalg.eigh(dn.T @ dn / len(nb))
            if w[-1] > 0.01:  # curved: the axis is across the normals' main variation
                a = np.cross(n, v[:, -1])
            else:
                x = (points[nb] - points[nb].mean(0)) @ tangent
                a = np.linalg.eigh(x.T @ x)[1][:, -1]
        out[i] = a / max(np.linalg.norm(a), 1e-9)
    return out


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations taking unit vectors a (N, 3) onto b (N, 3) (Rodrigues)."""
    v = np.cross(a, b)
    c = np.einsum("ij,ij->i", a, b)
    vx = np.zeros((len(a), 3, 3))
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 0] = -v[:, 2], v[:, 1], v[:, 2]
    vx[:, 1, 2], vx[:, 2, 0], vx[:, 2, 1] = -v[:, 0], -v[:, 1], v[:, 0]
    R = np.eye(3) + vx + vx @ vx / (1 + c).clip(1e-9)[:, None, None]
    flip = c < -0.999999  # opposite vectors: turn by pi about any perpendicular axis
    if flip.any():
        perp = np.cross(a[flip], np.where(np.abs(a[flip, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
        perp /= np.linalg.norm(perp, axis=1, keepdims=True)
        R[flip] = 2 * np.einsum("ni,nj->nij", perp, perp) - np.eye(3)
    return R


def _patch_centroids(energy: GraspEnergy, q: np.ndarray, grasp_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (N, 3) in the palm frame of the type's thumb contact patches and of its other
    contact patches, at joints ``q`` (N, 22)."""
    s = spec(grasp_type)
    with torch.no_grad():
        tq = torch.as_tensor(q, dtype=torch.float64)
        eye = torch.eye(3, dtype=torch.float64).expand(len(q), 3, 3)
        _, patch = energy.hand_points(tq, eye, torch.zeros(len(q), 3, dtype=torch.float64))
    patch = patch.numpy()
    valid = energy.patch_valid.cpu().numpy()

    def centroid(patches):
        idx = [energy.patches.index(p) for p in patches]
        pts = np.concatenate([patch[:, i][:, valid[i]] for i in idx], axis=1)
        return pts.mean(1)

    thumb = [p for p in s.contacts if p.link.startswith("rh_th")]
    other = [p for p in s.contacts if not p.link.startswith("rh_th")]
    return (centroid(thumb) if thumb else centroid(other)), centroid(other)


def initial_poses(prep: PreparedObject, grasp_type: str, n: int, rng: np.random.Generator,
                  energy: GraspEnergy, config: SynthesisConfig = SynthesisConfig()):
    """Starting hand configurations for ``n`` candidates of ``grasp_type`` around an object.

    Returns:
        (q (n, 22) rad, rot (n, 3, 3), trans (n, 3) m), numpy float64, object frame.
    """
    s = spec(grasp_type)
    lo, hi = energy.fk.lower.numpy(), energy.fk.upper.numpy()
    # prefer surface points whose local thickness suits the type
    fits = (prep.thickness >= s.width[0] - 0.005) & (prep.thickness <= s.width[1] + 0.01)
    pool = np.nonzero(fits)[0] if fits.sum() >= 4 else np.arange(len(prep.surface))
    idx = rng.choice(pool, n)
    p, nrm, h, ax = prep.surface[idx], prep.normals[idx], prep.thickness[idx], prep.axis[idx]
    q0 = s.preshape_vector()
    alpha = rng.uniform(*config.opening, size=(n, 1))
    q = np.clip(alpha * q0 + rng.normal(0, 0.05, size=(n, 22)), lo, hi)
    thumb_c, finger_c = _patch_centroids(energy, q, grasp_type)
    if s.approach == "palm":
        R = _align(np.tile([0.0, -1.0, 0.0], (n, 1)), -nrm)
        x = np.einsum("nij,j->ni", R, [1.0, 0, 0])
        theta = rng.uniform(-math.pi, math.pi, n)
        if grasp_type in ("cylindrical", "hook"):
            aligned = rng.random(n) < 0.8
            sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
            a = sign * ax
            target = np.arctan2(np.einsum("ni,ni->n", nrm * -1, np.cross(x, a)), np.einsum("ni,ni->n", x, a))
            theta = np.where(aligned, target + rng.normal(0, 0.2, n), theta)
        R = axis_angle_rotations(-nrm, theta) @ R
        if grasp_type == "hook":
            centre = finger_c
            place = p - nrm * np.minimum(h / 2, 0.02)[:, None]
        else:
            centre = np.tile(PALM_GRIP_POINT, (n, 1))
            place = p + nrm * rng.uniform(*config.palm_gap, size=(n, 1))
    else:
        o = finger_c - thumb_c
        o /= np.linalg.norm(o, axis=1, keepdims=True).clip(1e-9)
        R = axis_angle_rotations(nrm, rng.uniform(-math.pi, math.pi, n)) @ _align(o, nrm)
        centre = (thumb_c + finger_c) / 2
        place = p - nrm * (np.minimum(h, s.width[1]) / 2)[:, None]
    jitter = axis_angle_rotations(_unit(rng.normal(size=(n, 3))), rng.normal(0, 0.1, n))
    R = jitter @ R
    trans = place - np.einsum("nij,nj->ni", R, centre) + rng.normal(0, 0.003, size=(n, 3))
    return q, R, trans


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Optimised candidates of a batch (B = tasks x K).

    Attributes:
        task: (B,) index of the task (into the ``tasks`` list given to :func:`optimise`).
        type_index: (B,) requested type (into ``GRASP_TYPES``).
        joints (B, 22) rad, rot (B, 3, 3), trans (B, 3) m: the grasps in the object frame.
        energy: (B,) total energy; terms: dict of (B,) terms.
        max_penetration_mm, max_contact_mm, mean_contact_mm, min_clearance_mm: (B,) diagnostics.
        label: (B,) descriptor type (-1 unlabelled).
        pre_accepted: (B,) bool (see module docstring).
    """

    task: np.ndarray
    type_index: np.ndarray
    joints: np.ndarray
    rot: np.ndarray
    trans: np.ndarray
    energy: np.ndarray
    terms: dict
    max_penetration_mm: np.ndarray
    max_contact_mm: np.ndarray
    mean_contact_mm: np.ndarray
    min_clearance_mm: np.ndarray
    label: np.ndarray
    pre_accepted: np.ndarray


def optimise(tasks: list[tuple[PreparedObject, str]], config: SynthesisConfig = SynthesisConfig(),
             energy: GraspEnergy | None = None, seed: int = 0, device: str | torch.device = "cpu",
             progress=None) -> Candidates:
    """Optimise ``config.candidates`` grasps for every (object, type) task, all in one batch.

    Args:
        tasks: (prepared object, grasp type) pairs; an object may appear in several tasks.
        energy: the energy (built with ``config.weights`` when None).
        seed: seeds the initial poses.
        device: torch device (``"cuda"`` when available makes large batches fast).
        progress: optional callable(step) called after every iteration.

    Raises:
        DataError: no tasks, or an unknown grasp type.
    """
    if not tasks:
        raise DataError("optimise needs at least one (object, grasp type) task")
    energy = energy if energy is not None else GraspEnergy(weights=config.weights)
    K = config.candidates
    rng = np.random.default_rng(seed)
    init = [initial_poses(prep, t, K, rng, energy, config) for prep, t in tasks]
    dtype = torch.float32
    dev = torch.device(device)
    # the joints stay on the hand's coupled set (J1 = J2, one tendon each): coupled start, and the
    # energy of the coupled joints, whose gradients are equal for both joints of a pair
    q = couple(torch.as_tensor(np.concatenate([i[0] for i in init]), dtype=dtype, device=dev)).requires_grad_(True)
    r6 = torch.as_tensor(matrix_to_rot6d(np.concatenate([i[1] for i in init])), dtype=dtype, device=dev)
    r6.requires_grad_(True)
    t = torch.as_tensor(np.concatenate([i[2] for i in init]), dtype=dtype, device=dev).requires_grad_(True)
    types = torch.as_tensor(np.repeat([GRASP_TYPES.index(tp) for _, tp in tasks], K), device=dev)
    grids = [prep.field_tensors(dtype, dev) for prep, _ in tasks]
    field = FieldBatch(*(torch.stack(x) for x in zip(*grids)))
    lo, hi = energy.fk.lower.to(dev, dtype), energy.fk.upper.to(dev, dtype)
    opt = torch.optim.Adam([{"params": [q], "lr": config.lr_joints}, {"params": [r6], "lr": config.lr_rotation},
                            {"params": [t], "lr": config.lr_translation}])
    base = [g["lr"] for g in opt.param_groups]
    for step in range(config.steps):
        scale = 0.5 * (1 + math.cos(math.pi * step / max(config.steps, 1)))  # cosine decay
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * (0.1 + 0.9 * scale)
        terms = energy(field, couple(q), rot6d_to_matrix(r6), t, types)
        opt.zero_grad(set_to_none=True)
        terms["total"].sum().backward()
        opt.step()
        with torch.no_grad():
            q.copy_(couple(torch.maximum(torch.minimum(q, hi), lo)))
        if progress is not None:
            progress(step)
    with torch.no_grad():
        rot = rot6d_to_matrix(r6)
        terms = energy(field, q, rot, t, types)
    joints = q.detach().cpu().double().numpy()
    type_index = types.cpu().numpy()
    rot_np = rot.detach().cpu().double().numpy()
    trans_np = t.detach().cpu().double().numpy()
    task_of = np.repeat(np.arange(len(tasks)), K)
    label = np.full(len(joints), -1, dtype=np.int64)
    for k, (prep, _) in enumerate(tasks):  # with the contact descriptors on the task's object
        m = task_of == k
        label[m] = classify(joints[m], rot_np[m], trans_np[m], prep.fine)
    pen = terms["max_penetration"].cpu().double().numpy() * 1000
    contact = terms["max_contact_distance"].cpu().double().numpy() * 1000
    mean_contact = terms["mean_contact_distance"].cpu().double().numpy() * 1000
    clear = terms["min_clearance"].cpu().double().numpy() * 1000
    need = np.array([spec(GRASP_TYPES[k]).clearance * 500 if spec(GRASP_TYPES[k]).clear else -np.inf
                     for k in type_index])
    pre = ((pen <= config.max_penetration_mm) & (contact <= config.max_contact_mm)
           & (mean_contact <= config.mean_contact_mm) & (clear >= need) & (label == type_index))
    return Candidates(
        task=task_of, type_index=type_index, joints=joints, rot=rot_np, trans=trans_np,
        energy=terms["total"].cpu().double().numpy(),
        terms={k: v.detach().cpu().double().numpy() for k, v in terms.items() if k != "total"},
        max_penetration_mm=pen, max_contact_mm=contact, mean_contact_mm=mean_contact, min_clearance_mm=clear,
        label=label, pre_accepted=pre,
    )


def physics_check(cands: Candidates, tasks: list[tuple[PreparedObject, str]], which: np.ndarray | None = None,
                  workers: int = 1, physics_config=None, progress=None) -> list:
    """Run the physics check (``grasp.physics``) on candidates ``which`` (default the pre-accepted).

    Returns:
        list of (candidate index, ``PhysicsResult`` or None for an invalid grasp).
    """
    from ..physics import PhysicsConfig
    from ..physics_batch import evaluate_grasps

    which = np.nonzero(cands.pre_accepted)[0] if which is None else np.asarray(which, dtype=int)
    if len(which) == 0:
        return []
    objs, obj_index, key = [], [], {}
    for i in which:
        prep = tasks[cands.task[i]][0]
        if prep.obj.object_id not in key:
            key[prep.obj.object_id] = len(objs)
            objs.append(list(prep.obj.pieces))
        obj_index.append(key[prep.obj.object_id])
    results = evaluate_grasps(cands.joints[which], cands.rot[which], cands.trans[which], objs, np.array(obj_index),
                              config=physics_config or PhysicsConfig(), workers=workers, progress=progress)
    return list(zip(which.tolist(), results))


def accepted(result, config: SynthesisConfig = SynthesisConfig()) -> bool:
    """Whether a physics result accepts a grasp: all six directions hold, penetration small."""
    return result is not None and result.success and result.penetration_mm <= config.max_physics_penetration_mm
