"""Grasp execution trajectory: pregrasp while approaching along the palm normal -> grasp -> squeeze.

The hand's sequence is pre-shape -> pregrasp -> grasp -> squeeze (as DexGraspBench executes a
grasp): the pre-shape is the decided type's (the hand controller starts it on the intent, before
the grasp exists); a grasp then brings its own postures (``GraspCandidates.pregrasp/squeeze``):

1. Pregrasp: the joints move from the current position to the grasp's pregrasp posture (opened)
   while the wrist starts its approach from ``approach_distance`` behind the grasp pose along the
   palm normal (the hand shapes during the transport, as a human hand does in a reach: Jeannerod
   1984). A grasp without a pregrasp posture uses a partly opened copy of itself,
   ``q_open + preshape * (q_grasp - q_open)``.
2. Approach: the wrist ends its slide along the palm normal to the grasp pose (at most
   ``approach_speed``), the fingers held at the pregrasp. The wrist never arrives before the
   fingers have reached the pregrasp: when they are the slower, its slide lasts as long as theirs
   and this phase is empty.
3. Close: the joints move from the pregrasp to the grasp.
4. Squeeze: the joints move on to the squeeze posture (closed further onto the contacts; the
   position servos then press the object) and hold it. Without a squeeze posture the hand holds
   the grasp.

Each joint segment moves all joints along the straight line between its postures on one time
scaling: cosine ramps of ``ramp_time`` into and out of a cruise at which the slowest joint moves
at ``velocity_scale`` times its velocity limit (the ShadowHand's own limits: 2 rad/s for the
fingers, more for some thumb joints), so a segment lasts ``tau + ramp_time`` where ``tau`` is the
time its slowest joint needs at its limit (a minimum-jerk quintic, peaking at 15/8 of its mean
speed, needed ``15/8 tau``). Velocity and acceleration are continuous; the ramps accelerate at
most ``pi/2 * limit / ramp_time`` (63 rad/s^2 for a finger joint with the default 0.05 s, what a
quintic asks for on a 0.1 rad move); a move shorter than a ramp at full speed is all ramp, at the
same peak acceleration. Segments last at least ``min_segment_time``. The wrist's slide uses the
same scaling with ``approach_speed`` as its limit. Every waypoint is clamped to the joint limits
and lies on the hand's coupled set (J1 = J2 of FF, MF, RF, LF: ``model.couple``; the end points
are projected, and a straight line between coupled points stays coupled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import param
from ..errors import ConfigError, DataError
from ..geometry import matrix_to_quat_xyzw
from ..types import Header, JointTrajectory, JointTrajectoryPoint
from .model import FINGER_JOINTS, PALM_NORMAL, couple

PHASES = ("pregrasp", "approach", "close", "squeeze")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Shape and timing of a grasp trajectory; the hand controller's ``trajectory.*`` parameters."""

    preshape: float = param(0.3, "pre-shape on an intent, and the pregrasp of a grasp that gives none: "
                                 "0 = open hand, 1 = the type's (grasp's) joint angles")
    approach_distance: float = param(0.08, "metres behind the grasp, along the palm normal, where the approach starts")
    approach_speed: float = param(0.2, "wrist speed during the approach (its cruise between the ramps), m/s")
    velocity_scale: float = param(1.0, "fraction (0, 1] of each joint's velocity limit ever used")
    ramp_time: float = param(0.05, "seconds of each segment's cosine ramps into and out of its cruise speed")
    sample_period: float = param(0.05, "seconds between JointTrajectory points")
    min_segment_time: float = param(0.05, "lower bound of each joint segment's duration, s (> 0)")

    def __post_init__(self):
        if not 0.0 <= self.preshape <= 1.0:
            raise ConfigError(f"preshape must be in [0, 1], got {self.preshape}")
        if not 0.0 < self.velocity_scale <= 1.0:
            raise ConfigError(f"velocity_scale must be in (0, 1], got {self.velocity_scale}")
        for name in ("approach_speed", "sample_period", "min_segment_time", "ramp_time"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.approach_distance >= 0:
            raise ConfigError(f"approach_distance must be >= 0, got {self.approach_distance}")


@dataclass(frozen=True, eq=False)
class HandTrajectory:
    """A sampled grasp trajectory.

    Attributes:
        times: (K,) s from the start, increasing, first 0.
        joints: (K, 22) rad, FINGER_JOINTS order.
        velocities: (K, 22) rad/s.
        wrist_position: (K, 3) m, palm position in the grasp's frame.
        wrist_rotation: (3, 3) palm rotation (constant along the trajectory).
        phase: (K,) index into PHASES.
    """

    times: np.ndarray
    joints: np.ndarray
    velocities: np.ndarray
    wrist_position: np.ndarray
    wrist_rotation: np.ndarray
    phase: np.ndarray

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray, int]:
        """Joints (22,), wrist position (3,) and phase at ``t`` s (linear between waypoints, held after the end)."""
        t = float(np.clip(t, 0.0, self.duration))
        k = int(np.searchsorted(self.times, t, side="right")) - 1
        k = min(max(k, 0), len(self.times) - 2) if len(self.times) > 1 else 0
        if len(self.times) == 1:
            return self.joints[0].copy(), self.wrist_position[0].copy(), int(self.phase[0])
        a = (t - self.times[k]) / (self.times[k + 1] - self.times[k])
        q = (1 - a) * self.joints[k] + a * self.joints[k + 1]
        p = (1 - a) * self.wrist_position[k] + a * self.wrist_position[k + 1]
        return q, p, int(self.phase[k + 1] if a > 0 else self.phase[k])

    def to_joint_trajectory(self, header: Header, names: tuple[str, ...] = FINGER_JOINTS) -> JointTrajectory:
        """The joint part as a ``JointTrajectory`` message (time_from_start in ns)."""
        points = tuple(
            JointTrajectoryPoint(q, v, int(round(t * 1e9))) for t, q, v in zip(self.times, self.joints, self.velocities)
        )
        return JointTrajectory(header, names, points)

    def wrist_quaternion(self) -> np.ndarray:
        """(4,) x, y, z, w of the constant palm rotation."""
        return matrix_to_quat_xyzw(self.wrist_rotation)


def _timing(tau: float, cfg: TrajectoryConfig) -> tuple[float, float]:
    """(duration, ramp) s of a segment whose slowest joint needs ``tau`` s at its speed limit."""
    ramp = min(cfg.ramp_time, float(np.sqrt(tau * cfg.ramp_time)))  # shorter moves: all ramp, same acceleration
    duration = max(cfg.min_segment_time, max(tau, ramp) + ramp)
    return duration, (ramp if ramp > 0 else duration / 2)


def _profile(t, duration: float, ramp: float):
    """Fraction of the way (K,) and its rate (K,) 1/s at times ``t`` (K,) s of a segment: cosine
    ramps of ``ramp`` s around a constant-rate cruise (``ramp`` <= ``duration`` / 2)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, duration)
    cruise = 1.0 / (duration - ramp)

    def up(u):  # the ramp from rest, u in [0, ramp]
        return cruise * (u / 2 - ramp / (2 * np.pi) * np.sin(np.pi * u / ramp)), cruise * (1 - np.cos(np.pi * u / ramp)) / 2

    head, tail = up(np.minimum(t, ramp)), up(np.clip(duration - t, 0.0, ramp))
    pos = np.where(t <= ramp, head[0], np.where(t >= duration - ramp, 1.0 - tail[0], cruise * (t - ramp / 2)))
    rate = np.where(t <= ramp, head[1], np.where(t >= duration - ramp, tail[1], cruise))
    return pos, rate


def _segment_time(q0, q1, vmax, cfg: TrajectoryConfig) -> tuple[float, float]:
    """(duration, ramp) s from ``q0`` to ``q1`` with every joint within ``vmax``."""
    return _timing(float(np.max(np.abs(q1 - q0) / vmax)), cfg)


def _segment(q0, q1, vmax, cfg: TrajectoryConfig):
    dq = q1 - q0
    duration, ramp = _segment_time(q0, q1, vmax, cfg)
    n = max(1, int(np.ceil(duration / cfg.sample_period)))
    t = np.linspace(0.0, duration, n + 1)[1:]
    pos, rate = _profile(t, duration, ramp)
    return t, q0 + pos[:, None] * dq, rate[:, None] * dq


def plan_grasp(
    q_start,
    q_grasp,
    rot,
    trans,
    lower,
    upper,
    velocity_limits,
    q_open=None,
    config: TrajectoryConfig = TrajectoryConfig(),
    q_pregrasp=None,
    q_squeeze=None,
) -> HandTrajectory:
    """Plan pregrasp -> approach -> close -> squeeze (module docstring).

    Args:
        q_start: (22,) current joint positions, rad.
        q_grasp: (22,) grasp joint positions, rad (clamped to the limits here).
        rot, trans: (3, 3), (3,) palm pose of the grasp in its frame (m).
        lower, upper: (22,) joint limits, rad.
        velocity_limits: (22,) rad/s.
        q_open: (22,) open hand (default: zeros clamped to the limits).
        q_pregrasp, q_squeeze: (22,) the grasp's pregrasp and squeeze postures, rad (None: a
            partly opened grasp, and no squeeze).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (q_start, q_grasp, lower, upper, velocity_limits)]
    q_start, q_grasp, lower, upper, vlim = arrays
    rot = np.asarray(rot, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    for name, a in zip(("q_start", "q_grasp", "lower", "upper", "velocity_limits"), arrays):
        if a.shape != (22,) or not np.all(np.isfinite(a)):
            raise DataError(f"{name} must be 22 finite values, got shape {a.shape}")
    if rot.shape != (3, 3) or trans.shape != (3,) or not (np.all(np.isfinite(rot)) and np.all(np.isfinite(trans))):
        raise DataError("wrist pose must be a finite (3, 3) rotation and (3,) position")
    if np.any(vlim <= 0) or np.any(upper < lower):
        raise DataError("velocity limits must be positive and upper limits >= lower limits")
    q_open = couple(np.clip(np.zeros(22) if q_open is None else np.asarray(q_open, dtype=np.float64), lower, upper))
    q_start, q_grasp = couple(np.clip(q_start, lower, upper)), couple(np.clip(q_grasp, lower, upper))
    postures = {}
    for name, q in (("q_pregrasp", q_pregrasp), ("q_squeeze", q_squeeze)):
        if q is not None:
            q = np.asarray(q, dtype=np.float64)
            if q.shape != (22,) or not np.all(np.isfinite(q)):
                raise DataError(f"{name} must be 22 finite values, got shape {q.shape}")
            postures[name] = couple(np.clip(q, lower, upper))
    q_pre = postures.get("q_pregrasp", np.clip(q_open + config.preshape * (q_grasp - q_open), lower, upper))
    q_sq = postures.get("q_squeeze", q_grasp)
    vmax = vlim * config.velocity_scale
    normal = rot @ PALM_NORMAL
    p_pre = trans - config.approach_distance * normal

    times, joints, vels, wrist, phase = [np.zeros(1)], [q_start[None]], [np.zeros((1, 22))], [p_pre[None]], [np.zeros(1, int)]
    # 1-2. pregrasp posture while the wrist slides along the palm normal; the slide lasts at least
    # as long as the fingers' motion, so the wrist arrives with the fingers at the pregrasp
    t_fingers, ramp_fingers = _segment_time(q_start, q_pre, vmax, config)
    t_slide, ramp_wrist = _timing(config.approach_distance / config.approach_speed, config)
    t_wrist = max(t_fingers, t_slide)
    n = max(1, int(np.ceil(t_wrist / config.sample_period)))
    grid = np.linspace(0.0, t_wrist, n + 1)[1:]
    t = np.union1d(grid[np.abs(grid - t_fingers) > 1e-6], [t_fingers])  # a waypoint where the fingers arrive
    a, da = _profile(t, t_fingers, ramp_fingers)
    b = _profile(t, t_wrist, ramp_wrist)[0]
    times.append(t), joints.append(q_start + a[:, None] * (q_pre - q_start))
    vels.append(np.where(t[:, None] <= t_fingers, da[:, None] * (q_pre - q_start), 0.0))
    wrist.append(p_pre + b[:, None] * (trans - p_pre)), phase.append(np.where(t <= t_fingers, 0, 1))
    t0 = t_wrist
    # 3. close
    t, q, v = _segment(q_pre, q_grasp, vmax, config)
    times.append(t0 + t), joints.append(q), vels.append(v), wrist.append(np.repeat(trans[None], len(t), 0))
    phase.append(np.full(len(t), 2))
    t0 += t[-1]
    # 4. squeeze (held at the end)
    t, q, v = _segment(q_grasp, q_sq, vmax, config)
    times.append(t0 + t), joints.append(q), vels.append(v), wrist.append(np.repeat(trans[None], len(t), 0))
    phase.append(np.full(len(t), 3))
    return HandTrajectory(
        times=np.concatenate(times),
        joints=np.clip(np.concatenate(joints), lower, upper),
        velocities=np.concatenate(vels),
        wrist_position=np.concatenate(wrist),
        wrist_rotation=rot,
        phase=np.concatenate(phase),
    )


def plan_joint_motion(q_start, q_goal, lower, upper, velocity_limits, config: TrajectoryConfig = TrajectoryConfig()):
    """A single joint segment (e.g. opening the hand), as ``(times (K,), joints (K, 22), velocities (K, 22))``."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    q0 = couple(np.clip(np.asarray(q_start, float), lower, upper))
    q1 = couple(np.clip(np.asarray(q_goal, float), lower, upper))
    t, q, v = _segment(q0, q1, np.asarray(velocity_limits, float) * config.velocity_scale, config)
    return np.concatenate([[0.0], t]), np.clip(np.vstack([q0, q]), lower, upper), np.vstack([np.zeros(22), v])
