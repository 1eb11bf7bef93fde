"""The acquisition component in the graph: continuous chunks on the sim clock, bad data
from a source, its parameter file, and `semg-grasp record` writing bags that an
independent reader decodes."""

import logging

import numpy as np
import pytest

from semg_grasp_ros.cli import main as cli_main
from semg_grasp_ros.config import load_config
from semg_grasp_ros.emg.simulator.model import SimulatorModel
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.emg.simulator.script import parse_script
from semg_grasp_ros.emg.sources import BlockSource, EmgSource
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.types import EmgChunk


def _run(acq, seconds):
    graph = Graph()
    graph.add(acq)
    chunks = []
    graph.subscribe("emg/chunks", chunks.append)
    graph.run(duration=seconds)
    return chunks


def test_simulated_session_streams_contiguous_chunks():
    script = "rest:1,cylindrical:2,rest:1"
    cfg = EmgAcquisitionConfig(source="simulated", script=script, seed=3, chunk_ms=20.0, frame_id="emg",
                               simulator_model="generic")
    acq = EmgAcquisition(cfg)
    chunks = _run(acq, 5.0)
    assert all(isinstance(c, EmgChunk) for c in chunks)
    assert [c.sample_count for c in chunks] == [10] * 200  # 4 s of script at 500 Hz, 20 ms chunks
    idx = [c.first_sample_index for c in chunks]
    assert idx == list(range(0, 2000, 10))
    # stamp = time of the first sample: the first tick is at 20 ms and covers 0..20 ms.
    assert [c.header.stamp_ns for c in chunks[:3]] == [0, 20_000_000, 40_000_000]
    assert {c.header.frame_id for c in chunks} == {"emg"} and chunks[0].sample_rate == 500.0
    assert acq.finished
    # The samples are exactly the simulator's rendering of the script.
    sim = EmgSimulator(None, SimulatorConfig(seed=3))
    expected = sim.render(parse_script(script)).data
    np.testing.assert_array_equal(np.concatenate([c.data for c in chunks]), expected)


def test_chunking_does_not_change_the_stream():
    a = np.concatenate([c.data for c in _run(EmgAcquisition(EmgAcquisitionConfig(chunk_ms=20.0, seed=1)), 3.0)])
    b = np.concatenate([c.data for c in _run(EmgAcquisition(EmgAcquisitionConfig(chunk_ms=7.0, seed=1)), 3.0)])
    n = min(len(a), len(b))
    assert n >= 1400
    np.testing.assert_array_equal(a[:n], b[:n])


def test_fitted_user_and_sapsanis_file(sapsanis_dir):
    acq = EmgAcquisition(EmgAcquisitionConfig(simulator_model="male_1", script="hook:2"))
    chunks = _run(acq, 1.0)
    assert sum(c.sample_count for c in chunks) == 500
    assert abs(np.concatenate([c.data for c in chunks]).mean() - SimulatorModel.shipped("male_1").dc_offset.mean()) < 0.05
    acq = EmgAcquisition(EmgAcquisitionConfig(source="sapsanis", file=str(sapsanis_dir / "male_1.mat"), rest_s=0.0,
                                              trial_order="sequential"))
    chunks = _run(acq, 1.0)
    from semg_grasp_ros.emg.datasets import load_sapsanis

    np.testing.assert_array_equal(np.concatenate([c.data for c in chunks]), load_sapsanis(sapsanis_dir / "male_1.mat").data[0, :500])
    assert acq.last_labels is not None and (acq.last_labels == 0).all()


class _Scripted(BlockSource):
    def __init__(self, blocks):
        super().__init__(iter(blocks), 100.0, ("a", "b"))


def test_nonfinite_samples_are_held_and_flagged(caplog):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    x[3, 0] = np.nan
    x[4:6, 0] = np.inf
    x[10, 1] = -np.inf
    acq = EmgAcquisition(EmgAcquisitionConfig(chunk_ms=100.0), source=_Scripted([(x, None)]))
    with caplog.at_level(logging.WARNING):
        chunks = _run(acq, 1.0)
    out = np.concatenate([c.data for c in chunks])
    assert out.shape == (20, 2) and np.isfinite(out).all()
    assert out[3:6, 0].tolist() == [x[2, 0]] * 3  # held at the last finite value
    assert out[10, 1] == x[9, 1]
    np.testing.assert_array_equal(np.delete(out, [3, 4, 5], 0)[:, 0], np.delete(x, [3, 4, 5], 0)[:, 0])
    assert acq.stats["nonfinite_samples"] == 4 and "NaN/inf" in caplog.text


def test_channel_count_change_is_dropped_and_leaves_a_gap(caplog):
    blocks = [(np.zeros((10, 2)), None), (np.ones((10, 3)), None), (2 * np.ones((10, 2)), None)]
    acq = EmgAcquisition(EmgAcquisitionConfig(chunk_ms=100.0), source=_Scripted(blocks))
    with caplog.at_level(logging.WARNING):
        chunks = _run(acq, 1.0)
    assert [c.first_sample_index for c in chunks] == [0, 20]
    assert chunks[1].data.mean() == 2.0 and all(c.n_channels == 2 for c in chunks)
    assert acq.stats["dropped_samples"] == 10 and "3-channel" not in caplog.text and "2-channel" in caplog.text


class _Live(EmgSource):
    """A live source delivering 5 samples per read, then stalling, then bursting."""

    live = True
    sample_rate = 100.0
    channel_names = ("a",)

    def __init__(self):
        self.reads = 0

    def read(self, max_samples):
        self.reads += 1
        n = 0 if 20 <= self.reads < 60 else 5  # stalls for 40 ticks (2 s of arrivals lost)
        return np.full((min(n, max_samples), 1), float(self.reads), np.float32)

    @property
    def ended(self):
        return False


def test_live_source_stamps_follow_arrival_after_a_stall():
    acq = EmgAcquisition(EmgAcquisitionConfig(chunk_ms=50.0, max_drift_s=0.25), source=_Live())
    chunks = _run(acq, 5.0)
    idx = [c.first_sample_index for c in chunks]
    assert idx == list(range(0, 5 * len(chunks), 5))  # the running index never skips
    stamps = np.array([c.header.stamp_ns for c in chunks])
    assert acq.stats["reanchors"] == 1
    # After the stall the stamps follow the arrival clock again (first sample ~50 ms before the tick).
    tick = 50_000_000 * (60 + np.arange(len(chunks) - 19))
    np.testing.assert_allclose(stamps[19:], tick - 50_000_000, atol=1e6)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="unknown source 'camera'"):
        EmgAcquisitionConfig(source="camera")
    with pytest.raises(ConfigError, match="needs 'file'"):
        EmgAcquisitionConfig(source="sapsanis")
    with pytest.raises(ConfigError, match="chunk_ms"):
        EmgAcquisitionConfig(chunk_ms=0.0)
    with pytest.raises(ConfigError, match="trial_order"):
        EmgAcquisitionConfig(trial_order="random")


def test_parameter_file_makes_the_launched_simulated_user_loop():
    """config/emg_acquisition.yaml: the ROS pipeline's simulated user (by default a fitted
    Sapsanis subject) repeats its session; everything else is the dataclass default."""
    assert load_config(EmgAcquisitionConfig, "emg_acquisition") == EmgAcquisitionConfig(loop=True)
    assert EmgAcquisitionConfig().simulator_model == "female_1"


def test_record_cli_writes_a_bag_an_independent_reader_decodes(tmp_path, capsys):
    from mcap_ros2.reader import read_ros2_messages

    out = tmp_path / "sim"
    rc = cli_main(["record", "--source", "simulated", "--model", "generic", "--duration", "2", "--seed", "4",
                   "--out", str(out)])
    assert rc == 0 and "wrote 100 EmgChunks" in capsys.readouterr().out
    (mcap_file,) = out.glob("*.mcap")
    msgs = list(read_ros2_messages(str(mcap_file)))
    assert len(msgs) == 100 and {m.channel.topic for m in msgs} == {"/emg/chunks"}
    assert msgs[0].schema.name == "semg_grasp_ros/msg/EmgChunk"
    first = msgs[0].ros_msg
    assert first.sample_count == 10 and list(first.channel_names) == ["ch1", "ch2"] and first.units == "V"
    assert [m.ros_msg.first_sample_index for m in msgs] == list(range(0, 1000, 10))
    data = np.concatenate([np.asarray(m.ros_msg.data, np.float32).reshape(-1, 2) for m in msgs])
    sim = EmgSimulator(None, SimulatorConfig(seed=4))
    from semg_grasp_ros.emg.simulator.script import default_script

    expected = sim.render(default_script(5, 3.0, 2.0, seed=4)).data[:1000]
    np.testing.assert_array_equal(data, expected)

    # An existing output is refused and left untouched.
    before = mcap_file.read_bytes()
    rc = cli_main(["record", "--source", "simulated", "--duration", "1", "--out", str(out)])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    assert mcap_file.read_bytes() == before

    # The recorded bag replays through the bag source into a new bag with the same samples.
    again = tmp_path / "replay"
    rc = cli_main(["record", "--source", "bag", "--file", str(out), "--duration", "10", "--chunk-ms", "50",
                   "--out", str(again)])
    assert rc == 0 and "ended" in capsys.readouterr().out
    (replayed,) = again.glob("*.mcap")
    back = np.concatenate([np.asarray(m.ros_msg.data, np.float32).reshape(-1, 2)
                           for m in read_ros2_messages(str(replayed))])
    np.testing.assert_array_equal(back, data)


def test_record_cli_user_mistakes(tmp_path, capsys):
    assert cli_main(["record", "--source", "sapsanis", "--out", str(tmp_path / "a")]) == 2
    assert "needs 'file'" in capsys.readouterr().err
    assert cli_main(["record", "--source", "sapsanis", "--file", str(tmp_path / "x.mat"), "--out", str(tmp_path / "b")]) == 2
    assert "x.mat does not exist" in capsys.readouterr().err
    assert cli_main(["record", "--script", "rest:1,fist:2", "--out", str(tmp_path / "c")]) == 2
    assert "unknown script class 'fist'" in capsys.readouterr().err
    assert cli_main(["record", "--duration", "0", "--out", str(tmp_path / "d")]) == 2
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_pause_and_resume_continue_the_stream_at_the_resume_time():
    """The lifecycle node's deactivate/activate: no chunk while paused; after ``resume`` the
    next tick carries one period of samples, contiguous in index, stamped at its own time."""
    acq = EmgAcquisition(EmgAcquisitionConfig(chunk_ms=20.0, simulator_model="generic"))
    period = 20_000_000
    before = [c for k in range(1, 51) for c in acq.on_timer(k * period)]
    acq.resume()
    after = [c for k in range(1, 11) for c in acq.on_timer(10 * 10**9 + k * period)]  # 9 s later
    assert [c.sample_count for c in after] == [10] * 10
    assert after[0].first_sample_index == before[-1].first_sample_index + before[-1].sample_count
    assert after[0].header.stamp_ns == 10 * 10**9  # its tick (10.02 s) less the period it covers
