"""Grasp trajectories: phases, limits, velocity limits, approach along the palm normal."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.hand.model import FINGER_JOINTS, PALM_NORMAL, couple, coupling_error, load_hand
from semg_grasp_ros.hand.trajectory import PHASES, TrajectoryConfig, plan_grasp, plan_joint_motion
from semg_grasp_ros.types import Header

LO, HI = load_hand("free").limits()
VEL = load_hand("free").velocity_limits()
ROT = Rotation.from_euler("xyz", [0.2, 1.0, -0.5]).as_matrix()
TRANS = np.array([0.1, 0.0, -0.05])


def test_plan_phases_limits_and_speeds():
    q_grasp = LO + 0.7 * (HI - LO)
    q_grasp[0] = 5.0  # beyond the limit: clamped
    cfg = TrajectoryConfig(velocity_scale=0.5, preshape=0.25)
    tr = plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, config=cfg)
    assert tr.times[0] == 0 and np.all(np.diff(tr.times) > 0)
    assert set(np.unique(tr.phase)) <= {0, 1, 2, 3} and {0, 2, 3} <= set(np.unique(tr.phase))
    assert np.all(np.diff(tr.phase) >= 0)
    assert np.all(tr.joints >= LO - 1e-12) and np.all(tr.joints <= HI + 1e-12)
    vmax = VEL * cfg.velocity_scale
    assert np.all(np.abs(tr.velocities) <= vmax + 1e-9)
    assert np.all(np.abs(np.diff(tr.joints, axis=0)) <= vmax * np.diff(tr.times)[:, None] + 1e-9)
    # each segment cruises with its slowest joint at its limit speed
    assert np.max(np.abs(tr.velocities) / vmax) == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(tr.joints[-1], couple(np.clip(q_grasp, LO, HI)))  # no squeeze given: held
    q_pre = np.clip(np.zeros(22), LO, HI) + 0.25 * (couple(np.clip(q_grasp, LO, HI)) - np.clip(np.zeros(22), LO, HI))
    np.testing.assert_allclose(tr.joints[tr.phase <= 1][-1], q_pre)
    normal = ROT @ PALM_NORMAL
    np.testing.assert_allclose(tr.wrist_position[0], TRANS - 0.08 * normal)
    np.testing.assert_allclose(tr.wrist_position[-1], TRANS)
    assert np.abs(np.cross(tr.wrist_position - TRANS, normal)).max() < 1e-12
    q, p, ph = tr.sample(1e9)
    np.testing.assert_allclose(q, tr.joints[-1]) and np.testing.assert_allclose(p, TRANS)
    assert PHASES[ph] == "squeeze"
    msg = tr.to_joint_trajectory(Header(7, "object"))
    assert msg.joint_names == FINGER_JOINTS and len(msg.points) == len(tr.times)
    assert msg.points[-1].time_from_start_ns == int(round(tr.duration * 1e9))
    np.testing.assert_allclose(Rotation.from_quat(tr.wrist_quaternion()).as_matrix(), ROT, atol=1e-12)


def _segment(q0, q1, vmax, cfg):
    """A segment's duration when its slowest joint needs at least a ramp's time at its limit:
    that time plus one ramp (the two cosine ramps lose half a ramp each)."""
    tau = float(np.max(np.abs(np.asarray(q1) - q0) / vmax))
    assert tau >= cfg.ramp_time
    return tau + cfg.ramp_time


@pytest.mark.parametrize("approach_speed", [0.05, 2.0])  # the wrist slower, then faster, than the fingers
def test_fingers_shape_while_the_wrist_approaches_and_each_phase_is_as_short_as_the_limits_allow(approach_speed):
    """Pregrasp and approach run together (the hand shapes during the transport): the wrist
    arrives no earlier than the fingers reach the pregrasp, never faster than approach_speed;
    then close and squeeze, each segment cruising at the slowest joint's velocity limit between
    short ramps (a quintic would take 15/8 of that time)."""
    q_grasp = couple(LO + 0.6 * (HI - LO))
    q_pre, q_sq = couple(LO + 0.4 * (HI - LO)), couple(LO + 0.75 * (HI - LO))
    cfg = TrajectoryConfig(approach_speed=approach_speed)
    assert cfg.velocity_scale == 1.0  # by default the hand's own velocity limits are used in full
    tr = plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, config=cfg, q_pregrasp=q_pre, q_squeeze=q_sq)
    q0 = couple(np.clip(np.zeros(22), LO, HI))
    t_fingers = _segment(q0, q_pre, VEL, cfg)
    slide = cfg.approach_distance / approach_speed
    t_wrist = max(t_fingers, slide + cfg.ramp_time if slide >= cfg.ramp_time else 0.0)
    expected = t_wrist + _segment(q_pre, q_grasp, VEL, cfg) + _segment(q_grasp, q_sq, VEL, cfg)
    assert tr.duration == pytest.approx(expected, rel=1e-9)
    cruise = np.abs(tr.velocities) / VEL
    assert cruise.max() == pytest.approx(1.0)  # the slowest joint at its limit, never above
    # velocity starts and ends each segment at 0 and changes at most pi/2 * limit / ramp_time
    ends = np.r_[0, np.flatnonzero(np.diff(tr.phase)) , len(tr.times) - 1]
    assert np.abs(tr.velocities[ends]).max() < 1e-9
    accel = np.abs(np.diff(tr.velocities, axis=0)) / np.diff(tr.times)[:, None]
    assert np.all(accel <= np.pi / 2 * VEL / cfg.ramp_time + 1e-6)
    # the wrist starts moving at once, and is at the grasp pose exactly when the close starts
    moving = np.linalg.norm(tr.wrist_position - tr.wrist_position[0], axis=1) > 1e-9
    assert tr.times[np.argmax(moving)] <= cfg.sample_period + 1e-9
    close_start = tr.times[tr.phase <= 1][-1]
    assert close_start == pytest.approx(t_wrist)
    arrived = np.linalg.norm(tr.wrist_position - TRANS, axis=1) < 1e-9
    assert tr.times[np.argmax(arrived)] == pytest.approx(t_wrist)
    # the fingers reach the pregrasp at t_fingers and hold it until the wrist has arrived
    at_pre = np.abs(tr.joints - q_pre).max(axis=1) < 1e-9
    assert tr.times[np.argmax(at_pre)] == pytest.approx(t_fingers)
    assert np.all(at_pre[(tr.times >= t_fingers - 1e-9) & (tr.times <= t_wrist + 1e-9)])
    assert (tr.phase == 1).any() == (t_wrist > t_fingers + 1e-6)
    speeds = np.linalg.norm(np.diff(tr.wrist_position, axis=0), axis=1) / np.diff(tr.times)
    assert speeds.max() <= approach_speed + 1e-9
    assert np.all(np.abs(np.diff(tr.joints, axis=0)) <= VEL * np.diff(tr.times)[:, None] + 1e-9)
    # a posture already reached costs only min_segment_time
    still = plan_grasp(q_pre, q_grasp, ROT, TRANS, LO, HI, VEL, config=TrajectoryConfig(approach_distance=0.0),
                       q_pregrasp=q_pre, q_squeeze=q_grasp)
    assert still.duration == pytest.approx(2 * cfg.min_segment_time + _segment(q_pre, q_grasp, VEL, cfg))


def test_the_grasps_postures_in_order_pregrasp_grasp_squeeze():
    q_grasp = couple(LO + 0.5 * (HI - LO))
    q_pre, q_sq = q_grasp - 0.1, q_grasp + 0.1
    tr = plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, q_pregrasp=q_pre, q_squeeze=q_sq)
    ends = [tr.joints[tr.phase <= k][-1] for k in range(4)]
    np.testing.assert_allclose(ends[0], np.clip(q_pre, LO, HI))  # pregrasp reached while the wrist approaches
    np.testing.assert_allclose(ends[1], np.clip(q_pre, LO, HI))  # held until the wrist has arrived
    np.testing.assert_allclose(ends[2], q_grasp)
    np.testing.assert_allclose(ends[3], np.clip(q_sq, LO, HI))
    np.testing.assert_allclose(tr.wrist_position[tr.phase == 3], np.repeat(TRANS[None], (tr.phase == 3).sum(), 0))
    assert coupling_error(tr.joints).max() == 0
    with pytest.raises(DataError):
        plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, q_squeeze=np.zeros(21))


def test_open_motion_and_bad_input():
    t, q, v = plan_joint_motion(HI, np.zeros(22), LO, HI, VEL)
    np.testing.assert_allclose(q[-1], np.clip(np.zeros(22), LO, HI))
    assert np.all(np.abs(np.diff(q, axis=0)) <= TrajectoryConfig().velocity_scale * VEL * np.diff(t)[:, None] + 1e-9)
    with pytest.raises(DataError):
        plan_grasp(np.zeros(22), np.full(22, np.nan), ROT, TRANS, LO, HI, VEL)
    with pytest.raises(DataError):
        plan_grasp(np.zeros(21), np.zeros(22), ROT, TRANS, LO, HI, VEL)
    with pytest.raises(DataError):
        plan_grasp(np.zeros(22), np.zeros(22), ROT, TRANS, LO, HI, -VEL)
    with pytest.raises(ConfigError):
        TrajectoryConfig(preshape=1.5)
    with pytest.raises(ConfigError):
        TrajectoryConfig(velocity_scale=0.0)
    with pytest.raises(ConfigError):
        TrajectoryConfig(min_segment_time=0.0)
