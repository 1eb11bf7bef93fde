"""Bags: every pipeline message type through a real ROS 2 bag and back, an independent
reader decoding the custom types, no message lost under a burst, replay into a graph."""

import numpy as np
import pytest
from mcap_ros2.reader import read_ros2_messages

from semg_grasp_ros.errors import BagError
from semg_grasp_ros.pipeline.bag import BagWriter, bag_info, read_bag
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.session import play, record
from semg_grasp_ros.types import (
    EmgChunk, GraspIntent, HandGrasp, HandGraspArray, Header, JointState, JointTrajectory,
    JointTrajectoryPoint, Marker, ObjectSdf, PointCloud, Pose, PoseStamped, TransformStamped,
)

rng = np.random.default_rng(0)
H = Header(1_500_000_123, "world")
POSE = Pose([0.1, -0.2, 0.3], [0.0, 0.0, np.sin(0.3), np.cos(0.3)])
GRASP = HandGrasp(H, "tip", POSE, ("rh_FFJ4", "rh_FFJ3"), [0.1, -0.2], 0.7, 0.001, 0.004, [0.05, -0.25], [0.15, -0.15], 0.002)
SAMPLES = {
    "emg/chunks": EmgChunk(H, 500.0, ("ch1", "ch2"), 12345, rng.normal(size=(10, 2))),
    "grasp/intent": GraspIntent(H, "hook", 2, 0.8, ("a", "b", "c"), [0.1, 0.1, 0.8], 0.25, 0.4),
    "object/sdf": ObjectSdf(H, POSE, 0.004, rng.random((3, 4, 5)), True, [1, 2, 3], [0.1, 0.2, 0.3]),
    "grasp/selected": GRASP,
    "grasp/candidates": HandGraspArray(H, (GRASP, GRASP)),
    "object/points": PointCloud(H, rng.random((7, 3))),
    "joint_states": JointState(H, ("j1", "j2"), [0.5, 0.6], [0.0, 0.1]),
    "tf": TransformStamped(H, "rh_forearm", POSE),
    "grasp/pose": PoseStamped(H, POSE),
    "hand/joint_trajectory": JointTrajectory(H, ("j1",), (JointTrajectoryPoint([0.2], [0.0], 250_000_000),)),
    "object/marker": Marker(H, "object", 3, Marker.POINTS, POSE, [0.01, 0.01, 0.01], [1, 0, 0, 1], rng.random((4, 3))),
}


def _same(a, b):
    assert type(a) is type(b)
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if hasattr(x, "__dataclass_fields__"):
            _same(x, y)
        elif isinstance(x, tuple) and x and hasattr(x[0], "__dataclass_fields__"):
            for u, v in zip(x, y, strict=True):
                _same(u, v)
        elif isinstance(x, np.ndarray):
            np.testing.assert_allclose(y, x, rtol=1e-6, err_msg=name)
        elif isinstance(x, float):
            assert y == pytest.approx(x, rel=1e-6), name
        else:
            assert x == y, name


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_every_type_round_trips(tmp_path, storage):
    path = tmp_path / "bag"
    with BagWriter(path, storage=storage) as bag:
        for i, (topic, obj) in enumerate(SAMPLES.items()):
            bag.write(topic, obj, 1000 + i)
    back = list(read_bag(path))
    assert [t for t, _, _ in back] == list(SAMPLES)
    assert [s for _, s, _ in back] == list(range(1000, 1000 + len(SAMPLES)))
    for (topic, _, obj) in back:
        _same(SAMPLES[topic], obj)
    info = bag_info(path)
    assert info.message_count == len(SAMPLES) and info.start_ns == 1000 and info.end_ns == 1000 + len(SAMPLES) - 1


def test_independent_reader_decodes_custom_types(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path) as bag:
        bag.write("emg/chunks", SAMPLES["emg/chunks"], 5)
        bag.write("grasp/candidates", SAMPLES["grasp/candidates"], 6)
    msgs = list(read_ros2_messages(str(next(path.glob("*.mcap")))))
    assert [m.channel.topic for m in msgs] == ["/emg/chunks", "/grasp/candidates"]
    emg = msgs[0].ros_msg
    assert emg.first_sample_index == 12345 and list(emg.channel_names) == ["ch1", "ch2"]
    np.testing.assert_allclose(np.asarray(emg.data).reshape(10, 2), SAMPLES["emg/chunks"].data)
    assert [g.grasp_type for g in msgs[1].ros_msg.grasps] == ["tip", "tip"]
    assert msgs[0].schema.name == "semg_grasp_ros/msg/EmgChunk"


def test_recorder_keeps_every_message_of_a_burst(tmp_path):
    g = Graph()
    path = tmp_path / "burst"
    n = 5000
    with BagWriter(path) as bag:
        record(g, bag)
        chunk = SAMPLES["emg/chunks"]
        for i in range(n):
            g.publish("emg/chunks", chunk)
    assert bag_info(path).message_count == n


def test_existing_output_and_missing_bag_are_clear_errors(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagError, match="already exists"):
        BagWriter(tmp_path / "taken")
    with pytest.raises(BagError, match="does not exist"):
        list(read_bag(tmp_path / "nothing"))
    with pytest.raises(BagError, match="unknown bag storage"):
        BagWriter(tmp_path / "x", storage="rosbag1")


def test_bag_is_closed_and_readable_after_an_error(tmp_path):
    path = tmp_path / "partial"
    with pytest.raises(RuntimeError):
        with BagWriter(path) as bag:
            bag.write("emg/chunks", SAMPLES["emg/chunks"], 1)
            raise RuntimeError("pipeline failed")
    assert bag_info(path).message_count == 1


def test_missing_topic_is_reported(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path) as bag:
        bag.write("emg/chunks", SAMPLES["emg/chunks"], 1)
    with pytest.raises(BagError, match="no topic"):
        list(read_bag(path, topics=["grasp/intent"]))


def test_replay_into_graph_keeps_timing_and_rate(tmp_path):
    path = tmp_path / "bag"
    chunk = SAMPLES["emg/chunks"]
    with BagWriter(path) as bag:
        for i in range(5):
            bag.write("emg/chunks", chunk, 1_000_000_000 + i * 100_000_000)
        bag.write("grasp/intent", SAMPLES["grasp/intent"], 1_050_000_000)
    g = Graph(start_ns=7)
    times = []
    g.subscribe("emg/chunks", lambda c: times.append(g.now_ns))
    play(g, path, topics=["emg/chunks"], rate=2.0)
    g.run()
    assert times == [7 + i * 50_000_000 for i in range(5)]


def test_intents_recorded_before_the_level_field_read_as_closing_fully(tmp_path, monkeypatch):
    """A bag written with GraspIntent as it was before ``level`` (its own definition stored in it)
    still reads; the intents get level 1 (close fully, as then)."""
    from rosbags.rosbag2 import Writer

    from semg_grasp_ros.msgs import typestore as ts

    defs = ts.package_msg_definitions()
    old = {**defs, "semg_grasp_ros/msg/GraspIntent": defs["semg_grasp_ros/msg/GraspIntent"].split("float32 level")[0]}
    ts.typestore.cache_clear()
    monkeypatch.setattr(ts, "package_msg_definitions", lambda: old)
    store = ts.typestore()
    msgtype = "semg_grasp_ros/msg/GraspIntent"
    assert "level" not in [n for n, _ in store.fielddefs[msgtype][1]]
    msg = ts.RosbagsFactory(store).new(msgtype, grasp_type="hook", class_index=2, confidence=0.9,
                                       class_names=["a", "b", "hook"],
                                       probabilities=np.array([0.05, 0.05, 0.9], np.float32), window_duration=0.15)
    with Writer(tmp_path / "old", version=8) as writer:
        conn = writer.add_connection("/grasp/intent", msgtype, typestore=store)
        writer.write(conn, 7, store.serialize_cdr(msg, msgtype))
    monkeypatch.undo()
    ts.typestore.cache_clear()
    [(topic, stamp, intent)] = list(read_bag(tmp_path / "old"))
    assert topic == "grasp/intent" and intent.grasp_type == "hook" and intent.level == 1.0
