"""Why a raw sEMG window cannot be classified: a flat (disconnected), saturated or clipped channel."""

from __future__ import annotations

import numpy as np


def longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return 0
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.r_[0, breaks + 1]
    stops = np.r_[breaks, idx.size - 1]
    return int(np.max(stops - starts + 1))


def signal_problem(raw: np.ndarray, names, flat_std: float, saturation_level: float | None,
                   clip_samples: int) -> str | None:
    """Why a raw window (window, n_channels) with channel ``names`` cannot be classified, or None.

    A channel is flat when its standard deviation is below ``flat_std``, saturated when it reaches
    ``saturation_level`` (None: not checked), clipped when ``clip_samples`` consecutive samples sit
    at its extreme value (0: not checked).
    """
    hi, lo = raw.max(axis=0), raw.min(axis=0)
    if np.any(hi - lo < flat_std):  # cheap screen: a flat channel has no range either
        std = raw.std(axis=0)
        for c in np.flatnonzero(std < flat_std):
            return f"flat channel {names[c]}"
    if saturation_level is not None:
        for c in np.flatnonzero(np.maximum(hi, -lo) >= saturation_level):
            return f"saturated channel {names[c]} (|x| >= {saturation_level})"
    k = clip_samples
    if k:
        tol = 1e-6 * (hi - lo)
        for rail in (raw >= hi - tol, raw <= lo + tol):
            for c in np.flatnonzero(np.count_nonzero(rail, axis=0) >= k):  # screen before run lengths
                run = longest_run(rail[:, c])
                if run >= k:
                    return f"clipped channel {names[c]} ({run} consecutive samples at the rail)"
    return None
