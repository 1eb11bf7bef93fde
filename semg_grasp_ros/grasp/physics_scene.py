"""The MuJoCo scene of the physics check (``grasp.physics``): the hand, from the menagerie's
E3M5 model read at run time from the data folder or from the project's URDF, on a mocap-welded free
root, with its coupled distal joints on tendon actuators; the object from its convex pieces; and the
quaternion of a rotation as MuJoCo writes it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..hand.model import COUPLED_DISTAL, FINGER_JOINTS, urdf_path

log = logging.getLogger(__name__)

HAND_GEOMETRIES = ("auto", "menagerie", "urdf")

#: Prefix of the hand's element names in the simulation model.
PREFIX = "h-"
#: Hand body pairs that never collide (DexGraspBench's shadow hand: neighbours through a knuckle).
EXCLUDED_PAIRS = (
    ("rh_thproximal", "rh_thmiddle"), ("rh_palm", "rh_ffproximal"), ("rh_palm", "rh_mfproximal"),
    ("rh_palm", "rh_rfproximal"), ("rh_lfmetacarpal", "rh_lfproximal"), ("rh_ffknuckle", "rh_mfknuckle"),
    ("rh_mfknuckle", "rh_rfknuckle"),
)  # fmt: skip
#: ... and in the project's URDF, whose thumb proximal capsule reaches into the palm box at rest.
URDF_EXCLUDED_PAIRS = (("rh_palm", "rh_thproximal"),)

#: A convex piece: (vertices (V, 3) m, faces (F, 3) int).
Piece = tuple[np.ndarray, np.ndarray]

def menagerie_path() -> Path | None:
    """The menagerie's right-hand MJCF in the data folder, or None when absent."""
    from ..paths import data_root

    path = data_root(must_exist=False) / "hand" / "shadow_menagerie" / "right_hand.xml"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _hand_urdf() -> str:
    return urdf_path("free").read_text()


def resolve_hand(hand: str) -> str:
    """``"auto"`` -> ``"menagerie"`` when the data folder has it, else ``"urdf"``."""
    if hand != "auto":
        return hand
    if menagerie_path() is not None:
        return "menagerie"
    log.warning("menagerie hand model not found in the data folder: the physics check uses the URDF's primitives")
    return "urdf"


def _merge_capsules(spec) -> None:
    """Turn each URDF capsule (a cylinder plus a sphere of its radius on each end) back into one
    MuJoCo capsule: the same shape with a third of the collision pairs."""
    import mujoco

    for body in spec.bodies:
        geoms = list(body.geoms)
        spheres = [g for g in geoms if g.type == mujoco.mjtGeom.mjGEOM_SPHERE]
        for cyl in (g for g in geoms if g.type == mujoco.mjtGeom.mjGEOM_CYLINDER):
            r, half = cyl.size[0], cyl.size[1]
            rot = np.zeros(9)
            mujoco.mju_quat2Mat(rot, np.asarray(cyl.quat, dtype=np.float64))
            axis = rot.reshape(3, 3)[:, 2]
            ends = [np.asarray(cyl.pos) + s * half * axis for s in (-1.0, 1.0)]
            caps = [
                s for s in spheres
                if abs(s.size[0] - r) < 1e-9 and any(np.linalg.norm(np.asarray(s.pos) - e) < 1e-6 for e in ends)
            ]  # fmt: skip
            if len(caps) == 2:
                for s in caps:
                    spec.delete(s)
                    spheres.remove(s)
                cyl.type = mujoco.mjtGeom.mjGEOM_CAPSULE


def _hand_source(hand: str):
    """The spec holding the hand's ``rh_palm`` subtree (collision geometry only, no actuators)."""
    import mujoco

    if hand == "menagerie":
        path = menagerie_path()
        if path is None:
            raise DataError("hand='menagerie' needs <data>/hand/shadow_menagerie/right_hand.xml")
        src = mujoco.MjSpec.from_file(str(path))
        for g in list(src.geoms):
            if g.contype == 0 and g.conaffinity == 0:  # visual meshes
                src.delete(g)
        for el in list(src.actuators) + list(src.tendons) + list(src.excludes):
            src.delete(el)
        for name in ("rh_WRJ1", "rh_WRJ2"):
            src.delete(src.joint(name))
        used = {g.meshname for g in src.geoms}
        for m in list(src.meshes):
            if m.name not in used:
                src.delete(m)
    else:
        src = mujoco.MjSpec.from_string(_hand_urdf())
        _merge_capsules(src)
    return src


def _weld_data() -> list[float]:
    """A weld's data: anchor and relative pose zero (taken from the reference pose), torque scale 1."""
    import mujoco

    data = [0.0] * mujoco.mjNEQDATA
    data[10] = 1.0
    return data


def build_model(pieces: Sequence[Piece], config):
    """The MuJoCo model of the protocol: the hand (free root ``h-rh_palm`` welded to a mocap body)
    and the free ``object`` (plus a ``table`` plane for the table-top setting).

    Args:
        pieces: convex pieces of the object in its own frame, metres.
        config: the protocol's ``PhysicsConfig`` (``grasp.physics``).

    Returns:
        ``mujoco.MjModel``; actuators: one per finger joint, the coupled pairs one per tendon
        ``h-rh_FFJ0`` ... when ``config.coupled``.

    Raises:
        DataError: no pieces, a degenerate piece, or an object MuJoCo cannot compile.
    """
    import mujoco

    if not pieces:
        raise DataError("the object has no convex pieces")
    hand = resolve_hand(config.hand)
    spec = mujoco.MjSpec()
    opt = spec.option
    opt.timestep = config.timestep
    opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    opt.impratio = config.impratio
    opt.noslip_iterations = config.noslip_iterations
    opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_GRAVITY
    src = _hand_source(hand)
    src.option.impratio, src.option.cone = opt.impratio, opt.cone  # no attach conflict
    palm = spec.worldbody.add_frame().attach_body(src.body("rh_palm"), PREFIX, "")
    palm.pos, palm.quat = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]
    palm.add_freejoint().name = PREFIX + "root"
    mocap = spec.worldbody.add_body()
    mocap.name, mocap.mocap = "mocap", True
    spec.add_equality(type=mujoco.mjtEq.mjEQ_WELD, name1="mocap", name2=palm.name, objtype=mujoco.mjtObj.mjOBJ_BODY,
                      solimp=[0.9, 0.95, 0.001, 0.5, 2], data=_weld_data())
    friction = [config.friction, config.torsional_friction, 0.0001]
    for g in spec.geoms:  # hand only so far
        g.contype, g.conaffinity = (1, 1) if config.self_collision else (1, 0)
        g.friction, g.condim = friction, config.condim
        g.solimp[:3] = [0.5, 0.99, 0.0001]
        g.solref[:2] = [0.005, 1.0]
    for a, b in EXCLUDED_PAIRS + (URDF_EXCLUDED_PAIRS if hand == "urdf" else ()):
        ex = spec.add_exclude()
        ex.bodyname1, ex.bodyname2 = PREFIX + a, PREFIX + b
    for name in FINGER_JOINTS:
        j = spec.joint(PREFIX + name)
        j.armature, j.frictionloss = config.armature, config.frictionloss
        j.damping = [config.joint_damping, 0.0, 0.0]
    coupled = {n for pair in COUPLED_DISTAL.values() for n in pair} if config.coupled else set()
    actuated = [(n, mujoco.mjtTrn.mjTRN_JOINT) for n in FINGER_JOINTS if n not in coupled]
    if config.coupled:
        for tendon, (j2, j1) in COUPLED_DISTAL.items():
            t = spec.add_tendon()
            t.name = PREFIX + tendon
            t.wrap_joint(PREFIX + j2, 1.0)
            t.wrap_joint(PREFIX + j1, 1.0)
            actuated.append((tendon, mujoco.mjtTrn.mjTRN_TENDON))
    for name, trn in actuated:
        act = spec.add_actuator()
        act.name, act.target, act.trntype = PREFIX + name, PREFIX + name, trn
        act.set_to_position(kp=config.kp)
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-config.force_limit, config.force_limit]
    body = spec.worldbody.add_body()
    body.name = "object"
    body.add_freejoint()
    for i, (verts, faces) in enumerate(pieces):
        verts = np.asarray(verts, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int32)
        if verts.ndim != 2 or verts.shape[1] != 3 or len(verts) < 4 or not np.all(np.isfinite(verts)):
            raise DataError(f"object piece {i} needs at least 4 finite vertices (V, 3), got {verts.shape}")
        mesh = spec.add_mesh()
        mesh.name = f"piece{i}"
        mesh.uservert = verts.ravel().tolist()
        mesh.userface = faces.ravel().tolist()
        g = body.add_geom()
        g.type = mujoco.mjtGeom.mjGEOM_MESH
        g.meshname = mesh.name
        g.density = 1000.0  # rescaled to object_mass below
        g.contype, g.conaffinity = 0, 1
        g.friction, g.condim = friction, config.condim
    if config.setting == "tabletop":
        holder = spec.worldbody.add_body()  # mocap: placed per grasp (static world geoms are not)
        holder.name, holder.mocap = "table", True
        table = holder.add_geom()
        table.name, table.type, table.size = "table", mujoco.mjtGeom.mjGEOM_PLANE, [0.0, 0.0, 1.0]
        table.contype, table.conaffinity = 1, 1
        table.friction, table.condim = friction, config.condim
    try:
        model = spec.compile()
    except ValueError as exc:
        raise DataError(f"MuJoCo cannot compile the object: {exc}") from exc
    obj = model.body("object").id
    ratio = config.object_mass / model.body_mass[obj]
    model.body_mass[obj] *= ratio
    model.body_inertia[obj] *= ratio
    mujoco.mj_setConst(model, mujoco.MjData(model))  # derived quantities (subtree masses)
    return model


def quat_of(rot: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> unit quaternion (w, x, y, z) as MuJoCo computes it (its sign is the one the
    protocol's rotation angle is measured from)."""
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(rot, dtype=np.float64).ravel())
    return q
