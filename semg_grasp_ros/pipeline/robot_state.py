"""What robot_state_publisher and static_transform_publisher add to a ROS graph, standalone.

In a ROS launch, robot_state_publisher turns ``joint_states`` into TF for every link of the
URDF and latches the URDF on ``robot_description``; static transforms place the sensors.
The standalone runtime records these too, so Foxglove's 3D panel and RViz show the whole
hand from a bag alone:

* ``RobotStatePublisher``: ``joint_states`` -> ``tf`` (one ``TfMessage``: parent <- link of
  every link moved by a joint, at the joint state's stamp), computed with the project's
  kinematics (``hand.kinematics``) from the same URDF;
* ``static_messages``: ``robot_description`` (the URDF) and ``tf_static`` (the URDF's fixed
  joints, and the scene frames: ``world`` -> camera, ``world`` -> ``table``).
"""

from __future__ import annotations

import logging

import numpy as np

from ..hand.model import urdf_path
from ..topics import JOINT_STATES, TF
from ..types import Header, JointState, Pose, Text, TfMessage, TransformStamped
from .component import Ports

log = logging.getLogger(__name__)

WORLD_FRAME = "world"
TABLE_FRAME = "table"
#: the hand controller's wrist TF child -> the URDF variant rooted there
ROOT_VARIANTS = {"rh_palm": "free", "rh_forearm": "fixed"}


def _poses(matrices: np.ndarray) -> list[Pose]:
    """(N, 4, 4) transforms -> N poses."""
    from ..geometry import matrix_to_quat_xyzw

    quats = matrix_to_quat_xyzw(matrices[:, :3, :3])
    return [Pose(m[:3, 3], q) for m, q in zip(matrices, quats)]


class RobotStatePublisher:
    """TF of every hand link from the joint states (see the module docstring).

    Args:
        root_link: the hand controller's ``root_link`` (``rh_palm`` or ``rh_forearm``): picks the
            URDF (``shadow_hand_free.urdf`` or ``shadow_hand.urdf``) rooted at that link.
    """

    name = "robot_state_publisher"

    def __init__(self, root_link: str = "rh_palm"):
        # imported here: the session view reads this module's frame names without torch
        from ..hand.kinematics import HandKinematics

        variant = ROOT_VARIANTS[root_link]
        # the visual meshes as file URIs: a bag's viewer (Foxglove) has no ROS package path
        path = urdf_path(variant)
        self.urdf = path.read_text().replace("package://semg_grasp_ros/urdf/", path.parent.as_uri() + "/")
        self.fk = HandKinematics.load(variant)
        parents = self.fk.parent_names
        self._moving = [i for i, m in enumerate(self.fk.moving_links) if m]
        self._fixed = [i for i, m in enumerate(self.fk.moving_links) if not m and parents[i]]
        self._parents = parents
        self._last: tuple[bytes, list[Pose]] | None = None  # the latest configuration and its link poses

    def ports(self) -> Ports:
        return Ports(inputs={JOINT_STATES: self.on_joint_state}, outputs={TfMessage: TF})

    def on_joint_state(self, state: JointState) -> list[TfMessage]:
        """TF parent <- link of every moving link at ``state``'s stamp (joints missing from the
        message are held at 0, as the URDF's zero pose)."""
        given = dict(zip(state.name, state.position))
        q = np.array([[given.get(n, 0.0) for n in self.fk.joint_names]])
        if self._last is None or self._last[0] != q.tobytes():  # a hand at rest costs no kinematics
            rel = self.fk.joint_transforms(q)[0].numpy()
            self._last = (q.tobytes(), _poses(rel[self._moving]))
        links, parents = self.fk.link_names, self._parents
        return [TfMessage(tuple(TransformStamped(Header(state.header.stamp_ns, parents[i]), links[i], pose)
                                for i, pose in zip(self._moving, self._last[1])))]

    def static_messages(self, stamp_ns: int, scene: dict[str, np.ndarray] | None = None) -> list:
        """``[Text(URDF), TfMessage]`` for ``robot_description`` and ``tf_static``.

        Args:
            stamp_ns: stamp of the static transforms.
            scene: child frame -> T_world_child (4, 4) of the scene (camera, table), parent ``world``.
        """
        scene = scene or {}
        rel = self.fk.joint_transforms(np.zeros((1, self.fk.n_joints)))[0].numpy()
        frames = [(WORLD_FRAME, child) for child in scene] + [(self._parents[i], self.fk.link_names[i])
                                                               for i in self._fixed]
        matrices = np.stack([np.asarray(m, float) for m in scene.values()] + [rel[i] for i in self._fixed])
        transforms = tuple(TransformStamped(Header(int(stamp_ns), parent), child, pose)
                           for (parent, child), pose in zip(frames, _poses(matrices)))
        return [Text(self.urdf), TfMessage(transforms)]
