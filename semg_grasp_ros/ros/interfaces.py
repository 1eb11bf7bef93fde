"""Message classes and QoS profiles of the ROS nodes' topics, from ``topics.TOPICS`` and
``topics.ROS_ONLY_TOPICS`` (``grasp/moveit`` is published where ``moveit_msgs`` is installed)."""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from ..msgs.convert import msgtype_of
from ..topics import ROS_ONLY_TOPICS, TOPICS
from .convert import message_class

QOS = {
    "sensor": QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE),
    "latched": QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL),
    "reliable": QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE),
}

def msg_class(topic: str) -> type:
    """rclpy class of the message carried on ``topic``."""
    if topic in ROS_ONLY_TOPICS:
        return message_class(ROS_ONLY_TOPICS[topic].msgtype)
    return message_class(msgtype_of(TOPICS[topic].type))


def optional_msg_class(msgtype: str) -> type | None:
    """rclpy class of ``msgtype``, or None when its package is not installed."""
    try:
        return message_class(msgtype)
    except ImportError:
        return None


def qos(topic: str) -> QoSProfile:
    """QoS profile of ``topic`` (sensor data, latched or reliable)."""
    return QOS[ROS_ONLY_TOPICS[topic].qos if topic in ROS_ONLY_TOPICS else TOPICS[topic].qos]
