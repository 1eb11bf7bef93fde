"""The contraction level: steady while the contraction is, quick when it changes."""

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.intent.level import ContractionLevel, LevelConfig

FS, WINDOW, STRIDE = 500, 75, 10  # 150 ms windows every 20 ms
REST = np.array([0.05, 0.05])
MAX = np.array([1.0, 0.5])


def _levels(amplitudes, seconds, seed=0, config=LevelConfig(max_rms=tuple(MAX))):
    """Levels of windows over white noise: rest plus ``a`` x the strongest contraction for each
    ``a`` of ``amplitudes`` held ``seconds``; returns (times s, levels)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    signal = np.concatenate([rng.standard_normal((n, 2)) * np.sqrt(REST**2 + (a * MAX) ** 2) for a in amplitudes])
    est = ContractionLevel(config, STRIDE / FS)
    ends = np.arange(WINDOW, signal.shape[0] + 1, STRIDE)
    levels = [est.update(np.sqrt(np.mean(signal[e - WINDOW:e] ** 2, axis=0)), REST) for e in ends]
    return ends / FS, np.array(levels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_level_is_steady_at_a_constant_contraction(seed):
    t, level = _levels([0.5], 8.0, seed)
    held = level[t > 2.0]
    # the window power's noise (about 0.2 relative) must not reach the hand: no wander, no flicker
    assert held.std() < 0.004 and np.count_nonzero(np.diff(held)) <= 2
    assert held.mean() == pytest.approx((0.5 - 0.05) / 0.95, abs=0.06)


def test_level_follows_steps_of_the_contraction_quickly():
    t, level = _levels([0.3, 0.8, 0.4, 0.0], 3.0, seed=3)
    for k, a in enumerate([0.3, 0.8, 0.4, 0.0]):
        expected = max(a - 0.05, 0.0) / 0.95
        soon = level[(t > 3.0 * k + 0.6) & (t < 3.0 * (k + 1))]  # 0.6 s after each step
        assert np.abs(soon - expected).max() < 0.08, (a, soon.min(), soon.max())


def test_level_config_is_checked():
    for bad in ({"smoothing_s": 0.0}, {"steady_s": 0.01}, {"noise": 0.0}, {"change": 0.0}, {"band": -1.0},
                {"deadband": 1.0}, {"max_rms": (0.0, 1.0)}):
        with pytest.raises(ConfigError):
            LevelConfig(**bad)
