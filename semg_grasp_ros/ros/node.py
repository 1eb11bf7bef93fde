"""Run one pipeline component in an rclpy node.

``ComponentNode`` declares one ROS parameter per setting of the component's config
dataclass (default, description and range from the field's metadata; the settings of a
nested domain config as ``<field>.<name>``), builds and
validates the config (a ``ConfigError`` stops the node at start-up with the valid range
in its message; missing weights name the file and where shipped weights live), then
creates a subscription per input, a publisher per output (a TF broadcaster for
``TransformStamped``) and a timer per ``Timer``, with the names, types and QoS of
``interfaces``. Callbacks convert, check the frame, call the component, convert and
publish; a ``SemgGraspError`` from bad input (wrong array lengths, NaN, a spatial message
without a valid frame) is logged, throttled, and the node keeps spinning. The package's Python
log records are forwarded to the node's ROS logger. Works on Humble and Jazzy.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
from collections.abc import Callable
from functools import partial
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from tf2_ros import TransformBroadcaster

from ..config import build_config, flat_fields
from ..errors import ConfigError, ModelError, SemgGraspError
from ..pipeline.component import Component
from ..types import TransformStamped
from .convert import check_frame, from_ros, to_ros
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
    """Declare a parameter per setting of ``config_cls`` (dotted names for its nested configs)
    and build the (validated) config.

    Raises:
        ConfigError: a value outside the field's range (the range is in the message), of the
            wrong type, or refused by the config's own validation.
    """
    values = {}
    for name, f, default in flat_fields(config_cls):
        try:
            node.declare_parameter(name, _ros_value(default), _descriptor(f))
        except InvalidParameterValueException as exc:
            lo, hi = f.metadata.get("range", ("?", "?"))
            raise ConfigError(f"parameter {name} must lie in [{lo}, {hi}] ({f.metadata.get('description', '')}); "
                              f"{exc.args[0]}") from exc
        except InvalidParameterTypeException as exc:
            raise ConfigError(f"parameter {name} must be of type {type(default).__name__} "
                              f"(default {default!r}); {exc.args[0]}") from exc
        values[name] = node.get_parameter(name).value
    return build_config(config_cls, values)


class RosLogHandler(logging.Handler):
    """Forwards the package's Python log records (components, domain code) to a node's ROS
    logger, so they reach the console with the node's name and ``/rosout``."""

    def __init__(self, ros_logger: Any):
        super().__init__(logging.INFO)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        msg = f"{record.name}: {record.getMessage()}"
        if record.levelno >= logging.ERROR:
            self._ros_logger.error(msg)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(msg)
        else:
            self._ros_logger.info(msg)


class ComponentNode(Node):
    """An rclpy node around one component.

    Args:
        node_name: default node name (each executable is named after its file stem).
        config_cls: the component's config dataclass.
        make_component: builds the component from a validated config.
    """

    def __init__(self, node_name: str, config_cls: type, make_component: Callable[[Any], Component], **kwargs):
        super().__init__(node_name, **kwargs)
        self._log_handler = RosLogHandler(self.get_logger())
        package_log = logging.getLogger(__package__.split(".")[0])
        package_log.addHandler(self._log_handler)
        if package_log.level == logging.NOTSET:
            package_log.setLevel(logging.INFO)
        try:
            self.config = declare_config(self, config_cls)
            self.component = make_component(self.config)
        except ModelError as exc:
            self.get_logger().fatal(f"cannot load the model: {exc}. Shipped weights are installed in "
                                    "share/semg_grasp_ros/models (launch arguments intent_model, grasp_model); "
                                    "`semg-grasp train intent|grasp` makes new ones")
            self._remove_log_handler()
            raise
        except SemgGraspError as exc:
            self.get_logger().fatal(f"invalid configuration: {exc}")
            self._remove_log_handler()
            raise
        ports = self.component.ports()
        self._outputs: dict[type, Any] = {}
        for typ, topic in ports.outputs.items():
            if typ is TransformStamped:
                self._outputs[typ] = TransformBroadcaster(self)
            else:
                self._outputs[typ] = self.create_publisher(msg_class(topic), topic, qos(topic))
        for topic, handler in ports.inputs.items():
            self.create_subscription(msg_class(topic), topic, partial(self._on_message, topic, handler), qos(topic))
        for timer in ports.timers:
            self.create_timer(timer.period, partial(self._on_timer, timer.handler))

    def _remove_log_handler(self) -> None:
        logging.getLogger(__package__.split(".")[0]).removeHandler(self._log_handler)

    def destroy_node(self) -> None:
        self._remove_log_handler()
        super().destroy_node()

    def _on_message(self, topic: str, handler: Callable[[Any], Any], msg: Any) -> tuple[Any, list]:
        """Convert, check, handle, publish. Returns (the domain input or None, the outputs)."""
        try:
            obj = check_frame(topic, from_ros(msg))
            outputs = list(handler(obj) or ())
            self._publish(outputs)
        except SemgGraspError as exc:
            self.get_logger().warning(f"dropped a message on {topic}: {exc}", throttle_duration_sec=1.0)
            return None, []
        return obj, outputs

    def _on_timer(self, handler: Callable[[int], Any]) -> None:
        try:
            self._publish(handler(self.get_clock().now().nanoseconds))
        except SemgGraspError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)

    def _publish(self, outputs: Any) -> None:
        for obj in outputs or ():
            publisher = self._outputs[type(obj)]
            msg = to_ros(obj)
            if isinstance(publisher, TransformBroadcaster):
                publisher.sendTransform(list(msg.transforms))
            else:
                publisher.publish(msg)


def run_node(node_cls: type[Node], args: list[str] | None = None) -> None:
    """``main()`` body of every node executable.

    rclpy's signal handler wakes the executor and shuts the context down on SIGINT (``ros2
    launch`` stopping, Ctrl-C). A callback running at that moment then fails with rclpy's
    ``RCLError`` (publish or wait set on a shut-down context; Humble raises it instead of
    ``ExternalShutdownException``): such an error after shutdown ends the node cleanly, while
    the same error with the context still valid is a real failure and propagates.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = node_cls()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        if rclpy.ok():
            raise
    except SemgGraspError:
        raise SystemExit(2)  # already logged as fatal by the node
    finally:
        # a second SIGINT (Ctrl-C reaches ros2 launch and its nodes, and launch forwards it) must
        # not interrupt the clean-up
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
