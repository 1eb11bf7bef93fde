"""ROS 2 node. Hand control: ``grasp/intent`` + ``grasp/selected`` -> ``joint_states``, wrist TF,
``hand/joint_trajectory``, ``grasp/pose``; where ``moveit_msgs`` is installed, also the accepted
grasp as ``moveit_msgs/Grasp`` on ``grasp/moveit`` (``moveit_grasp``; ``urdf/shadow_hand.srdf``).

Parameters: ``config/hand_controller.yaml`` (those that differ from ``HandControllerConfig``).
"""

from typing import Any

from ..pipeline.hand_controller import HandController, HandControllerConfig
from ..topics import GRASP_MOVEIT, ROS_ONLY_TOPICS
from ..types import PoseStamped
from .convert import FACTORY
from .interfaces import optional_msg_class, qos
from .moveit_grasp import grasp_message, moveit_grasp
from .node import ComponentNode, run_node


class HandControllerNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("hand_controller", HandControllerConfig, HandController, **kwargs)
        msgtype = ROS_ONLY_TOPICS[GRASP_MOVEIT].msgtype
        grasp_cls = optional_msg_class(msgtype)
        self._moveit = None
        if grasp_cls is None:
            self.get_logger().info(f"moveit_msgs is not installed: no {msgtype} on {GRASP_MOVEIT}")
        else:
            self._moveit = self.create_publisher(grasp_cls, GRASP_MOVEIT, qos(GRASP_MOVEIT))

    def _on_message(self, topic, handler, msg) -> tuple[Any, list]:
        grasp, outputs = super()._on_message(topic, handler, msg)
        # a wrist target is published only when a new grasp was accepted (not for a refresh)
        if self._moveit is not None and any(isinstance(o, PoseStamped) for o in outputs):
            c = self.component
            g = moveit_grasp(grasp, c.q_open, c.lower, c.upper, self.config.trajectory)
            self._moveit.publish(grasp_message(g, FACTORY))
        return grasp, outputs


def main(args=None):
    run_node(HandControllerNode, args)


if __name__ == "__main__":
    main()
