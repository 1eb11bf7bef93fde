"""The grasp generator component wired in the in-process graph, with a tiny saved model."""

import logging

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from semg_grasp_ros import GRASP_TYPES, REST
from semg_grasp_ros.config import load_config
from semg_grasp_ros.errors import ConfigError, ModelError
from semg_grasp_ros.grasp.diffusion.checkpoint import save_pretrained
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion, ModelConfig
from semg_grasp_ros.hand.convert import hand_grasp_to_arrays
from semg_grasp_ros.hand.model import FINGER_JOINTS
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig
from semg_grasp_ros.types import GraspIntent, HandGrasp, HandGraspArray, Header, ObjectSdf, Pose

N = 16


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    m = GraspDiffusion(ModelConfig(network=dict(sdf_size=N, sdf_pool=1, sdf_channels=(4, 8), sdf_dim=32,
                                                time_embed_dim=16, width=32, wrist_blocks=1, finger_blocks=1),
                                   scheduler={"num_train_timesteps": 20}))
    m.info["sampler"] = {"method": "ddim", "steps": 3}
    return save_pretrained(m, tmp_path_factory.mktemp("models") / "tiny")


def component(model_dir, **kw):
    """A generator that grasps on the first intent (commit_s 0) unless told otherwise."""
    kw = {"model": str(model_dir), "num_candidates": 4, "refine_steps": 1, "commit_s": 0.0, **kw}
    return GraspDiffusionComponent(GraspDiffusionConfig(**kw))


def sdf_msg(stamp=0, centre=(0.1, 0.0, 0.5), quat=(0.0, 0.0, 0.0, 1.0), n=N, frame="camera", radius=0.03):
    span = 0.2
    axis = np.linspace(0.0, span, n)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1) - span / 2
    rot = Rotation.from_quat(quat).as_matrix()
    origin = np.asarray(centre) - rot @ np.full(3, span / 2)
    return ObjectSdf(Header(stamp, frame), Pose(origin, quat), span / (n - 1),
                     (np.linalg.norm(grid, axis=-1) - radius).astype(np.float32), True, np.asarray(centre),
                     np.full(3, 2 * radius))


def intent(grasp_type="cylindrical", confidence=0.9, stamp=0):
    index = GRASP_TYPES.index(grasp_type) if grasp_type in GRASP_TYPES else -1
    probs = np.full(6, 0.02)
    return GraspIntent(Header(stamp, ""), grasp_type, index, confidence, GRASP_TYPES, probs, 0.25)


def test_one_set_per_intent_and_new_objects_wait_for_the_next_intent(model_dir):
    """A set per intent (a new type, or a type again after rest), on the first usable field;
    while the intent is held, new camera frames and a moved object never regenerate (the hand
    is closing or holding the grasp made for it)."""
    c = component(model_dir)
    assert c.on_intent(intent("hook")) == []  # no object yet
    out = c.on_sdf(sdf_msg(stamp=10))
    assert [type(o) for o in out] == [HandGraspArray, HandGrasp]
    arr, best = out
    assert len(arr.grasps) == 4 and arr.grasps[0] is best and best.grasp_type == "hook"
    assert arr.header.frame_id == "camera" and arr.header.stamp_ns == 10
    scores = [g.score for g in arr.grasps]
    assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores))
    assert best.joint_names == FINGER_JOINTS and all(g.penetration_depth >= 0 for g in arr.grasps)
    assert c.on_intent(intent("hook", stamp=20)) == []  # same intent, same object
    assert c.on_sdf(sdf_msg(stamp=30, centre=(0.1, 0.0, 0.503))) == []  # moved less than object_change
    assert c.on_sdf(sdf_msg(stamp=40, centre=(0.1, 0.05, 0.5))) == []  # moved 5 cm: the held intent keeps its grasp
    assert c.on_intent(intent("hook", stamp=45)) == [] and c.requests == 1
    assert c.on_intent(intent(REST, confidence=0.0, stamp=46)) == []  # a rejected decision: not a rest
    assert c.on_intent(intent("hook", stamp=47)) == [] and c.requests == 1
    out = c.on_intent(intent("tip", stamp=50))  # a new type: grasped on the moved object
    assert out and out[1].grasp_type == "tip" and out[0].header.stamp_ns == 50
    np.testing.assert_allclose(c._object.sdf.centroid, sdf_msg(centre=(0.1, 0.05, 0.5)).centroid)
    c.on_intent(intent(REST, confidence=0.99, stamp=60))
    out = c.on_intent(intent("tip", stamp=70))  # the same type after rest: a new intent
    assert out and out[1].grasp_type == "tip"
    assert c.requests == 3


def test_rest_low_confidence_and_unknown_types_never_trigger(model_dir, caplog):
    c = component(model_dir)
    c.on_sdf(sdf_msg())
    assert c.on_intent(intent(REST, confidence=0.99)) == []
    assert c.on_intent(intent("palmar", confidence=0.3)) == []
    caplog.set_level(logging.WARNING)
    bad = GraspIntent(Header(0, ""), "pinch", 0, 0.9, ("pinch",), np.ones(1), 0.25)
    assert c.on_intent(bad) == []
    assert c.requests == 0 and sum(c.failures.values()) == 1 and "pinch" in caplog.text


def test_a_type_is_grasped_once_intended_for_commit_s(model_dir):
    """The hand pre-shapes on the first intent; the grasp waits until the type has been
    intended for commit_s, so an onset decided wrongly and corrected is never grasped."""
    ms = int(1e6)
    c = component(model_dir, commit_s=0.1)
    c.on_sdf(sdf_msg(stamp=0))
    assert all(c.on_intent(intent("lateral", stamp=t * ms)) == [] for t in range(0, 81, 20))  # onset: lateral
    assert all(c.on_intent(intent("hook", stamp=t * ms)) == [] for t in range(100, 181, 20))  # corrected
    out = c.on_intent(intent("hook", stamp=200 * ms))  # 100 ms of hook
    assert len(out) == 2 and out[1].grasp_type == "hook" and c.requests == 1
    assert c.on_intent(intent("hook", stamp=220 * ms)) == []  # committed once
    # a low-confidence intent of another type neither grasps nor restarts the commit time
    assert c.on_intent(intent("tip", confidence=0.3, stamp=240 * ms)) == []
    # rest ends the intent: the same type must be intended for commit_s again
    c.on_intent(intent(REST, confidence=0.99, stamp=300 * ms))
    assert c.on_intent(intent("hook", stamp=320 * ms)) == []
    assert c.on_sdf(sdf_msg(stamp=330 * ms, centre=(0.1, 0.05, 0.5))) == []  # new object, not committed yet
    assert len(c.on_intent(intent("hook", stamp=420 * ms))) == 2 and c.requests == 2
    assert c.on_sdf(sdf_msg(stamp=430 * ms, centre=(0.1, 0.0, 0.5))) == []  # committed and grasped: held


def test_after_rest_object_updates_do_not_regenerate(model_dir):
    c = component(model_dir)
    c.on_sdf(sdf_msg(stamp=0))
    assert len(c.on_intent(intent("hook", stamp=10))) == 2
    assert c.on_intent(intent(REST, confidence=0.99, stamp=20)) == []
    assert c.on_sdf(sdf_msg(stamp=30, centre=(0.1, 0.05, 0.5))) == []  # new object, but no grasp intended
    # An object-sized grid whose span breathes by a millimetre is the same object.
    jitter = sdf_msg(stamp=40, centre=(0.1, 0.05, 0.5))
    jitter = ObjectSdf(jitter.header, jitter.origin, jitter.voxel_size * 1.002, jitter.distances, True,
                       jitter.centroid, jitter.extent)
    assert len(c.on_intent(intent("hook", stamp=35))) == 2
    assert c.on_sdf(jitter) == [] and c.requests == 2


def test_a_stale_field_is_not_grasped_until_a_fresh_one_arrives(model_dir):
    """The object was removed (no field for longer than object_timeout_s): an intent is
    skipped with a reason; the next field, even of the same object, serves it."""
    s = int(1e9)
    c = component(model_dir, object_timeout_s=2.0)
    c.on_sdf(sdf_msg(stamp=0))
    assert c.on_intent(intent("hook", stamp=5 * s)) == [] and c.failures["object field stale"] == 1
    out = c.on_sdf(sdf_msg(stamp=6 * s))  # unchanged object, fresh field
    assert len(out) == 2 and out[1].grasp_type == "hook" and out[1].header.stamp_ns == 6 * s
    assert c.on_sdf(sdf_msg(stamp=7 * s)) == [] and c.requests == 1  # served once
    assert len(c.on_intent(intent("tip", stamp=8 * s))) == 2  # 1 s after the field: fresh
    never = component(model_dir, object_timeout_s=0.0)
    never.on_sdf(sdf_msg(stamp=0))
    assert len(never.on_intent(intent("hook", stamp=100 * s))) == 2


def test_bad_fields_drop_the_object(model_dir):
    c = component(model_dir)
    c.on_intent(intent("spherical"))
    assert c.on_sdf(sdf_msg(n=20)) == []
    bad = sdf_msg()
    d = bad.distances.copy()
    d[1, 2, 3] = np.nan
    nan_field = ObjectSdf(bad.header, bad.origin, bad.voxel_size, d, True, bad.centroid, bad.extent)
    assert c.on_sdf(nan_field) == []
    assert c.requests == 0 and c.failures["object field rejected"] == 2
    assert len(c.on_sdf(sdf_msg())) == 2  # a good field afterwards works


def test_rotated_grids_give_the_same_grasps_in_the_header_frame(model_dir):
    """The same object and seed, described by a grid rotated in its frame: the grasps are the
    same relative to the grid, so in the header frame they turn with it."""
    quat = Rotation.from_euler("xyz", [0.3, -0.5, 1.1]).as_quat()
    R = Rotation.from_quat(quat).as_matrix()
    a, b = component(model_dir), component(model_dir)
    a.on_intent(intent("lateral"))
    b.on_intent(intent("lateral"))
    ga = a.on_sdf(sdf_msg())[1]
    gb = b.on_sdf(sdf_msg(quat=quat))[1]
    ja, Ra, ta = hand_grasp_to_arrays(ga)
    jb, Rb, tb = hand_grasp_to_arrays(gb)
    centre = np.array([0.1, 0.0, 0.5])
    np.testing.assert_allclose(jb, ja, atol=1e-5)
    np.testing.assert_allclose(Rb, R @ Ra, atol=1e-5)
    np.testing.assert_allclose(tb - centre, R @ (ta - centre), atol=1e-5)


def test_in_the_graph_and_from_the_yaml(model_dir):
    cfg = load_config(GraspDiffusionConfig, "grasp_diffusion", model=str(model_dir), num_candidates=3,
                      refine_steps=0)
    graph = Graph()
    graph.add(GraspDiffusionComponent(cfg))
    got = {"grasp/candidates": [], "grasp/selected": []}
    for topic, items in got.items():
        graph.subscribe(topic, items.append)
    graph.publish("object/sdf", sdf_msg())
    for t in np.arange(0, cfg.commit_s + 0.01, 0.02):  # a decision every 20 ms until committed
        graph.publish("grasp/intent", intent("palmar", stamp=int(t * 1e9)))
    graph.run(duration=0.01)
    assert len(got["grasp/candidates"]) == 1 and len(got["grasp/candidates"][0].grasps) == 3
    assert got["grasp/selected"][0].grasp_type == "palmar"


def test_start_up_errors(tmp_path, model_dir):
    with pytest.raises(ModelError, match="not found"):
        GraspDiffusionComponent(GraspDiffusionConfig(model=str(tmp_path / "none")))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    with pytest.raises(ModelError):
        GraspDiffusionComponent(GraspDiffusionConfig(model=str(tmp_path / "broken")))
    with pytest.raises(ConfigError):
        GraspDiffusionConfig(min_confidence=1.5)


def test_reconfigure_applies_live_parameters_from_the_next_request(model_dir):
    from dataclasses import replace

    c = component(model_dir)
    c.on_sdf(sdf_msg(stamp=10))
    assert len(c.on_intent(intent("hook", stamp=20))[0].grasps) == 4
    c.reconfigure(replace(c.config, num_candidates=3, min_confidence=0.95))
    assert c.on_intent(intent("tip", stamp=30, confidence=0.9)) == []  # below the new threshold
    assert len(c.on_intent(intent("tip", stamp=40, confidence=0.99))[0].grasps) == 3
    with pytest.raises(ConfigError):  # the tiny model is 'improved': guidance is allowed, steps are checked
        c.reconfigure(replace(c.config, steps=-5))
    assert c.sampler.config.num_candidates == 3


def test_with_the_hand_controller_one_grasp_closed_per_intent_at_once_and_none_in_rest(model_dir):
    """Generator and hand controller wired as in the pipeline, a scripted session: each intent's
    grasp starts at its first decision and closes once; the object changing while the intent is
    held (the next object put down at the end of a grasp) and the camera's frames start nothing;
    the same type intended again after rest is a new grasp, on the new object; nothing closes
    during rest; the trajectory moves the joints as fast as their velocity limits allow."""
    from semg_grasp_ros.hand.model import couple
    from semg_grasp_ros.pipeline.hand_controller import HandController, HandControllerConfig
    from semg_grasp_ros.pipeline.outcome import ExecutionMonitor

    graph = Graph()
    ctrl = graph.add(HandController(load_config(HandControllerConfig, "hand_controller", timeout_s=30.0)))
    graph.add(GraspDiffusionComponent(load_config(GraspDiffusionConfig, "grasp_diffusion", model=str(model_dir),
                                                  num_candidates=4, refine_steps=1)))
    monitor = ExecutionMonitor(lambda: graph.now_ns * 1e-9)
    for topic, handler in monitor.subscriptions():
        graph.subscribe(topic, handler)
    trajectories = []
    graph.subscribe("hand/joint_trajectory", trajectories.append)
    a, b = (0.1, 0.0, 0.5), (0.1, 0.06, 0.5)
    for t in np.arange(0.0, 9.0, 0.5):  # camera frames: object a, then b from 3 s
        graph.call_at(int(t * 1e9), lambda t=t: graph.publish("object/sdf", sdf_msg(int(t * 1e9), a if t < 3 else b)))
    held = [(1.0, 3.4), (5.0, 7.0)]  # cylindrical intended (level 1: close fully), rest around
    for t in np.arange(0.02, 9.0, 0.02):
        kind = "cylindrical" if any(s <= t < e for s, e in held) else REST
        msg = GraspIntent(Header(int(round(t * 1e9)), ""), kind, GRASP_TYPES.index(kind) if kind != REST else -1,
                          0.95, GRASP_TYPES, np.full(6, 0.1), 0.15, 1.0 if kind != REST else 0.0)
        graph.call_at(int(round(t * 1e9)), lambda m=msg: graph.publish("grasp/intent", m))
    graph.run(9.0)
    monitor.finish(9.0)
    ex = monitor.executions
    assert [e.grasp_type for e in ex] == ["cylindrical", "cylindrical"] and all(e.closed for e in ex)
    assert [e.start_s for e in ex] == pytest.approx([1.0, 5.0], abs=0.021)  # at the first decision
    assert all(e.end_s < 3.4 if e.start_s < 3 else e.end_s < 7.0 for e in ex)  # closed while held
    assert all(e.reached_s is not None and e.start_s < e.reached_s <= e.end_s + 0.05 for e in ex)
    assert ex[0].grasp.header.stamp_ns < 3e9 < ex[1].grasp.header.stamp_ns
    assert np.linalg.norm(ex[1].grasp.wrist_pose.position - np.array(b)) < np.linalg.norm(
        ex[1].grasp.wrist_pose.position - np.array(a))  # the second grasp is made for the new object
    grasp_trajectory = [t for t in trajectories if t.header.stamp_ns < 6e9][-1]  # then the rest posture at 7 s
    q = np.array([p.positions for p in grasp_trajectory.points])
    v = np.array([p.velocities for p in grasp_trajectory.points])
    assert np.max(np.abs(v) / ctrl.velocity_limits) == pytest.approx(1.0, abs=0.05)  # at the hand's limits
    np.testing.assert_allclose(q[-1], couple(np.clip(hand_grasp_to_arrays(ex[1].grasp)[0], ctrl.lower, ctrl.upper)))
