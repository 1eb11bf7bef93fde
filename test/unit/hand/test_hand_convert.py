"""Conventions and grasp vectors: Euler sxyz vs scipy, DexGraspNet <-> Shadow, 28-D / 31-D round trips."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from semg_grasp_ros.errors import DataError
from semg_grasp_ros.hand.convert import (
    GraspNormalizer,
    arrays_to_hand_grasp,
    dexgraspnet_to_shadow,
    from_dexgraspnet_qpos,
    hand_grasp_to_arrays,
    joints_by_name,
    to_dexgraspnet_qpos,
)
from semg_grasp_ros.geometry import euler_sxyz_to_matrix, matrix_to_euler_sxyz, matrix_to_rot6d, rot6d_to_matrix
from semg_grasp_ros.hand.model import DEXGRASPNET_JOINTS, FINGER_JOINTS, couple, load_hand
from semg_grasp_ros.types import Header


def _random_grasps(n, seed=0):
    rng = np.random.default_rng(seed)
    lo, hi = load_hand("free").limits()
    joints = rng.uniform(lo, hi, size=(n, 22))
    rot = Rotation.random(n, random_state=seed).as_matrix()
    trans = rng.uniform(-0.2, 0.2, size=(n, 3))
    return joints, rot, trans


def test_euler_sxyz_matches_scipy_extrinsic_xyz():
    """transforms3d 'sxyz' (static axes x, y, z) = scipy's lower-case 'xyz' (extrinsic)."""
    e = np.random.default_rng(1).uniform([-np.pi, -np.pi / 2, -np.pi], [np.pi, np.pi / 2, np.pi], size=(200, 3))
    np.testing.assert_allclose(euler_sxyz_to_matrix(e), Rotation.from_euler("xyz", e).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(matrix_to_euler_sxyz(euler_sxyz_to_matrix(e)), e, atol=1e-9)
    # gimbal lock: the angles are not unique but the rotation must survive the round trip
    lock = np.array([[0.4, np.pi / 2, -0.3], [0.2, -np.pi / 2, 0.5]])
    R = euler_sxyz_to_matrix(lock)
    np.testing.assert_allclose(euler_sxyz_to_matrix(matrix_to_euler_sxyz(R)), R, atol=1e-9)
    assert isinstance(euler_sxyz_to_matrix(torch.zeros(3)), torch.Tensor)


def test_rot6d_round_trip_and_gram_schmidt():
    R = Rotation.random(50, random_state=2).as_matrix()
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-12)
    noisy = matrix_to_rot6d(R) * 3.0 + np.random.default_rng(0).normal(0, 0.05, (50, 6))
    M = rot6d_to_matrix(noisy)
    np.testing.assert_allclose(M @ np.swapaxes(M, 1, 2), np.broadcast_to(np.eye(3), M.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(M), 1.0, atol=1e-12)


def test_dexgraspnet_signs_and_qpos_round_trip():
    dg = np.arange(1, 23, dtype=float) / 100
    sh = dexgraspnet_to_shadow(dg)
    flipped = {FINGER_JOINTS[i] for i in np.nonzero(sh < 0)[0]}
    assert flipped == {"rh_FFJ4", "rh_MFJ4", "rh_THJ2", "rh_THJ1"}
    joints, rot, trans = _random_grasps(5)
    qpos = to_dexgraspnet_qpos(joints, rot, trans)
    assert list(qpos[0])[:22] == list(DEXGRASPNET_JOINTS)
    assert qpos[0]["robot0:FFJ3"] == pytest.approx(-joints[0, 0])
    j2, r2, t2 = from_dexgraspnet_qpos(qpos)
    np.testing.assert_allclose(j2, joints, atol=1e-12)
    np.testing.assert_allclose(r2, rot, atol=1e-9)
    np.testing.assert_allclose(t2, trans)
    bad = dict(qpos[0])
    del bad["WRJTx"]
    with pytest.raises(DataError, match="WRJTx"):
        from_dexgraspnet_qpos(bad)
    bad = dict(qpos[0], **{"robot0:THJ0": float("nan")})
    with pytest.raises(DataError, match="NaN"):
        from_dexgraspnet_qpos([qpos[1], bad])


def test_joints_by_name_accepts_both_conventions_and_rejects_bad_input():
    q = joints_by_name(["robot0:FFJ3", "rh_FFJ3", "THJ1"], [0.2, 0.5, 0.1], fill=np.zeros(22))
    assert q[0] == pytest.approx(-0.2) and q[1] == 0.5 and q[FINGER_JOINTS.index("rh_THJ1")] == 0.1
    with pytest.raises(DataError, match="unknown joint"):
        joints_by_name(["rh_FFJ9"], [0.0], fill=np.zeros(22))
    with pytest.raises(DataError, match="non-finite"):
        joints_by_name(["rh_FFJ3"], [np.nan], fill=np.zeros(22))
    with pytest.raises(DataError, match="not given"):
        joints_by_name(["rh_FFJ3"], [0.1])
    with pytest.raises(DataError, match="twice"):
        joints_by_name(["rh_FFJ3", "robot0:FFJ2"], [0.1, 0.2], fill=np.zeros(22))


def test_vectors_round_trip_and_range():
    norm = GraspNormalizer()
    raw, rot, trans = _random_grasps(20)
    joints = couple(raw)  # decoding yields postures of the coupled hand (J1 = J2)
    for enc, dec, dim in ((norm.to_vector28, norm.from_vector28, 28), (norm.to_vector31, norm.from_vector31, 31)):
        v = enc(joints, rot, trans)
        assert v.shape == (20, dim) and np.all(np.abs(v) <= 1.0 + 1e-12)
        j2, r2, t2 = dec(v)
        np.testing.assert_allclose(j2, joints, atol=1e-12)
        np.testing.assert_allclose(dec(enc(raw, rot, trans))[0], joints, atol=1e-12)
        np.testing.assert_allclose(r2, rot, atol=1e-9)
        np.testing.assert_allclose(t2, trans, atol=1e-12)
    lo, hi = load_hand("free").limits()
    np.testing.assert_allclose(norm.normalize_joints(np.stack([lo, hi])), [[-1] * 22, [1] * 22])
    # differentiable in torch
    x = torch.tensor(norm.to_vector31(joints, rot, trans), requires_grad=True)
    j, r, t = norm.from_vector31(x)
    (j.sum() + r.sum() + t.sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert GraspNormalizer.from_dict(norm.to_dict()) == norm
    clamped = norm.clamp_joints(np.full((1, 22), 5.0))
    np.testing.assert_allclose(clamped[0], hi)
    with pytest.raises(DataError):
        norm.from_vector28(np.zeros(27))
    with pytest.raises(DataError):
        GraspNormalizer(translation_range=0.0)


def test_hand_grasp_message_round_trip():
    joints, rot, trans = _random_grasps(1, seed=4)
    msg = arrays_to_hand_grasp(joints[0], rot[0], trans[0], Header(5, "object"), "cylindrical", score=0.5)
    assert msg.joint_names == FINGER_JOINTS
    j, r, t = hand_grasp_to_arrays(msg)
    np.testing.assert_allclose(j, joints[0])
    np.testing.assert_allclose(r, rot[0], atol=1e-12)
    np.testing.assert_allclose(t, trans[0])
