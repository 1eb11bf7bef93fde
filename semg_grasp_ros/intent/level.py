"""The contraction level (0-1) that proportional closing follows (``GraspIntent.level``).

Per decision (every ``dt`` s) the window's per-channel power above the rest level's, summed over
the channels and divided by the summed span of the strongest contraction (``max_rms``, from the
user's calibration; without it the strongest window seen so far, at least twice the rest level):
the power fraction ``p`` (the channels weigh by their span, the weak ones add little noise).
Amplitude estimates of sEMG are noisy (a 150 ms window's power has a relative standard
deviation of about 0.2, and it scales with the power), so the level is held while the contraction
is, and changes when the contraction does (a change detector, not a fixed low-pass):

* a fast estimate: ``p`` smoothed exponentially (``smoothing_s``);
* a held mean: the mean of the fast estimate since the contraction last changed (over at most
  ``steady_s``): its noise shrinks the longer the contraction is held;
* a change: the fast estimate leaves the held mean by more than ``change`` times its noise
  (``noise`` x the total power, rest included, over the span); the held mean then follows the fast
  estimate for ``track_s`` (the new contraction's rise) and starts averaging afresh;
* the level: the square root of the held mean (the EMG amplitude grows with the activation),
  0 below ``deadband`` (the rest of the range rescaled to 0-1); the published level moves only
  when it leaves the held mean's noise band (``band`` standard deviations of the held mean) or
  while it follows a change, so a steady contraction gives a steady hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import param
from ..errors import ConfigError


def given_per_channel(values) -> tuple[float, ...]:
    """A per-channel setting as floats, ``()`` when not given (none, or all 0: a ROS parameter cannot
    be an empty list)."""
    values = tuple(float(v) for v in values)
    return () if all(v == 0 for v in values) else values


@dataclass(frozen=True)
class LevelConfig:
    """Settings of the contraction level (see the module docstring); the classifier node's
    ``decoder.level.*`` parameters."""

    max_rms: tuple[float, ...] = param(
        (0.0,), "RMS of the filtered signal per channel at which the hand closes fully (one value = all channels); "
                "0 = the personal model's usual calibration hold (semg-grasp calibrate), else the strongest seen so far"
    )
    smoothing_s: float = param(0.1, "time constant of the fast power estimate, s", (0.001, 10.0))
    steady_s: float = param(4.0, "a held contraction's power is averaged over up to this long, s", (0.001, 600.0))
    track_s: float = param(0.4, "after a change the level follows the fast estimate this long, s", (0.0, 10.0))
    noise: float = param(0.1, "relative standard deviation of the fast power estimate", (0.001, 10.0))
    change: float = param(5.0, "a change is a departure of the fast estimate from the held mean by more than this "
                               "many standard deviations", (0.01, 100.0))
    band: float = param(1.5, "the published level holds while within this many standard deviations of the held mean",
                        (0.0, 100.0))
    deadband: float = param(0.05, "levels below this are 0", (0.0, 0.99))

    def __post_init__(self):
        object.__setattr__(self, "max_rms", given_per_channel(self.max_rms))
        if any(not (v > 0 and np.isfinite(v)) for v in self.max_rms):
            raise ConfigError(f"max_rms values must be finite and > 0, got {self.max_rms}")
        if not (self.smoothing_s > 0 and self.steady_s >= self.smoothing_s and self.track_s >= 0 and self.noise > 0
                and self.change > 0 and self.band >= 0 and 0 <= self.deadband < 1):
            raise ConfigError("need level smoothing_s > 0, steady_s >= smoothing_s, track_s >= 0, noise > 0, "
                              "change > 0, band >= 0, 0 <= deadband < 1")


class ContractionLevel:
    """The level of one stream, updated every ``dt`` s (a decision)."""

    def __init__(self, config: LevelConfig, dt: float):
        self.config, self.dt = config, dt
        self._fast_alpha = 1.0 - float(np.exp(-dt / config.smoothing_s))
        self._track = int(round(config.track_s / dt))
        self.max_rms = np.asarray(config.max_rms, dtype=np.float64) if config.max_rms else None
        self.reset()

    def reset(self) -> None:
        """Back to level 0 (after bad signal); the strongest contraction seen is kept."""
        self._fast: float | None = None  # fast estimate of the power fraction
        self._held = 0.0  # held mean of the power fraction
        self._held_s = 0.0  # seconds averaged into the held mean
        self._tracking = 0  # decisions left following a change
        self.level = 0.0

    def update(self, rms: np.ndarray, rest_rms: np.ndarray) -> float:
        """Next level from a window's per-channel RMS (n_channels,) and the rest level (n_channels,)."""
        c, dt = self.config, self.dt
        if not c.max_rms:
            self.max_rms = np.maximum(rms, 2.0 * rest_rms if self.max_rms is None else self.max_rms)
        span = float(np.maximum(self.max_rms**2 - rest_rms**2, 1e-24).sum())
        p = float(np.sum(rms**2 - rest_rms**2)) / span
        rest = float(np.sum(rest_rms**2)) / span  # the rest's power fraction: its noise counts too
        if self._fast is None:
            self._fast, self._held, self._held_s = p, p, 0.0
        else:
            self._fast += self._fast_alpha * (p - self._fast)
            if self._tracking or abs(self._fast - self._held) > c.change * c.noise * (max(self._held, 0.0) + rest):
                self._tracking = self._tracking - 1 if self._tracking else self._track
                self._held, self._held_s = self._fast, 0.0
            else:  # the running mean since the change (the fast estimate's own memory counted), at most steady_s
                self._held_s += dt
                self._held += dt / min(self._held_s + c.smoothing_s, c.steady_s) * (self._fast - self._held)
        level = float(np.sqrt(np.clip(self._held, 0.0, 1.0)))
        level = max(level - c.deadband, 0.0) / (1.0 - c.deadband)
        # noise of the held mean in level units: the fast estimate's over the independent stretches averaged
        held_sd = c.noise * (max(self._held, 0.0) + rest) * np.sqrt(
            c.smoothing_s / min(self._held_s + c.smoothing_s, c.steady_s))
        level_sd = held_sd / (2.0 * max(np.sqrt(max(self._held, 0.0)), 0.1) * (1.0 - c.deadband))
        if self._tracking or abs(level - self.level) > c.band * level_sd or level in (0.0, 1.0):
            self.level = level
        return self.level


def usual_hold_rms(holds) -> np.ndarray:
    """The user's usual hold: per channel, the median over ``holds`` of each hold's RMS.

    Args:
        holds: iterable of (..., n_channels) filtered samples of one held contraction each.

    Returns:
        (n_channels,) RMS in the signal's units: the ``max_rms`` at which proportional closing
        closes the hand fully (an ordinary grasp closes the hand; the strongest burst is rarer).

    Raises:
        ConfigError: no hold.
    """
    rms = [np.sqrt(np.mean(np.asarray(h, dtype=np.float64).reshape(-1, np.shape(h)[-1]) ** 2, axis=0)) for h in holds]
    if not rms:
        raise ConfigError("the usual hold needs at least one hold")
    return np.median(rms, axis=0)
