"""Proportional closing: how far the hand closes the grasp it executes, from the contraction level.

A grasp's close motion runs pregrasp -> grasp -> squeeze (``hand.trajectory``). With proportional
closing the contraction level of the intents (``GraspIntent.level``, 0-1) picks the posture on
it: level 0 = the pregrasp (the hand stays pre-shaped), ``grasp_level`` = the grasp, 1 = the
squeeze (a grasp without a squeeze posture holds the grasp above ``grasp_level``). The closure
follows the level at most ``rate`` (of the pregrasp -> grasp motion per second), so a sudden
contraction closes the hand smoothly; the controller's joint velocity limits apply on top.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def closure_of_level(level: float, grasp_level: float) -> float:
    """Closure along the close motion for a level in [0, 1]: 0 = pregrasp, 1 = grasp, up to 2 =
    squeeze (reached at level 1)."""
    level = float(np.clip(level, 0.0, 1.0))
    if level <= grasp_level:
        return level / grasp_level
    return 1.0 + (level - grasp_level) / (1.0 - grasp_level) if grasp_level < 1.0 else 1.0


def closure_posture(q_pregrasp: np.ndarray, q_grasp: np.ndarray, q_squeeze: np.ndarray, closure: float) -> np.ndarray:
    """(22,) joints at ``closure`` (0 = pregrasp, 1 = grasp, 2 = squeeze; linear between)."""
    c = float(np.clip(closure, 0.0, 2.0))
    if c <= 1.0:
        return q_pregrasp + c * (q_grasp - q_pregrasp)
    return q_grasp + (c - 1.0) * (q_squeeze - q_grasp)


class ProportionalClosure:
    """The closure state of one grasp: ``step(level, dt)`` moves it towards the level's closure at
    most ``rate`` per second and returns it.

    Args:
        grasp_level: level (0, 1] at which the grasp posture is reached.
        rate: closure units (pregrasp -> grasp) per second, > 0.
    """

    def __init__(self, grasp_level: float, rate: float):
        if not 0.0 < grasp_level <= 1.0 or not rate > 0:
            raise ConfigError(f"need 0 < grasp_level <= 1 and rate > 0, got {grasp_level}, {rate}")
        self.grasp_level, self.rate = grasp_level, rate
        self.closure = 0.0

    def step(self, level: float, dt: float) -> float:
        goal = closure_of_level(level, self.grasp_level)
        limit = self.rate * max(dt, 0.0)
        self.closure += float(np.clip(goal - self.closure, -limit, limit))
        return self.closure
