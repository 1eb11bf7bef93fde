"""An accepted grasp as a ``MoveItGrasp`` (``moveit_msgs/Grasp``), for MoveIt pick pipelines.

The hand controller outputs it on ``grasp/moveit`` with each grasp it accepts; its node publishes
it where ``moveit_msgs`` is installed (``msgs.convert`` builds the message).

Conventions (``urdf/shadow_hand.srdf``: end effector ``rh_hand``, group ``rh_fingers``,
parent link ``rh_palm``):

* ``grasp_pose``: pose of ``rh_palm`` (the end effector's parent link) in the grasp's frame,
  the same pose as ``grasp/pose``.
* ``pre_grasp_posture``: two points of the 22 finger joints, the grasp type's pre-shape (as the
  hand controller takes it on the intent, ``q_open + preshape * (q_type - q_open)``), then the
  grasp's pregrasp posture (a grasp without one: ``q_open + preshape * (q_grasp - q_open)``).
* ``grasp_posture``: two points, the grasp, then its squeeze posture (closed further onto the
  contacts; the grasp again when it gives none): pre-shape -> pregrasp -> grasp -> squeeze, the
  hand controller's order. Every posture is clamped to the joint limits and coupled (J1 = J2).
* ``pre_grasp_approach``: along the palm normal (in ``rh_palm``), ``approach_distance``
  desired and half of it at least: the hand controller's own approach.
* ``post_grasp_retreat``: back along the palm normal, the same distances.
* ``grasp_quality``: the generator's ranking score.
"""

from __future__ import annotations

import numpy as np

from ..geometry import matrix_to_quat_xyzw
from ..grasp.representation import SPECS, spec
from ..hand.convert import hand_grasp_postures, hand_grasp_to_arrays
from ..hand.model import FINGER_JOINTS, PALM_NORMAL, couple
from ..hand.trajectory import TrajectoryConfig
from ..types import (
    GripperTranslation,
    HandGrasp,
    Header,
    JointTrajectory,
    JointTrajectoryPoint,
    MoveItGrasp,
    Pose,
    PoseStamped,
)

#: Link of the end effector's parent (``urdf/shadow_hand.srdf``), frame of approach and retreat.
EEF_PARENT_LINK = "rh_palm"
#: Time between the points of a posture, ns (MoveIt executes postures as trajectories).
POSTURE_TIME_NS = 500_000_000


def _posture(header: Header, *postures: np.ndarray) -> JointTrajectory:
    points = tuple(JointTrajectoryPoint(q, np.zeros_like(q), (k + 1) * POSTURE_TIME_NS) for k, q in enumerate(postures))
    return JointTrajectory(header, FINGER_JOINTS, points)


def moveit_grasp(
    grasp: HandGrasp,
    q_open: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    config: TrajectoryConfig = TrajectoryConfig(),
    grasp_id: str = "",
    allowed_touch_objects: tuple[str, ...] = (),
) -> MoveItGrasp:
    """The MoveIt grasp of a generated grasp.

    Args:
        grasp: the grasp (joints by name, ``rh_palm`` pose in its header frame).
        q_open, lower, upper: (22,) open hand and joint limits, rad, ``FINGER_JOINTS`` order.
        config: pre-shape fraction and approach distance (the hand controller's).
        grasp_id: ``id`` of the message (default: the grasp type and stamp).
        allowed_touch_objects: collision-object names the hand may touch (the object's id in
            the planning scene).

    Raises:
        DataError: unknown, missing or non-finite joints (``hand_grasp_to_arrays``).
    """
    joints, rot, trans = hand_grasp_to_arrays(grasp)
    pregrasp, squeeze = hand_grasp_postures(grasp)
    lower, upper = np.asarray(lower, np.float64), np.asarray(upper, np.float64)

    def limited(q):
        return couple(np.clip(q, lower, upper))

    q_open = limited(np.asarray(q_open, np.float64))
    q_grasp = limited(joints)
    q_type = limited(spec(grasp.grasp_type).preshape_vector()) if grasp.grasp_type in SPECS else q_grasp
    q_preshape = limited(q_open + config.preshape * (q_type - q_open))
    q_pre = limited(q_open + config.preshape * (q_grasp - q_open) if pregrasp is None else pregrasp)
    q_squeeze = q_grasp if squeeze is None else limited(squeeze)
    header = grasp.header
    posture_header = Header(header.stamp_ns, "")
    approach = GripperTranslation(EEF_PARENT_LINK, PALM_NORMAL.copy(), config.approach_distance,
                                  0.5 * config.approach_distance)
    retreat = GripperTranslation(EEF_PARENT_LINK, 0.0 - PALM_NORMAL, config.approach_distance,
                                 0.5 * config.approach_distance)
    return MoveItGrasp(
        id=grasp_id or f"{grasp.grasp_type}_{header.stamp_ns}",
        pre_grasp_posture=_posture(posture_header, q_preshape, q_pre),
        grasp_posture=_posture(posture_header, q_grasp, q_squeeze),
        grasp_pose=PoseStamped(header, Pose(trans, matrix_to_quat_xyzw(rot))),
        grasp_quality=float(grasp.score),
        pre_grasp_approach=approach,
        post_grasp_retreat=retreat,
        allowed_touch_objects=tuple(allowed_touch_objects),
    )
