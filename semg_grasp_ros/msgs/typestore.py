"""The ROS 2 message types of the standalone runtime, without ROS.

The package's own ``msg/*.msg`` files are the single source of its interfaces: they are
registered here, at run time, with a ``rosbags`` typestore holding the standard ROS 2
Humble types, so bags written without ROS carry exactly the definitions that
``ros2 bag play`` expects. ``RosbagsFactory`` builds message objects of that typestore
for ``semg_grasp_ros.msgs.convert``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from ..errors import BagError
from ..paths import resource

PACKAGE = "semg_grasp_ros"
#: numpy dtypes of the ROS primitive types (rosbags holds numeric arrays as numpy).
PRIMITIVE_DTYPES: dict[str, Any] = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


def package_msg_definitions() -> dict[str, str]:
    """``{"semg_grasp_ros/msg/Name": text}`` for every file in ``msg/``."""
    folder = resource("msg")
    return {f"{PACKAGE}/msg/{f.stem}": f.read_text() for f in sorted(folder.glob("*.msg"))}


@functools.cache
def typestore() -> Typestore:
    """ROS 2 Humble standard types plus this package's interfaces (cached)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types: dict = {}
    for name, text in package_msg_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


class RosbagsFactory:
    """Builds ``rosbags`` message objects; fields not given take ROS default values."""

    def __init__(self, store: Typestore | None = None):
        self.store = store or typestore()

    def new(self, msgtype: str, **fields: Any) -> Any:
        try:
            cls = self.store.types[msgtype]
            _, defs = self.store.fielddefs[msgtype]
        except KeyError as exc:
            raise BagError(f"message type {msgtype} is not in the typestore") from exc
        for name, desc in defs:
            if name not in fields:
                fields[name] = self._default(desc)
        return cls(**fields)

    def array(self, values: Any, rostype: str) -> np.ndarray:
        """A primitive sequence field (``float32[]`` ...) from array-like values."""
        return np.ascontiguousarray(values, dtype=PRIMITIVE_DTYPES[rostype]).ravel()

    def _default(self, desc) -> Any:
        kind, spec = desc
        if kind == Nodetype.BASE:
            base = spec[0]
            return "" if base == "string" else (False if base == "bool" else PRIMITIVE_DTYPES[base](0).item())
        if kind == Nodetype.NAME:
            return self.new(spec)
        sub, length = spec
        if sub[0] == Nodetype.BASE and sub[1][0] in PRIMITIVE_DTYPES:
            return np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=PRIMITIVE_DTYPES[sub[1][0]])
        return [self._default(sub) for _ in range(length)] if kind == Nodetype.ARRAY else []
