"""ROS 2 node. Hand control: ``grasp/intent`` + ``grasp/selected`` -> ``joint_states``, wrist TF,
``hand/joint_trajectory``, ``grasp/pose``; where ``moveit_msgs`` is installed, also the accepted
grasp as ``moveit_msgs/Grasp`` on ``grasp/moveit`` (``pipeline.moveit_grasp``; ``urdf/shadow_hand.srdf``).

Parameters: ``config/hand_controller.yaml`` (those that differ from ``HandControllerConfig``).
"""

from ..pipeline.hand_controller import HandController, HandControllerConfig
from .node import ComponentNode, run_node


class HandControllerNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("hand_controller", HandControllerConfig, HandController, **kwargs)


def main(args=None):
    run_node(HandControllerNode, args)


if __name__ == "__main__":
    main()
