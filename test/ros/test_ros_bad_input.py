"""ROS tier, bad input at the adapters: malformed messages (wrong array lengths, NaN, wrong
frames) are logged and dropped while the node keeps working; out-of-range or mistyped
parameters stop a node at start-up with the valid range in the error; missing weights name
the file. Skipped where rclpy is not installed."""

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_context")]

from rclpy.parameter import Parameter  # noqa: E402

from semg_grasp_ros.errors import ConfigError, ModelError  # noqa: E402
from semg_grasp_ros.ros.convert import from_ros, message_class, to_ros  # noqa: E402
from semg_grasp_ros.ros.interfaces import msg_class, qos  # noqa: E402
from semg_grasp_ros.types import EmgChunk, HandGrasp, Header, PointCloud, Pose  # noqa: E402


class _Io:
    """A publisher on ``in_topic`` and a listener on ``out_topic`` in one helper node."""

    def __init__(self, in_topic, out_topic, out_type=None):
        self.node = rclpy.create_node(f"io_{in_topic.replace('/', '_')}")
        self.pub = self.node.create_publisher(msg_class(in_topic), in_topic, qos(in_topic))
        self.got = []
        cls = out_type or msg_class(out_topic)
        self.node.create_subscription(cls, out_topic, self.got.append, qos(out_topic))


def _destroy(*nodes):
    for n in nodes:
        n.destroy_node()


# ------------------------------------------------------------------ start-up


@pytest.mark.parametrize("value", [5000.0, 0.5])
def test_out_of_range_parameter_names_the_valid_range(value):
    from semg_grasp_ros.ros.emg_acquisition_node import EmgAcquisitionNode

    with pytest.raises(ConfigError, match=r"chunk_ms must (lie|be) in \[1(\.0)?, 1000(\.0)?\]"):
        EmgAcquisitionNode(parameter_overrides=[Parameter("chunk_ms", value=value)])


def test_integer_range_and_wrong_type_are_refused():
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode

    with pytest.raises(ConfigError, match=r"decoder.vote_window must lie in \[1, 100\]"):
        GraspClassifierNode(parameter_overrides=[Parameter("decoder.vote_window", value=0)])
    with pytest.raises(ConfigError, match="decoder.stride_ms must be of type float"):
        GraspClassifierNode(parameter_overrides=[Parameter("decoder.stride_ms", value="fast")])


def test_nested_settings_are_dotted_parameters():
    from semg_grasp_ros.ros.object_sdf_node import ObjectSdfNode

    node = ObjectSdfNode(parameter_overrides=[Parameter("grid.size", value=40),
                                              Parameter("segmentation.select", value="closest")])
    try:
        assert node.config.grid.size == 40 and node.config.segmentation.select == "closest"
        assert node.get_parameter("segmentation.voxel_size").value == 0.01
    finally:
        node.destroy_node()
    with pytest.raises(ConfigError, match=r"grid.size must lie in \[2, 256\]"):
        ObjectSdfNode(parameter_overrides=[Parameter("grid.size", value=1)])


def test_missing_weights_name_the_file():
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode
    from semg_grasp_ros.ros.grasp_diffusion_node import GraspDiffusionNode

    with pytest.raises(ModelError, match="/nonexistent/intent_x.json"):
        GraspClassifierNode(parameter_overrides=[Parameter("model", value="/nonexistent/intent_x")])
    with pytest.raises(ModelError, match="/nonexistent/grasp_x"):
        GraspDiffusionNode(parameter_overrides=[Parameter("model", value="/nonexistent/grasp_x")])


# ------------------------------------------------------------------ malformed messages


def _chunk(first, n=50, channels=2, value=None):
    rng = np.random.default_rng(first)
    data = rng.normal(0, 1e-4, (n, channels)) if value is None else np.full((n, channels), value)
    return EmgChunk(Header(int(first * 2e6), "emg"), 500.0, tuple(f"ch{i}" for i in range(channels)), first,
                    data.astype(np.float32))


def test_classifier_drops_malformed_chunks_and_keeps_deciding(spin):
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode

    node = GraspClassifierNode(parameter_overrides=[Parameter("decoder.calibration_s", value=0.5)])
    io = _Io("emg/chunks", "grasp/intent")
    assert spin([node, io.node], lambda: io.pub.get_subscription_count() > 0)
    short = to_ros(_chunk(0))
    short.data = short.data[:-3]  # length no longer sample_count x channels: dropped
    # NaN samples and a channel count the model was not trained on: a rejected decision
    for bad in (short, to_ros(_chunk(0, value=float("nan"))), to_ros(_chunk(0, channels=3))):
        io.pub.publish(bad)
    assert spin([node, io.node], lambda: len(io.got) >= 2)
    rejected = [from_ros(m) for m in io.got]
    assert all(i.class_index == -1 for i in rejected)
    first = [0]

    def feed():
        io.pub.publish(to_ros(_chunk(first[0])))
        first[0] += 50
        return len(io.got) >= len(rejected) + 5

    # the stream that follows is decided as usual
    assert spin([node, io.node], feed, timeout=20.0)
    intents = [from_ros(m) for m in io.got[len(rejected):]]
    assert all(np.all(np.isfinite(i.probabilities)) for i in intents)
    _destroy(node, io.node)


def test_object_sdf_drops_clouds_without_a_valid_frame(spin):
    from semg_grasp_ros.ros.object_sdf_node import ObjectSdfNode

    node = ObjectSdfNode(parameter_overrides=[Parameter("rate_hz", value=0.0)])
    io = _Io("object/points", "object/sdf")
    rng = np.random.default_rng(0)
    d = rng.normal(size=(3000, 3))
    sphere = 0.04 * d / np.linalg.norm(d, axis=1, keepdims=True) + [0, 0, 0.6]
    for frame in ("", "/camera", "my camera"):
        io.pub.publish(to_ros(PointCloud(Header(0, frame), sphere)))
    truncated = to_ros(PointCloud(Header(0, "camera"), sphere))
    truncated.data = truncated.data[:-5]
    io.pub.publish(truncated)
    assert not spin([node, io.node], lambda: bool(io.got), timeout=2.0)

    def send_good():
        io.pub.publish(to_ros(PointCloud(Header(0, "camera"), sphere)))
        return bool(io.got)

    assert spin([node, io.node], send_good)
    assert from_ros(io.got[0]).header.frame_id == "camera"
    _destroy(node, io.node)


def test_grasp_diffusion_drops_a_field_of_the_wrong_size(spin):
    from semg_grasp_ros.ros.grasp_diffusion_node import GraspDiffusionNode

    node = GraspDiffusionNode(parameter_overrides=[Parameter("num_candidates", value=2),
                                                   Parameter("refine_steps", value=0)])
    io = _Io("object/sdf", "grasp/candidates")
    sdf_msg = message_class("semg_grasp_ros/msg/ObjectSdf")()
    sdf_msg.header.frame_id = "camera"
    sdf_msg.voxel_size = 0.004
    sdf_msg.size_x = sdf_msg.size_y = sdf_msg.size_z = 50
    sdf_msg.distances = [0.01] * 1000  # not 50^3 values
    io.pub.publish(sdf_msg)
    assert not spin([node, io.node], lambda: bool(io.got), timeout=1.5)
    assert node.context.ok()  # the node survived and still spins
    _destroy(node, io.node)


def test_hand_controller_drops_malformed_grasps_and_publishes_the_good_one(spin):
    from semg_grasp_ros.hand.model import FINGER_JOINTS
    from semg_grasp_ros.ros.hand_controller_node import HandControllerNode

    node = HandControllerNode()
    io = _Io("grasp/selected", "grasp/pose")
    now = node.get_clock().now().nanoseconds  # older grasps are rejected as stale
    good = HandGrasp(Header(now, "camera"), "cylindrical", Pose([0, 0, 0.5]), FINGER_JOINTS, np.full(22, 0.3))
    short = to_ros(good)
    short.joint_positions = short.joint_positions[:-1]
    nan = to_ros(good)
    nan.wrist_pose.position.x = float("nan")
    for bad in (short, nan, to_ros(HandGrasp(Header(now, ""), "cylindrical", Pose([0, 0, 0.5]), FINGER_JOINTS,
                                             np.full(22, 0.3)))):
        io.pub.publish(bad)
    assert not spin([node, io.node], lambda: bool(io.got), timeout=1.5)
    io.pub.publish(to_ros(good))
    assert spin([node, io.node], lambda: bool(io.got))
    pose = from_ros(io.got[0])
    assert pose.header.frame_id == "camera" and np.allclose(pose.pose.position, [0, 0, 0.5])
    _destroy(node, io.node)


def test_hand_controller_publishes_a_moveit_grasp(spin):
    pytest.importorskip("moveit_msgs.msg")
    from semg_grasp_ros.hand.model import FINGER_JOINTS
    from semg_grasp_ros.ros.hand_controller_node import HandControllerNode

    node = HandControllerNode()
    io = _Io("grasp/selected", "grasp/moveit")
    grasp = HandGrasp(Header(node.get_clock().now().nanoseconds, "camera"), "spherical", Pose([0.02, 0, 0.5]),
                      FINGER_JOINTS, np.full(22, 0.4), score=0.8)
    io.pub.publish(to_ros(grasp))
    assert spin([node, io.node], lambda: bool(io.got))
    msg = io.got[0]
    assert msg.grasp_pose.header.frame_id == "camera" and msg.grasp_pose.pose.position.x == pytest.approx(0.02)
    assert list(msg.grasp_posture.joint_names) == list(FINGER_JOINTS)
    q_closed = np.array(msg.grasp_posture.points[0].positions)
    q_pre = np.array(msg.pre_grasp_posture.points[0].positions)
    assert np.all(np.abs(q_pre) <= np.abs(q_closed) + 1e-9) and np.any(q_closed > 0.3)
    assert msg.pre_grasp_approach.direction.header.frame_id == "rh_palm"
    assert msg.grasp_quality == pytest.approx(0.8)
    _destroy(node, io.node)
