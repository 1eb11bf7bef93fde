"""ROS 2 node. Diffusion grasp generation: ``grasp/intent`` + ``object/sdf`` -> ``grasp/candidates``,
``grasp/selected``; for RViz also the candidates' wrist poses as ``geometry_msgs/PoseArray`` on
``grasp/candidate_poses`` (RViz has no display for the custom ``HandGraspArray``).

Parameters: ``config/grasp_diffusion.yaml`` (those that differ from ``GraspDiffusionConfig``).
"""

from typing import Any

from ..pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig
from ..topics import CANDIDATE_POSES
from ..types import HandGraspArray
from .convert import FACTORY, pose_array
from .interfaces import msg_class, qos
from .node import ComponentNode, run_node


class GraspDiffusionNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("grasp_diffusion", GraspDiffusionConfig, GraspDiffusionComponent, **kwargs)
        self._poses = self.create_publisher(msg_class(CANDIDATE_POSES), CANDIDATE_POSES,
                                            qos(CANDIDATE_POSES))

    def _on_message(self, topic, handler, msg) -> tuple[Any, list]:
        obj, outputs = super()._on_message(topic, handler, msg)
        for out in outputs:
            if isinstance(out, HandGraspArray):
                self._poses.publish(pose_array(out, FACTORY))
        return obj, outputs


def main(args=None):
    run_node(GraspDiffusionNode, args)


if __name__ == "__main__":
    main()
