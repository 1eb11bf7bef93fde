"""Dataset loaders: Sapsanis and the Myo CSV folder against the real files, NinaPro against a
file built here in that layout, and every malformed-input path."""

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.emg.csvfile import load_csv
from semg_grasp_ros.emg.datasets import list_sapsanis_subjects, load_csv_folder, load_ninapro, load_sapsanis
from semg_grasp_ros.emg.recordings import TrialSet
from semg_grasp_ros.errors import DatasetError


def test_sapsanis_subjects_listed(sapsanis_dir):
    subjects = list_sapsanis_subjects(sapsanis_dir)
    assert {"female_1", "female_2", "male_1"} <= set(subjects)
    assert all(p.suffix == ".mat" and p.is_file() for p in subjects.values())


def test_sapsanis_layout_matches_raw_variables(sapsanis_dir):
    path = sapsanis_dir / "male_1.mat"
    ts = load_sapsanis(path)
    raw = loadmat(str(path))
    assert ts.data.shape == (180, 3000, 2) and ts.data.dtype == np.float32
    assert ts.class_names == GRASP_TYPES and ts.channel_names == ("ch1", "ch2")
    assert ts.sample_rate == 500.0 and ts.subject == "male_1"
    # palmar is class 3; its 8th repetition channel 2 is row 7 of palm_ch2.
    idx = np.flatnonzero((ts.labels == 3) & (ts.repetitions == 7))
    assert idx.size == 1
    np.testing.assert_allclose(ts.data[idx[0], :, 1], raw["palm_ch2"][7], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ts.of_class("lateral")[29, :, 0], raw["lat_ch1"][29], rtol=1e-6, atol=1e-6)
    assert np.bincount(ts.labels).tolist() == [30] * 6
    # The documented DC offset of the set.
    assert 0.13 < float(ts.data.mean()) < 0.15


def test_trials_to_recording_and_back(sapsanis_dir):
    ts = load_sapsanis(sapsanis_dir / "female_1.mat")
    order = np.array([5, 40, 179])
    rec = ts.to_recording(order=order, rest_s=0.5)
    assert rec.data.shape == (3 * (250 + 3000), 2)
    assert (rec.labels[:250] == -1).all() and (rec.labels[250:3250] == ts.labels[5]).all()
    np.testing.assert_array_equal(rec.data[3500:6500], ts.data[40])
    back = rec.to_trials()
    np.testing.assert_array_equal(back.data, ts.data[order])
    np.testing.assert_array_equal(back.labels, ts.labels[order])
    assert rec.label_names()[0] == "rest" and rec.label_names()[-1] == "lateral"


def test_ninapro_layout(tmp_path):
    rng = np.random.default_rng(0)
    stim = np.r_[np.zeros(10), np.ones(20), np.zeros(5), np.full(15, 2), np.zeros(5), np.ones(20)]
    reps = np.r_[np.zeros(10), np.ones(20), np.zeros(5), np.ones(15), np.zeros(5), np.full(20, 2)]
    emg = rng.normal(size=(stim.size, 3))
    path = tmp_path / "S1_E1_A1.mat"
    savemat(path, {"emg": emg, "restimulus": stim[:, None], "rerepetition": reps[:, None], "frequency": 2000})
    rec = load_ninapro(path)
    assert rec.sample_rate == 2000.0 and rec.channel_names == ("ch1", "ch2", "ch3")
    assert rec.class_names == ("move_1", "move_2")
    np.testing.assert_allclose(rec.data, emg.astype(np.float32))
    assert rec.segments() == [(10, 30, 0, 0), (35, 50, 1, 0), (55, 75, 0, 1)]
    trials = rec.to_trials()
    assert trials.data.shape == (3, 15, 3)
    assert trials.labels.tolist() == [0, 1, 0] and trials.repetitions.tolist() == [0, 0, 1]
    # An explicit rate and names override; without a frequency variable a rate is required.
    savemat(path, {"emg": emg, "restimulus": stim[:, None], "rerepetition": reps[:, None]})
    assert load_ninapro(path, sample_rate=100, class_names=("a", "b")).class_names == ("a", "b")
    with pytest.raises(DatasetError, match="frequency"):
        load_ninapro(path)


def test_ninapro_bad_files(tmp_path):
    path = tmp_path / "bad.mat"
    savemat(path, {"emg": np.zeros((10, 2)), "stimulus": np.zeros((10, 1))})
    with pytest.raises(DatasetError, match=r"bad\.mat.*restimulus"):
        load_ninapro(path, sample_rate=100)
    savemat(path, {"emg": np.zeros((10, 2)), "restimulus": np.zeros((9, 1)), "rerepetition": np.zeros((10, 1))})
    with pytest.raises(DatasetError, match="restimulus has shape"):
        load_ninapro(path, sample_rate=100)
    with pytest.raises(DatasetError, match="not found"):
        load_ninapro(tmp_path / "missing.mat", sample_rate=100)
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(DatasetError, match="junk.mat"):
        load_ninapro(tmp_path / "junk.mat", sample_rate=100)


def test_sapsanis_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        list_sapsanis_subjects(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no .mat"):
        list_sapsanis_subjects(tmp_path)
    path = tmp_path / "s.mat"
    savemat(path, {"cyl_ch1": np.zeros((3, 10))})
    with pytest.raises(DatasetError, match=r"s\.mat.*missing variables.*spher_ch1"):
        load_sapsanis(path)
    from semg_grasp_ros.emg.datasets import SAPSANIS_PREFIX

    good = {f"{p}_{c}": np.zeros((3, 10)) for p in SAPSANIS_PREFIX.values() for c in ("ch1", "ch2")}
    savemat(path, {**good, "hook_ch2": np.zeros((3, 11))})
    with pytest.raises(DatasetError, match="hook_ch2 has shape"):
        load_sapsanis(path)
    savemat(path, good)
    ts = load_sapsanis(path)
    assert ts.data.shape == (18, 10, 2)
    assert list_sapsanis_subjects(tmp_path) == {"s": path}


def test_myo_csv_folder(data_root):
    folder = data_root / "emg" / "libemg_myo" / "myo_dataset"
    if not folder.is_dir():
        pytest.skip(f"Myo recording not found at {folder}")
    ts = load_csv_folder(folder)
    assert ts.n_channels == 8 and ts.sample_rate == 200.0 and ts.units == "raw"
    assert ts.n_trials == 20 and 590 <= ts.n_samples <= 604
    raw = np.loadtxt(folder / "R_2_C_3_EMG.csv", delimiter=",")
    i = np.flatnonzero((ts.labels == 3) & (ts.repetitions == 2))[0]
    np.testing.assert_array_equal(ts.data[i], raw[: ts.n_samples])
    # Class 2 (rest in LibEMG's mapping) is by far the quietest.
    rms = np.sqrt((ts.data**2).mean(axis=(1, 2)))
    per_class = [rms[ts.labels == c].mean() for c in range(5)]
    assert int(np.argmin(per_class)) == 2


def test_csv_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_csv(tmp_path / "x.csv")
    (tmp_path / "R_0_C_0_EMG.csv").write_text("1,2\n3,4\n")
    (tmp_path / "R_0_C_1_EMG.csv").write_text("1,2,3\n3,4,5\n")
    with pytest.raises(DatasetError, match="different channel counts"):
        load_csv_folder(tmp_path)
    (tmp_path / "R_0_C_1_EMG.csv").write_text("1,a\n3,4\n")
    with pytest.raises(DatasetError, match="R_0_C_1_EMG.csv"):
        load_csv_folder(tmp_path)
    with pytest.raises(DatasetError, match="3 columns, expected 2"):
        (tmp_path / "y.csv").write_text("1,2,3\n")
        load_csv(tmp_path / "y.csv", n_channels=2)
    with pytest.raises(DatasetError, match="no files named"):
        load_csv_folder(tmp_path / "..")


def test_csv_header_rate_and_time_column(tmp_path):
    from semg_grasp_ros.emg.csvfile import read_csv
    from semg_grasp_ros.emg.sources import csv_source
    from semg_grasp_ros.errors import ConfigError

    (tmp_path / "h.csv").write_text("# sample_rate_hz=1000\nflexor,extensor\n1,2\n3,4\n")
    rec = read_csv(tmp_path / "h.csv")
    assert rec.channel_names == ("flexor", "extensor") and rec.sample_rate == 1000.0
    np.testing.assert_array_equal(rec.data, [[1, 2], [3, 4]])
    (tmp_path / "t.csv").write_text("time_s,a\n0.000,1\n0.002,2\n0.004,3\n")
    rec = read_csv(tmp_path / "t.csv")
    assert rec.channel_names == ("a",) and rec.sample_rate == pytest.approx(500.0) and rec.data.shape == (3, 1)
    (tmp_path / "n.csv").write_text("1,2\n3,4\n")
    with pytest.raises(ConfigError, match="does not state its sample rate"):
        csv_source(tmp_path / "n.csv")
    with pytest.raises(ConfigError, match="states 1000 Hz"):
        csv_source(tmp_path / "h.csv", 200.0)
    assert csv_source(tmp_path / "h.csv").sample_rate == 1000.0
    for text, match in [("a,b\n1\n", "header names 2 columns"), ("1,2\n1\n", "1 values"), ("# sample_rate_hz=-5\n1\n", "positive"),
                        ("time_s,a\n0,1\n0,2\n", "equal steps"), ("1,nan\n", "non-finite"), ("a,b\n", "no rows")]:
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(DatasetError, match=match):
            read_csv(tmp_path / "bad.csv")


def test_trialset_validates():
    with pytest.raises(DatasetError, match="channels"):
        TrialSet(np.zeros((2, 5, 3)), [0, 1], [0, 0], ("a", "b"), ("c1", "c2"), 100.0, "s")
    with pytest.raises(DatasetError, match="labels outside"):
        TrialSet(np.zeros((2, 5, 2)), [0, 2], [0, 0], ("a", "b"), ("c1", "c2"), 100.0, "s")
