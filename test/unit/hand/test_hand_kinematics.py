"""Forward kinematics: hand-computed poses, gradients, and agreement with MuJoCo's own kinematics
of the Menagerie E3M5 model and of DexGraspNet's 22-joint model."""

import numpy as np
import pytest
import torch

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.geometry import rpy_matrix
from semg_grasp_ros.hand.kinematics import HandKinematics
from semg_grasp_ros.hand.model import (
    DEXGRASPNET_JOINTS,
    DEXGRASPNET_SIGN,
    FINGER_JOINTS,
    FINGERTIPS,
    WRIST_JOINTS,
    load_hand,
)

mujoco = pytest.importorskip("mujoco")


@pytest.fixture(scope="module")
def fk_free():
    return HandKinematics.load("free")


@pytest.fixture(scope="module")
def fk_fixed():
    return HandKinematics.load("fixed")


def test_joint_tables():
    free, fixed = load_hand("free"), load_hand("fixed")
    assert free.root == "rh_palm" and fixed.root == "rh_forearm"
    assert set(free.joint_names) == set(FINGER_JOINTS)
    assert set(fixed.joint_names) == set(FINGER_JOINTS) | set(WRIST_JOINTS)
    lo, hi = fixed.limits(("rh_FFJ3", "rh_THJ2", "rh_WRJ2"))
    np.testing.assert_allclose(lo, [-0.261799, -0.698132, -0.523599])
    np.testing.assert_allclose(hi, [1.5708, 0.698132, 0.174533])
    lo, hi = free.limits(("rh_FFJ3", "rh_THJ2", "rh_THJ1"))  # DexGraspNet's limits, Shadow signs
    np.testing.assert_allclose(lo, [0.0, -0.524, 0.0])
    np.testing.assert_allclose(hi, [1.571, 0.524, 1.571])
    assert free.joint("rh_FFJ4").dexgraspnet_name == "robot0:FFJ3"
    assert fixed.joint("rh_WRJ1").dexgraspnet_name is None
    np.testing.assert_allclose(free.velocity_limits(("rh_FFJ1", "rh_THJ5")), [2.0, 4.0])
    q, excess = free.clamp(np.array([[2.0] + [0.0] * 21]))
    assert q[0, 0] == pytest.approx(0.349) and excess[0, 0] == pytest.approx(2.0 - 0.349)
    with pytest.raises(ConfigError):
        load_hand("left")
    with pytest.raises(DataError):
        free.joint("rh_XXJ1")


def test_fk_zero_pose_and_flexion_by_hand(fk_free):
    """At zero the first finger points along +z of the palm; flexing FFJ3 by 90 deg swings it
    to the palm side (-y): tip = knuckle + R_x(90 deg) (0, 0, 0.045 + 0.025 + 0.026)."""
    q = torch.zeros(2, 22, dtype=torch.float64)
    q[1, FINGER_JOINTS.index("rh_FFJ3")] = np.pi / 2
    tips = fk_free.fingertips(q).numpy()
    np.testing.assert_allclose(tips[0, 0], [0.033, 0.0, 0.095 + 0.096], atol=1e-12)
    np.testing.assert_allclose(tips[1, 0], [0.033, -0.096, 0.095], atol=1e-12)
    np.testing.assert_allclose(tips[0, 1], [0.011, 0.0, 0.099 + 0.096], atol=1e-12)
    # Shadow's J4 > 0 turns the first and ring fingers towards the middle finger (FFJ4 about -y)
    q = torch.zeros(1, 22, dtype=torch.float64)
    q[0, FINGER_JOINTS.index("rh_FFJ4")] = 0.3
    q[0, FINGER_JOINTS.index("rh_RFJ4")] = 0.3
    tip = fk_free.fingertips(q)[0].numpy()
    np.testing.assert_allclose(tip[0], [0.033 - 0.096 * np.sin(0.3), 0, 0.095 + 0.096 * np.cos(0.3)], atol=1e-12)
    np.testing.assert_allclose(tip[2], [-0.011 + 0.096 * np.sin(0.3), 0, 0.095 + 0.096 * np.cos(0.3)], atol=1e-12)


def test_fk_root_pose_and_shapes(fk_free):
    rng = np.random.default_rng(3)
    q = torch.tensor(rng.uniform(fk_free.lower, fk_free.upper, size=(4, 22)))
    rot = torch.tensor(rpy_matrix([0.3, -0.2, 1.0])).expand(4, 3, 3)
    trans = torch.tensor([0.1, -0.2, 0.3]).expand(4, 3)
    local = fk_free.fingertips(q)
    world = fk_free.fingertips(q, rot, trans)
    np.testing.assert_allclose(world.numpy(), (local @ rot.transpose(1, 2) + trans.unsqueeze(1)).numpy(), atol=1e-12)
    poses = fk_free.link_poses(q)
    assert poses.shape == (4, len(fk_free.link_names), 4, 4)
    assert fk_free.link_names[0] == "rh_palm"
    np.testing.assert_allclose(poses[:, 0].numpy(), np.broadcast_to(np.eye(4), (4, 4, 4)))
    R = poses[..., :3, :3]
    np.testing.assert_allclose((R @ R.transpose(-1, -2)).numpy(), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    with pytest.raises(DataError):
        fk_free.fingertips(torch.zeros(2, 21))


def test_fk_gradient_matches_finite_differences(fk_free):
    q = torch.tensor(np.random.default_rng(0).uniform(0.1, 0.3, size=(2, 22)), requires_grad=True)
    rot = torch.tensor(rpy_matrix([0.1, 0.2, 0.3]), requires_grad=True)
    assert torch.autograd.gradcheck(lambda q: fk_free.fingertips(q), (q,))
    tips = fk_free.fingertips(q, rot.expand(2, 3, 3), torch.zeros(2, 3))
    tips.sum().backward()
    assert rot.grad is not None and torch.isfinite(rot.grad).all()


def _menagerie_tips(data_root, configs, names):
    path = data_root / "hand" / "shadow_menagerie" / "right_hand.xml"
    if not path.exists():
        pytest.skip(f"menagerie model not found at {path}")
    m = mujoco.MjModel.from_xml_path(str(path))
    d = mujoco.MjData(m)
    adr = [m.joint(n).qposadr[0] for n in names]
    bodies = [m.body(b).id for b in ("rh_ffdistal", "rh_mfdistal", "rh_rfdistal", "rh_lfdistal", "rh_thdistal")]
    offsets = np.array([0.026, 0.026, 0.026, 0.026, 0.0275])
    forearm = m.body("rh_forearm").id
    # Menagerie's forearm frame is sr_description's turned by -90 deg about z (its wrist body
    # carries quat 1 0 0 1); ours follows sr_description: ours = menagerie @ Rz(+90 deg).
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    out = np.zeros((len(configs), 5, 3))
    for k, q in enumerate(configs):
        d.qpos[adr] = q
        mujoco.mj_kinematics(m, d)
        frame = d.xmat[forearm].reshape(3, 3) @ rz
        for i, (b, off) in enumerate(zip(bodies, offsets)):
            tip = d.xpos[b] + d.xmat[b].reshape(3, 3) @ np.array([0.0, 0.0, off])
            out[k, i] = frame.T @ (tip - d.xpos[forearm])
    return out


def test_fk_matches_menagerie_within_1mm(fk_fixed, data_root):
    """Fingertips of the E3M5 URDF vs MuJoCo on the Menagerie model: 1,000 random configurations."""
    rng = np.random.default_rng(42)
    q = rng.uniform(fk_fixed.lower.numpy(), fk_fixed.upper.numpy(), size=(1000, fk_fixed.n_joints))
    ref = _menagerie_tips(data_root, q, fk_fixed.joint_names)
    ours = fk_fixed.fingertips(torch.tensor(q)).numpy()
    err = np.linalg.norm(ours - ref, axis=-1)
    assert err.max() < 1e-3, f"max fingertip error {err.max() * 1000:.3f} mm"
    assert err.max() > 0  # a real comparison: the two wrist offsets differ by 10 micrometres


def test_fk_matches_dexgraspnet_model(fk_free, data_root):
    """The free URDF reproduces DexGraspNet's 22-joint model (MuJoCo on its MJCF) after the sign map."""
    from semg_grasp_ros.grasp.data.dexgraspnet import hand_mjcf_text

    hand_dir = data_root / "hand" / "shadow_dexgraspnet"
    if not hand_dir.is_dir():
        pytest.skip(f"DexGraspNet hand not found at {hand_dir}")
    m = mujoco.MjModel.from_xml_string(hand_mjcf_text(hand_dir))
    d = mujoco.MjData(m)
    adr = [m.joint(n).qposadr[0] for n in DEXGRASPNET_JOINTS]
    sites = [m.site(f"robot0:S_{f}tip").id for f in ("ff", "mf", "rf", "lf", "th")]
    rng = np.random.default_rng(7)
    q = rng.uniform(fk_free.lower.numpy(), fk_free.upper.numpy(), size=(1000, 22))
    ours = fk_free.fingertips(torch.tensor(q)).numpy()
    for k in range(len(q)):
        d.qpos[adr] = q[k] * DEXGRASPNET_SIGN
        mujoco.mj_kinematics(m, d)
        np.testing.assert_allclose(ours[k], d.site_xpos[sites], atol=1e-6)
    assert FINGERTIPS[-1] == "rh_thtip"
