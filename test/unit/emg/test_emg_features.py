"""Window features against hand-computed values and independent implementations."""

import math

import numpy as np
import pytest
import scipy.signal

from semg_grasp_ros.emg import features as F
from semg_grasp_ros.errors import ConfigError, DataError

X = np.array([1.0, -2.0, 3.0, 0.0, -1.0])[:, None]  # one channel, five samples


def test_time_domain_by_hand():
    assert F.mav(X)[0] == pytest.approx(7 / 5)
    assert F.rms(X)[0] == pytest.approx(math.sqrt(15 / 5))
    assert F.waveform_length(X)[0] == pytest.approx(3 + 5 + 3 + 1)
    # Sign changes 1->-2 and -2->3; 3->0 and 0->-1 touch zero but do not cross it.
    assert F.zero_crossings(X)[0] == 2
    assert F.zero_crossings(X, threshold=4.0)[0] == 1  # only the step of 5 counts
    # Slope sign changes at -2 (product 15) and 3 (product 15), not at 0 (product -3).
    assert F.slope_sign_changes(X)[0] == 2
    assert F.slope_sign_changes(X, threshold=14.0)[0] == 2
    assert F.slope_sign_changes(X, threshold=15.0)[0] == 0


def test_hjorth_by_plain_loops():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40)

    def var0(v):
        return sum(a * a for a in v) / len(v)

    d1 = [x[i + 1] - x[i] for i in range(len(x) - 1)]
    d2 = [d1[i + 1] - d1[i] for i in range(len(d1) - 1)]
    mobility = math.sqrt(var0(d1) / var0(x))
    complexity = math.sqrt(var0(d2) / var0(d1)) / mobility
    got = F.hjorth(x[:, None])
    assert got[0] == pytest.approx(mobility, rel=1e-9)
    assert got[1] == pytest.approx(complexity, rel=1e-9)


def test_ar_recovers_noise_free_process():
    a1, a2 = 0.5, -0.3
    x = [1.0, 0.2]
    for _ in range(60):
        x.append(a1 * x[-1] + a2 * x[-2])
    coef = F.ar_coefficients(np.array(x)[:, None], order=2)
    np.testing.assert_allclose(coef, [a1, a2], atol=1e-6)


def test_ar_estimates_noisy_process_per_channel():
    rng = np.random.default_rng(1)
    n = 20000
    out = np.zeros((n, 2))
    e = rng.standard_normal((n, 2))
    for t in range(2, n):
        out[t, 0] = 0.6 * out[t - 1, 0] - 0.2 * out[t - 2, 0] + e[t, 0]
        out[t, 1] = -0.4 * out[t - 1, 1] + e[t, 1]
    coef = F.ar_coefficients(out, order=2)  # channel-major: a1, a2 of ch0, then ch1
    np.testing.assert_allclose(coef, [0.6, -0.2, -0.4, 0.0], atol=0.03)


def test_periodogram_equals_direct_dft():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 1))
    taper = [0.5 - 0.5 * math.cos(2 * math.pi * i / 7) for i in range(8)]  # np.hanning(8)
    freqs, spec = F.power_spectrum(x, 16.0)
    for k in range(5):
        re = sum(x[i, 0] * taper[i] * math.cos(2 * math.pi * k * i / 8) for i in range(8))
        im = -sum(x[i, 0] * taper[i] * math.sin(2 * math.pi * k * i / 8) for i in range(8))
        assert spec[k, 0] == pytest.approx(re * re + im * im, rel=1e-9)
        assert freqs[k] == pytest.approx(2.0 * k)


def test_band_power_and_spectral_moments_of_a_sine():
    n, fs = 100, 500.0  # 5 Hz bins; 100 Hz sits on bin 20
    t = np.arange(n) / fs
    x = np.sin(2 * np.pi * 100.0 * t)[:, None]
    bands = F.band_powers(x, fs, (15.0, 50.0, 150.0, 250.0))[:, 0]
    assert bands[1] / bands.sum() > 0.999
    mnf, mdf = F.mean_median_frequency(x, fs)
    assert mnf == pytest.approx(100.0, abs=0.5)
    assert mdf == pytest.approx(100.0)


def test_channel_relations():
    rng = np.random.default_rng(3)
    a = rng.standard_normal(200)
    w = np.stack([a, -2.0 * a], axis=1)
    cfg = F.FeatureConfig(names=("corr", "log_rms_ratio"))
    corr, ratio = F.extract_features(w, 500.0, cfg)
    assert corr == pytest.approx(-1.0, abs=1e-9)
    assert ratio == pytest.approx(math.log(0.5), abs=1e-9)


@pytest.mark.parametrize("config", [F.TD_FEATURES, F.RICH_FEATURES,
                                    F.FeatureConfig(names=tuple(F.FEATURES), segments=2)])
def test_names_match_columns_and_batches_match_singles(config):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((3, 4, 125, 2))
    out = F.extract_features(w, 500.0, config)
    names = F.feature_names(["ch1", "ch2"], config)
    assert out.shape == (3, 4, len(names)) and len(set(names)) == len(names)
    np.testing.assert_allclose(out[2, 1], F.extract_features(w[2, 1], 500.0, config), rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(out))


def test_td_columns_are_the_hudgins_values():
    w = np.concatenate([X, 2 * X], axis=1)
    out = F.extract_features(w, 500.0, F.TD_FEATURES)
    names = F.feature_names(["a", "b"], F.TD_FEATURES)
    got = dict(zip(names, out))
    assert got["mav_a"] == pytest.approx(1.4) and got["mav_b"] == pytest.approx(2.8)
    assert got["wl_b"] == pytest.approx(24.0) and got["zc_a"] == 2 and got["ssc_b"] == 2


def test_flat_window_gives_finite_features():
    out = F.extract_features(np.zeros((125, 2)), 500.0, F.RICH_FEATURES)
    assert np.all(np.isfinite(out))


def test_spectrogram_matches_scipy():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3000, 2))
    cfg = F.SpectrogramConfig(nperseg=256, overlap=0.5, log=False)
    got = F.spectrogram(x, 500.0, cfg).numpy()
    f, t, ref = scipy.signal.spectrogram(x, fs=500.0, window="hann", nperseg=256, noverlap=128, detrend=False,
                                         scaling="density", mode="psd", axis=1)
    # scipy: (trials, freq, channels, frames) for axis=1 -> ours (trials, channels, freq, frames)
    ref = np.moveaxis(ref, 2, 1)
    assert got.shape == (2, 2, 129, 22) == ref.shape
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-9)
    logged = F.spectrogram(x, 500.0, F.SpectrogramConfig()).numpy()
    np.testing.assert_allclose(logged, np.log(np.maximum(ref, 1e-10)), atol=2e-4)


def test_bad_inputs():
    with pytest.raises(ConfigError):
        F.FeatureConfig(names=("mav", "nope"))
    with pytest.raises(ConfigError):
        F.FeatureConfig(band_edges_hz=(50.0, 20.0))
    with pytest.raises(DataError):
        F.extract_features(np.zeros(10), 500.0)
    with pytest.raises(DataError):
        F.spectrogram(np.zeros((100, 2)), 500.0)
    with pytest.raises(DataError):
        F.ar_coefficients(np.zeros((6, 1)), order=4)
