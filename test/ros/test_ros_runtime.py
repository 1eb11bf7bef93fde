"""ROS tier, the node runtime as ROS users drive it: live parameters (applied, range-checked,
read-only ones refused with a reason, also through the set_parameters service that `ros2 param
set` calls), /diagnostics from every node, and the acquisition's lifecycle. Skipped where rclpy
is not installed."""

import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_context")]

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402


def test_live_parameters_apply_and_the_others_are_refused(spin):
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode

    node = GraspClassifierNode()
    ok = node.set_parameters([Parameter("decoder.vote_window", value=7), Parameter("decoder.rest_factor", value=2.0)])
    assert all(r.successful for r in ok)
    assert node.config.decoder.vote_window == 7 and node.component.decoder.config.rest_factor == 2.0
    assert node.component.decoder._votes.maxlen == 7
    out_of_range = node.set_parameters([Parameter("decoder.vote_window", value=0)])[0]
    read_only = node.set_parameters([Parameter("decoder.stride_ms", value=40.0)])[0]
    assert not out_of_range.successful and not read_only.successful and node.config.decoder.vote_window == 7
    assert "read-only" in read_only.reason and node.config.decoder.stride_ms == 20.0
    assert node.describe_parameter("decoder.stride_ms").read_only
    assert not node.describe_parameter("decoder.debounce").read_only

    # as `ros2 param set /grasp_classifier decoder.debounce 3` does: the node's set_parameters service
    client_node = rclpy.create_node("param_client")
    client = client_node.create_client(SetParameters, "/grasp_classifier/set_parameters")
    assert spin([node, client_node], lambda: client.service_is_ready())
    future = client.call_async(SetParameters.Request(parameters=[Parameter("decoder.debounce", value=3).to_parameter_msg()]))
    assert spin([node, client_node], future.done)
    assert future.result().results[0].successful and node.component.decoder.config.debounce == 3
    client_node.destroy_node()
    node.destroy_node()


def test_generator_refusal_carries_the_config_reason():
    from semg_grasp_ros.ros.grasp_diffusion_node import GraspDiffusionNode

    node = GraspDiffusionNode(parameter_overrides=[Parameter("model", value="grasp_paper")])
    result = node.set_parameters([Parameter("guidance_scale", value=2.0)])[0]
    assert not result.successful and "guidance" in result.reason  # the paper model has no null type
    assert node.set_parameters([Parameter("num_candidates", value=4)])[0].successful
    assert node.component.sampler.config.num_candidates == 4
    node.destroy_node()


def test_every_node_publishes_diagnostics(spin):
    from semg_grasp_ros.ros.emg_acquisition_node import EmgAcquisitionNode
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode
    from semg_grasp_ros.ros.hand_controller_node import HandControllerNode

    acq, clf, ctrl = EmgAcquisitionNode(), GraspClassifierNode(), HandControllerNode()
    listener = rclpy.create_node("diagnostics_listener")
    latest = {}
    listener.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: latest.update({s.name: s for s in m.status}), 10)
    nodes = [acq, clf, ctrl, listener]
    assert spin(nodes, lambda: {"/emg_acquisition", "/grasp_classifier", "/hand_controller"} <= set(latest))
    assert latest["/emg_acquisition"].message == "not configured"
    assert latest["/grasp_classifier"].level == bytes([1]) and "waiting for emg/chunks" in latest["/grasp_classifier"].message
    acq.trigger_configure()
    acq.trigger_activate()

    def rate(name):
        values = {kv.key: kv.value for kv in latest[name].values}
        return float(values.get("emg/chunks rate (Hz)", 0))

    def streaming():  # both ends of emg/chunks report it, the classifier at level OK
        return rate("/emg_acquisition") > 20 and rate("/grasp_classifier") > 20 and (
            latest["/grasp_classifier"].level == bytes([0]))

    assert spin(nodes, streaming, timeout=30.0)
    values = {kv.key: kv.value for kv in latest["/emg_acquisition"].values}
    assert int(values["chunks"]) > 20
    for n in nodes:
        n.destroy_node()


def test_acquisition_lifecycle(spin):
    from lifecycle_msgs.msg import State

    from semg_grasp_ros.ros.emg_acquisition_node import EmgAcquisitionNode
    from semg_grasp_ros.ros.interfaces import msg_class, qos

    node = EmgAcquisitionNode()
    listener = rclpy.create_node("chunk_listener")
    got = []
    listener.create_subscription(msg_class("emg/chunks"), "emg/chunks", got.append, qos("emg/chunks"))
    topics = lambda: {p.topic_name for p in node.publishers}  # noqa: E731
    assert "/emg/chunks" not in topics() and node.component is None
    assert node.set_parameters([Parameter("chunk_ms", value=40.0)])[0].successful  # unconfigured: taken
    node.trigger_configure()
    assert node._state_machine.current_state[0] == State.PRIMARY_STATE_INACTIVE and node.config.chunk_ms == 40.0
    refused = node.set_parameters([Parameter("chunk_ms", value=20.0)])[0]
    assert not refused.successful and "configure" in refused.reason
    assert not spin([node, listener], lambda: bool(got), timeout=1.0)  # inactive: nothing streams
    node.trigger_activate()
    assert spin([node, listener], lambda: len(got) >= 3)
    assert got[0].sample_count == 20  # 40 ms at 500 Hz
    node.trigger_deactivate()
    spin([node, listener], lambda: False, timeout=0.3)
    got.clear()
    assert not spin([node, listener], lambda: bool(got), timeout=1.0)  # paused
    node.trigger_cleanup()
    assert node.component is None and "/emg/chunks" not in topics()
    node.destroy_node()
    listener.destroy_node()
