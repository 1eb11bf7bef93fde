"""The standalone runtime: components wired by topic name in one process.

Time is an integer nanosecond clock. With ``realtime=False`` (the default) it is
simulated: the graph jumps from one timer event to the next, so a session runs as fast
as the CPU allows and twice the same inputs give the same outputs. With
``realtime=True`` the graph sleeps until each event is due on the wall clock (live
devices), anchored once at the first event, so a pipeline slower than the clock falls
behind measurably: ``lag_s`` is how late the latest event ran, ``max_lag_s`` the worst, and
``idle_s`` the wall time spent waiting for events. Messages published during a callback are
delivered at the same time stamp, first in first out, before the next timer fires.

A handler that raises a ``SemgGraspError`` (bad input) is logged, throttled, and counted
in ``errors``; its message is dropped and the graph goes on, as a node would.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError, SemgGraspError
from ..throttle import by_count
from .component import Component, Handler

log = logging.getLogger(__name__)
Tap = Callable[[str, Any, int], None]
#: ``trace(component, argument, outputs, wall_start_s, wall_end_s)`` after each handler call.
Trace = Callable[[str, Any, list, float, float], None]


class Graph:
    """Wires components by topic and runs them on a simulated or real-time clock.

    Args:
        realtime: pace events by the wall clock instead of jumping between them.
        start_ns: initial clock value.
    """

    def __init__(self, realtime: bool = False, start_ns: int = 0):
        self.realtime = realtime
        self.now_ns = int(start_ns)
        self.components: dict[str, Component] = {}
        self.errors: Counter[str] = Counter()
        #: wall-clock seconds spent in each component's handlers, per call (latest 100k).
        self.timings: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=100_000))
        self._subs: dict[str, list[tuple[str, Callable[[Any], Any], Mapping[type, str]]]] = defaultdict(list)
        self._taps: list[Tap] = []
        self._traces: list[Trace] = []
        self._queue: deque[tuple[str, Any]] = deque()
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._anchor: tuple[float, int] | None = None  # (monotonic s, clock ns) of real-time pacing
        #: real time only: seconds the latest event ran after its due time, the worst of them,
        #: and the wall-clock seconds spent sleeping until events were due.
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.idle_s = 0.0

    # --- wiring -------------------------------------------------------------------------

    def add(self, component: Component, remap: Mapping[str, str] | None = None) -> Component:
        """Register a component; ``remap`` renames its topics (``{"object/points": "camera/points"}``)."""
        remap = dict(remap or {})
        name = component.name
        if name in self.components:
            raise ConfigError(f"a component named {name!r} is already in the graph")
        ports = component.ports()
        outputs = {t: remap.get(topic, topic) for t, topic in ports.outputs.items()}
        for topic, handler in ports.inputs.items():
            self._subs[remap.get(topic, topic)].append((name, handler, outputs))
        for timer in ports.timers:
            if not timer.period > 0:
                raise ConfigError(f"{name}: timer period must be positive, got {timer.period}")
            self._schedule_timer(name, int(round(timer.period * 1e9)), timer.handler, outputs)
        self.components[name] = component
        return component

    def tap(self, callback: Tap) -> None:
        """Call ``callback(topic, obj, now_ns)`` for every message published (recorders, monitors)."""
        self._taps.append(callback)

    def trace(self, callback: Trace) -> None:
        """Call ``callback(component, argument, outputs, wall_start_s, wall_end_s)`` after every
        handler or timer call (``time.perf_counter`` seconds; the argument is the message, or
        ``now_ns`` for a timer): latency measurements along a chain of messages."""
        self._traces.append(callback)

    def subscribe(self, topic: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback(obj)`` for every message on ``topic``."""
        self._subs[topic].append(("<external>", callback, {}))

    # --- publishing and scheduling -------------------------------------------------------

    def publish(self, topic: str, obj: Any) -> None:
        """Publish ``obj`` on ``topic`` now; delivered before the next timer event."""
        self._queue.append((topic, obj))
        if len(self._queue) == 1:
            self._drain()

    def call_at(self, t_ns: int, fn: Callable[[], None]) -> None:
        """Run ``fn()`` once when the clock reaches ``t_ns`` (not before now)."""
        heapq.heappush(self._events, (max(int(t_ns), self.now_ns), next(self._seq), fn))

    def stop(self) -> None:
        """End ``run`` after the current event."""
        self._stopped = True

    def run(self, duration: float | None = None, until_ns: int | None = None) -> None:
        """Process events until ``duration`` seconds have passed (or ``until_ns``), no
        event is left, or ``stop()`` is called."""
        end = until_ns if until_ns is not None else (
            self.now_ns + int(round(duration * 1e9)) if duration is not None else None)
        self._stopped = False
        while self._events and not self._stopped:
            t, _, fn = self._events[0]
            if end is not None and t > end:
                break
            heapq.heappop(self._events)
            if self.realtime:
                self._pace(t)
            self.now_ns = t
            fn()
            self._drain()
        if end is not None and not self._stopped:
            self.now_ns = max(self.now_ns, end)

    # --- internals ----------------------------------------------------------------------

    def _pace(self, t_ns: int) -> None:
        """Sleep until the event at ``t_ns`` is due on the wall clock; record how late it is."""
        if self._anchor is None:
            self._anchor = (time.monotonic(), self.now_ns)
        wall0, sim0 = self._anchor
        delay = (t_ns - sim0) * 1e-9 - (time.monotonic() - wall0)
        if delay > 0:
            time.sleep(delay)
            self.idle_s += delay
        self.lag_s = max(0.0, -delay)
        self.max_lag_s = max(self.max_lag_s, self.lag_s)

    def _schedule_timer(self, name: str, period_ns: int, handler, outputs: Mapping[type, str]) -> None:
        def fire():
            self._call(name, handler, self.now_ns, outputs)
            self.call_at(self.now_ns + period_ns, fire)

        self.call_at(self.now_ns + period_ns, fire)

    def _drain(self) -> None:
        while self._queue:
            topic, obj = self._queue[0]
            for tap in self._taps:
                tap(topic, obj, self.now_ns)
            for name, handler, outputs in list(self._subs.get(topic, ())):
                self._call(name, handler, obj, outputs)
            self._queue.popleft()

    def _call(self, name: str, handler: Handler, arg: Any, outputs: Mapping[type, str]) -> None:
        start = time.perf_counter()
        try:
            result = list(handler(arg) or ())
        except SemgGraspError as exc:
            self.errors[name] += 1
            n = self.errors[name]
            if by_count(n):
                log.warning("%s: %s (error %d of this component)", name, exc, n)
            result = []
        end = time.perf_counter()
        self.timings[name].append(end - start)
        for trace in self._traces:
            trace(name, arg, result, start, end)
        for out in result:
            topic = outputs.get(type(out))
            if topic is None:
                raise TypeError(f"{name} returned a {type(out).__name__}, which it does not declare as an output")
            self._queue.append((topic, out))
