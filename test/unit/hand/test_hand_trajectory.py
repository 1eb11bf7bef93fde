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
    assert list(np.unique(tr.phase)) == [0, 1, 2, 3] and np.all(np.diff(tr.phase) >= 0)
    assert np.all(tr.joints >= LO - 1e-12) and np.all(tr.joints <= HI + 1e-12)
    vmax = VEL * cfg.velocity_scale
    assert np.all(np.abs(tr.velocities) <= vmax + 1e-9)
    assert np.all(np.abs(np.diff(tr.joints, axis=0)) <= vmax * np.diff(tr.times)[:, None] + 1e-9)
    # the quintic profile peaks at 15/8 dq / T: the slowest segment reaches its joint's limit speed
    assert np.max(np.abs(tr.velocities) / vmax) == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(tr.joints[-1], couple(np.clip(q_grasp, LO, HI)))  # no squeeze given: held
    pre = tr.joints[tr.phase == 1]
    np.testing.assert_allclose(pre[0], np.clip(np.zeros(22), LO, HI) + 0.25 * (couple(np.clip(q_grasp, LO, HI))
                                                                                 - np.clip(np.zeros(22), LO, HI)))
    normal = ROT @ PALM_NORMAL
    np.testing.assert_allclose(tr.wrist_position[0], TRANS - 0.08 * normal)
    np.testing.assert_allclose(tr.wrist_position[-1], TRANS)
    assert np.abs(np.cross(tr.wrist_position - TRANS, normal)).max() < 1e-12
    app = tr.wrist_position[tr.phase == 1]
    steps = np.linalg.norm(np.diff(app, axis=0), axis=1) / np.diff(tr.times[tr.phase == 1])
    np.testing.assert_allclose(steps, cfg.approach_speed, rtol=1e-6)
    q, p, ph = tr.sample(1e9)
    np.testing.assert_allclose(q, tr.joints[-1]) and np.testing.assert_allclose(p, TRANS)
    assert PHASES[ph] == "squeeze"
    msg = tr.to_joint_trajectory(Header(7, "object"))
    assert msg.joint_names == FINGER_JOINTS and len(msg.points) == len(tr.times)
    assert msg.points[-1].time_from_start_ns == int(round(tr.duration * 1e9))
    np.testing.assert_allclose(Rotation.from_quat(tr.wrist_quaternion()).as_matrix(), ROT, atol=1e-12)


def test_the_grasps_postures_in_order_pregrasp_grasp_squeeze():
    q_grasp = couple(LO + 0.5 * (HI - LO))
    q_pre, q_sq = q_grasp - 0.1, q_grasp + 0.1
    tr = plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, q_pregrasp=q_pre, q_squeeze=q_sq)
    ends = [tr.joints[tr.phase == k][-1] for k in range(4)]
    np.testing.assert_allclose(ends[0], np.clip(q_pre, LO, HI))  # pregrasp reached before the approach
    np.testing.assert_allclose(ends[1], np.clip(q_pre, LO, HI))  # held while the wrist approaches
    np.testing.assert_allclose(ends[2], q_grasp)
    np.testing.assert_allclose(ends[3], np.clip(q_sq, LO, HI))
    np.testing.assert_allclose(tr.wrist_position[tr.phase == 3], np.repeat(TRANS[None], (tr.phase == 3).sum(), 0))
    assert coupling_error(tr.joints).max() == 0
    with pytest.raises(DataError):
        plan_grasp(np.zeros(22), q_grasp, ROT, TRANS, LO, HI, VEL, q_squeeze=np.zeros(21))


def test_open_motion_and_bad_input():
    t, q, v = plan_joint_motion(HI, np.zeros(22), LO, HI, VEL)
    np.testing.assert_allclose(q[-1], np.clip(np.zeros(22), LO, HI))
    assert np.all(np.abs(np.diff(q, axis=0)) <= 0.5 * VEL * np.diff(t)[:, None] + 1e-9)
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
