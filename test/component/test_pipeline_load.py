"""The pipeline under load: sEMG arriving at ten times its nominal rate for 10 s of stream
(a device or a bag replay catching up), decoded, acted on and recorded with bounded memory,
nothing dropped and nothing lost from the bag."""

import gc
import tracemalloc

import numpy as np
import pytest

from semg_grasp_ros.config import load_config
from semg_grasp_ros.emg.simulator.model import SimulatorModel
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.intent.models import load_model
from semg_grasp_ros.pipeline.bag import BagWriter, bag_info
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifier, GraspClassifierConfig
from semg_grasp_ros.pipeline.hand_controller import HandController, HandControllerConfig
from semg_grasp_ros.pipeline.session import record
from semg_grasp_ros.types import EmgChunk, Header

RATE = 500.0
CHUNK = 10  # samples per chunk: 20 ms of signal, nominally 50 chunks/s
SPEED = 10  # chunks arrive every 2 ms: 500 chunks/s
STREAM_S = 10.0  # seconds of stream (clock time): 100 s of signal


@pytest.fixture(scope="module")
def signal():
    """20 s of a simulated user (rest, then grasps and rests), (n, 2) float32; played 5 times in a row."""
    sim = EmgSimulator(SimulatorModel.shipped("male_1"), SimulatorConfig(seed=5))
    return sim.render([("rest", 3.0), ("spherical", 3.0), ("rest", 2.0), ("hook", 3.0), ("rest", 2.0),
                       ("tip", 3.0), ("rest", 2.0), ("lateral", 2.0)]).data


def _traced_mb() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / 2**20


def test_emg_at_ten_times_the_nominal_rate_with_bounded_memory(tmp_path, signal):
    graph = Graph()
    clf = graph.add(GraspClassifier(load_config(GraspClassifierConfig, "grasp_classifier"),
                                    model=load_model("intent_default")))
    graph.add(HandController(load_config(HandControllerConfig, "hand_controller")))
    published: dict[str, int] = {}
    graph.tap(lambda topic, obj, now: published.__setitem__("/" + topic, published.get("/" + topic, 0) + 1))
    n_chunks = int(STREAM_S * SPEED * RATE / CHUNK)
    period_ns = int(round(CHUNK / RATE * 1e9 / SPEED))
    intents = []
    graph.subscribe("grasp/intent", lambda i: intents.append(i.class_index))

    def publish(k: int) -> None:
        start = (k * CHUNK) % (len(signal) - CHUNK)
        index = k * CHUNK
        graph.publish("emg/chunks", EmgChunk(Header(k * period_ns, "emg"), RATE, ("ch1", "ch2"), index,
                                             signal[start:start + CHUNK]))
        if k + 1 < n_chunks:  # one event ahead: the schedule itself stays O(1)
            graph.call_at((k + 1) * period_ns, lambda: publish(k + 1))

    with BagWriter(tmp_path / "bag") as bag:
        record(graph, bag)
        graph.call_at(0, lambda: publish(0))
        tracemalloc.start()
        try:
            graph.run(duration=STREAM_S / 4)  # warm-up: buffers, bag connections, first chunks
            base = _traced_mb()
            graph.run(duration=STREAM_S / 4)
            mid = _traced_mb()
            graph.run(duration=STREAM_S / 2 + 0.1)
            end = _traced_mb()
            peak = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    # Every chunk was taken and decoded: one decision per 50 ms of signal, none dropped.
    assert published["/emg/chunks"] == n_chunks
    decisions = (n_chunks * CHUNK - clf.model.spec.window) // clf.decoder.stride + 1
    assert len(intents) == published["/grasp/intent"] == decisions
    assert np.mean(np.array(intents) >= 0) > 0.2  # grasps are decoded at this pace, not only rejections
    assert not graph.errors
    # Bounded memory: what is retained does not grow with the stream (the bag goes to disk).
    print(f"traced memory: {base:.2f} MB after 2.5 s, {mid:.2f} MB after 5 s, {end:.2f} MB after 10 s, "
          f"peak {peak:.2f} MB")
    assert end - mid < 1.5 and mid - base < 1.5, (base, mid, end)
    assert peak - base < 16.0, (base, peak)
    info = bag_info(tmp_path / "bag")
    assert {t: n for t, _, n in info.topics} == published
