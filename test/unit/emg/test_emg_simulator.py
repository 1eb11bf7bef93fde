"""The sEMG simulator: determinism, the signal model against analytic expectations, the
shipped fits against the real Sapsanis recordings, and model files."""

import json

import numpy as np
import pytest
from scipy import signal

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.emg.datasets import list_sapsanis_subjects, load_sapsanis
from semg_grasp_ros.emg.simulator.fit import compare_statistics, fit_simulator, recording_statistics
from semg_grasp_ros.emg.simulator.model import SimulatorModel
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.emg.simulator.script import default_script, parse_script
from semg_grasp_ros.errors import ConfigError, ModelError

SCRIPT = [("rest", 1.0), ("spherical", 2.0), ("rest", 1.0), ("tip", 2.0)]


def test_same_seed_same_samples_other_seed_other_samples():
    a = EmgSimulator(config=SimulatorConfig(seed=7)).render(SCRIPT)
    b = EmgSimulator(config=SimulatorConfig(seed=7)).render(SCRIPT)
    c = EmgSimulator(config=SimulatorConfig(seed=8)).render(SCRIPT)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, c.data)
    assert a.data.shape == (3000, 2) and a.data.dtype == np.float32


def test_script_labels_and_activation():
    sim = EmgSimulator(config=SimulatorConfig(seed=1))
    s = sim.render(SCRIPT)
    expected = np.r_[np.full(500, -1), np.zeros(1000), np.full(500, -1), np.full(1000, GRASP_TYPES.index("tip"))]
    np.testing.assert_array_equal(s.labels, expected)
    assert (s.activation[s.labels == -1] == 0).all()
    # Muscles switch on after the cue (reaction delay + onset ramp) and off before the next one.
    grasp = s.activation[500:1500]
    assert grasp[0] == 0 and grasp[-1] < 0.05 and grasp.max() > 0.9
    x = s.data - s.data.mean(axis=0)
    rest_rms = np.sqrt((x[:500] ** 2).mean(axis=0))
    grasp_rms = np.sqrt((x[700:1400] ** 2).mean(axis=0))
    assert (grasp_rms > 3 * rest_rms).all()


def test_steady_state_rms_is_the_sum_of_the_components():
    # Without variability, modulation or burst, a held grasp's power is the sum of the
    # component powers (independent noises): rest + sensor + hum + plateau^2.
    base = SimulatorModel.default()
    model = SimulatorModel(**{**base.__dict__, "overshoot": np.zeros(6)})
    cfg = SimulatorConfig(seed=3, variability=False, modulation_depth=0.0)
    s = EmgSimulator(model, cfg).render([("hook", 30.0)])
    x = s.data[2000:-1000].astype(np.float64)  # past the onset, before the offset ramp
    c = GRASP_TYPES.index("hook")
    expected = np.sqrt(model.rest_rms**2 + model.sensor_noise_rms**2 + (model.hum_rms**2).sum(1) + model.plateau_rms[c] ** 2)
    np.testing.assert_allclose(np.sqrt((x**2).mean(axis=0)), expected, rtol=0.03)


def test_spectral_shape_and_band_limit():
    model = SimulatorModel.default(n_channels=1, sample_rate=2000.0)
    # Put all of the class's power between 100 and 150 Hz.
    psd = np.where((model.freqs >= 100) & (model.freqs <= 150), 1.0, 0.0)
    model = SimulatorModel(**{**model.__dict__, "psd": np.tile(psd, (6, 1, 1)), "rest_rms": np.zeros(1)})
    cfg = SimulatorConfig(seed=0, hum=False, sensor_noise=False, dc_offset=False)
    x = EmgSimulator(model, cfg).render([("palmar", 20.0)]).data[:, 0]
    f, p = signal.welch(x, fs=2000, nperseg=512)
    frac_in_band = p[(f >= 80) & (f <= 170)].sum() / p.sum()
    assert frac_in_band > 0.95
    # The generic spectrum stays within 20-450 Hz even at 2 kHz sampling.
    sim = EmgSimulator(None, SimulatorConfig(sample_rate=2000.0, hum=False, sensor_noise=False), n_channels=8)
    y = sim.render([("spherical", 10.0)]).data
    assert y.shape == (20000, 8)
    f, p = signal.welch(y, fs=2000, nperseg=512, axis=0)
    assert p[(f < 12) | (f > 520)].sum() / p.sum() < 0.01


def test_hum_and_dc_offset_options():
    model = SimulatorModel(**{**SimulatorModel.default().__dict__, "dc_offset": np.array([0.14, -0.2])})
    on = EmgSimulator(model, SimulatorConfig(seed=0)).render([("rest", 10.0)]).data
    off = EmgSimulator(model, SimulatorConfig(seed=0, hum=False, dc_offset=False)).render([("rest", 10.0)]).data
    np.testing.assert_allclose(on.mean(axis=0), [0.14, -0.2], atol=0.005)
    np.testing.assert_allclose(off.mean(axis=0), [0.0, 0.0], atol=0.005)
    f, p_on = signal.welch(on, fs=500, nperseg=500, axis=0)
    _, p_off = signal.welch(off, fs=500, nperseg=500, axis=0)
    at50 = np.argmin(np.abs(f - 50))
    assert (p_on[at50] > 2 * p_off[at50]).all()
    # Hum power measured from the line equals the model's hum RMS^2.
    line = (p_on - p_off)[at50 - 3 : at50 + 4].sum(axis=0) * (f[1] - f[0])
    np.testing.assert_allclose(np.sqrt(line), model.hum_rms[:, 0], rtol=0.15)


def test_trials_have_the_sapsanis_layout():
    sim = EmgSimulator(config=SimulatorConfig(seed=2))
    ts = sim.trials(n_per_class=3, trial_s=2.0)
    assert ts.data.shape == (18, 1000, 2)
    assert ts.labels.tolist() == [c for c in range(6) for _ in range(3)]
    assert ts.repetitions.tolist() == [0, 1, 2] * 6


@pytest.fixture(scope="module")
def subjects(sapsanis_dir):
    return list_sapsanis_subjects(sapsanis_dir)


@pytest.mark.parametrize("subject", ["female_1", "female_2", "male_1"])
def test_shipped_fit_matches_the_real_recording(subjects, subject):
    """Per class and channel: RMS of the active part within 10 %, median frequency within 15 %."""
    real = load_sapsanis(subjects[subject])
    model = SimulatorModel.shipped(subject)
    assert model.class_names == GRASP_TYPES and model.sample_rate == 500.0
    sim = EmgSimulator(model, SimulatorConfig(seed=11)).trials(60, trial_s=6.0)
    stats_real, stats_sim = recording_statistics(real), recording_statistics(sim)
    err = compare_statistics(stats_real, stats_sim)
    assert np.abs(err["rms_rel_error"]).max() < 0.10, err["rms_rel_error"]
    assert np.abs(err["median_hz_rel_error"]).max() < 0.15, err["median_hz_rel_error"]
    # Cross-talk: the channels are as correlated as in the recording, class by class.
    np.testing.assert_allclose(stats_sim.correlation, stats_real.correlation, atol=0.05)
    # The DC offset of the set (~ +0.14 V) is reproduced.
    np.testing.assert_allclose(stats_sim.dc, stats_real.dc, atol=0.01)
    # Classes keep their order of loudness per channel (what a classifier separates them by).
    for k in range(2):
        assert np.argmax(stats_sim.rms[:, k]) == np.argmax(stats_real.rms[:, k])
        assert np.argmin(stats_sim.rms[:, k]) == np.argmin(stats_real.rms[:, k])


def test_shipped_models_are_what_the_fit_gives(subjects):
    model = fit_simulator(load_sapsanis(subjects["male_1"]))
    shipped = SimulatorModel.shipped("male_1")
    for name in ("plateau_rms", "psd", "rest_rms", "hum_rms", "gain_sigma", "dc_offset", "overshoot", "decay_s",
                 "channel_correlation"):
        np.testing.assert_allclose(getattr(model, name), getattr(shipped, name), rtol=1e-4, atol=1e-7, err_msg=name)


def test_model_json_round_trip_and_errors(tmp_path):
    model = SimulatorModel.default(n_channels=3)
    path = model.save(tmp_path / "m.json")
    back = SimulatorModel.load(path)
    for name in ("plateau_rms", "psd", "freqs", "hum_rms"):
        np.testing.assert_allclose(getattr(back, name), getattr(model, name), rtol=1e-6, atol=1e-9)
    assert back.channel_names == model.channel_names
    a = EmgSimulator(model, SimulatorConfig(seed=4)).render(SCRIPT).data
    b = EmgSimulator(back, SimulatorConfig(seed=4)).render(SCRIPT).data
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    d = json.loads(path.read_text())
    # Files without a channel correlation (independent channels) still load.
    older = SimulatorModel.from_dict({k: v for k, v in d.items() if k != "channel_correlation"})
    np.testing.assert_array_equal(older.channel_correlation, np.broadcast_to(np.eye(3), (6, 3, 3)))
    (tmp_path / "corr.json").write_text(json.dumps({**d, "channel_correlation": [[[1.0, 2.0, 0], [2.0, 1.0, 0],
                                                                                  [0, 0, 1.0]]] * 6}))
    with pytest.raises(ModelError, match="channel_correlation"):
        SimulatorModel.load(tmp_path / "corr.json")
    with pytest.raises(ModelError, match="not found"):
        SimulatorModel.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="bad.json"):
        SimulatorModel.load(tmp_path / "bad.json")
    (tmp_path / "shape.json").write_text(json.dumps({**d, "plateau_rms": [[1.0, 2.0]]}))
    with pytest.raises(ModelError, match=r"plateau_rms has shape \(1, 2\), expected \(6, 3\)"):
        SimulatorModel.load(tmp_path / "shape.json")
    (tmp_path / "fmt.json").write_text(json.dumps({**d, "format": "other"}))
    with pytest.raises(ModelError, match="not a simulator model"):
        SimulatorModel.load(tmp_path / "fmt.json")
    with pytest.raises(ModelError, match="no simulated user fitted to subject"):
        SimulatorModel.shipped("nobody")


def test_scripts_and_config_are_validated():
    assert parse_script("rest:2, spherical:3.5") == [("rest", 2.0), ("spherical", 3.5)]
    for bad in ("rest", "rest:x", ""):
        with pytest.raises(ConfigError):
            parse_script(bad)
    sim = EmgSimulator()
    with pytest.raises(ConfigError, match="unknown script class 'fist'"):
        sim.blocks([("fist", 1.0)])
    with pytest.raises(ConfigError, match="positive"):
        sim.blocks([("rest", -1.0)])
    with pytest.raises(ConfigError):
        SimulatorConfig(band_hz=(300.0, 100.0))
    with pytest.raises(ConfigError):
        SimulatorConfig(fir_taps=64)
    script = default_script(repetitions=2, grasp_s=1.0, rest_s=0.5, seed=3)
    assert sorted(n for n, _ in script if n != "rest") == sorted(GRASP_TYPES * 2)
    assert script[0] == ("rest", 0.5)


def test_channel_correlation_is_rendered_exactly():
    """Cross-talk mixing: the activation's zero-lag correlation is the model's, each channel
    keeps its power, and an invalid (not positive definite) matrix is made valid."""
    base = SimulatorModel.default(n_channels=3)
    r = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.1], [-0.3, 0.1, 1.0]])
    quiet = dict(hum=False, sensor_noise=False, dc_offset=False, variability=False, modulation_depth=0.0)
    from dataclasses import replace

    model = replace(base, rest_rms=np.zeros(3), channel_correlation=np.broadcast_to(r, (6, 3, 3)))
    x = EmgSimulator(model, SimulatorConfig(seed=2, **quiet)).render([("spherical", 60.0)]).data[5000:]
    np.testing.assert_allclose(np.corrcoef(x.T), r, atol=0.03)
    independent = EmgSimulator(replace(model, channel_correlation=np.zeros(0)), SimulatorConfig(seed=2, **quiet))
    y = independent.render([("spherical", 60.0)]).data[5000:]
    np.testing.assert_allclose(x.std(axis=0), y.std(axis=0), rtol=0.05)
    bad = np.array([[1.0, 0.99, -0.99], [0.99, 1.0, 0.99], [-0.99, 0.99, 1.0]])  # not positive definite
    from semg_grasp_ros.emg.simulator.render import _correlation_factor

    L = _correlation_factor(bad)
    np.testing.assert_allclose(np.linalg.norm(L, axis=1), 1.0, rtol=1e-9)
    assert np.all(np.linalg.eigvalsh(L @ L.T) > 0)
