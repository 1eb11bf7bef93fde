"""ROS 2 node. Diffusion grasp generation: ``grasp/intent`` + ``object/sdf`` -> ``grasp/candidates``, ``grasp/selected``.

Parameters: ``config/grasp_diffusion.yaml`` (one per field of ``GraspDiffusionConfig``).
"""

from ..pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig
from .node import ComponentNode, run_node


class GraspDiffusionNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("grasp_diffusion", GraspDiffusionConfig, GraspDiffusionComponent, **kwargs)


def main(args=None):
    run_node(GraspDiffusionNode, args)


if __name__ == "__main__":
    main()
