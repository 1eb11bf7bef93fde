"""Sliding windows: indices, streaming buffer equal to offline windows, active part."""

import numpy as np
import pytest

from semg_grasp_ros.emg.windows import (
    WindowBuffer,
    active_mask,
    n_windows,
    samples_for_ms,
    sliding_windows,
    window_ends,
    window_envelope,
)
from semg_grasp_ros.errors import ConfigError, DataError


def test_samples_for_ms():
    assert samples_for_ms(250, 500) == 125
    assert samples_for_ms(50, 500) == 25
    assert samples_for_ms(1, 200) == 1  # rounds up to at least one sample
    with pytest.raises(ConfigError):
        samples_for_ms(0, 500)


def test_sliding_windows_cover_expected_samples():
    x = np.arange(23 * 2).reshape(23, 2)  # sample i, channel c holds 2 i + c
    w = sliding_windows(x, 5, 3)
    assert w.shape == (7, 5, 2) == (n_windows(23, 5, 3), 5, 2)
    for k in range(7):
        np.testing.assert_array_equal(w[k], x[3 * k : 3 * k + 5])
    np.testing.assert_array_equal(window_ends(23, 5, 3), [4, 7, 10, 13, 16, 19, 22])
    batched = sliding_windows(np.stack([x, -x]), 5, 3)
    np.testing.assert_array_equal(batched[1], -w)


def test_too_short_signal():
    assert n_windows(4, 5, 1) == 0
    with pytest.raises(DataError):
        sliding_windows(np.zeros((4, 2)), 5, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_buffer_matches_offline_windows(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((311, 3))
    window, stride = 25, 7
    buf = WindowBuffer(window, stride, 3)
    cuts = np.sort(rng.choice(np.arange(1, 311), size=rng.integers(1, 60), replace=False))
    got, ends = [], []
    for part in np.split(x, cuts):
        w, e = buf.push(part)
        got.append(w)
        ends.append(e)
    np.testing.assert_allclose(np.concatenate(got), sliding_windows(x, window, stride))
    np.testing.assert_array_equal(np.concatenate(ends), window_ends(311, window, stride))
    assert buf.samples_seen == 311


def test_window_buffer_reset_starts_a_new_stream():
    buf = WindowBuffer(4, 2, 1)
    buf.push(np.ones((5, 1)))
    buf.reset()
    w, e = buf.push(np.arange(4.0)[:, None])
    np.testing.assert_array_equal(e, [3])
    np.testing.assert_array_equal(w[0, :, 0], [0, 1, 2, 3])
    with pytest.raises(DataError):
        buf.push(np.zeros((3, 2)))


def test_window_buffer_phase_sets_the_window_ends():
    x = np.arange(40.0)[:, None]
    buf = WindowBuffer(7, 5, 1)
    buf.reset(first_end=9)  # ends on 9, 14, 19, ...: the last samples of 5-sample chunks
    ends = np.concatenate([buf.push(x[i:i + 5])[1] for i in range(0, 40, 5)])
    np.testing.assert_array_equal(ends, [9, 14, 19, 24, 29, 34, 39])
    buf.reset(first_end=9)
    w, e = buf.push(x[:12])
    np.testing.assert_array_equal(w[0, :, 0], np.arange(3.0, 10.0))
    with pytest.raises(ConfigError):
        buf.reset(first_end=5)  # before the first full window


def test_envelope_is_geometric_mean_of_channel_rms():
    w = np.array([[1.0, 2.0], [-1.0, -2.0], [1.0, 2.0], [-1.0, -2.0]])  # RMS 1 and 2
    assert window_envelope(w) == pytest.approx(np.sqrt(2.0))


def test_active_mask_drops_quiet_lead_in():
    rng = np.random.default_rng(0)
    quiet = 0.01 * rng.standard_normal((200, 2))
    loud = 1.0 * rng.standard_normal((800, 2))
    trial = np.concatenate([quiet, loud])[None]
    w = sliding_windows(trial, 50, 25)
    mask = active_mask(w)
    ends = window_ends(1000, 50, 25)
    assert not mask[0, ends < 200].any()  # windows inside the quiet part
    assert mask[0, ends - 49 >= 200].all()  # windows inside the contraction
    # A trial at constant level is active throughout.
    assert active_mask(sliding_windows(loud[None], 50, 25)).all()
