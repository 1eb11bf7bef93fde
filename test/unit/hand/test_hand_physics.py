"""The MuJoCo physics check: set-up of the standard protocol, golden penetration of a placed box,
derived postures, negative controls, the table-top variant, and DexGraspNet sample grasps."""

import json
import logging

import numpy as np
import pytest
import trimesh

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.physics import PRESETS, GraspSimulator, PhysicsConfig, preset
from semg_grasp_ros.grasp.physics_batch import evaluate_grasps, evaluate_postures, summarize
from semg_grasp_ros.grasp.posture import GraspPostures, HandPosture

mujoco = pytest.importorskip("mujoco")
URDF = PhysicsConfig(hand="urdf")  # the project's own hand: no data folder needed


def _box(half, centre=(0.0, 0.0, 0.0)):
    m = trimesh.creation.box(extents=2 * np.asarray(half))
    return [(np.asarray(m.vertices) + centre, np.asarray(m.faces))]


def test_model_setup_is_the_standard_protocol():
    sim = GraspSimulator(_box([0.02, 0.02, 0.02]), URDF)
    m = sim.model
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and m.opt.impratio == 10 and m.opt.noslip_iterations == 2
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST and m.opt.timestep == 0.004
    assert m.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_GRAVITY
    assert sim.object_mass == pytest.approx(0.1)  # whatever its size
    np.testing.assert_allclose(m.geom_friction[:, :2], [[0.6, 0.02]] * m.ngeom)
    # 14 joint actuators + one per coupled J2/J1 pair, kp 5, +-3 N m
    assert m.nu == 18 and m.ntendon == 4
    np.testing.assert_allclose(m.actuator_gainprm[:, 0], 5.0)
    np.testing.assert_allclose(m.actuator_forcerange, [[-3.0, 3.0]] * 18)
    ff0 = m.actuator("h-rh_FFJ0").id
    q = np.arange(22) / 10.0
    assert (sim._ctrl_map @ q)[ff0] == pytest.approx(q[2] + q[3])  # J2 + J1 of FF
    hand = sim.hand_geoms
    assert np.all(m.geom_conaffinity[hand] == 1)  # fingers collide with each other
    assert np.sum(m.geom_type == mujoco.mjtGeom.mjGEOM_CAPSULE) == 15  # URDF capsules merged back
    lenient = GraspSimulator(_box([0.02, 0.02, 0.02]), preset("lenient"))
    assert lenient.model.nu == 22 and np.all(lenient.model.geom_conaffinity[lenient.hand_geoms] == 0)
    assert set(PRESETS) == {"standard", "tabletop", "lenient"} and PRESETS["standard"] == PhysicsConfig()
    for bad in ({"condim": 2}, {"timestep": 0}, {"hand": "robotiq"}, {"setting": "air"}, {"stage_time": 0.41}):
        with pytest.raises(ConfigError):
            PhysicsConfig(**bad)
    with pytest.raises(ConfigError):
        preset("strict")
    with pytest.raises(DataError):
        GraspSimulator([], URDF)


def test_penetration_rejection_and_no_grasp_fails():
    """A 2 cm cube 3 mm into the palm face (y = -11.1 mm): penetration 3 mm; 15 mm in: the pregrasp
    penetrates more than 1 cm and the grasp fails outright; far away: nothing holds it."""
    sim = GraspSimulator(_box([0.01, 0.01, 0.01]), URDF)
    centre = np.array([0.0, -0.0111 - 0.01 + 0.003, 0.06])  # in the palm frame
    r = sim.evaluate(np.zeros(22), np.eye(3), -centre)  # palm pose in the object frame
    assert r.penetration_mm == pytest.approx(3.0, abs=0.05)
    assert r.contact_distance_mm == pytest.approx(-3.0, abs=0.05)
    assert r.finger_penetration_mm == 0.0 and not r.rejected and not r.success
    deep = sim.evaluate(np.zeros(22), np.eye(3), -(centre + [0.0, 0.012, 0.0]))
    assert deep.rejected and not deep.success and deep.pregrasp_penetration_mm == pytest.approx(15.0, abs=0.1)
    assert np.all(np.isnan(deep.displacement))
    far = sim.evaluate(np.zeros(22), np.eye(3), np.array([0.0, 0.5, 0.0]))
    assert not far.success and far.success_any is None and far.contact_count == 0  # early stop
    assert far.penetration_mm == 0.0 and far.contact_distance_mm == np.inf
    assert far.displacement[0] > 0.05 and np.all(np.isnan(far.displacement[1:]))
    json.dumps(far.to_dict())  # JSON-ready (inf, NaN -> None)
    full = GraspSimulator(_box([0.01] * 3), PhysicsConfig(hand="urdf", early_stop=False))
    r = full.evaluate(np.zeros(22), np.eye(3), np.array([0.0, 0.5, 0.0]))
    assert r.success_any is False and np.all(r.displacement > 0.05)
    q = np.zeros(22)
    q[1] = 2.0  # rh_FFJ3 beyond 1.571
    assert sim.evaluate(q, np.eye(3), np.array([0.0, 0.5, 0.0])).limit_violation == pytest.approx(2.0 - 1.571)
    with pytest.raises(DataError):
        sim.evaluate(np.full(22, np.nan), np.eye(3), np.zeros(3))


def test_derived_postures_open_then_squeeze():
    """Given the grasp alone, the pregrasp backs the touching fingertip off 1 cm along the contact
    normal and the squeeze mirrors it through the grasp (BODex)."""
    sim = GraspSimulator(_box([0.01] * 3), URDF)
    q = np.zeros(22)
    q[1] = 0.6  # FF bent at J3: its distal phalanx points forward-down
    g = HandPosture(q, np.eye(3), np.zeros(3))
    sim._set(g, sim._world(g))
    tip = sim.data.xpos[sim.model.body("h-rh_ffdistal").id] + sim.data.xmat[sim.model.body("h-rh_ffdistal").id].reshape(3, 3) @ [0, 0, 0.02]
    box_centre = tip + np.array([0.0, -0.018, 0.0])  # the box's face 1 mm below the fingertip's pad
    grasp = HandPosture(q, np.eye(3), -box_centre)
    posts = sim.derive_postures(grasp)
    moved = np.nonzero(posts.pregrasp.joints != q)[0]
    assert set(moved) <= {0, 1, 2, 3} and len(moved) > 0  # only the first finger opens
    sim._set(posts.pregrasp, sim._world(grasp))
    near, _ = sim._contacts(0.02)
    ff = [c[0] for c in near if c[3] == sim.model.body("h-rh_ffdistal").id]
    assert min(ff) == pytest.approx(0.011, abs=0.003)
    np.testing.assert_allclose(posts.squeeze.joints, 2 * q - posts.pregrasp.joints)
    with pytest.raises(DataError):
        HandPosture(np.zeros(21), np.eye(3), np.zeros(3))


def test_tabletop_lift_fails_without_a_grasp():
    """Table-top variant: the table holds the object under its weight while the open hand
    closes on nothing, and the lift leaves it 10 cm below its lifted pose."""
    sim = GraspSimulator(_box([0.02] * 3), PhysicsConfig(setting="tabletop", hand="urdf"))
    r = sim.evaluate(np.zeros(22), np.eye(3), np.array([0.0, 0.3, 0.0]))
    assert not r.success and r.settle_shift < 0.002
    assert r.displacement.shape == (1,) and r.displacement[0] == pytest.approx(0.1, abs=0.005)


def test_batch_api_and_invalid_grasps(caplog):
    joints = np.zeros((3, 22))
    joints[1, 0] = np.nan
    trans = np.array([[0.0, 0.5, 0.0]] * 3)
    with caplog.at_level(logging.WARNING):
        res = evaluate_grasps(joints, np.broadcast_to(np.eye(3), (3, 3, 3)), trans, [_box([0.01] * 3)], config=URDF,
                              workers=1)
    assert res[1] is None and "grasp 1" in caplog.text
    assert res[0] is not None and not res[0].success
    s = summarize(res)
    assert s["n"] == 3 and s["n_invalid"] == 1 and s["success_rate"] == 0.0 and s["rejected_rate"] == 0.0
    posts = [GraspPostures(HandPosture(np.zeros(22), np.eye(3), trans[0]))]
    assert not evaluate_postures(posts, [_box([0.01] * 3)], config=URDF, workers=1)[0].success
    with pytest.raises(DataError):
        evaluate_grasps(joints, np.broadcast_to(np.eye(3), (3, 3, 3)), trans, [_box([0.01] * 3)], object_index=[0, 1, 0])


def test_dexgraspnet_sample_grasps_hold(data_root):
    """Optimised DexGraspNet grasps mostly hold under the standard protocol; the same grasps with
    the hand opened do not."""
    from semg_grasp_ros.grasp.data.dexgraspnet import load_convex_pieces, load_grasps, mesh_path

    sample = data_root / "grasps" / "dexgraspnet_sample"
    code = "sem-Bottle-437678d4bc6be981c8724d5673a063a6"
    if not (sample / "dataset" / f"{code}.npy").exists():
        pytest.skip("DexGraspNet sample not found")
    g = load_grasps(sample / "dataset" / f"{code}.npy")
    idx = np.nonzero(np.isclose(g.scale, 0.1))[0][[0, 2, 4]]
    pieces = load_convex_pieces(mesh_path(sample, code), 0.1)
    held = evaluate_grasps(g.joints[idx], g.rot[idx], g.trans[idx], [pieces], workers=1)
    assert sum(r.success for r in held) >= 2
    assert all(r.contact_count >= 5 and r.penetration_mm < 5 for r in held)
    opened = evaluate_grasps(np.zeros((2, 22)), g.rot[idx[:2]], g.trans[idx[:2]], [pieces], workers=1)
    assert not any(r.success for r in opened)


def test_consecutive_calls_never_reuse_another_objects_model():
    """The in-process model cache is keyed by geometry: a second call with another object
    (also at index 0) must not be simulated against the first call's object."""
    from semg_grasp_ros.grasp import physics_batch

    def box(size):
        m = trimesh.creation.box(extents=(size, size, size))
        return [(np.asarray(m.vertices), np.asarray(m.faces))]

    q, rot, trans = np.zeros(22), np.eye(3), np.zeros(3)  # the palm inside both boxes
    physics_batch._WORKER_CACHE.clear()
    small = physics_batch.evaluate_grasps(q, rot, trans, [box(0.04)], config=URDF, workers=1)[0]
    big_after_small = physics_batch.evaluate_grasps(q, rot, trans, [box(0.12)], config=URDF, workers=1)[0]
    physics_batch._WORKER_CACHE.clear()
    big_fresh = physics_batch.evaluate_grasps(q, rot, trans, [box(0.12)], config=URDF, workers=1)[0]
    assert big_fresh.penetration_mm > small.penetration_mm + 5
    assert big_after_small.penetration_mm == big_fresh.penetration_mm
