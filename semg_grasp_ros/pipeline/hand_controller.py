"""The hand controller component: decided intents and a selected grasp in, safe hand commands out.

``grasp/intent`` (``GraspIntent``): when a new grasp type is decided (confidence at least
``intent_min_confidence``), the fingers start at once towards that type's pre-shape
(``grasp.representation``: ``q_open + preshape * (q_type - q_open)``), published as
``hand/joint_trajectory`` (fingers only, no wrist target). This is the hand's first reaction to
a decision; the object-specific grasp follows when the generator has made it (tens of
milliseconds later) and takes over from wherever the fingers are. When the decided type ends in
rest (at the same confidence: a rejected decision is no evidence of rest) the grasp is released
and the fingers go to the rest posture, ``rest_posture`` of the way to the grasp types' mean
pre-shape: a half-flexed hand from which every type's pregrasp is nearer than from the open
hand. Without ``preshape_on_intent`` the intents only set the closing level: rest moves nothing.

``grasp/selected`` (``HandGrasp``) -> a trajectory to the grasp's pregrasp posture -> approach
along the palm normal -> close to the grasp -> squeeze (``hand.trajectory``; the hand's sequence is
pre-shape -> pregrasp -> grasp -> squeeze, the pre-shape coming from the intent), published once
as ``hand/joint_trajectory`` (for a hand controller) with the wrist target ``grasp/pose``
(``PoseStamped``, for an arm planner) and the grasp for MoveIt on ``grasp/moveit`` (``MoveItGrasp``,
``pipeline.moveit_grasp``). A grasp without pregrasp/squeeze postures (empty fields)
gets a partly opened copy of itself as pregrasp and no squeeze. With ``proportional_closing`` the
close phase follows the intents' contraction level instead of the clock (``hand.closure``: level
0 = pregrasp, ``grasp_level`` = the grasp, 1 = the squeeze; rate-limited): the hand closes as much
as the user contracts and opens back to the pregrasp when they relax. A timer
at ``rate_hz`` publishes ``joint_states`` (for robot_state_publisher) and the wrist transform
(TF ``grasp frame -> root_link``) of the commanded hand.

Safety policy:

* every command is clamped to the joint limits (the intersection of the E3M5 hand's and the
  grasp convention's limits) and moves no joint faster than ``velocity_scale`` times its
  velocity limit, also when a new grasp replaces a running one (it starts from the commanded
  position);
* a grasp with unknown joint names, non-finite values or missing joints is rejected with a
  logged reason (throttled) and counted in ``rejected``; joint values beyond the limits are
  clamped (logged); the coupled joints J1/J2 of FF, MF, RF, LF (one tendon each on the real hand)
  are commanded equal: a grasp setting them apart is projected onto the coupled set
  (``hand.model.couple``, logged), so no command leaves it;
* watchdog: when no fresh grasp arrived within ``timeout_s`` (message time), the hand ``hold``s
  its position or ``open``s (rate-limited), as configured, also in the middle of a trajectory;
  a grasp whose stamp is already older than ``timeout_s`` is rejected as stale. Re-publishing
  the same grasp (same frame, joints and pose within 1e-6) only refreshes it: the running
  trajectory goes on instead of starting over.
* intent watchdog: once intents have been received, when none arrived for ``intent_timeout_s``
  (the decoder publishes one per decision, every few tens of milliseconds; silence means the
  EMG or the decoder stopped), the hand does the same (``on_timeout``) and rejects grasps until
  intents come back: it never acts on a decision it can no longer confirm. A controller fed
  grasps only (no intents ever) is not affected.

Deterministic: outputs depend only on the inputs and the timer's ``now_ns`` (sim or wall clock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .. import REST
from ..config import nested, param
from ..errors import ConfigError, DataError
from ..geometry import matrix_to_quat_xyzw
from ..grasp.representation import SPECS
from ..hand.closure import ProportionalClosure, closure_posture
from ..hand.convert import hand_grasp_postures, hand_grasp_to_arrays
from ..hand.kinematics import HandKinematics
from ..hand.model import COUPLING_TOLERANCE, FINGER_JOINTS, WRIST_JOINTS, couple, coupling_error, load_hand
from ..hand.trajectory import PHASES, TrajectoryConfig, plan_grasp, plan_joint_motion
from ..throttle import Throttle
from ..topics import GRASP_INTENT, GRASP_MOVEIT, GRASP_POSE, GRASP_SELECTED, HAND_TRAJECTORY, JOINT_STATES, TF
from ..types import (
    GraspIntent,
    HandGrasp,
    Header,
    JointState,
    JointTrajectory,
    JointTrajectoryPoint,
    MoveItGrasp,
    Pose,
    PoseStamped,
    TransformStamped,
)
from .component import Ports, Timer
from .intent_gate import IntentGate
from .moveit_grasp import moveit_grasp

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class _Plan:
    """The commanded motion being executed.

    Attributes:
        start_ns: message time of its first point, ns.
        times: (K,) s from ``start_ns``.
        joints: (K, 22) rad, ``FINGER_JOINTS`` order.
        wrist_position: (K, 3) m of ``rh_palm`` in the grasp's frame; None for a finger-only motion.
        rotation: (3, 3) of ``rh_palm`` in the grasp's frame; None for a finger-only motion.
    """

    start_ns: int
    times: np.ndarray
    joints: np.ndarray
    wrist_position: np.ndarray | None = None
    rotation: np.ndarray | None = None


@dataclass(frozen=True)
class HandControllerConfig:
    """Parameters of :class:`HandController` (SI units unless the name says otherwise)."""

    rate_hz: float = param(50.0, "joint_states / TF publishing and watchdog rate, Hz")
    timeout_s: float = param(5.0, "no grasp message for this long (message time): the watchdog acts; "
                               "longer than a whole trajectory unless the grasp is re-published", live=True)
    on_timeout: str = param("hold", "what the hand does without a fresh grasp: 'hold' or 'open'", live=True)
    trajectory: TrajectoryConfig = nested(TrajectoryConfig, "shape and timing of the commanded trajectories")
    root_link: str = param("rh_palm", "child frame of the published wrist TF: 'rh_palm' (shadow_hand_free.urdf) "
                                   "or 'rh_forearm' (shadow_hand.urdf, wrist joints at zero)")
    home_frame: str = param("", "frame of the wrist's home pose, published as TF until the first grasp moves the "
                                "wrist (a tree viewers can draw from the start); '' = no wrist TF before a grasp")
    home_pose: tuple[float, ...] = param((0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
                                         "home pose of root_link in home_frame: x, y, z (m), qx, qy, qz, qw")
    publish_wrist_joints: bool = param(True, "also publish rh_WRJ2/rh_WRJ1 = 0 in joint_states (for shadow_hand.urdf)")
    log_throttle_s: float = param(1.0, "same rejection reason logged at most once per this many seconds")
    preshape_on_intent: bool = param(True, "start the decided type's pre-shape as soon as an intent names a new type, "
                                           "before the generated grasp arrives")
    intent_min_confidence: float = param(0.6, "intents below this confidence start no pre-shape", (0.0, 1.0),
                                         live=True)
    intent_timeout_s: float = param(0.5, "once intents were seen, none for this long (message time): hold or open "
                                         "(on_timeout) and reject grasps until intents return; 0 = off", (0.0, 3600.0),
                                     live=True)
    proportional_closing: bool = param(True, "close the grasp as far as the intents' contraction level says "
                                             "(false: close fully, whatever the level)", live=True)
    grasp_level: float = param(0.7, "proportional closing: level at which the grasp posture is reached (above it "
                                    "towards the squeeze, reached at 1)", (0.05, 1.0), live=True)
    closure_rate: float = param(2.0, "proportional closing: at most this many pregrasp -> grasp motions per second",
                                (0.01, 100.0), live=True)
    rest_posture: float = param(0.6, "when a decided type ends in rest (preshape_on_intent), the fingers go this "
                                     "fraction of the way from the open hand to the grasp types' mean pre-shape "
                                     "(half-flexed, nearer every type's pregrasp than the open hand: the next grasp "
                                     "starts sooner); 0 = open hand", (0.0, 1.0), live=True)

    def __post_init__(self):
        if not 0 < self.rate_hz <= 1000:
            raise ConfigError(f"rate_hz must be in (0, 1000], got {self.rate_hz}")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.on_timeout not in ("hold", "open"):
            raise ConfigError(f"on_timeout {self.on_timeout!r} unknown; expected 'hold' or 'open'")
        if self.root_link not in ("rh_palm", "rh_forearm"):
            raise ConfigError(f"root_link {self.root_link!r} unknown; expected 'rh_palm' or 'rh_forearm'")
        if len(self.home_pose) != 7:
            raise ConfigError(f"home_pose must be x, y, z, qx, qy, qz, qw (7 numbers), got {self.home_pose}")
        try:
            Pose(self.home_pose[:3], self.home_pose[3:])
        except DataError as exc:
            raise ConfigError(f"home_pose: {exc}") from exc
        if self.log_throttle_s < 0 or self.intent_timeout_s < 0:
            raise ConfigError("log_throttle_s and intent_timeout_s must be >= 0")
        for name in ("intent_min_confidence", "rest_posture"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        ProportionalClosure(self.grasp_level, self.closure_rate)


class HandController:
    """Plans and streams ShadowHand commands for the selected grasp (see the module docstring)."""

    name = "hand_controller"

    def __init__(self, config: HandControllerConfig = HandControllerConfig()):
        self.config = config
        free, fixed = load_hand("free"), load_hand("fixed")
        lo_a, hi_a = free.limits()
        lo_b, hi_b = fixed.limits()
        self.lower, self.upper = np.maximum(lo_a, lo_b), np.minimum(hi_a, hi_b)
        self.velocity_limits = np.minimum(free.velocity_limits(), fixed.velocity_limits())
        self.q_open = np.clip(np.zeros(22), self.lower, self.upper)
        self._q_types = couple(np.mean([np.clip(spec.preshape_vector(), self.lower, self.upper)
                                        for spec in SPECS.values()], axis=0))
        self.command = self.q_open.copy()
        self._at_rest = False  # the fingers are at, or on their way to, the rest posture
        self.rejected = 0
        self._plan: _Plan | None = None
        self._goal = None  # (frame, joints, rot, trans) of the grasp being executed
        self._frame = ""
        self._wrist = None  # (position (3,), rotation (3, 3)) of rh_palm in self._frame
        self._root_rotation = None  # (rotation it was computed for, root quaternion, root offset)
        self._last_grasp_ns: int | None = None
        self._last_tick_ns: int | None = None
        self._stale_handled = False
        self._last_intent_ns: int | None = None
        self._intent_lost = False
        self._gate = IntentGate(config.intent_min_confidence)  # the type of the running intent pre-shape
        self._throttle = Throttle(config.log_throttle_s * 1e9)
        self._level = 1.0  # contraction level of the latest intent
        self._closing = None  # proportional closing of the running grasp: (close start ns, postures, state)
        #: intents that started a pre-shape.
        self.preshapes = 0
        # rh_palm expressed in rh_forearm with the wrist joints at zero (for root_link = rh_forearm)
        fk = HandKinematics.load("fixed")
        poses = fk.link_poses(np.zeros((1, fk.n_joints))).numpy()[0]
        self._palm_in_root = poses[fk.link_index["rh_palm"]] if config.root_link == "rh_forearm" else np.eye(4)

    def reconfigure(self, config: HandControllerConfig) -> None:
        """Apply new ``live`` parameters (timeouts, on_timeout, velocity, intent confidence,
        proportional closing): each is read where it is used, from the next message or tick on
        (proportional closing from the next grasp on)."""
        self.config = config

    def ports(self) -> Ports:
        return Ports(
            inputs={GRASP_INTENT: self.on_intent, GRASP_SELECTED: self.on_grasp},
            outputs={
                JointState: JOINT_STATES,
                TransformStamped: TF,
                JointTrajectory: HAND_TRAJECTORY,
                PoseStamped: GRASP_POSE,
                MoveItGrasp: GRASP_MOVEIT,
            },
            timers=[Timer(1.0 / self.config.rate_hz, self.on_timer)],
        )

    # ------------------------------------------------------------------ inputs

    def on_intent(self, intent: GraspIntent) -> list:
        """Refresh the intent watchdog; start the pre-shape of a newly decided grasp type.

        Returns:
            [JointTrajectory] (fingers, from the commanded position to the type's pre-shape) when
            a new type is decided, else [].
        """
        stamp = int(intent.header.stamp_ns)
        now = max(stamp, self._last_tick_ns if self._last_tick_ns is not None else stamp)
        self._last_intent_ns = now
        self._level = float(intent.level)
        if self._intent_lost:
            log.info("intents are back: grasps accepted again")
            self._intent_lost = False
        if intent.is_rest or intent.grasp_type == REST:
            if not self._gate.counts(intent.confidence):  # a rejected decision: no evidence of rest
                return []
            ended = self._gate.type is not None  # a decided type (the intents drive the hand) ends
            self._gate.reset()  # the next decision of any type pre-shapes again
            if not ended or self._at_rest:
                return []
            self._at_rest = True  # the grasp is released: the fingers go to the rest posture
            q_rest = self.q_open + self.config.rest_posture * (self._q_types - self.q_open)
            return [self._finger_motion(now, q_rest)]
        if not self.config.preshape_on_intent or not self._gate.counts(intent.confidence):
            return []
        if intent.grasp_type == self._gate.type:
            return []
        spec = SPECS.get(intent.grasp_type)
        if spec is None:
            return self._reject(f"intent type {intent.grasp_type!r} unknown; expected one of {list(SPECS)}", now)
        self._gate.update(intent.grasp_type, intent.confidence, now)
        q_type = np.clip(spec.preshape_vector(), self.lower, self.upper)
        self.preshapes += 1
        self._at_rest = False
        return [self._finger_motion(now, self.q_open + self.config.trajectory.preshape * (q_type - self.q_open))]

    def _finger_motion(self, now: int, goal: np.ndarray) -> JointTrajectory:
        """Start moving the fingers from the commanded position to ``goal`` (22,) rad (the wrist
        stays); the trajectory to publish."""
        times, joints, velocities = plan_joint_motion(
            self.command, goal, self.lower, self.upper, self.velocity_limits, self.config.trajectory)
        self._plan = _Plan(now, times, joints)
        self._closing = None
        self._goal = None  # a generated grasp that follows is always executed
        header = Header(now, self._frame)
        points = tuple(JointTrajectoryPoint(q, v, int(round(t * 1e9))) for t, q, v in zip(times, joints, velocities))
        return JointTrajectory(header, FINGER_JOINTS, points)

    def on_grasp(self, grasp: HandGrasp) -> list:
        """Validate, plan and publish the trajectory, the wrist target and the MoveIt grasp; [] when
        rejected or when it repeats the running grasp."""
        stamp = int(grasp.header.stamp_ns)
        now = self._last_tick_ns if self._last_tick_ns is not None else stamp
        try:
            joints, rot, trans = hand_grasp_to_arrays(grasp)
            q_pregrasp, q_squeeze = hand_grasp_postures(grasp)
            if now - stamp > self.config.timeout_s * 1e9:
                raise DataError(f"grasp is stale: stamped {(now - stamp) * 1e-9:.2f} s before now")
            if self._intent_lost:
                raise DataError(f"no intent for more than {self.config.intent_timeout_s:g} s: the grasp is not "
                                f"confirmed by a fresh decision")
        except DataError as exc:
            return self._reject(str(exc), now)
        clamped = couple(np.clip(joints, self.lower, self.upper))
        if coupling_error(joints) > COUPLING_TOLERANCE:
            log.warning("grasp sets the coupled joints J1/J2 apart by up to %.3f rad: commanded at their mean",
                        float(coupling_error(joints)))
        if self._same_goal(grasp.header.frame_id, clamped, rot, trans):
            self._last_grasp_ns = max(stamp, now)
            self._stale_handled = False
            return []
        excess = np.abs(couple(joints) - clamped)
        if excess.max() > 1e-3:  # below a milliradian (float32 rounding, refinement bounds): clamped silently
            worst = int(np.argmax(excess))
            log.warning("grasp joints beyond limits clamped (worst %s by %.4f rad)", FINGER_JOINTS[worst], excess[worst])
        start = max(now, stamp)
        traj = plan_grasp(
            self.command, clamped, rot, trans, self.lower, self.upper, self.velocity_limits, self.q_open,
            self.config.trajectory, q_pregrasp, q_squeeze,
        )
        self._plan = _Plan(start, traj.times, traj.joints, traj.wrist_position, rot)
        self._closing = None
        if self.config.proportional_closing:  # the close phase follows the level instead of the clock
            close = np.flatnonzero(traj.phase == PHASES.index("close"))
            postures = (traj.joints[close[0] - 1], traj.joints[close[-1]], traj.joints[-1])
            self._closing = (start + int(round(traj.times[close[0] - 1] * 1e9)), postures,
                             ProportionalClosure(self.config.grasp_level, self.config.closure_rate))
        self._goal = (grasp.header.frame_id, clamped, rot, trans)
        self._frame = grasp.header.frame_id
        self._at_rest = False
        self._last_grasp_ns = max(stamp, now)
        self._stale_handled = False
        header = Header(start, grasp.header.frame_id)
        target = PoseStamped(header, Pose(trans, matrix_to_quat_xyzw(rot)))
        moveit = moveit_grasp(grasp, self.q_open, self.lower, self.upper, self.config.trajectory)
        return [traj.to_joint_trajectory(header), target, moveit]

    def _same_goal(self, frame: str, joints, rot, trans) -> bool:
        if self._goal is None or self._plan is None or self._plan.wrist_position is None:
            return False
        f, q, r, t = self._goal
        return (f == frame and np.allclose(q, joints, atol=1e-6, rtol=0) and np.allclose(r, rot, atol=1e-6, rtol=0)
                and np.allclose(t, trans, atol=1e-6, rtol=0))

    def _reject(self, reason: str, now_ns: int) -> list:
        self.rejected += 1
        if self._throttle(reason, now_ns):
            log.warning("grasp rejected: %s", reason)
        return []

    # ------------------------------------------------------------------ timer

    def on_timer(self, now_ns: int) -> list:
        """Advance the commanded state to ``now_ns``; publish JointState and the wrist TF."""
        dt = 0.0 if self._last_tick_ns is None else max(0.0, (now_ns - self._last_tick_ns) * 1e-9)
        self._last_tick_ns = now_ns
        self._watchdog(now_ns)
        target, wrist_pos = self.command, None
        plan = self._plan
        if plan is not None:
            t = (now_ns - plan.start_ns) * 1e-9
            if t >= 0:
                target = _interp(plan.times, plan.joints, t)
                wrist_pos = _interp(plan.times, plan.wrist_position, t) if plan.wrist_position is not None else None
            if self._closing is not None and now_ns >= self._closing[0]:
                target = closure_posture(*self._closing[1], self._closing[2].step(self._level, dt))
        # rate limit relative to the last command: never faster than the velocity limits
        step = self.velocity_limits * self.config.trajectory.velocity_scale * dt
        new = couple(np.clip(self.command + np.clip(target - self.command, -step, step), self.lower, self.upper))
        velocity = (new - self.command) / dt if dt > 0 else np.zeros(22)
        self.command = new
        if wrist_pos is not None:
            self._wrist = (wrist_pos, plan.rotation)
        out = [self._joint_state(now_ns, velocity)]
        if self._wrist is not None:
            out.append(self._transform(now_ns))
        elif self.config.home_frame:
            home = self.config.home_pose
            out.append(TransformStamped(Header(now_ns, self.config.home_frame), self.config.root_link,
                                        Pose(home[:3], home[3:])))
        return out

    def _watchdog(self, now_ns: int) -> None:
        limit = self.config.intent_timeout_s
        if (limit > 0 and self._last_intent_ns is not None and not self._intent_lost
                and (now_ns - self._last_intent_ns) * 1e-9 > limit):
            self._intent_lost = True
            self._gate.reset()
            self._on_timeout(now_ns, f"no intent for {limit:g} s")
        if self._last_grasp_ns is None or self._stale_handled:
            return
        if (now_ns - self._last_grasp_ns) * 1e-9 <= self.config.timeout_s:
            return
        self._stale_handled = True
        self._on_timeout(now_ns, f"no fresh grasp for {self.config.timeout_s:g} s")

    def _on_timeout(self, now_ns: int, reason: str) -> None:
        """Hold the commanded position or start opening the hand, as configured."""
        if self.config.on_timeout == "open":
            log.info("%s: opening the hand", reason)
            times, joints, _ = plan_joint_motion(
                self.command, self.q_open, self.lower, self.upper, self.velocity_limits, self.config.trajectory
            )
            self._plan = _Plan(now_ns, times, joints)
        else:
            log.info("%s: holding the hand", reason)
            self._plan = None
        self._closing = None
        self._goal = None
        self._at_rest = False

    def _joint_state(self, now_ns: int, velocity: np.ndarray) -> JointState:
        names, pos, vel = FINGER_JOINTS, self.command, velocity
        if self.config.publish_wrist_joints:
            names = WRIST_JOINTS + FINGER_JOINTS
            pos = np.concatenate([np.zeros(2), pos])
            vel = np.concatenate([np.zeros(2), vel])
        return JointState(Header(now_ns, ""), names, pos, vel)

    def _transform(self, now_ns: int) -> TransformStamped:
        pos, rot = self._wrist
        # root = palm @ inv(palm_in_root); the rotation is constant along a plan: its quaternion
        # is computed once per plan, not at every tick
        if self._root_rotation is None or self._root_rotation[0] is not rot:
            inv = np.linalg.inv(self._palm_in_root)
            self._root_rotation = (rot, Pose.from_matrix(np.block([[rot @ inv[:3, :3], np.zeros((3, 1))],
                                                                    [np.zeros((1, 3)), np.ones((1, 1))]])).orientation,
                                   rot @ inv[:3, 3])
        _, quat, offset = self._root_rotation
        return TransformStamped(Header(now_ns, self._frame), self.config.root_link, Pose(pos + offset, quat))


def _interp(times: np.ndarray, values: np.ndarray, t: float) -> np.ndarray:
    """Row-wise linear interpolation of ``values`` (K, n) at ``t`` (held outside the range)."""
    if t <= times[0]:
        return values[0].copy()
    if t >= times[-1]:
        return values[-1].copy()
    k = int(np.searchsorted(times, t, side="right")) - 1
    a = (t - times[k]) / (times[k + 1] - times[k])
    return (1 - a) * values[k] + a * values[k + 1]
