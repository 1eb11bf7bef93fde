"""Hand controller wired in the in-process graph: trajectory shape, limits, rate limits, watchdog,
bad input and determinism under the simulated clock."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from semg_grasp_ros.config import build_config, load_config
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.hand.convert import arrays_to_hand_grasp
from semg_grasp_ros.hand.model import FINGER_JOINTS, PALM_NORMAL, WRIST_JOINTS, couple, load_hand
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.hand_controller import HandController, HandControllerConfig
from semg_grasp_ros.types import HandGrasp, Header, JointState, JointTrajectory, Pose, PoseStamped, TransformStamped

ROT = Rotation.from_euler("xyz", [0.3, -0.4, 1.2]).as_matrix()
TRANS = np.array([0.05, -0.12, 0.2])


def _grasp_joints():
    """A grasp the hand can take (coupled J1 = J2: hand.model.couple)."""
    lo, hi = load_hand("free").limits()
    return couple(lo + np.random.default_rng(0).uniform(0.2, 0.8, 22) * (hi - lo))


def _run(config=HandControllerConfig(), grasps=((0.1, None),), duration=8.0):
    """Run the controller; ``grasps``: (publish time s, HandGrasp or None = the default grasp)."""
    graph = Graph()
    ctrl = graph.add(HandController(config))
    seen = []
    graph.tap(lambda topic, obj, now: seen.append((topic, obj, now)))
    for t, g in grasps:
        g = g or arrays_to_hand_grasp(_grasp_joints(), ROT, TRANS, Header(int(t * 1e9), "object"), "cylindrical")
        graph.call_at(int(t * 1e9), lambda g=g: graph.publish("grasp/selected", g))
    graph.run(duration)
    return ctrl, seen


def _states(seen):
    return [(now, obj) for topic, obj, now in seen if topic == "joint_states"]


def test_trajectory_and_stream_respect_limits_and_reach_the_grasp():
    ctrl, seen = _run()
    trajs = [o for t, o, _ in seen if t == "hand/joint_trajectory"]
    poses = [o for t, o, _ in seen if t == "grasp/pose"]
    assert len(trajs) == 1 and isinstance(trajs[0], JointTrajectory) and len(poses) == 1
    traj = trajs[0]
    assert traj.joint_names == FINGER_JOINTS and traj.header.frame_id == "object"
    q = np.array([p.positions for p in traj.points])
    t = np.array([p.time_from_start_ns for p in traj.points]) * 1e-9
    vmax = ctrl.velocity_limits * ctrl.config.trajectory.velocity_scale
    assert np.all(np.diff(t) > 0) and t[0] == 0
    assert np.all(q >= ctrl.lower - 1e-12) and np.all(q <= ctrl.upper + 1e-12)
    assert np.all(np.abs(np.diff(q, axis=0)) <= vmax * np.diff(t)[:, None] + 1e-9)
    assert np.all(np.abs([p.velocities for p in traj.points]) <= vmax + 1e-9)
    np.testing.assert_allclose(q[-1], _grasp_joints(), atol=1e-12)
    np.testing.assert_allclose(poses[0].pose.position, TRANS)
    np.testing.assert_allclose(poses[0].pose.matrix()[:3, :3], ROT, atol=1e-9)

    states = _states(seen)
    assert all(s.name == WRIST_JOINTS + FINGER_JOINTS for _, s in states)
    pos = np.array([s.position[2:] for _, s in states])
    times = np.array([n for n, _ in states]) * 1e-9
    assert np.all(pos >= ctrl.lower - 1e-12) and np.all(pos <= ctrl.upper + 1e-12)
    assert np.all(np.abs(np.diff(pos, axis=0)) <= vmax * np.diff(times)[:, None] + 1e-9)
    np.testing.assert_allclose(pos[-1], _grasp_joints(), atol=1e-9)
    np.testing.assert_allclose(pos[0], ctrl.q_open, atol=1e-12)  # before the grasp: open hand

    tfs = [(n, o) for tp, o, n in seen if tp == "tf"]
    assert tfs and all(isinstance(o, TransformStamped) and o.child_frame_id == "rh_palm" for _, o in tfs)
    assert tfs[0][0] >= int(0.1e9)  # no wrist TF before the grasp
    first, last = tfs[0][1].transform.position, tfs[-1][1].transform.position
    np.testing.assert_allclose(first, TRANS - 0.08 * ROT @ PALM_NORMAL, atol=1e-9)  # pre-grasp pose
    np.testing.assert_allclose(last, TRANS, atol=1e-9)
    path = np.array([o.transform.position for _, o in tfs])
    off_line = np.cross(path - TRANS, ROT @ PALM_NORMAL)
    assert np.abs(off_line).max() < 1e-9  # the approach stays on the palm normal


def test_new_grasp_replaces_running_one_without_jumps():
    other = arrays_to_hand_grasp(np.zeros(22), ROT, TRANS + 0.1, Header(int(0.6e9), "object"), "tip")
    ctrl, seen = _run(grasps=((0.1, None), (0.6, other)), duration=6.0)
    states = _states(seen)
    pos = np.array([s.position[2:] for _, s in states])
    times = np.array([n for n, _ in states]) * 1e-9
    vmax = ctrl.velocity_limits * ctrl.config.trajectory.velocity_scale
    assert np.all(np.abs(np.diff(pos, axis=0)) <= vmax * np.diff(times)[:, None] + 1e-9)
    np.testing.assert_allclose(pos[-1], np.clip(np.zeros(22), ctrl.lower, ctrl.upper), atol=1e-9)


def _duration(seen):
    traj = [o for t, o, _ in seen if t == "hand/joint_trajectory"][0]
    return traj.points[-1].time_from_start_ns * 1e-9


def test_watchdog_open_and_hold():
    ctrl, seen = _run(HandControllerConfig(on_timeout="open", timeout_s=6.0), duration=12.0)
    end = 0.1 + _duration(seen)
    assert end < 6.1  # the whole trajectory runs before the watchdog
    states = _states(seen)
    at = lambda t: min(states, key=lambda s: abs(s[0] - t * 1e9))[1].position[2:]  # noqa: E731
    np.testing.assert_allclose(at(6.0), _grasp_joints(), atol=1e-9)  # closed before the timeout
    assert np.abs(at(6.4) - _grasp_joints()).max() > 1e-3  # opening after 6.1 s
    np.testing.assert_allclose(at(12.0), ctrl.q_open, atol=1e-9)
    ctrl, seen = _run(HandControllerConfig(on_timeout="hold", timeout_s=6.0), duration=12.0)
    np.testing.assert_allclose(_states(seen)[-1][1].position[2:], _grasp_joints(), atol=1e-9)
    # a short timeout stops the hand mid-way; re-publishing the same grasp keeps it going
    ctrl, seen = _run(HandControllerConfig(timeout_s=0.5), duration=8.0)
    assert _duration(seen) > 0.6
    stopped = _states(seen)[-1][1].position[2:]
    assert np.abs(stopped - _grasp_joints()).max() > 0.1
    refresh = [(0.1 + 0.25 * k, None) for k in range(24)]
    ctrl, seen = _run(HandControllerConfig(timeout_s=0.5), grasps=refresh, duration=8.0)
    assert len([o for t, o, _ in seen if t == "hand/joint_trajectory"]) == 1
    np.testing.assert_allclose(_states(seen)[-1][1].position[2:], _grasp_joints(), atol=1e-9)


def test_bad_grasps_are_rejected_or_clamped():
    pose = Pose(TRANS, Rotation.from_matrix(ROT).as_quat())
    names = list(FINGER_JOINTS)
    names[3] = "rh_FFJ9"
    unknown = HandGrasp(Header(int(0.1e9), "object"), "tip", pose, tuple(names), np.zeros(22))
    ctrl, seen = _run(grasps=((0.1, unknown),), duration=1.0)
    assert ctrl.rejected == 1 and not [o for t, o, _ in seen if t in ("hand/joint_trajectory", "tf")]
    np.testing.assert_allclose(_states(seen)[-1][1].position[2:], ctrl.q_open)
    missing = HandGrasp(Header(int(0.1e9), "object"), "tip", pose, FINGER_JOINTS[:-1], np.zeros(21))
    ctrl, _ = _run(grasps=((0.1, missing),), duration=0.5)
    assert ctrl.rejected == 1
    stale = arrays_to_hand_grasp(_grasp_joints(), ROT, TRANS, Header(0, "object"), "tip")
    ctrl, seen = _run(grasps=((7.0, stale),), duration=8.0)
    assert ctrl.rejected == 1
    wild = arrays_to_hand_grasp(np.full(22, 3.0), ROT, TRANS, Header(int(0.1e9), "object"), "tip")
    ctrl, seen = _run(grasps=((0.1, wild),), duration=8.0)
    assert ctrl.rejected == 0
    np.testing.assert_allclose(_states(seen)[-1][1].position[2:], ctrl.upper, atol=1e-9)
    with pytest.raises(ConfigError):
        HandControllerConfig(on_timeout="drop")
    with pytest.raises(ConfigError):
        build_config(HandControllerConfig, {"trajectory.velocity_scale": 1.5})


def test_forearm_root_and_determinism_and_yaml():
    cfg = HandControllerConfig(root_link="rh_forearm", publish_wrist_joints=True)
    ctrl, seen = _run(cfg)
    tf = [o for t, o, _ in seen if t == "tf"][-1]
    assert tf.child_frame_id == "rh_forearm"
    palm = tf.transform.matrix() @ ctrl._palm_in_root
    np.testing.assert_allclose(palm[:3, 3], TRANS, atol=1e-9)
    np.testing.assert_allclose(palm[:3, :3], ROT, atol=1e-9)
    _, a = _run()
    _, b = _run()
    assert len(a) == len(b)
    for (ta, oa, na), (tb, ob, nb) in zip(a, b):
        assert ta == tb and na == nb
        if isinstance(oa, JointState):
            np.testing.assert_array_equal(oa.position, ob.position)
    assert load_config(HandControllerConfig, "hand_controller") == HandControllerConfig()
    assert isinstance([o for t, o, _ in a if t == "grasp/pose"][0], PoseStamped)


def test_reconfigure_changes_the_watchdog_while_running():
    """``timeout_s`` and ``on_timeout`` set while running (``ros2 param set``) drive the next
    watchdog tick: the 6 s hold becomes a 1 s open."""
    from dataclasses import replace

    graph = Graph()
    ctrl = graph.add(HandController(HandControllerConfig(timeout_s=6.0, on_timeout="hold")))
    states = []
    graph.subscribe("joint_states", states.append)
    g = arrays_to_hand_grasp(_grasp_joints(), ROT, TRANS, Header(int(0.1e9), "object"), "cylindrical")
    graph.call_at(int(0.1e9), lambda: graph.publish("grasp/selected", g))
    graph.call_at(int(0.5e9), lambda: ctrl.reconfigure(replace(ctrl.config, timeout_s=1.0, on_timeout="open")))
    graph.run(5.0)
    np.testing.assert_allclose(states[-1].position[2:], ctrl.q_open, atol=1e-9)


def test_proportional_closing_follows_the_intent_level():
    """Level 0.35 with grasp_level 0.7 holds the hand half way from the pregrasp to the grasp;
    a level of 1 (or proportional closing off) goes on to the squeeze; relaxing reopens to the
    pregrasp, at most closure_rate per second."""
    from semg_grasp_ros.hand.closure import closure_of_level, closure_posture
    from semg_grasp_ros.types import GraspIntent

    names = ("spherical", "cylindrical", "hook", "palmar", "tip", "lateral")
    q = _grasp_joints()
    lo, hi = load_hand("free").limits()
    pre = couple(np.clip(0.4 * q + 0.6 * lo, lo, hi))
    squeeze = couple(np.clip(2 * q - pre, lo, hi))

    def run(levels, **cfg):
        """levels: (until s, level) of the intents sent every 20 ms; returns the final command."""
        graph = Graph()
        ctrl = graph.add(HandController(HandControllerConfig(preshape_on_intent=False, timeout_s=30.0, **cfg)))
        grasp = arrays_to_hand_grasp(q, ROT, TRANS, Header(int(0.1e9), "object"), "cylindrical",
                                     pregrasp_positions=pre, squeeze_positions=squeeze)
        graph.call_at(int(0.1e9), lambda: graph.publish("grasp/selected", grasp))
        t = 0.0
        for until, level in levels:
            while t < until:
                stamp = int(t * 1e9)
                intent = GraspIntent(Header(stamp, "emg"), "cylindrical", 1, 0.9, names, np.eye(6)[1], 0.15, level)
                graph.call_at(stamp, lambda i=intent: graph.publish("grasp/intent", i))
                t += 0.02
        graph.run(t)
        return ctrl

    assert closure_of_level(0.35, 0.7) == pytest.approx(0.5) and closure_of_level(1.0, 0.7) == 2.0
    half = run([(6.0, 0.35)], grasp_level=0.7)
    np.testing.assert_allclose(half.command, closure_posture(pre, q, squeeze, 0.5), atol=1e-6)
    for ctrl in (run([(6.0, 1.0)]), run([(6.0, 0.35)], proportional_closing=False)):
        np.testing.assert_allclose(ctrl.command, np.clip(squeeze, ctrl.lower, ctrl.upper), atol=1e-6)
    relaxed = run([(6.0, 1.0), (8.0, 0.0)], closure_rate=2.0)
    np.testing.assert_allclose(relaxed.command, pre, atol=1e-6)
    with pytest.raises(ConfigError):
        HandControllerConfig(grasp_level=0.0)


def test_on_rest_the_fingers_go_to_the_rest_posture_and_the_next_grasp_starts_nearer():
    """A rest intent (at the confidence) releases the grasp: the fingers go to the rest posture,
    rest_posture of the way to the types' mean pre-shape, nearer every type's pre-shape than the
    open hand; a rejected decision (rest at confidence 0) in the middle of a grasp changes nothing."""
    from dataclasses import replace

    from semg_grasp_ros import GRASP_TYPES
    from semg_grasp_ros.grasp.representation import SPECS
    from semg_grasp_ros.types import GraspIntent

    def intent(kind, t, confidence=0.95):
        index = GRASP_TYPES.index(kind) if kind != "rest" else -1
        return GraspIntent(Header(int(t * 1e9), ""), kind, index, confidence, GRASP_TYPES, np.full(6, 0.1), 0.15)

    cfg = HandControllerConfig(timeout_s=30.0)
    graph = Graph()
    ctrl = graph.add(HandController(cfg))
    trajectories = []
    graph.subscribe("hand/joint_trajectory", trajectories.append)
    g = arrays_to_hand_grasp(_grasp_joints(), ROT, TRANS, Header(int(0.5e9), "object"), "cylindrical")
    graph.call_at(int(0.5e9), lambda: graph.publish("grasp/selected", g))
    for t in np.arange(0.46, 4.0, 0.02):  # a decision every 20 ms (the first before the grasp), one rejected
        m = intent("rest", t, confidence=0.0) if abs(t - 1.0) < 1e-6 else intent("cylindrical", t)
        graph.call_at(int(round(t * 1e9)), lambda m=m: graph.publish("grasp/intent", m))
    graph.run(4.0)
    assert len(trajectories) == 2  # the pre-shape, then the grasp; the rejected decision did nothing
    np.testing.assert_allclose(ctrl.command, _grasp_joints(), atol=1e-9)
    for t in np.arange(4.0, 8.0, 0.02):  # rest, a decision every 20 ms: once to the rest posture
        graph.call_at(int(round(t * 1e9)), lambda t=t: graph.publish("grasp/intent", intent("rest", t)))
    graph.run(8.0)
    assert len(trajectories) == 3 and trajectories[-1].joint_names == FINGER_JOINTS
    types = np.array([np.clip(s.preshape_vector(), ctrl.lower, ctrl.upper) for s in SPECS.values()])
    rest = ctrl.q_open + cfg.rest_posture * (couple(types.mean(axis=0)) - ctrl.q_open)
    np.testing.assert_allclose(ctrl.command, rest, atol=1e-9)
    np.testing.assert_allclose(trajectories[-1].points[-1].positions, rest, atol=1e-9)
    farthest = lambda q: np.max(np.abs(types - q) / ctrl.velocity_limits, axis=1)  # noqa: E731  s at full speed
    assert np.median(farthest(rest)) < 0.8 * np.median(farthest(ctrl.q_open))
    with pytest.raises(ConfigError):
        replace(cfg, rest_posture=1.5)
    # without pre-shapes on intents (a grasp executed on its own, closed by the level) rest moves nothing
    graph = Graph()
    ctrl = graph.add(HandController(replace(cfg, preshape_on_intent=False)))
    graph.call_at(int(0.5e9), lambda: graph.publish("grasp/selected", g))
    for t in np.arange(0.5, 4.0, 0.02):
        kind = "cylindrical" if t < 1.0 else "rest"
        graph.call_at(int(round(t * 1e9)), lambda m=intent(kind, t): graph.publish("grasp/intent", m))
    graph.run(4.0)
    np.testing.assert_allclose(ctrl.command, _grasp_joints(), atol=1e-9)


def test_an_accepted_grasp_is_also_the_moveit_grasp_and_a_repeat_is_not():
    """The controller's MoveIt grasp (``grasp/moveit``) comes with each accepted grasp, built from
    the controller's open hand, limits and trajectory settings; a refresh or a rejection gives none."""
    from semg_grasp_ros.pipeline.moveit_grasp import moveit_grasp
    from semg_grasp_ros.topics import GRASP_MOVEIT
    from semg_grasp_ros.types import MoveItGrasp

    ctrl = HandController()
    assert ctrl.ports().outputs[MoveItGrasp] == GRASP_MOVEIT
    grasp = HandGrasp(Header(0, "camera"), "spherical", Pose([0.02, 0, 0.5]), FINGER_JOINTS, np.full(22, 0.4),
                      score=0.8)
    out = ctrl.on_grasp(grasp)
    got = [o for o in out if isinstance(o, MoveItGrasp)]
    want = moveit_grasp(grasp, ctrl.q_open, ctrl.lower, ctrl.upper, ctrl.config.trajectory)
    assert len(got) == 1 and got[0].id == want.id == "spherical_0" and got[0].grasp_quality == pytest.approx(0.8)
    for a, b in ((got[0].pre_grasp_posture, want.pre_grasp_posture), (got[0].grasp_posture, want.grasp_posture)):
        for p, q in zip(a.points, b.points, strict=True):
            np.testing.assert_array_equal(p.positions, q.positions)
    assert ctrl.on_grasp(grasp) == []  # the same grasp again only refreshes the running one
    bad = HandGrasp(Header(0, "camera"), "spherical", Pose(), ("rh_XXJ9",), np.zeros(1))
    assert ctrl.on_grasp(bad) == []
