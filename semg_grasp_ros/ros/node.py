"""Run one pipeline component in an rclpy node.

``ComponentNode`` declares one ROS parameter per field of the component's config
dataclass (default, description and range from the field's metadata), builds and
validates the config (a ``ConfigError`` stops the node at start-up with the valid range
in its message), then creates a subscription per input, a publisher per output (a TF
broadcaster for ``TransformStamped``) and a timer per ``Timer``, with the names, types
and QoS of ``interfaces``. Callbacks convert, call the component, convert and publish;
a ``SemgGraspError`` from bad input is logged, throttled, and the node keeps spinning.
Works on Humble and Jazzy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from tf2_ros import TransformBroadcaster

from ..errors import SemgGraspError
from ..pipeline.component import Component
from ..types import TransformStamped
from .convert import from_ros, to_ros
from .interfaces import msg_class, qos


def _ros_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _descriptor(f: dataclasses.Field) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=f.metadata.get("description", ""))
    bounds = f.metadata.get("range")
    if bounds is not None:
        lo, hi = bounds
        if isinstance(lo, int) and isinstance(hi, int):
            desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return desc


def declare_config(node: Node, config_cls: type) -> Any:
    """Declare a parameter per field of ``config_cls`` and build the (validated) config."""
    values = {}
    for f in dataclasses.fields(config_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        node.declare_parameter(f.name, _ros_value(default), _descriptor(f))
        value = node.get_parameter(f.name).value
        values[f.name] = tuple(value) if isinstance(default, tuple) else value
    return config_cls(**values)


class ComponentNode(Node):
    """An rclpy node around one component.

    Args:
        node_name: default node name (each executable is named after its file stem).
        config_cls: the component's config dataclass.
        make_component: builds the component from a validated config.
    """

    def __init__(self, node_name: str, config_cls: type, make_component: Callable[[Any], Component], **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            self.config = declare_config(self, config_cls)
            self.component = make_component(self.config)
        except SemgGraspError as exc:
            self.get_logger().fatal(f"invalid configuration: {exc}")
            raise
        ports = self.component.ports()
        self._publishers: dict[type, Any] = {}
        for typ, topic in ports.outputs.items():
            if typ is TransformStamped:
                self._publishers[typ] = TransformBroadcaster(self)
            else:
                self._publishers[typ] = self.create_publisher(msg_class(topic), topic, qos(topic))
        for topic, handler in ports.inputs.items():
            self.create_subscription(msg_class(topic), topic, partial(self._on_message, handler), qos(topic))
        for timer in ports.timers:
            self.create_timer(timer.period, partial(self._on_timer, timer.handler))

    def _on_message(self, handler: Callable[[Any], Any], msg: Any) -> None:
        try:
            self._publish(handler(from_ros(msg)))
        except SemgGraspError as exc:
            self.get_logger().warning(f"dropped a message: {exc}", throttle_duration_sec=1.0)

    def _on_timer(self, handler: Callable[[int], Any]) -> None:
        try:
            self._publish(handler(self.get_clock().now().nanoseconds))
        except SemgGraspError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _publish(self, outputs: Any) -> None:
        for obj in outputs or ():
            publisher = self._publishers[type(obj)]
            msg = to_ros(obj)
            if isinstance(publisher, TransformBroadcaster):
                publisher.sendTransform(list(msg.transforms))
            else:
                publisher.publish(msg)


def run_node(node_cls: type[Node], args: list[str] | None = None) -> None:
    """``main()`` body of every node executable."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_cls()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SemgGraspError:
        raise SystemExit(2)  # already logged as fatal by the node
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
