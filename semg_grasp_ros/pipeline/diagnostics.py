"""Health of one node, computed without ROS: what its ``/diagnostics`` status says.

The node's runtime counts what happens (``received``, ``dropped``, ``handled``, ``published``)
and calls ``report`` once per period (1 s); each report covers the messages since the
previous one and gives one level for the node, the worst of these checks:

========================  =====================================  ==========================
check                     WARN                                   ERROR
========================  =====================================  ==========================
streaming input silent    > ``STALE_WARN_S`` (1 s), or nothing   > ``STALE_ERROR_S`` (5 s)
(``STREAMS``)             received yet
dropped input messages    any in the period                      more than half of them
non-finite values, gaps   any in the period (a component's
                          ``stats`` keys containing
                          ``nonfinite`` or ``gaps``)
handler latency           p95 > ``LATENCY_WARN_S`` (0.1 s: the   max > ``LATENCY_ERROR_S``
                          controller-delay budget, Farrell &     (1 s)
                          Weir 2007)
source ended              the component reports ``finished``
========================  =====================================  ==========================

Staleness and latency are wall-clock seconds (``now`` from a monotonic clock): they measure
the node, not the stamps of the data. Events (``grasp/selected``, ``object/sdf``) are not
expected at any rate and never go stale.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..topics import GRASP_INTENT, TOPICS

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
PERIOD_S = 1.0  # one report per second
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
STALE_WARN_S = 1.0
STALE_ERROR_S = 5.0
LATENCY_WARN_S = 0.1
LATENCY_ERROR_S = 1.0
#: inputs that arrive continuously (sensor data and the classifier's decision stream)
STREAMS = frozenset(name for name, t in TOPICS.items() if t.qos == "sensor") | {GRASP_INTENT}


@dataclass(frozen=True)
class DiagnosticStatus:
    """One node's status: ``level`` (OK, WARN, ERROR), a one-line ``message`` (the problems,
    worst first, or ``"ok"``) and ``values``: (key, value) pairs, rates in Hz, latencies in ms."""

    name: str
    level: int
    message: str
    values: tuple[tuple[str, str], ...]


class NodeDiagnostics:
    """Counts a node's traffic and turns each period into a ``DiagnosticStatus``.

    Args:
        name: status name (the node's name).
        inputs: topics the node subscribes to.
        outputs: topics it publishes.
        start: time the node started (seconds, the clock of ``report``'s ``now``).
    """

    def __init__(self, name: str, inputs: Iterable[str], outputs: Iterable[str], start: float):
        self.name = name
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        self._start = self._period_start = start
        self._last_received: dict[str, float] = {}
        self._received: Counter[str] = Counter()
        self._dropped: Counter[str] = Counter()
        self._published: Counter[str] = Counter()
        self._latency: list[float] = []
        self._totals: Counter[str] = Counter()
        self._stats_before: Mapping[str, float] = {}

    def received(self, topic: str, now: float) -> None:
        self._received[topic] += 1
        self._last_received[topic] = now

    def dropped(self, topic: str) -> None:
        """A received message was refused (bad input)."""
        self._dropped[topic] += 1

    def handled(self, seconds: float) -> None:
        """A callback (message or timer) took ``seconds``."""
        self._latency.append(seconds)

    def published(self, topic: str, count: int = 1) -> None:
        self._published[topic] += count

    def report(self, now: float, stats: Mapping[str, float] | None = None, finished: bool = False) -> DiagnosticStatus:
        """The status of the period since the previous report (then a new period starts).

        Args:
            now: current time, seconds (same clock as ``received``).
            stats: the component's running counters (reported as totals; keys containing
                ``nonfinite`` that grew in the period raise a warning).
            finished: the component's source has ended.
        """
        period = max(now - self._period_start, 1e-9)
        problems: list[tuple[int, str]] = []
        values: list[tuple[str, str]] = []
        for topic in self.inputs:
            n, dropped = self._received[topic], self._dropped[topic]
            self._totals[f"{topic} dropped"] += dropped
            values += [(f"{topic} rate (Hz)", f"{n / period:.1f}"),
                       (f"{topic} dropped", str(self._totals[f"{topic} dropped"]))]
            if dropped:
                problems.append((ERROR if dropped > n / 2 else WARN, f"{dropped} of {n} {topic} dropped"))
            if topic in STREAMS:
                last = self._last_received.get(topic)
                age = now - (self._start if last is None else last)
                values.append((f"{topic} age (s)", "never" if last is None else f"{age:.2f}"))
                if last is None:
                    level = ERROR if age > STALE_ERROR_S else WARN
                    problems.append((level, f"waiting for {topic}"))
                elif age > STALE_WARN_S:
                    problems.append((ERROR if age > STALE_ERROR_S else WARN, f"{topic} silent for {age:.1f} s"))
        for topic in self.outputs:
            values.append((f"{topic} rate (Hz)", f"{self._published[topic] / period:.1f}"))
        if self._latency:
            lat = np.asarray(self._latency)
            p95, worst = float(np.percentile(lat, 95)), float(lat.max())
            values += [("latency p95 (ms)", f"{p95 * 1e3:.2f}"), ("latency max (ms)", f"{worst * 1e3:.2f}")]
            if worst > LATENCY_ERROR_S:
                problems.append((ERROR, f"a callback took {worst:.2f} s"))
            elif p95 > LATENCY_WARN_S:
                problems.append((WARN, f"callback latency p95 {p95 * 1e3:.0f} ms"))
        for key, value in sorted((stats or {}).items()):
            values.append((key, str(value)))
            grew = value - self._stats_before.get(key, 0)
            if ("nonfinite" in key or "gaps" in key) and grew > 0:
                problems.append((WARN, f"{grew} {key.replace('_', ' ')}"))
        self._stats_before = dict(stats or {})
        if finished:
            problems.append((WARN, "source ended"))
        self._period_start = now
        self._received.clear(), self._dropped.clear(), self._published.clear(), self._latency.clear()
        problems.sort(key=lambda p: -p[0])
        level = problems[0][0] if problems else OK
        return DiagnosticStatus(self.name, level, "; ".join(m for _, m in problems) or "ok", tuple(values))
