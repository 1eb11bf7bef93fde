"""The ShadowHand joint table: names in both conventions, axes, limits, velocity limits, coupling.

Two variants of the right hand ship in ``urdf/`` and are parsed here (the URDF is the single
source of the kinematic numbers):

``"free"`` (``shadow_hand_free.urdf``, the default for grasps)
    Palm-rooted, 22 finger joints; the wrist pose of a grasp is the pose of ``rh_palm``.
    Offsets, axes and limits are those of DexGraspNet's 22-joint model (the convention of the
    grasp data), in Shadow's joint names and axis signs.
``"fixed"`` (``shadow_hand.urdf``)
    The E3M5 hand on its forearm: ``rh_WRJ2``, ``rh_WRJ1`` + 22 finger joints (24), root
    ``rh_forearm``; for robot_state_publisher / RViz and the real robot's limits.

Conventions. Shadow names ``rh_FFJ4..rh_FFJ1`` (J4 abduction, J3 proximal, J2 middle, J1 distal
flexion), ``rh_LFJ5`` (metacarpal), ``rh_THJ5..rh_THJ1``. DexGraspNet (OpenAI gym) names are
shifted down by one (``robot0:FFJ3..FFJ0``, ``LFJ4..LFJ0``, ``THJ4..THJ0``), and four joints turn
about the opposite axis: Shadow ``rh_FFJ4 = -robot0:FFJ3``, ``rh_MFJ4 = -robot0:MFJ3``,
``rh_THJ2 = -robot0:THJ1``, ``rh_THJ1 = -robot0:THJ0`` (every other joint: equal values).

Coupling. On the real hand the middle (J2) and distal (J1) joints of FF, MF, RF, LF are driven by
one tendon: one actuator per finger commands ``J0 = J2 + J1`` (range 0..pi), as in Shadow's
menagerie model and DexGraspBench's hand (a fixed tendon of both joints with coefficient 1 and
one position actuator on it). Both joints have the same range, damping and velocity limit, so a
commanded J0 is shared equally: ``J1 = J2 = J0 / 2``. BODex's Shadow grasps (DexGraspBench's
examples) all have J1 = J2 exactly; OpenAI's model (DexGraspNet's MJCF) ties them by a tendon
``J1 ~ 1.14 J2 +- 0.14 rad``, which J1 = J2 meets up to J2 = 1 rad. Kinematically they stay two
joints (the URDFs and every 22-joint vector keep both); ``COUPLED_DISTAL`` names the pairs,
:func:`couple` projects any joint vector onto the coupled set (both to their mean: J0 unchanged),
:func:`coupling_error` measures a violation, and :data:`ACTUATED_JOINTS` / :func:`coupling_matrix`
give the 18 actuated coordinates (``q = C a``) that optimisers work in.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..paths import resource

log = logging.getLogger(__name__)

#: URDF file of each variant (in the package's ``urdf`` resource folder).
VARIANT_FILES = {"free": "shadow_hand_free.urdf", "fixed": "shadow_hand.urdf"}

#: The 22 finger joints in Shadow naming, in the order of grasp vectors everywhere in the project
#: (the same order as DexGraspNet's ``qpos`` keys).
FINGER_JOINTS: tuple[str, ...] = (
    "rh_FFJ4", "rh_FFJ3", "rh_FFJ2", "rh_FFJ1",
    "rh_MFJ4", "rh_MFJ3", "rh_MFJ2", "rh_MFJ1",
    "rh_RFJ4", "rh_RFJ3", "rh_RFJ2", "rh_RFJ1",
    "rh_LFJ5", "rh_LFJ4", "rh_LFJ3", "rh_LFJ2", "rh_LFJ1",
    "rh_THJ5", "rh_THJ4", "rh_THJ3", "rh_THJ2", "rh_THJ1",
)  # fmt: skip
WRIST_JOINTS: tuple[str, ...] = ("rh_WRJ2", "rh_WRJ1")

#: DexGraspNet name of each finger joint (same order as FINGER_JOINTS).
DEXGRASPNET_JOINTS: tuple[str, ...] = (
    "robot0:FFJ3", "robot0:FFJ2", "robot0:FFJ1", "robot0:FFJ0",
    "robot0:MFJ3", "robot0:MFJ2", "robot0:MFJ1", "robot0:MFJ0",
    "robot0:RFJ3", "robot0:RFJ2", "robot0:RFJ1", "robot0:RFJ0",
    "robot0:LFJ4", "robot0:LFJ3", "robot0:LFJ2", "robot0:LFJ1", "robot0:LFJ0",
    "robot0:THJ4", "robot0:THJ3", "robot0:THJ2", "robot0:THJ1", "robot0:THJ0",
)  # fmt: skip
#: Shadow value = sign * DexGraspNet value (axes of opposite direction in the two models).
DEXGRASPNET_SIGN: np.ndarray = np.array(
    [-1.0 if n in ("rh_FFJ4", "rh_MFJ4", "rh_THJ2", "rh_THJ1") else 1.0 for n in FINGER_JOINTS]
)
DEXGRASPNET_ROTATION = ("WRJRx", "WRJRy", "WRJRz")
DEXGRASPNET_TRANSLATION = ("WRJTx", "WRJTy", "WRJTz")

#: Coupled tendon J0 of each finger -> (middle J2, distal J1): J0 = J2 + J1 on the real hand.
COUPLED_DISTAL: dict[str, tuple[str, str]] = {
    f"rh_{f}J0": (f"rh_{f}J2", f"rh_{f}J1") for f in ("FF", "MF", "RF", "LF")
}
#: (middle J2, distal J1) column indices in FINGER_JOINTS of each coupled pair, FF MF RF LF.
COUPLED_INDEX: tuple[tuple[int, int], ...] = tuple(
    (FINGER_JOINTS.index(j2), FINGER_JOINTS.index(j1)) for j2, j1 in COUPLED_DISTAL.values()
)
#: The 18 actuated coordinates: the 22 finger joints with each coupled pair replaced by its tendon
#: ``J0 = J2 + J1`` (named ``rh_FFJ0`` ...), in FINGER_JOINTS order.
ACTUATED_JOINTS: tuple[str, ...] = tuple(
    next((t for t, (j2, _) in COUPLED_DISTAL.items() if j2 == n), n)
    for n in FINGER_JOINTS if n not in {j1 for _, j1 in COUPLED_DISTAL.values()}
)
#: Largest |J2 - J1| (rad) still counted as coupled (float32 rounding of a coupled vector).
COUPLING_TOLERANCE = 1e-5


def coupling_matrix() -> np.ndarray:
    """(22, 18) matrix C with ``q = C a``: each actuated coordinate drives its joint, a tendon J0
    half of it to each joint of its pair (``ACTUATED_JOINTS`` order for ``a``, ``FINGER_JOINTS``
    for ``q``). Its pseudo-inverse gives ``a`` of a coupled ``q`` (a tendon: J2 + J1)."""
    C = np.zeros((len(FINGER_JOINTS), len(ACTUATED_JOINTS)))
    for k, name in enumerate(ACTUATED_JOINTS):
        pair = COUPLED_DISTAL.get(name, (name,))
        for joint in pair:
            C[FINGER_JOINTS.index(joint), k] = 1.0 / len(pair)
    return C


def couple(q):
    """Project finger joints onto the coupled set: J1 = J2 = (J1 + J2) / 2 for FF, MF, RF, LF.

    The orthogonal projection (the nearest coupled vector), keeping the tendon ``J0 = J1 + J2``;
    values within the limits stay within them (both joints share one range).

    Args:
        q: (..., 22) rad, FINGER_JOINTS order; numpy array or torch tensor (differentiable).

    Returns:
        the same type and shape, a new array.
    """
    if q.shape[-1] != len(FINGER_JOINTS):
        raise DataError(f"joint array has {q.shape[-1]} columns, expected {len(FINGER_JOINTS)}")
    i2, i1 = (list(c) for c in zip(*COUPLED_INDEX))
    mean = (q[..., i2] + q[..., i1]) / 2
    out = q.clone() if hasattr(q, "clone") else np.array(q, dtype=np.float64)
    out[..., i2] = mean
    out[..., i1] = mean
    return out


def coupling_error(q) -> np.ndarray:
    """(...) largest |J2 - J1| over the four coupled pairs of (..., 22) joints, rad."""
    q = np.asarray(q, dtype=np.float64)
    i2, i1 = (list(c) for c in zip(*COUPLED_INDEX))
    return np.abs(q[..., i2] - q[..., i1]).max(-1)


#: Fingertip frames (fixed links 26 mm / 27.5 mm beyond the distal joints), thumb last.
FINGERTIPS: tuple[str, ...] = ("rh_fftip", "rh_mftip", "rh_rftip", "rh_lftip", "rh_thtip")
#: Outward normal of the palm's grasping face, in the rh_palm frame.
PALM_NORMAL = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True)
class Joint:
    """One revolute joint as written in the URDF (axis in the child frame, limits in rad, rad/s, N m)."""

    name: str
    parent: str
    child: str
    axis: tuple[float, float, float]
    lower: float
    upper: float
    velocity: float
    effort: float

    @property
    def dexgraspnet_name(self) -> str | None:
        """DexGraspNet name of a finger joint, None for the wrist joints."""
        return DEXGRASPNET_JOINTS[FINGER_JOINTS.index(self.name)] if self.name in FINGER_JOINTS else None

    @property
    def tendon(self) -> str | None:
        """The tendon (``rh_FFJ0`` ...) driving this joint together with its pair, None for a joint
        with its own actuator."""
        return next((t for t, pair in COUPLED_DISTAL.items() if self.name in pair), None)


@dataclass(frozen=True)
class HandModel:
    """Joint table of one hand variant, with vectorised limits.

    Attributes:
        variant: ``"free"`` or ``"fixed"``.
        urdf_path: the URDF it was parsed from.
        root: root link name.
        joints: revolute joints in URDF order (22 or 24).
    """

    variant: str
    urdf_path: Path
    root: str
    joints: tuple[Joint, ...]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def finger_joints(self) -> tuple[Joint, ...]:
        """The 22 finger joints in FINGER_JOINTS order."""
        by_name = {j.name: j for j in self.joints}
        return tuple(by_name[n] for n in FINGER_JOINTS)

    def joint(self, name: str) -> Joint:
        for j in self.joints:
            if j.name == name:
                return j
        raise DataError(f"unknown joint {name!r}; the {self.variant} hand has {list(self.joint_names)}")

    def limits(self, names: tuple[str, ...] = FINGER_JOINTS) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) arrays (n,) in radians for ``names``."""
        js = [self.joint(n) for n in names]
        return np.array([j.lower for j in js]), np.array([j.upper for j in js])

    def actuated_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) (18,) rad of ``ACTUATED_JOINTS`` (a tendon: the sums of its joints' limits)."""
        lo, hi = self.limits()
        C = coupling_matrix()
        scale = 1.0 / C.max(0)  # 1 for a joint, 2 for a tendon
        return (C.T @ lo) * scale, (C.T @ hi) * scale

    def velocity_limits(self, names: tuple[str, ...] = FINGER_JOINTS) -> np.ndarray:
        """(n,) rad/s."""
        return np.array([self.joint(n).velocity for n in names])

    def clamp(self, q: np.ndarray, names: tuple[str, ...] = FINGER_JOINTS) -> tuple[np.ndarray, np.ndarray]:
        """Clamp joint positions to the limits.

        Args:
            q: (..., n) radians, columns in ``names`` order.

        Returns:
            (clamped (..., n), excess (..., n) >= 0: how far each value lay outside its limit).
        """
        lo, hi = self.limits(names)
        q = np.asarray(q, dtype=np.float64)
        if q.shape[-1] != len(names):
            raise DataError(f"joint array has {q.shape[-1]} columns, expected {len(names)}")
        clamped = np.clip(q, lo, hi)
        return clamped, np.abs(q - clamped)


def _floats(text: str | None, n: int, default: float = 0.0) -> tuple[float, ...]:
    if text is None:
        return (default,) * n
    vals = tuple(float(v) for v in text.split())
    if len(vals) != n:
        raise ConfigError(f"expected {n} numbers in URDF attribute, got {text!r}")
    return vals


def parse_joints(urdf_text: str) -> tuple[str, list[Joint]]:
    """Root link and revolute joints of a URDF (in file order)."""
    try:
        robot = ET.fromstring(urdf_text)
    except ET.ParseError as exc:
        raise ConfigError(f"URDF is not valid XML: {exc}") from exc
    children = {j.find("child").get("link") for j in robot.findall("joint")}
    roots = [l.get("name") for l in robot.findall("link") if l.get("name") not in children]
    if len(roots) != 1:
        raise ConfigError(f"URDF must have exactly one root link, found {roots}")
    joints = []
    for j in robot.findall("joint"):
        if j.get("type") not in ("revolute", "continuous"):
            continue
        lim = j.find("limit")
        axis = j.find("axis")
        joints.append(
            Joint(
                name=j.get("name"),
                parent=j.find("parent").get("link"),
                child=j.find("child").get("link"),
                axis=_floats(axis.get("xyz") if axis is not None else None, 3) if axis is not None else (1.0, 0.0, 0.0),
                lower=float(lim.get("lower", -np.pi)) if lim is not None else -np.pi,
                upper=float(lim.get("upper", np.pi)) if lim is not None else np.pi,
                velocity=float(lim.get("velocity", 2.0)) if lim is not None else 2.0,
                effort=float(lim.get("effort", 4.0)) if lim is not None else 4.0,
            )
        )
    return roots[0], joints


def urdf_path(variant: str = "free") -> Path:
    """Path of the URDF of ``variant`` (``"free"`` or ``"fixed"``)."""
    if variant not in VARIANT_FILES:
        raise ConfigError(f"unknown hand variant {variant!r}; expected one of {sorted(VARIANT_FILES)}")
    return resource("urdf", VARIANT_FILES[variant])


@lru_cache(maxsize=None)
def load_hand(variant: str = "free") -> HandModel:
    """The joint table of a hand variant, parsed from its URDF (cached).

    Raises:
        ConfigError: unknown variant, unreadable URDF, or a URDF lacking a finger joint.
    """
    path = urdf_path(variant)
    root, joints = parse_joints(path.read_text())
    names = {j.name for j in joints}
    expected = set(FINGER_JOINTS) | (set(WRIST_JOINTS) if variant == "fixed" else set())
    if names != expected:
        raise ConfigError(f"{path} joints {sorted(names)} differ from the expected {sorted(expected)}")
    return HandModel(variant=variant, urdf_path=path, root=root, joints=tuple(joints))
