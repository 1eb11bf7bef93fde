"""ROS 2 node. sEMG acquisition: a simulator, dataset file, bag or live device (LSL, BrainFlow) -> ``emg/chunks``.

A managed (lifecycle) node: ``configure`` opens the device or file, ``activate`` streams,
``deactivate`` pauses (a paced source resumes at the activation time), ``cleanup`` closes the
source. ``pipeline.launch.py`` takes it to active; by hand::

    ros2 lifecycle set /emg_acquisition configure && ros2 lifecycle set /emg_acquisition activate

Parameters: ``config/emg_acquisition.yaml`` (those that differ from ``EmgAcquisitionConfig``);
they can be set while the node is unconfigured and are read at configure.
"""

from ..pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
from .node import ManagedComponentNode, run_node


class EmgAcquisitionNode(ManagedComponentNode):
    def __init__(self, **kwargs):
        super().__init__("emg_acquisition", EmgAcquisitionConfig, EmgAcquisition, **kwargs)


def main(args=None):
    run_node(EmgAcquisitionNode, args)


if __name__ == "__main__":
    main()
