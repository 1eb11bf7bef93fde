"""Sample sources: exact pull semantics, truth labels, dataset playback against the loaded
trials, and bag replay of recorded chunks."""

import logging

import numpy as np
import pytest
from scipy.io import savemat

from semg_grasp_ros.emg.datasets import load_csv_folder, load_sapsanis
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.emg.sources import (
    BlockSource,
    csv_source,
    ninapro_source,
    sapsanis_source,
    simulated_source,
    trial_order,
)
from semg_grasp_ros.errors import BagError, DataError
from semg_grasp_ros.types import EmgChunk, Header

SCRIPT = [("rest", 0.5), ("hook", 1.0), ("rest", 0.5)]


def _drain(src, sizes):
    parts, labels, i = [], [], 0
    while not src.ended:
        parts.append(src.read(sizes[i % len(sizes)]))
        if src.last_labels is not None:
            labels.append(src.last_labels)
        i += 1
    return np.concatenate(parts), (np.concatenate(labels) if labels else None)


def test_block_source_reads_exactly_what_is_asked():
    blocks = iter([(np.ones((5, 2)), np.zeros(5)), (2 * np.ones((3, 2)), np.ones(3))])
    src = BlockSource(blocks, 100.0, ("a", "b"), class_names=("x", "y"))
    assert src.read(0).shape == (0, 2)
    x = src.read(7)
    assert x.shape == (7, 2) and x.dtype == np.float32
    assert src.last_labels.tolist() == [0] * 5 + [1] * 2
    assert not src.ended
    assert src.read(10).shape == (1, 2) and src.ended
    assert src.read(10).shape == (0, 2)


def test_block_source_splits_at_a_channel_count_change():
    blocks = iter([(np.ones((4, 2)), None), (np.ones((4, 3)), None), (np.ones((4, 2)), None)])
    src = BlockSource(blocks, 100.0, ("a", "b"))
    assert src.read(10).shape == (4, 2)
    assert src.read(10).shape == (4, 3)
    assert src.read(10).shape == (4, 2) and src.ended


def test_simulated_source_is_independent_of_read_sizes():
    sim = EmgSimulator(config=SimulatorConfig(seed=5))
    whole = sim.render(SCRIPT)
    a, la = _drain(simulated_source(sim, SCRIPT), [7])
    b, lb = _drain(simulated_source(sim, SCRIPT), [1, 250, 33])
    np.testing.assert_array_equal(a, whole.data)
    np.testing.assert_array_equal(b, whole.data)
    np.testing.assert_array_equal(la, whole.labels)
    np.testing.assert_array_equal(lb, whole.labels)
    looped = simulated_source(sim, SCRIPT, loop=True)
    assert looped.read(5000).shape == (5000, 2) and not looped.ended


def test_sapsanis_source_plays_the_trials_in_order(sapsanis_dir):
    path = sapsanis_dir / "female_2.mat"
    trials = load_sapsanis(path)
    order = trial_order(trials, "shuffled", seed=4)
    src = sapsanis_source(path, order="shuffled", rest_s=1.0, seed=4)
    assert src.sample_rate == 500.0 and src.channel_names == ("ch1", "ch2") and src.units == "V"
    x = src.read(2 * 3500)
    labels = src.last_labels
    # rest (500) | trial order[0] (3000) | rest (500) | trial order[1] (3000)
    np.testing.assert_array_equal(x[500:3500], trials.data[order[0]])
    np.testing.assert_array_equal(x[4000:7000], trials.data[order[1]])
    assert (labels[:500] == -1).all() and (labels[500:3500] == trials.labels[order[0]]).all()
    # Rest gaps are simulated rest of that subject: its DC offset, quieter than a grasp.
    gap = x[:500]
    assert abs(gap.mean() - 0.14) < 0.03
    assert gap.std() < x[500:3500].std()
    assert sorted(trial_order(trials, "interleaved")[:6] // 30) == list(range(6))
    with pytest.raises(DataError, match="unknown trial order"):
        trial_order(trials, "random")


def test_ninapro_source(tmp_path):
    emg = np.random.default_rng(1).normal(size=(300, 4))
    stim = np.r_[np.zeros(100), np.full(100, 3), np.zeros(100)][:, None]
    savemat(tmp_path / "s.mat", {"emg": emg, "restimulus": stim, "rerepetition": (stim > 0) * 1.0})
    src = ninapro_source(tmp_path / "s.mat", sample_rate=2000.0)
    x, labels = _drain(src, [64])
    np.testing.assert_allclose(x, emg.astype(np.float32))
    assert labels.tolist() == [-1] * 100 + [2] * 100 + [-1] * 100
    assert src.class_names == ("move_1", "move_2", "move_3")


def test_csv_sources(data_root):
    folder = data_root / "emg" / "libemg_myo" / "myo_dataset"
    if not folder.is_dir():
        pytest.skip(f"Myo recording not found at {folder}")
    trials = load_csv_folder(folder)
    src = csv_source(folder, order="sequential", rest_s=0.5)
    x, labels = _drain(src, [500])
    assert src.units == "raw" and src.sample_rate == 200.0 and x.shape[1] == 8
    assert len(x) == trials.n_trials * (100 + trials.n_samples)
    np.testing.assert_array_equal(x[100 : 100 + trials.n_samples], trials.data[0])
    one = csv_source(folder / "R_1_C_2_EMG.csv", 200.0)
    y, no_labels = _drain(one, [1000])
    assert no_labels is None and y.shape == (np.loadtxt(folder / "R_1_C_2_EMG.csv", delimiter=",").shape[0], 8)


def test_bag_source_replays_chunks_and_reports_gaps(tmp_path, caplog):
    pytest.importorskip("rosbags")
    from semg_grasp_ros.pipeline.bag import BagSource, BagWriter

    rng = np.random.default_rng(2)
    data = rng.normal(size=(100, 3)).astype(np.float32)
    starts = [0, 10, 30, 50, 60]  # 20..30 missing
    path = tmp_path / "bag"
    with BagWriter(path) as bag:
        for s in starts:
            n = 10 if s != 30 else 20
            chunk = EmgChunk(Header(s * 1_000_000, "emg"), 1000.0, ("a", "b", "c"), s, data[s : s + n])
            bag.write("emg/chunks", chunk, s * 1_000_000)
    src = BagSource(path)
    assert src.sample_rate == 1000.0 and src.channel_names == ("a", "b", "c")
    with caplog.at_level(logging.WARNING):
        x, _ = _drain(src, [7])
    expected = np.concatenate([data[0:20], data[30:70]])
    np.testing.assert_array_equal(x, expected)
    assert src.gaps == 1 and "jumps from 20 to 30" in caplog.text
    with pytest.raises(BagError):
        BagSource(tmp_path / "nope")
    with pytest.raises(BagError, match="no topic"):
        BagSource(path, topic="other/topic")
