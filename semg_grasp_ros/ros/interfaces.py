"""Topic names, message classes and QoS profiles of the ROS nodes, from ``topics.TOPICS``."""

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


def msg_class(topic: str) -> type:
    """rclpy class of the message carried on ``topic``."""
    return message_class(msgtype_of(TOPICS[topic].type))


def qos(topic: str) -> QoSProfile:
    """QoS profile of ``topic`` (sensor data, latched or reliable)."""
    return QOS[TOPICS[topic].qos]
