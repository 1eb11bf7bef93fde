"""The pipeline under faults (DESIGN.md section 7): bad EMG (NaN/inf bursts, gaps in
``first_sample_index``, a channel-count change), empty and huge clouds, the object removed in
the middle of a grasp, missing, corrupt and pickled weights, intents that stop. Each case: the
graph keeps running (no handler raises), the behaviour is the documented one, and every
published message is in the bag."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from semg_grasp_ros.config import load_config
from semg_grasp_ros.emg.simulator.model import SimulatorModel
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.errors import ModelError
from semg_grasp_ros.grasp.representation import SPECS
from semg_grasp_ros.hand.convert import arrays_to_hand_grasp
from semg_grasp_ros.hand.model import load_hand
from semg_grasp_ros.intent.models import load_model
from semg_grasp_ros.paths import resource
from semg_grasp_ros.perception.camera import DepthCamera, TableScene
from semg_grasp_ros.perception.objects import resolve_object
from semg_grasp_ros.pipeline.bag import BagWriter, bag_info, read_bag
from semg_grasp_ros.pipeline.depth_camera import DepthCameraSimConfig
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifier, GraspClassifierConfig
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig
from semg_grasp_ros.pipeline.hand_controller import HandController, HandControllerConfig
from semg_grasp_ros.pipeline.object_sdf import ObjectSdfComponent, ObjectSdfConfig
from semg_grasp_ros.pipeline.session import record
from semg_grasp_ros.topics import GRASP_MOVEIT
from semg_grasp_ros.types import EmgChunk, GraspIntent, Header, Marker, PointCloud

RATE = 500.0
CHUNK = 10  # samples (20 ms at 500 Hz)
NAMES = ("spherical", "cylindrical", "hook", "palmar", "tip", "lateral")


@pytest.fixture(scope="module")
def intent_model():
    return load_model("intent_default")


@pytest.fixture(scope="module")
def session():
    """6 s of a simulated user (female_1): rest 2.5 s, cylindrical 3.5 s; (samples (n, 2), labels (n,))."""
    sim = EmgSimulator(SimulatorModel.shipped("female_1"), SimulatorConfig(seed=3))
    block = sim.render([("rest", 2.5), ("cylindrical", 3.5)])
    return block.data, block.labels


def _chunks(data, first_index=0, rate=RATE, chunk=CHUNK, names=("ch1", "ch2")):
    """EmgChunks of ``data``, stamped on the sample clock: [(stamp_ns, chunk)]."""
    out = []
    for i in range(0, len(data) - chunk + 1, chunk):
        index = first_index + i
        stamp = int(round(index * 1e9 / rate))
        out.append((stamp, EmgChunk(Header(stamp, "emg"), rate, names[: data.shape[1]], index, data[i:i + chunk])))
    return out


class Recorded:
    """A graph recorded to a bag, counting what is published (the reference for the bag)."""

    def __init__(self, tmp_path: Path, *components):
        self.graph = Graph()
        for c in components:
            self.graph.add(c)
        self.published: dict[str, int] = {}
        self.messages: dict[str, list] = {}
        self.graph.tap(self._count)
        self.path = tmp_path / "bag"
        self.bag = BagWriter(self.path)
        record(self.graph, self.bag)

    def _count(self, topic, obj, now_ns):
        self.messages.setdefault(topic, []).append(obj)
        if topic == GRASP_MOVEIT:  # published by the ROS node only, never recorded
            return
        self.published["/" + topic] = self.published.get("/" + topic, 0) + 1

    def feed(self, topic: str, items):
        for stamp, obj in items:
            self.graph.call_at(stamp, lambda obj=obj: self.graph.publish(topic, obj))

    def finish(self) -> None:
        """Close the bag and check that it holds every published message (read back independently)."""
        self.bag.close()
        info = bag_info(self.path)
        assert {t: n for t, _, n in info.topics} == self.published
        assert sum(1 for _ in read_bag(self.path)) == sum(self.published.values())
        assert not self.graph.errors


def _decoded(recorded) -> list[GraspIntent]:
    return recorded.messages.get("grasp/intent", [])


def _classifier(model):
    return GraspClassifier(load_config(GraspClassifierConfig, "grasp_classifier"), model=model)


def test_nan_and_inf_bursts_are_rejected_then_decoding_recovers(tmp_path, intent_model, session):
    data, labels = session
    bad = data.copy()
    burst = slice(int(3.5 * RATE), int(3.5 * RATE) + 2 * CHUNK)  # 40 ms of NaN and inf in the grasp
    bad[burst.start:burst.start + CHUNK, 0] = np.nan
    bad[burst.start + CHUNK:burst.stop, 1] = np.inf
    clf = _classifier(intent_model)
    rec = Recorded(tmp_path, clf)
    chunks = _chunks(bad)
    rec.feed("emg/chunks", chunks)
    rec.graph.run()
    rec.finish()
    intents = _decoded(rec)
    stamps = np.array([i.header.stamp_ns for i in intents]) * 1e-9
    burst_t = (burst.start / RATE, burst.stop / RATE)
    during = [i for i, t in zip(intents, stamps) if burst_t[0] <= t < burst_t[1]]
    # Each bad chunk gives one rejected intent (no grasp, confidence 0), nothing is decided from it.
    assert len(during) == 2 and all(i.class_index == -1 and i.confidence == 0.0 for i in during)
    after = [i for i, t in zip(intents, stamps) if t > burst_t[1] + 0.6]
    assert after and np.mean([i.grasp_type == "cylindrical" for i in after]) > 0.5


def test_dropped_chunks_restart_the_window_and_decoding_goes_on(tmp_path, intent_model, session):
    data, _ = session
    chunks = _chunks(data)
    drop = {175, 176, 177, 210}  # 60 ms and 20 ms missing in the grasp: gaps in first_sample_index
    clf = _classifier(intent_model)
    rec = Recorded(tmp_path, clf)
    rec.feed("emg/chunks", [c for k, c in enumerate(chunks) if k not in drop])
    rec.graph.run()
    rec.finish()
    intents = _decoded(rec)
    assert rec.published["/emg/chunks"] == len(chunks) - len(drop)
    ends = np.array([i.header.stamp_ns for i in intents]) * 1e-9
    # A gap restarts the window: no decision until a full window of new samples has arrived.
    # the last sample of the first full window, on the last sample of a chunk
    first_full = (178 * CHUNK + -(-clf.model.spec.window // CHUNK) * CHUNK - 1) / RATE
    after_gap = ends[ends > 175 * CHUNK / RATE]
    assert abs(after_gap[0] - first_full) < 1e-9
    late = [i for i, t in zip(intents, ends) if t > 5.0]
    assert late and np.mean([i.grasp_type == "cylindrical" for i in late]) > 0.5


def test_channel_count_change_is_rejected_until_the_stream_is_back(tmp_path, intent_model, session):
    data, _ = session
    three = np.concatenate([data, data[:, :1]], axis=1)
    chunks = _chunks(data)
    changed = {k: c for k, c in _chunks(three, names=("ch1", "ch2", "ch3"))}
    bad = set(range(200, 210))  # 200 ms with a third channel
    stream = [(t, changed[t]) if k in bad else (t, c) for k, (t, c) in enumerate(chunks)]
    clf = _classifier(intent_model)
    rec = Recorded(tmp_path, clf)
    rec.feed("emg/chunks", stream)
    rec.graph.run()
    rec.finish()
    by_stamp = {}
    for i in _decoded(rec):
        by_stamp.setdefault(i.header.stamp_ns, []).append(i)
    for k in bad:  # one rejection per bad chunk, stamped at its last sample
        t, c = stream[k]
        end = t + int(round((c.sample_count - 1) * 1e9 / RATE))
        assert [(i.class_index, i.confidence) for i in by_stamp[end]] == [(-1, 0.0)]
    late = [i for i in _decoded(rec) if i.header.stamp_ns * 1e-9 > 5.0]
    assert late and np.mean([i.grasp_type == "cylindrical" for i in late]) > 0.5


def _cloud(position_xy=(0.0, 0.0), points=None, stamp_ns=0):
    """A rendered camera frame: a cylinder on a table (moved out of view with ``position_xy``)."""
    config = load_config(DepthCameraSimConfig, "depth_camera_sim")
    if points is None:
        mesh = resolve_object("cylinder:0.035,0.12", 0.1)
        view = DepthCamera(TableScene(mesh, position_xy=position_xy), config.camera()).render(np.random.default_rng(0))
        points = view.points.reshape(-1, 3)
    return PointCloud(Header(stamp_ns, config.frame_id), points)


def test_empty_and_huge_clouds(tmp_path):
    sdf = ObjectSdfComponent(load_config(ObjectSdfConfig, "object_sdf", rate_hz=0.0))  # every cloud on arrival
    rec = Recorded(tmp_path, sdf)
    good = _cloud().points
    # 4.8 M points (16 copies of a frame, jittered): above max_points, so strided down first
    rng = np.random.default_rng(1)
    huge = np.concatenate([good + rng.normal(0, 1e-4, good.shape).astype(np.float32) for _ in range(16)])
    rec.feed("object/points", [(0, _cloud(points=np.zeros((0, 3)))), (int(1e8), _cloud(points=huge, stamp_ns=int(1e8))),
                               (int(2e8), _cloud(points=np.full((100, 3), np.nan), stamp_ns=int(2e8)))])
    rec.graph.run()
    rec.finish()
    fields = rec.messages.get("object/sdf", [])
    assert len(fields) == 1 and fields[0].header.stamp_ns == int(1e8)  # only the huge cloud gives a field
    assert fields[0].shape == (50, 50, 50) and np.all(np.isfinite(fields[0].distances))
    assert 0.06 < float(np.max(fields[0].extent)) < 0.14  # the cylinder (7 cm x 12 cm), not the table
    assert sum(sdf.failures.values()) == 2
    deletes = [m for m in rec.messages["object/marker"] if m.action == Marker.DELETE]
    assert len(deletes) == 4  # the two bad clouds each clear both markers


def test_object_removed_mid_grasp(tmp_path):
    """The object vanishes while the hand executes its grasp: no new field, no new grasp, the
    markers are cleared, the running command finishes within the limits and the hand then
    holds (no fresh grasp) — nothing crashes and nothing is lost from the bag."""
    sdf = ObjectSdfComponent(load_config(ObjectSdfConfig, "object_sdf"))
    gen = GraspDiffusionComponent(load_config(GraspDiffusionConfig, "grasp_diffusion", num_candidates=4))
    hand = HandController(load_config(HandControllerConfig, "hand_controller", timeout_s=2.0, intent_timeout_s=0.0))
    rec = Recorded(tmp_path, sdf, gen, hand)
    # clouds at 0.1, 0.9 and 1.4 s, processed by the 2 Hz field timer at 0.5, 1.0 and 1.5 s
    rec.feed("object/points", [(int(t * 1e9), _cloud(position_xy=xy, stamp_ns=int(t * 1e9)))
                               for t, xy in ((0.1, (0.0, 0.0)), (0.9, (5.0, 5.0)), (1.4, (5.0, 5.0)))])
    names = tuple(NAMES)
    stamps = [int(t * 1e9) for t in np.arange(0.2, 0.45, 0.02)]  # a decision every 20 ms, past commit_s
    rec.feed("grasp/intent", [(t, GraspIntent(Header(t, "emg"), "cylindrical", 1, 0.9, names, np.eye(6)[1], 0.25))
                              for t in stamps])
    rec.graph.run(duration=6.0)
    rec.finish()
    assert len(rec.messages["object/sdf"]) == 1 and len(rec.messages["grasp/selected"]) == 1
    assert sum(sdf.failures.values()) == 2  # "no object" for both frames after the removal
    assert [m.action for m in rec.messages["object/marker"][2:]] == [Marker.DELETE] * 4
    states = rec.messages["joint_states"]
    q = np.array([s.position for s in states])
    lo, hi = load_hand("free").limits()
    assert np.all(q[:, 2:] >= np.maximum(lo, load_hand("fixed").limits()[0]) - 1e-9)
    # held still after the watchdog (2 s after the grasp): no motion in the last second
    assert np.allclose(q[-50:], q[-1], atol=1e-12)


def test_missing_and_corrupt_weights_raise_model_errors(tmp_path):
    with pytest.raises(ModelError):
        GraspClassifier(GraspClassifierConfig(model=str(tmp_path / "missing.json")))
    stem = tmp_path / "intent"
    (tmp_path / "intent.json").write_text(Path(resource("models", "intent_default.json")).read_text())
    (tmp_path / "intent.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="corrupt"):
        GraspClassifier(GraspClassifierConfig(model=str(stem) + ".json"))
    weights = Path(resource("models", "intent_default.safetensors")).read_bytes()
    (tmp_path / "intent.safetensors").write_bytes(weights[:-100])  # truncated
    with pytest.raises(ModelError):
        GraspClassifier(GraspClassifierConfig(model=str(stem) + ".json"))
    (tmp_path / "intent.json").write_text("{not json")
    with pytest.raises(ModelError):
        GraspClassifier(GraspClassifierConfig(model=str(stem) + ".json"))
    folder = tmp_path / "grasp"
    with pytest.raises(ModelError):
        GraspDiffusionComponent(GraspDiffusionConfig(model=str(folder)))
    folder.mkdir()
    (folder / "config.json").write_text(Path(resource("models", "grasp_improved/config.json")).read_text())
    with pytest.raises(ModelError):  # weights missing
        GraspDiffusionComponent(GraspDiffusionConfig(model=str(folder)))
    (folder / "model.safetensors").write_bytes(b"\xff" * 4096)
    with pytest.raises(ModelError):  # weights corrupt
        GraspDiffusionComponent(GraspDiffusionConfig(model=str(folder)))


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: a stand-in for code run by a crafted checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickled_checkpoint_is_refused_without_running_its_code(tmp_path):
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()  # the payload is live: unpickling it does run code
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"state_dict": _Payload(marker)})
    torch_zip = tmp_path / "torch_save.bin"
    torch.save({"state_dict": _Payload(marker)}, torch_zip)
    for blob in (payload, torch_zip.read_bytes()):
        # the classifier: pickled bytes where the safetensors weights belong, and as a '.pt' checkpoint
        (tmp_path / "intent.json").write_text(Path(resource("models", "intent_default.json")).read_text())
        (tmp_path / "intent.safetensors").write_bytes(blob)
        (tmp_path / "intent.pt").write_bytes(blob)
        for model in (tmp_path / "intent.json", tmp_path / "intent.pt"):
            with pytest.raises(ModelError):
                GraspClassifier(GraspClassifierConfig(model=str(model)))
        # the grasp generator: pickled weights, and a pickle in place of its JSON config
        folder = tmp_path / "grasp"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(Path(resource("models", "grasp_improved/config.json")).read_text())
        (folder / "model.safetensors").write_bytes(blob)
        with pytest.raises(ModelError):
            GraspDiffusionComponent(GraspDiffusionConfig(model=str(folder)))
        (folder / "config.json").write_bytes(blob)
        with pytest.raises(ModelError):
            GraspDiffusionComponent(GraspDiffusionConfig(model=str(folder)))
    assert not marker.exists()


def _hand_session(tmp_path, on_timeout: str, stop_s: float, duration: float, resume_s: float | None = None):
    """Intents at 20 Hz (cylindrical) until ``stop_s`` (and again from ``resume_s``), one grasp at 0.3 s
    and one at 2.0 s; returns (recorded graph, controller)."""
    hand = HandController(load_config(HandControllerConfig, "hand_controller", on_timeout=on_timeout))
    rec = Recorded(tmp_path, hand)
    times = [t for t in np.arange(0.05, duration, 0.05) if t < stop_s or (resume_s is not None and t >= resume_s)]
    rec.feed("grasp/intent", [(int(t * 1e9), GraspIntent(Header(int(t * 1e9), "emg"), "cylindrical", 1, 0.9, NAMES,
                                                         np.eye(6)[1], 0.25)) for t in times])
    lo, hi = load_hand("free").limits()
    q = lo + 0.6 * (hi - lo)
    rec.feed("grasp/selected", [(int(t * 1e9), arrays_to_hand_grasp(q, np.eye(3), np.array([0.0, -0.1, 0.05]),
                                                                     Header(int(t * 1e9), "object"), "cylindrical"))
                                for t in (0.3, 2.0)])
    rec.graph.run(duration=duration)
    rec.finish()
    return rec, hand


def test_intents_stopping_holds_the_hand_and_refuses_grasps(tmp_path):
    rec, hand = _hand_session(tmp_path, "hold", stop_s=1.0, duration=3.0)
    trajs = rec.messages["hand/joint_trajectory"]
    # the first command is the type's pre-shape, at the first confident intent (fingers only, no wrist target)
    assert trajs[0].header.stamp_ns == int(0.05e9)
    preshape = SPECS["cylindrical"].preshape_vector()
    assert np.allclose(trajs[0].points[-1].positions, np.clip(0.3 * preshape, hand.lower, hand.upper))
    assert len(trajs) == 2 and len(rec.messages["grasp/pose"]) == 1  # the 2.0 s grasp is refused: no intent
    assert hand.rejected == 1
    states = rec.messages["joint_states"]
    t = np.array([s.header.stamp_ns for s in states]) * 1e-9
    q = np.array([s.position for s in states])
    moving = np.abs(np.diff(q, axis=0)).max(axis=1) > 0
    assert moving[t[1:] <= 1.0].any()
    assert not moving[t[1:] > 1.0 + 0.5 + 0.02].any()  # held from one tick after the 0.5 s timeout


def test_intents_stopping_opens_the_hand_and_intents_returning_restore_it(tmp_path):
    rec, hand = _hand_session(tmp_path, "open", stop_s=1.0, duration=6.0, resume_s=1.9)
    q = np.array([s.position[2:] for s in rec.messages["joint_states"]])
    t = np.array([s.header.stamp_ns for s in rec.messages["joint_states"]]) * 1e-9
    opened = q[np.searchsorted(t, 1.89)]
    assert np.abs(opened - hand.q_open).max() < np.abs(q[np.searchsorted(t, 1.0)] - hand.q_open).max()
    # intents came back at 1.9 s: the 2.0 s grasp is executed (a trajectory and a wrist target)
    assert len(rec.messages["grasp/pose"]) == 2 and hand.rejected == 0


def test_recorder_under_a_burst_keeps_every_message(tmp_path, session):
    data, _ = session
    graph_rec = Recorded(tmp_path)
    chunks = _chunks(data)
    intents = [GraspIntent(Header(k, "emg"), "tip", 4, 0.8, NAMES, np.eye(6)[4], 0.25) for k in range(3000)]

    def burst():  # 3,000 intents and 600 chunks published in one callback, at one instant
        for i in intents:
            graph_rec.graph.publish("grasp/intent", i)
        for _, c in chunks:
            graph_rec.graph.publish("emg/chunks", c)

    graph_rec.graph.call_at(0, burst)
    graph_rec.graph.run()
    graph_rec.finish()
    assert graph_rec.published == {"/grasp/intent": 3000, "/emg/chunks": len(chunks)}
    back = [obj for topic, _, obj in read_bag(graph_rec.path, ["grasp/intent"])]
    assert [i.header.stamp_ns for i in back] == list(range(3000))
