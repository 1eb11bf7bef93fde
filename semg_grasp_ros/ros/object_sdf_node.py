"""ROS 2 node. Object distance field: ``object/points`` (PointCloud2) -> ``object/sdf`` + ``object/marker``.

Parameters: ``config/object_sdf.yaml`` (those that differ from ``ObjectSdfConfig``).
"""

from ..pipeline.object_sdf import ObjectSdfComponent, ObjectSdfConfig
from .node import ComponentNode, run_node


class ObjectSdfNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("object_sdf", ObjectSdfConfig, ObjectSdfComponent, **kwargs)


def main(args=None):
    run_node(ObjectSdfNode, args)


if __name__ == "__main__":
    main()
