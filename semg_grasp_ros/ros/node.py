"""Run one pipeline component in an rclpy node.

``ComponentNode`` declares one ROS parameter per setting of the component's config
dataclass (default, description and range from the field's metadata; the settings of a
nested domain config as ``<field>.<name>``), builds and
validates the config (a ``ConfigError`` stops the node at start-up with the valid range
in its message; missing weights name the file and where shipped weights live), then
creates a subscription per input, a publisher per output (a TF broadcaster for
``TransformStamped``) and a timer per ``Timer``, with the names, types and QoS of
``interfaces`` (an output on a ROS-only topic whose message package is not installed, such as
``moveit_msgs``, is logged at start-up and not published). Callbacks convert, check the frame, call the component, convert and
publish; a ``SemgGraspError`` from bad input (wrong array lengths, NaN, a spatial message
without a valid frame) is logged, throttled, and the node keeps spinning. The package's Python
log records are forwarded to the node's ROS logger. Works on Humble and Jazzy.

Parameters marked ``live`` in the config apply while the node runs: a set-parameters callback
builds the new config (ranges checked by rclpy from the descriptors, then the config's own
validation) and hands it to the component's ``reconfigure``; a refusal returns its reason.
Every other parameter is declared read-only. Once per second the node publishes its health
(``pipeline.diagnostics``) on ``/diagnostics``. ``ManagedComponentNode`` is the lifecycle
variant: configure builds the component (opens the device or file), activate starts its
timers, deactivate stops them, cleanup releases the component.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.subscription import Subscription
from tf2_ros import TransformBroadcaster

from ..config import build_config, flat_fields
from ..errors import ConfigError, ModelError, SemgGraspError
from ..pipeline.component import Component
from ..pipeline.diagnostics import PERIOD_S, NodeDiagnostics
from ..topics import DIAGNOSTICS, ROS_ONLY_TOPICS
from ..types import TransformStamped
from .convert import check_frame, from_ros, to_ros
from .interfaces import msg_class, optional_msg_class, qos


def _ros_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _descriptor(f: dataclasses.Field, read_only: bool) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=f.metadata.get("description", ""), read_only=read_only)
    if read_only:
        desc.additional_constraints = "read at start-up: restart the node to change it"
    bounds = f.metadata.get("range")
    if bounds is not None:
        lo, hi = bounds
        if isinstance(lo, int) and isinstance(hi, int):
            desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return desc


def declare_parameters(node: Node, config_cls: type, read_only: bool = True) -> None:
    """Declare a parameter per setting of ``config_cls`` (dotted names for its nested configs;
    default, description, range); settings not marked ``live`` are read-only when ``read_only``.

    Raises:
        ConfigError: a value (from a parameter file or override) outside the field's range (the
            range is in the message) or of the wrong type.
    """
    for name, f, default in flat_fields(config_cls):
        try:
            node.declare_parameter(name, _ros_value(default),
                                   _descriptor(f, read_only and not f.metadata.get("live", False)))
        except InvalidParameterValueException as exc:
            lo, hi = f.metadata.get("range", ("?", "?"))
            raise ConfigError(f"parameter {name} must lie in [{lo}, {hi}] ({f.metadata.get('description', '')}); "
                              f"{exc.args[0]}") from exc
        except InvalidParameterTypeException as exc:
            raise ConfigError(f"parameter {name} must be of type {type(default).__name__} "
                              f"(default {default!r}); {exc.args[0]}") from exc


def config_from_parameters(node: Node, config_cls: type, changes: list | None = None) -> Any:
    """The config from the node's declared parameter values, with ``changes`` (rclpy
    ``Parameter``s about to be set) applied.

    Raises:
        ConfigError: refused by the config's own validation.
    """
    values = {name: node.get_parameter(name).value for name, _, _ in flat_fields(config_cls)}
    values.update({p.name: p.value for p in changes or ()})
    return build_config(config_cls, values)


def declare_config(node: Node, config_cls: type, read_only: bool = True) -> Any:
    """``declare_parameters``, then the (validated) config from their values.

    Raises:
        ConfigError: as ``declare_parameters``, or refused by the config's own validation.
    """
    declare_parameters(node, config_cls, read_only)
    return config_from_parameters(node, config_cls)


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


class _ComponentRuntime:
    """What both node flavours share: log forwarding, the component's ports, callbacks,
    live parameters and diagnostics. Mixed into an rclpy ``Node`` or ``LifecycleNode``."""

    def _init_runtime(self, config_cls: type, make_component: Callable[[Any], Component]) -> None:
        """Call once the parameters are declared."""
        self._config_cls, self._make_component = config_cls, make_component
        self._live = {name for name, f, _ in flat_fields(config_cls) if f.metadata.get("live", False)}
        self.config: Any = None
        self.component: Any = None
        self._active = False
        self._outputs: dict[type, Any] = {}
        self._topics: dict[type, str] = {}
        self._entities: list[Any] = []  # publishers and subscriptions of the component's ports
        self._timers: list[Any] = []
        self._diagnostics: NodeDiagnostics | None = None
        self._log_handler = RosLogHandler(self.get_logger())
        package_log = logging.getLogger(__package__.split(".")[0])
        package_log.addHandler(self._log_handler)
        if package_log.level == logging.NOTSET:
            package_log.setLevel(logging.INFO)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics_pub = self.create_publisher(msg_class(DIAGNOSTICS), DIAGNOSTICS, qos(DIAGNOSTICS))
        self.create_timer(PERIOD_S, self._publish_diagnostics)

    def _build(self) -> None:
        """The config from the parameters, then the component (fatal log on failure).

        Raises:
            SemgGraspError: invalid configuration or model.
        """
        try:
            self.config = config_from_parameters(self, self._config_cls)
            self.component = self._make_component(self.config)
        except ModelError as exc:
            self.get_logger().fatal(f"cannot load the model: {exc}. Shipped weights are installed in "
                                    "share/semg_grasp_ros/models (launch arguments intent_model, grasp_model); "
                                    "`semg-grasp train intent|grasp` makes new ones")
            raise
        except SemgGraspError as exc:
            self.get_logger().fatal(f"invalid configuration: {exc}")
            raise

    def _open_ports(self) -> None:
        """Publishers and subscriptions of the component's ports (timers: ``_start_timers``)."""
        ports = self.component.ports()
        self._topics = dict(ports.outputs)
        for typ, topic in ports.outputs.items():
            if typ is TransformStamped:
                self._outputs[typ] = TransformBroadcaster(self)
                continue
            only_ros = ROS_ONLY_TOPICS.get(topic)
            cls = msg_class(topic) if only_ros is None else optional_msg_class(only_ros.msgtype)
            if cls is None:  # an optional ROS-only message (moveit_msgs) whose package is not installed
                self.get_logger().info(f"{only_ros.msgtype} is not installed: nothing on {topic}")
                continue
            self._outputs[typ] = self.create_publisher(cls, topic, qos(topic))
            self._entities.append(self._outputs[typ])
        for topic, handler in ports.inputs.items():
            self._entities.append(self.create_subscription(
                msg_class(topic), topic, partial(self._on_message, topic, handler), qos(topic)))
        self._diagnostics = NodeDiagnostics(self.get_fully_qualified_name(), ports.inputs, ports.outputs.values(),
                                            time.monotonic())

    def _start_timers(self) -> None:
        for timer in self.component.ports().timers:
            self._timers.append(self.create_timer(timer.period, partial(self._on_timer, timer.handler)))
        self._active = True

    def _stop_timers(self) -> None:
        for timer in self._timers:
            self.destroy_timer(timer)
        self._timers.clear()
        self._active = False

    def _release(self) -> None:
        """Undo ``_open_ports`` and ``_build``: the component is closed (device, file)."""
        self._stop_timers()
        for entity in self._entities:
            if isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            else:
                self.destroy_publisher(entity)
        self._entities.clear()
        self._outputs.clear()
        close = getattr(self.component, "close", None)
        if close is not None:
            close()
        self.component = self._diagnostics = None

    def _remove_log_handler(self) -> None:
        logging.getLogger(__package__.split(".")[0]).removeHandler(self._log_handler)

    def _on_set_parameters(self, parameters: list) -> SetParametersResult:
        """Apply ``live`` parameters to the running component (rclpy has checked the ranges
        and refused read-only ones); without a component (lifecycle node not configured) any
        value is taken and used at the next configure."""
        if self.component is None:
            return SetParametersResult(successful=True)
        fixed = sorted(p.name for p in parameters if p.name not in self._live)
        if fixed:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(fixed)} is read when the node is configured: deactivate and clean up the node, "
                "set it, then configure again"))
        try:
            config = config_from_parameters(self, self._config_cls, parameters)
            self.component.reconfigure(config)
        except SemgGraspError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = config
        self.get_logger().info("parameters changed: " + ", ".join(f"{p.name}={p.value!r}" for p in parameters))
        return SetParametersResult(successful=True)

    def _on_message(self, topic: str, handler: Callable[[Any], Any], msg: Any) -> tuple[Any, list]:
        """Convert, check, handle, publish. Returns (the domain input or None, the outputs)."""
        start = time.monotonic()
        diagnostics = self._diagnostics
        diagnostics.received(topic, start)
        try:
            obj = check_frame(topic, from_ros(msg))
            outputs = list(handler(obj) or ())
            self._publish(outputs)
        except SemgGraspError as exc:
            diagnostics.dropped(topic)
            self.get_logger().warning(f"dropped a message on {topic}: {exc}", throttle_duration_sec=1.0)
            return None, []
        finally:
            diagnostics.handled(time.monotonic() - start)
        return obj, outputs

    def _on_timer(self, handler: Callable[[int], Any]) -> None:
        start = time.monotonic()
        try:
            self._publish(handler(self.get_clock().now().nanoseconds))
        except SemgGraspError as exc:
            self.get_logger().warning(str(exc), throttle_duration_sec=1.0)
        finally:
            if self._diagnostics is not None:
                self._diagnostics.handled(time.monotonic() - start)

    def _publish(self, outputs: Any) -> None:
        for obj in outputs or ():
            publisher = self._outputs.get(type(obj))
            if publisher is None:  # its message package is not installed
                continue
            msg = to_ros(obj)
            if isinstance(publisher, TransformBroadcaster):
                publisher.sendTransform(list(msg.transforms))
            else:
                publisher.publish(msg)
            self._diagnostics.published(self._topics[type(obj)])

    def _publish_diagnostics(self) -> None:
        """The node's ``DiagnosticStatus`` of the last period on ``/diagnostics``."""
        name = self.get_fully_qualified_name()
        if self._diagnostics is None:
            level, message, values = 1, "not configured", ()
        else:
            report = self._diagnostics.report(time.monotonic(), getattr(self.component, "stats", None),
                                              getattr(self.component, "finished", False))
            level, message, values = report.level, report.message, report.values
            if not self._active and self.component.ports().timers:
                level, message = max(level, 1), "inactive" if message == "ok" else f"inactive; {message}"
        status = DiagnosticStatus(level=bytes([level]), name=name, message=message,
                                  hardware_id=str(getattr(self.config, "source", "") or ""),
                                  values=[KeyValue(key=k, value=v) for k, v in values])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


class ComponentNode(_ComponentRuntime, Node):
    """An rclpy node around one component, built and running from the start.

    Args:
        node_name: default node name (each executable is named after its file stem).
        config_cls: the component's config dataclass.
        make_component: builds the component from a validated config.
    """

    def __init__(self, node_name: str, config_cls: type, make_component: Callable[[Any], Component], **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            declare_parameters(self, config_cls)
        except SemgGraspError as exc:
            self.get_logger().fatal(f"invalid configuration: {exc}")
            raise
        self._init_runtime(config_cls, make_component)
        try:
            self._build()
        except SemgGraspError:
            self._remove_log_handler()
            raise
        self._open_ports()
        self._start_timers()

    def destroy_node(self) -> None:
        self._remove_log_handler()
        super().destroy_node()


class ManagedComponentNode(_ComponentRuntime, LifecycleNode):
    """A lifecycle (managed) node around one component: parameters are declared at once and may
    be set while unconfigured; configure builds the component (opens the device or file),
    activate starts its timers, deactivate stops them (a paced source resumes at the
    activation time), cleanup closes and releases the component."""

    def __init__(self, node_name: str, config_cls: type, make_component: Callable[[Any], Component], **kwargs):
        super().__init__(node_name, **kwargs)
        try:
            declare_parameters(self, config_cls, read_only=False)
        except SemgGraspError as exc:
            self.get_logger().fatal(f"invalid configuration: {exc}")
            raise
        self._init_runtime(config_cls, make_component)

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._build()
        except SemgGraspError:
            return TransitionCallbackReturn.FAILURE
        self._open_ports()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        resume = getattr(self.component, "resume", None)
        if resume is not None:
            resume()
        self._start_timers()
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_timers()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        if self.component is not None:
            self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state) -> TransitionCallbackReturn:
        if self.component is not None:
            self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        if self.component is not None:
            self._release()
        self._remove_log_handler()
        super().destroy_node()


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
