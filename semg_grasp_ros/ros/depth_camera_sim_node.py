"""ROS 2 node. Simulated depth camera looking at an object on a table -> ``object/points`` (PointCloud2).

Parameters: ``config/depth_camera_sim.yaml`` (those that differ from ``DepthCameraSimConfig``).
"""

from ..pipeline.depth_camera import DepthCameraSim, DepthCameraSimConfig
from .node import ComponentNode, run_node


class DepthCameraSimNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("depth_camera_sim", DepthCameraSimConfig, DepthCameraSim, **kwargs)


def main(args=None):
    run_node(DepthCameraSimNode, args)


if __name__ == "__main__":
    main()
