"""The contraction level (0-1) that proportional closing follows (``GraspIntent.level``).

Per decision: each channel's window RMS, smoothed (exponential, ``smoothing_s``); its power above
the rest level's over that of the strongest contraction (``max_rms``, from the user's
calibration; without it the strongest smoothed RMS seen so far, at least twice the rest level),
square-rooted (the EMG amplitude grows with the activation, rest noise adds power) and averaged
over the channels; then an adaptive low-pass (the "1 euro filter", Casiez et al. 2012: cutoff
``min_cutoff_hz`` + ``beta`` x the level's speed in 1/s: steady while the contraction is, quick
when it changes); below ``deadband`` it is 0 (the rest of the range rescaled to 0-1), and the
published level moves only when the filtered one leaves it by more than ``hysteresis``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class LevelConfig:
    """Attributes: see the module docstring (``max_rms``: per channel, signal units; empty = the
    strongest seen so far)."""

    max_rms: tuple[float, ...] = ()
    smoothing_s: float = 0.1
    min_cutoff_hz: float = 0.5
    beta: float = 1.0
    deadband: float = 0.05
    hysteresis: float = 0.02

    def __post_init__(self):
        object.__setattr__(self, "max_rms", tuple(float(v) for v in self.max_rms))
        if any(not (v > 0 and np.isfinite(v)) for v in self.max_rms):
            raise ConfigError(f"max_rms values must be finite and > 0, got {self.max_rms}")
        if not (self.smoothing_s >= 0 and self.min_cutoff_hz > 0 and self.beta >= 0 and 0 <= self.deadband < 1
                and 0 <= self.hysteresis < 1):
            raise ConfigError("need level smoothing_s >= 0, min_cutoff_hz > 0, beta >= 0, 0 <= deadband < 1, "
                              "0 <= hysteresis < 1")


def _alpha(cutoff_hz: float, dt: float) -> float:
    """Smoothing factor of a first-order low-pass at ``cutoff_hz`` sampled every ``dt`` s."""
    return 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff_hz * dt))


class ContractionLevel:
    """The level of one stream, updated every ``dt`` s (a decision)."""

    def __init__(self, config: LevelConfig, dt: float):
        self.config, self.dt = config, dt
        self._env_alpha = 1.0 - float(np.exp(-dt / config.smoothing_s)) if config.smoothing_s > 0 else 1.0
        self.max_rms = np.asarray(config.max_rms, dtype=np.float64) if config.max_rms else None
        self.reset()

    def reset(self) -> None:
        """Back to level 0 (after bad signal); the strongest contraction seen is kept."""
        self._envelope: np.ndarray | None = None  # smoothed per-channel RMS
        self._smooth: tuple[float, float] | None = None  # low-pass state: (level, speed 1/s)
        self.level = 0.0

    def update(self, rms: np.ndarray, rest_rms: np.ndarray) -> float:
        """Next level from a window's per-channel RMS (n_channels,) and the rest level (n_channels,)."""
        c, dt = self.config, self.dt
        env = rms if self._envelope is None else self._envelope + self._env_alpha * (rms - self._envelope)
        self._envelope = env
        if not c.max_rms:
            self.max_rms = np.maximum(env, 2.0 * rest_rms if self.max_rms is None else self.max_rms)
        span = np.maximum(self.max_rms**2 - rest_rms**2, 1e-24)
        level = float(np.mean(np.sqrt(np.clip((env**2 - rest_rms**2) / span, 0.0, 1.0))))
        if self._smooth is None:
            self._smooth = (level, 0.0)
        else:  # the speed, low-passed at 1 Hz, sets the level's cutoff
            prev, speed = self._smooth
            speed += _alpha(1.0, dt) * ((level - prev) / dt - speed)
            level = prev + _alpha(c.min_cutoff_hz + c.beta * abs(speed), dt) * (level - prev)
            self._smooth = (level, speed)
        level = max(level - c.deadband, 0.0) / (1.0 - c.deadband)
        if abs(level - self.level) > c.hysteresis or level in (0.0, 1.0):
            self.level = level
        return self.level
