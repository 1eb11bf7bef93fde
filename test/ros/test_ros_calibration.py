"""ROS tier: the classifier node's model parameter at run time and its calibration action.
Skipped where rclpy is not installed; run by the ROS 2 CI workflow."""

import math

import pytest

rclpy = pytest.importorskip("rclpy")
pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_context")]

from rclpy.action import ActionClient  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from semg_grasp_ros.ros.convert import to_ros  # noqa: E402
from semg_grasp_ros.ros.interfaces import msg_class, qos  # noqa: E402


def test_model_parameter_takes_effect_without_a_restart():
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode

    node = GraspClassifierNode()
    assert node.component.model.spec.window_ms == 150.0
    assert node.set_parameters([Parameter("model", value="intent_default")])[0].successful
    assert node.component.model_source == "intent_default" and node.component.model.spec.window_ms == 250.0
    refused = node.set_parameters([Parameter("model", value="/no/such/model.json")])[0]
    assert not refused.successful and "no/such" in refused.reason
    assert node.component.model_source == "intent_default" and node.get_parameter("model").value == "intent_default"
    node.destroy_node()


def test_calibration_action_prompts_and_puts_the_personal_model_in_use(tmp_path):
    import time

    from rclpy.executors import SingleThreadedExecutor

    from semg_grasp_ros.action import Calibrate
    from semg_grasp_ros.pipeline.calibration import CalibrationConfig, protocol, protocol_script
    from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
    from semg_grasp_ros.ros.grasp_classifier_node import GraspClassifierNode

    node = GraspClassifierNode()
    client_node = rclpy.create_node("calibration_client")
    executor = SingleThreadedExecutor()  # one executor throughout: the action's task lives in it
    executor.add_node(node)
    executor.add_node(client_node)

    def spin_until(predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
        return predicate()

    client = ActionClient(client_node, Calibrate, "calibrate")
    pub = client_node.create_publisher(msg_class("emg/chunks"), "emg/chunks", qos("emg/chunks"))
    cues = []
    client_node.create_subscription(msg_class("calibration/cue"), "calibration/cue", cues.append, qos("calibration/cue"))
    assert spin_until(lambda: client.server_is_ready() and pub.get_subscription_count() >= 2)
    feedback = []
    goal = Calibrate.Goal(repetitions=2, hold_s=2.5, rest_s=1.0, out=str(tmp_path / "me"))
    sent = client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    assert spin_until(lambda: sent.done()) and sent.result().accepted
    result = sent.result().get_result_async()
    steps = protocol(node.component.model.class_names, CalibrationConfig(repetitions=2, hold_s=2.5, rest_s=1.0))
    acq = EmgAcquisition(EmgAcquisitionConfig(simulator_model="female_2", seed=3, script=protocol_script(steps)))
    t = 0
    while node.calibration.active and not acq.finished:
        t += 20_000_000
        for chunk in acq.on_timer(t):
            pub.publish(to_ros(chunk))
            end_s = chunk.next_sample_index / chunk.sample_rate
            assert spin_until(lambda: not node.calibration.active or node.calibration.session.elapsed_s >= end_s - 1e-6)
    assert spin_until(lambda: result.done(), timeout=20.0)
    res = result.result().result
    assert res.success, res.message
    assert res.model_path == str(tmp_path / "me.json") and (tmp_path / "me_session").is_dir()
    assert res.accuracy > 0.6 and not math.isnan(res.accuracy) and sum(res.confusion) == 12
    assert node.get_parameter("model").value == res.model_path and node.component.model.architecture == "lda"
    assert feedback and feedback[0].prompt.startswith("rest") and any("grasp and hold" in f.prompt for f in feedback)
    assert spin_until(lambda: len(cues) == 24)
    executor.shutdown()
    node.destroy_node()
    client_node.destroy_node()
