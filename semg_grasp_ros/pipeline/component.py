"""The contract between a component (the logic of one node) and its runtimes.

A component is a plain class. It declares its ports: for each input topic a handler
taking one domain message, the topic each output type goes to, and periodic timers
taking the current time in nanoseconds. Handlers and timers return the messages to
publish (an iterable of domain objects, or None); each is routed to the topic declared
for its type. Both runtimes use the same declaration: the in-process ``Graph`` and the
thin rclpy node adapters in ``semg_grasp_ros.ros``.

Example::

    class Echo:
        name = "echo"

        def ports(self) -> Ports:
            return Ports(inputs={"emg/chunks": self.on_emg}, outputs={EmgChunk: "emg/echo"})

        def on_emg(self, chunk: EmgChunk) -> list[EmgChunk]:
            return [chunk]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Handler = Callable[[Any], Iterable[Any] | None]
TimerHandler = Callable[[int], Iterable[Any] | None]


@dataclass(frozen=True)
class Timer:
    """A periodic callback: ``handler(now_ns)`` every ``period`` seconds."""

    period: float
    handler: TimerHandler


@dataclass(frozen=True)
class Ports:
    """What a component reads, writes and runs periodically.

    Attributes:
        inputs: topic -> handler(message) returning messages to publish.
        outputs: domain type -> topic it is published on.
        timers: periodic callbacks.
    """

    inputs: Mapping[str, Handler] = field(default_factory=dict)
    outputs: Mapping[type, str] = field(default_factory=dict)
    timers: Sequence[Timer] = ()


class Component(Protocol):
    """Anything with a ``name`` and ``ports()``."""

    name: str

    def ports(self) -> Ports: ...
