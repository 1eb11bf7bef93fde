"""The in-process graph: timers, routing, remapping, error isolation, determinism."""

import time

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.pipeline.component import Ports, Timer
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.types import EmgChunk, Header


def _chunk(i: int, n: int = 10) -> EmgChunk:
    return EmgChunk(Header(i, "emg"), 500.0, ("a", "b"), i * n, np.full((n, 2), i, np.float32))


class Source:
    name = "source"

    def __init__(self, period=0.02):
        self.period, self.i = period, 0

    def ports(self):
        return Ports(outputs={EmgChunk: "emg/chunks"}, timers=[Timer(self.period, self.tick)])

    def tick(self, now_ns):
        self.i += 1
        return [_chunk(self.i)]


class Doubler:
    name = "doubler"

    def ports(self):
        return Ports(inputs={"emg/chunks": self.on_emg}, outputs={EmgChunk: "emg/doubled"})

    def on_emg(self, chunk):
        if chunk.first_sample_index == 30:
            raise DataError("bad chunk")
        return [EmgChunk(chunk.header, chunk.sample_rate, chunk.channel_names, chunk.first_sample_index, chunk.data * 2)]


def test_timers_fire_on_sim_clock_and_outputs_route():
    g = Graph()
    g.add(Source(0.02))
    g.add(Doubler())
    seen, stamps = [], []
    g.subscribe("emg/doubled", lambda c: seen.append(float(c.data[0, 0])))
    g.tap(lambda topic, obj, now: stamps.append((topic, now)))
    g.run(duration=0.1)
    # Timers fire after one period: 20, 40, 60, 80, 100 ms -> 5 chunks, chunk 3 rejected.
    assert seen == [2.0, 4.0, 8.0, 10.0]
    assert g.errors["doubler"] == 1
    assert g.now_ns == 100_000_000
    assert stamps[0] == ("emg/chunks", 20_000_000) and stamps[1] == ("emg/doubled", 20_000_000)


def test_remap_and_determinism():
    def run_once():
        g = Graph()
        g.add(Source(0.01), remap={"emg/chunks": "raw"})
        out = []
        g.subscribe("raw", lambda c: out.append((c.header.stamp_ns, c.first_sample_index)))
        g.run(duration=0.05)
        return out

    assert run_once() == run_once() == [(i, i * 10) for i in range(1, 6)]


def test_undeclared_output_type_is_a_programming_error():
    class Bad:
        name = "bad"

        def ports(self):
            return Ports(timers=[Timer(0.01, lambda now: [_chunk(0)])])

    g = Graph()
    g.add(Bad())
    with pytest.raises(TypeError, match="does not declare"):
        g.run(duration=0.02)


def test_duplicate_names_and_bad_periods_fail_at_start():
    g = Graph()
    g.add(Source())
    with pytest.raises(ConfigError):
        g.add(Source())
    with pytest.raises(ConfigError):
        Graph().add(Source(period=0))


def test_realtime_mode_paces_by_wall_clock():
    g = Graph(realtime=True)
    g.add(Source(0.05))
    t0 = time.monotonic()
    g.run(duration=0.2)
    assert time.monotonic() - t0 >= 0.19


def test_realtime_mode_measures_falling_behind_across_runs():
    g = Graph(realtime=True)
    g.add(Source(0.01))
    g.subscribe("emg/chunks", lambda c: time.sleep(0.02))  # twice as slow as the clock
    for _ in range(3):  # pacing is anchored once: the lag accumulates over successive runs
        g.run(duration=0.05)
    assert g.max_lag_s > 0.1 and g.lag_s > 0.1
    fast = Graph(realtime=True)
    fast.add(Source(0.05))
    fast.run(duration=0.3)  # nothing to do between events: it waits for the clock, never behind it
    assert fast.max_lag_s < 0.1 and fast.idle_s > 0.1


def test_stop_ends_run_early():
    g = Graph()
    src = g.add(Source(0.01))
    g.subscribe("emg/chunks", lambda c: g.stop() if c.first_sample_index >= 30 else None)
    g.run(duration=10.0)
    assert src.i == 3
