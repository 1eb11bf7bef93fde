"""Causal filters: Butterworth magnitude against the analytic bilinear response, the notch,
DC handling, and block-wise streaming equal to whole-signal filtering."""

import numpy as np
import pytest

from semg_grasp_ros.emg.filters import FilterConfig, StreamFilter, design_sos, filter_trials
from semg_grasp_ros.errors import ConfigError, DataError

FS = 500.0


def _steady_gain(sos, freq, n=6000):
    t = np.arange(n) / FS
    x = np.sin(2 * np.pi * freq * t)[:, None]
    y = filter_trials(x, sos)[:, 0]
    half = n // 2  # transient gone
    return np.sqrt(np.mean(y[half:] ** 2) / np.mean(x[half:, 0] ** 2))


@pytest.mark.parametrize("freq", [8.0, 15.0, 30.0, 120.0])
def test_highpass_gain_matches_bilinear_butterworth(freq):
    order, fc = 4, 15.0
    sos = design_sos(FilterConfig(highpass_hz=fc, order=order, notch_hz=None), FS)
    # Bilinear-transform Butterworth high-pass: |H| = 1 / sqrt(1 + (tan(pi fc/fs) / tan(pi f/fs))^(2n)).
    ratio = np.tan(np.pi * fc / FS) / np.tan(np.pi * freq / FS)
    expected = 1.0 / np.sqrt(1.0 + ratio ** (2 * order))
    assert _steady_gain(sos, freq) == pytest.approx(expected, rel=0.02, abs=2e-3)


def test_notch_removes_mains_and_passes_neighbours():
    sos = design_sos(FilterConfig(highpass_hz=15.0, notch_hz=50.0, notch_q=30.0), FS)
    assert _steady_gain(sos, 50.0) < 0.02  # < -34 dB
    assert _steady_gain(sos, 100.0) == pytest.approx(1.0, abs=0.02)
    assert _steady_gain(sos, 75.0) == pytest.approx(1.0, abs=0.03)


def test_dc_offset_gives_no_start_transient():
    t = np.arange(1000) / FS
    sine = 0.05 * np.sin(2 * np.pi * 100.0 * t)
    x = np.stack([0.14 + sine, -3.0 + sine], axis=1)  # large DC offsets
    y = filter_trials(x, design_sos(FilterConfig(), FS))
    assert np.max(np.abs(y)) < 0.06  # a zero initial state would ring with ~0.14 V and 3 V steps
    assert np.abs(y[500:].mean(axis=0)).max() < 1e-3


def test_stream_filter_equals_whole_signal_in_any_chunking():
    rng = np.random.default_rng(3)
    x = 0.14 + rng.standard_normal((997, 2))
    sos = design_sos(FilterConfig(lowpass_hz=200.0), FS)
    whole = filter_trials(x, sos)
    stream = StreamFilter(sos, 2)
    cuts = np.sort(rng.choice(np.arange(1, 997), size=40, replace=False))
    parts = [stream.process(p) for p in np.split(x, cuts)]
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-10, atol=1e-12)
    stream.reset()
    np.testing.assert_allclose(stream.process(x[:100]), whole[:100], rtol=1e-10, atol=1e-12)


def test_batched_trials_equal_one_by_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 200, 2)) + 0.1
    sos = design_sos(FilterConfig(), FS)
    batched = filter_trials(x, sos)
    for i in range(3):
        np.testing.assert_allclose(batched[i], filter_trials(x[i], sos), rtol=1e-12)


def test_lowpass_at_or_above_nyquist_is_dropped():
    a = design_sos(FilterConfig(highpass_hz=15.0, lowpass_hz=500.0), FS)
    b = design_sos(FilterConfig(highpass_hz=15.0, lowpass_hz=None), FS)
    np.testing.assert_array_equal(a, b)
    assert design_sos(FilterConfig(lowpass_hz=200.0), FS).shape[0] > b.shape[0]


@pytest.mark.parametrize(
    "kwargs",
    [dict(highpass_hz=0.0), dict(highpass_hz=20.0, lowpass_hz=10.0), dict(order=0), dict(order=2.5),
     dict(notch_hz=50.0, notch_q=0.0)],
)
def test_invalid_config_raises(kwargs):
    with pytest.raises(ConfigError):
        FilterConfig(**kwargs)


def test_cutoffs_above_nyquist_raise():
    with pytest.raises(ConfigError, match="Nyquist"):
        design_sos(FilterConfig(highpass_hz=300.0, notch_hz=None), FS)
    with pytest.raises(ConfigError, match="Nyquist"):
        design_sos(FilterConfig(notch_hz=60.0), 100.0)


def test_bad_shapes_raise():
    sos = design_sos(FilterConfig(), FS)
    with pytest.raises(DataError):
        filter_trials(np.zeros(10), sos)
    with pytest.raises(DataError):
        StreamFilter(sos, 2).process(np.zeros((5, 3)))
