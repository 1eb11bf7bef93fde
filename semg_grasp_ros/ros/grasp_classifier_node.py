"""ROS 2 node. Online grasp-type decoding: ``emg/chunks`` -> ``grasp/intent``.

Parameters: ``config/grasp_classifier.yaml`` (those that differ from ``GraspClassifierConfig``).
"""

from ..pipeline.grasp_classifier import GraspClassifier, GraspClassifierConfig
from .node import ComponentNode, run_node


class GraspClassifierNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("grasp_classifier", GraspClassifierConfig, GraspClassifier, **kwargs)


def main(args=None):
    run_node(GraspClassifierNode, args)


if __name__ == "__main__":
    main()
