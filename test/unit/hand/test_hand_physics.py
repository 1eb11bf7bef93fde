"""The MuJoCo physics check: set-up, golden penetration of a placed box, negative controls, and
DexGraspNet sample grasps."""

import json
import logging

import numpy as np
import pytest
import trimesh

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.physics import GraspSimulator, PhysicsConfig, evaluate_grasps, summarize

mujoco = pytest.importorskip("mujoco")


def _box(half, centre=(0.0, 0.0, 0.0)):
    m = trimesh.creation.box(extents=2 * np.asarray(half))
    return [(np.asarray(m.vertices) + centre, np.asarray(m.faces))]


def test_model_setup():
    sim = GraspSimulator(_box([0.02, 0.02, 0.02]))
    opt = sim.model.opt
    assert opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    np.testing.assert_array_equal(opt.gravity, 0.0)
    assert sim.model.nu == 22
    # object mass from density 500 kg/m^3: a 4 cm cube weighs 32 g
    assert sim.object_mass == pytest.approx(500 * 0.04**3, rel=1e-6)
    assert np.all(sim.model.dof_armature[sim.joint_dof] == PhysicsConfig().armature)
    hand = sim.hand_geoms
    assert np.all(sim.model.geom_friction[:, 0] == 3.0)
    assert np.all(sim.model.geom_conaffinity[hand] == 0) and np.all(sim.model.geom_contype[~hand] == 0)
    assert np.sum(sim.model.geom_type == mujoco.mjtGeom.mjGEOM_CAPSULE) == 15  # URDF capsules merged back
    with pytest.raises(ConfigError):
        PhysicsConfig(condim=2)
    with pytest.raises(ConfigError):
        PhysicsConfig(timestep=0)
    with pytest.raises(DataError):
        GraspSimulator([])


def test_penetration_of_a_placed_box_and_no_grasp_fails():
    """A 2 cm cube pushed 3 mm into the palm face (y = -11.1 mm): penetration 3 mm, one touching link,
    and nothing holds it against the pushes."""
    centre = np.array([0.0, -0.0111 - 0.01 + 0.003, 0.06])  # in the palm frame
    sim = GraspSimulator(_box([0.01, 0.01, 0.01]))
    r = sim.evaluate(np.zeros(22), np.eye(3), -centre)  # palm pose in the object frame
    assert r.penetration_mm == pytest.approx(3.0, abs=0.05)
    assert r.contact_distance_mm == pytest.approx(-3.0, abs=0.05)
    assert r.contact_count == 1 and r.limit_violation == 0.0
    assert not r.success
    far = sim.evaluate(np.zeros(22), np.eye(3), np.array([0.0, 0.5, 0.0]))
    assert not far.success and not far.success_any and far.contact_count == 0
    assert far.penetration_mm == 0.0 and far.contact_distance_mm == np.inf
    assert np.all(far.displacement > 0.02)
    json.dumps(far.to_dict())  # JSON-ready (inf -> None)
    q = np.zeros(22)
    q[1] = 2.0  # rh_FFJ3 beyond 1.571
    assert sim.evaluate(q, np.eye(3), np.array([0.0, 0.5, 0.0])).limit_violation == pytest.approx(2.0 - 1.571)
    with pytest.raises(DataError):
        sim.evaluate(np.full(22, np.nan), np.eye(3), np.zeros(3))


def test_batch_api_and_invalid_grasps(caplog):
    joints = np.zeros((3, 22))
    joints[1, 0] = np.nan
    trans = np.array([[0.0, 0.5, 0.0]] * 3)
    with caplog.at_level(logging.WARNING):
        res = evaluate_grasps(joints, np.broadcast_to(np.eye(3), (3, 3, 3)), trans, [_box([0.01] * 3)], workers=1)
    assert res[1] is None and "grasp 1" in caplog.text
    assert res[0] is not None and not res[0].success
    s = summarize(res)
    assert s["n"] == 3 and s["n_invalid"] == 1 and s["success_rate"] == 0.0
    with pytest.raises(DataError):
        evaluate_grasps(joints, np.broadcast_to(np.eye(3), (3, 3, 3)), trans, [_box([0.01] * 3)], object_index=[0, 1, 0])


def test_dexgraspnet_sample_grasps_hold(data_root):
    """Optimised DexGraspNet grasps hold; the same grasps with the hand opened do not."""
    from semg_grasp_ros.grasp.data.dexgraspnet import load_convex_pieces, load_grasps, mesh_path

    sample = data_root / "grasps" / "dexgraspnet_sample"
    code = "sem-Bottle-437678d4bc6be981c8724d5673a063a6"
    if not (sample / "dataset" / f"{code}.npy").exists():
        pytest.skip("DexGraspNet sample not found")
    g = load_grasps(sample / "dataset" / f"{code}.npy")
    idx = np.nonzero(np.isclose(g.scale, 0.1))[0][:6]
    pieces = load_convex_pieces(mesh_path(sample, code), 0.1)
    held = evaluate_grasps(g.joints[idx], g.rot[idx], g.trans[idx], [pieces], workers=2, chunk_size=3)
    assert sum(r.success for r in held) >= 5
    assert all(r.contact_count >= 5 and r.penetration_mm < 5 for r in held)
    opened = evaluate_grasps(np.zeros((3, 22)), g.rot[idx[:3]], g.trans[idx[:3]], [pieces], workers=1)
    assert not any(r.success for r in opened)


def test_consecutive_calls_never_reuse_another_objects_model():
    """The in-process model cache is keyed by geometry: a second call with another object
    (also at index 0) must not be simulated against the first call's object."""
    from semg_grasp_ros.grasp import physics

    def box(size):
        m = trimesh.creation.box(extents=(size, size, size))
        return [(np.asarray(m.vertices), np.asarray(m.faces))]

    q, rot, trans = np.zeros(22), np.eye(3), np.zeros(3)  # the palm inside both boxes
    physics._WORKER_CACHE.clear()
    small = physics.evaluate_grasps(q, rot, trans, [box(0.04)], workers=1)[0]
    big_after_small = physics.evaluate_grasps(q, rot, trans, [box(0.12)], workers=1)[0]
    physics._WORKER_CACHE.clear()
    big_fresh = physics.evaluate_grasps(q, rot, trans, [box(0.12)], workers=1)[0]
    assert big_fresh.penetration_mm > small.penetration_mm + 5
    assert big_after_small.penetration_mm == big_fresh.penetration_mm
