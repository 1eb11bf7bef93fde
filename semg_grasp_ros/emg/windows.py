"""Sliding analysis windows, offline (whole trials) and online (a streaming buffer).

One convention everywhere: a window of ``n`` samples with stride ``s`` over a signal of
``N`` samples starts at ``0, s, 2s, ...`` and the last one ends at or before sample
``N - 1``; ``WindowBuffer`` cuts exactly the same windows out of a stream, however it is
chunked (a window ends at stream index ``n - 1 + k * s``).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError

#: The active part of a trial (see ``active_mask``): windows whose envelope reaches this
#: fraction of the trial's reference envelope ...
ACTIVE_FRACTION = 0.3
#: ... where the reference is this percentile of the trial's window envelopes.
ACTIVE_PERCENTILE = 90.0


def samples_for_ms(duration_ms: float, sample_rate: float) -> int:
    """Number of samples in ``duration_ms`` milliseconds at ``sample_rate`` Hz (rounded, >= 1).

    Raises:
        ConfigError: non-positive duration or rate.
    """
    if not duration_ms > 0 or not sample_rate > 0:
        raise ConfigError(f"duration ({duration_ms} ms) and sample rate ({sample_rate} Hz) must be > 0")
    return max(1, int(round(duration_ms * sample_rate / 1000.0)))


def n_windows(n_samples: int, window: int, stride: int) -> int:
    """How many full windows fit in ``n_samples`` (0 when the signal is shorter than one)."""
    if window < 1 or stride < 1:
        raise ConfigError(f"window ({window}) and stride ({stride}) must be >= 1 sample")
    return 0 if n_samples < window else (n_samples - window) // stride + 1


def sliding_windows(x: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Windows along the sample axis (second to last) of ``x``.

    Args:
        x: (..., n_samples, n_channels).
        window, stride: samples.

    Returns:
        Read-only view (..., n_windows, window, n_channels); window ``k`` covers samples
        ``k * stride`` to ``k * stride + window - 1``.

    Raises:
        DataError: ``x`` has fewer than two dimensions or is shorter than one window.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"sliding_windows expects (..., samples, channels), got shape {x.shape}")
    count = n_windows(x.shape[-2], window, stride)
    if count == 0:
        raise DataError(f"signal of {x.shape[-2]} samples is shorter than one window of {window}")
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=-2)  # (..., N-w+1, ch, w)
    view = view[..., ::stride, :, :][..., :count, :, :]
    return np.swapaxes(view, -1, -2)


def window_ends(n_samples: int, window: int, stride: int) -> np.ndarray:
    """(n_windows,) int64 index of the last sample of each window of ``sliding_windows``."""
    return np.arange(n_windows(n_samples, window, stride), dtype=np.int64) * stride + window - 1


def window_envelope(windows: np.ndarray) -> np.ndarray:
    """Envelope of each window: RMS per channel, geometric mean over channels.

    Args:
        windows: (..., window, n_channels), zero-mean (filtered) signal.

    Returns:
        (...) float64, in the signal's unit.
    """
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=-2))
    return np.exp(np.mean(np.log(np.maximum(rms, 1e-30)), axis=-1))


def active_mask(
    windows: np.ndarray, fraction: float = ACTIVE_FRACTION, percentile: float = ACTIVE_PERCENTILE
) -> np.ndarray:
    """Which windows of each trial belong to its active (contraction) part.

    A window is active when its envelope (``window_envelope``) is at least ``fraction``
    of the trial's reference envelope, the ``percentile``-th percentile of the envelopes
    of all windows of that trial. The relative threshold adapts to each trial's effort,
    so weak grasps keep their contraction windows while the quiet lead-in before the
    movement onset is dropped.

    Args:
        windows: (n_trials, n_windows, window, n_channels) filtered signal.

    Returns:
        (n_trials, n_windows) bool.
    """
    if windows.ndim != 4:
        raise DataError(f"active_mask expects (trials, windows, samples, channels), got {windows.shape}")
    env = window_envelope(windows)
    ref = np.percentile(env, percentile, axis=1, keepdims=True)
    return env >= fraction * ref


class WindowBuffer:
    """Cuts the windows of ``sliding_windows`` out of a stream of sample blocks.

    ``push(block)`` returns the windows completed by that block, with the running index
    of each window's last sample. The buffer keeps only the last ``window - 1`` samples.
    Window ends fall on ``first_end + k * stride`` (``first_end`` >= ``window - 1``, set by
    ``reset``; ``window - 1`` by default, as in ``sliding_windows``).
    """

    def __init__(self, window: int, stride: int, n_channels: int):
        if window < 1 or stride < 1 or n_channels < 1:
            raise ConfigError(f"window ({window}), stride ({stride}) and channels ({n_channels}) must be >= 1")
        self.window, self.stride, self.n_channels = int(window), int(stride), int(n_channels)
        self.reset()

    def reset(self, first_end: int | None = None) -> None:
        """Empty the buffer; the next sample counts as the first of a new stream (index 0).

        Args:
            first_end: index of the first window's last sample (>= ``window - 1``); later
                windows end ``stride`` samples apart. None: ``window - 1``.
        """
        first_end = self.window - 1 if first_end is None else int(first_end)
        if first_end < self.window - 1:
            raise ConfigError(f"first window end {first_end} precedes a full window ({self.window} samples)")
        self._first_end = first_end
        self._buf = np.zeros((0, self.n_channels), dtype=np.float64)
        self._seen = 0  # samples pushed since the last reset

    @property
    def samples_seen(self) -> int:
        return self._seen

    def push(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append (n_samples, n_channels) samples.

        Returns:
            windows: (k, window, n_channels) float64, the windows completed by this block.
            ends: (k,) int64 index (since the last reset) of each window's last sample.
        """
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise DataError(f"WindowBuffer expects (samples, {self.n_channels}) blocks, got {block.shape}")
        start = self._seen - self._buf.shape[0]  # stream index of self._buf[0]
        buf = np.concatenate([self._buf, block])
        self._seen += block.shape[0]
        # Window ends e satisfy e = first_end + k * stride and fall in this block.
        lowest = max(self._seen - block.shape[0], self._first_end)
        k0 = -(-(lowest - self._first_end) // self.stride)
        ends = np.arange(self._first_end + k0 * self.stride, self._seen, self.stride, dtype=np.int64)
        if ends.size:
            offsets = ends - (self.window - 1) - start
            idx = offsets[:, None] + np.arange(self.window)[None, :]
            wins = buf[idx]
        else:
            wins = np.zeros((0, self.window, self.n_channels))
        keep = min(self.window - 1, buf.shape[0])
        self._buf = buf[buf.shape[0] - keep :] if keep else buf[:0]
        return wins, ends
