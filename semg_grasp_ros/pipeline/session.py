"""Recording a graph to a bag and replaying a bag into a graph."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..msgs.convert import MSGTYPES
from .bag import BagWriter, read_bag
from .graph import Graph

log = logging.getLogger(__name__)


def record(graph: Graph, writer: BagWriter, topics: Iterable[str] | None = None) -> None:
    """Write every message published in ``graph`` (or only ``topics``) to ``writer``,
    stamped with the graph clock at publication (the receive time, as ``ros2 bag record``).
    Domain objects without a bag message type (the MoveIt grasp, published by the ROS node only)
    are left out."""
    wanted = None if topics is None else {t.lstrip("/") for t in topics}

    def on_message(topic: str, obj, now_ns: int) -> None:
        if type(obj) in MSGTYPES if wanted is None else topic in wanted:
            writer.write(topic, obj, now_ns)

    graph.tap(on_message)


def play(graph: Graph, path: str | Path, topics: Iterable[str] | None = None, rate: float = 1.0,
         remap: dict[str, str] | None = None, recorded_times: bool = False) -> None:
    """Schedule the messages of a bag into ``graph``, starting at its current time.

    Message ``i`` is published at ``now + (stamp_i - stamp_0) / rate``, or at its recorded
    stamp itself with ``recorded_times`` (a re-run on the clock of the recording); messages
    are read lazily, one ahead, so a long bag costs no memory. Messages keep their own
    header stamps.

    Args:
        path: bag directory.
        topics: topics to replay (relative or absolute names); all usable ones when None.
        rate: playback speed factor (2.0 = twice as fast).
        remap: topic renames applied when publishing.
    """
    if not rate > 0:
        raise ConfigError(f"playback rate must be positive, got {rate}")
    if recorded_times and rate != 1.0:
        raise ConfigError("recorded_times replays on the recording's own clock: rate must be 1")
    remap = remap or {}
    messages = read_bag(path, topics)
    start = graph.now_ns
    first: list[int] = []

    def publish_next(item) -> None:
        topic, _, obj = item
        graph.publish(remap.get(topic, topic), obj)
        schedule_next()

    def schedule_next() -> None:
        item = next(messages, None)
        if item is None:
            return
        if not first:
            first.append(0 if recorded_times else item[1])
        offset = item[1] - first[0]  # integer ns: real-clock stamps (~1.8e18) exceed float64's exact range
        at = (0 if recorded_times else start) + (offset if rate == 1.0 else int(round(offset / rate)))
        graph.call_at(at, lambda: publish_next(item))

    schedule_next()
