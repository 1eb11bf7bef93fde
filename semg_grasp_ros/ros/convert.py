"""rclpy message classes for ``semg_grasp_ros.msgs.convert``.

The conversion logic is shared with the standalone runtime; this module only says how to
build rclpy messages: classes are imported from their generated packages, and primitive
sequences are given as ``array.array`` (what rclpy stores them as; numpy arrays are not
accepted by the generated setters of unbounded sequences).
"""

from __future__ import annotations

import array
import importlib
from typing import Any

import numpy as np

from ..errors import DataError
from ..msgs.convert import from_msg, to_msg
from ..types import HandGrasp, HandGraspArray, ObjectSdf, PointCloud, PoseArray

_TYPECODES = {
    "bool": None, "byte": "B", "char": "B", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H",
    "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q", "float32": "f", "float64": "d",
}
_DTYPES = {"b": np.int8, "B": np.uint8, "h": np.int16, "H": np.uint16, "i": np.int32, "I": np.uint32,
           "q": np.int64, "Q": np.uint64, "f": np.float32, "d": np.float64}


def message_class(msgtype: str) -> type:
    """``"sensor_msgs/msg/JointState"`` -> the rclpy class."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class RclpyFactory:
    """Builds rclpy message objects for ``to_msg``."""

    def new(self, msgtype: str, **fields: Any) -> Any:
        return message_class(msgtype)(**fields)

    def array(self, values: Any, rostype: str) -> Any:
        code = _TYPECODES[rostype]
        if code is None:
            return [bool(v) for v in np.ravel(values)]
        return array.array(code, np.ascontiguousarray(values, dtype=_DTYPES[code]).ravel().tobytes())


FACTORY = RclpyFactory()


def to_ros(obj: Any) -> Any:
    """rclpy message for a domain object."""
    return to_msg(obj, FACTORY)


def from_ros(msg: Any) -> Any:
    """Domain object for an rclpy message (raises DataError on malformed content)."""
    return from_msg(msg)


def pose_array(candidates: HandGraspArray, factory: Any = FACTORY) -> Any:
    """``geometry_msgs/msg/PoseArray`` of the candidates' wrist poses (best first), for RViz."""
    return to_msg(PoseArray.of_candidates(candidates), factory)


#: Domain types whose numbers are coordinates in their header's frame.
SPATIAL_TYPES = (PointCloud, ObjectSdf, HandGrasp, HandGraspArray)


def check_frame(topic: str, obj: Any) -> Any:
    """``obj`` unchanged when its frame can be used; spatial data need a valid tf2 frame id.

    Raises:
        DataError: a cloud, distance field or grasp with an empty frame id, one starting with
            '/' (tf2 in ROS 2 refuses those) or holding whitespace.
    """
    if isinstance(obj, SPATIAL_TYPES):
        frame = obj.header.frame_id
        if not frame or frame.startswith("/") or any(c.isspace() for c in frame):
            raise DataError(f"{topic}: frame_id {frame!r} is not a valid tf2 frame (non-empty, no leading '/', "
                            f"no whitespace); the coordinates cannot be placed")
    return obj
