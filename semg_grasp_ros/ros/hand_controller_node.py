"""ROS 2 node. Hand control: ``grasp/selected`` -> ``joint_states``, wrist TF, ``hand/joint_trajectory``, ``grasp/pose``.

Parameters: ``config/hand_controller.yaml`` (one per field of ``HandControllerConfig``).
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
