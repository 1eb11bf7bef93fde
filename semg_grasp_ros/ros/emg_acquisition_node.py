"""ROS 2 node. sEMG acquisition: a simulator, dataset file, bag or live device (LSL, BrainFlow) -> ``emg/chunks``.

Parameters: ``config/emg_acquisition.yaml`` (those that differ from ``EmgAcquisitionConfig``).
"""

from ..pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
from .node import ComponentNode, run_node


class EmgAcquisitionNode(ComponentNode):
    def __init__(self, **kwargs):
        super().__init__("emg_acquisition", EmgAcquisitionConfig, EmgAcquisition, **kwargs)


def main(args=None):
    run_node(EmgAcquisitionNode, args)


if __name__ == "__main__":
    main()
