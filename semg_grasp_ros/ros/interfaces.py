"""Topic names, message classes and QoS profiles of the ROS nodes, from ``topics.TOPICS``,
plus the ROS-only ``grasp/moveit`` (published where ``moveit_msgs`` is installed)."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from ..msgs.convert import msgtype_of
from ..topics import TOPICS
from .convert import message_class

QOS = {
    "sensor": QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE),
    "latched": QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
    "reliable": QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE),
}

#: accepted grasp as a MoveIt grasp: postures, palm pose, approach/retreat (hand controller)
MOVEIT_GRASP_TOPIC = "grasp/moveit"
MOVEIT_GRASP_TYPE = "moveit_msgs/msg/Grasp"
#: wrist poses of grasp/candidates, best first, for RViz's PoseArray display (generator)
CANDIDATE_POSES_TOPIC = "grasp/candidate_poses"
CANDIDATE_POSES_TYPE = "geometry_msgs/msg/PoseArray"
#: Topics of the ROS nodes only (not in the standalone graph): name -> (message type, QoS class).
ROS_ONLY_TOPICS = {
    MOVEIT_GRASP_TOPIC: (MOVEIT_GRASP_TYPE, "latched"),
    CANDIDATE_POSES_TOPIC: (CANDIDATE_POSES_TYPE, "latched"),
}


def msg_class(topic: str) -> type:
    """rclpy class of the message carried on ``topic``."""
    if topic in ROS_ONLY_TOPICS:
        return message_class(ROS_ONLY_TOPICS[topic][0])
    return message_class(msgtype_of(TOPICS[topic].type))


def optional_msg_class(msgtype: str) -> type | None:
    """rclpy class of ``msgtype``, or None when its package is not installed."""
    try:
        return message_class(msgtype)
    except ImportError:
        return None


def qos(topic: str) -> QoSProfile:
    """QoS profile of ``topic`` (sensor data, latched or reliable)."""
    return QOS[ROS_ONLY_TOPICS[topic][1] if topic in ROS_ONLY_TOPICS else TOPICS[topic].qos]
