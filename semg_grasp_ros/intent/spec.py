"""What a model expects at its input, and the one function that turns trials into windows.

An ``InputSpec`` travels with every model (it is stored in its JSON): sample rate,
channel names, analysis window and the filter. Training (``trial_windows``) and the
online decoder (``emg.filters.StreamFilter`` + ``emg.windows.WindowBuffer`` built by
``stream_filter`` / ``window_buffer``) use the same filter and the same windows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..emg.filters import FilterConfig, StreamFilter, design_sos, filter_trials
from ..emg.windows import WindowBuffer, samples_for_ms, sliding_windows
from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class InputSpec:
    """The signal a model was trained on.

    Attributes:
        sample_rate: Hz.
        channel_names: channel order of the input.
        window_ms: analysis window, milliseconds.
        stride_ms: hop between training windows, milliseconds (the online decoder has its own).
        filter: the causal filter applied before windowing.
    """

    sample_rate: float = 500.0
    channel_names: tuple[str, ...] = ("ch1", "ch2")
    window_ms: float = 250.0
    stride_ms: float = 50.0
    filter: FilterConfig = field(default_factory=FilterConfig)

    def __post_init__(self):
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        if not self.channel_names:
            raise ConfigError("InputSpec needs at least one channel name")
        if not (self.sample_rate > 0 and self.window_ms > 0 and self.stride_ms > 0):
            raise ConfigError(
                f"sample_rate ({self.sample_rate} Hz), window_ms ({self.window_ms}) and stride_ms "
                f"({self.stride_ms}) must be > 0"
            )
        if isinstance(self.filter, dict):
            object.__setattr__(self, "filter", FilterConfig(**self.filter))
        design_sos(self.filter, self.sample_rate)  # fail now on cut-offs above Nyquist

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    @property
    def window(self) -> int:
        """Window length in samples."""
        return samples_for_ms(self.window_ms, self.sample_rate)

    @property
    def stride(self) -> int:
        """Training stride in samples."""
        return samples_for_ms(self.stride_ms, self.sample_rate)

    def sos(self) -> np.ndarray:
        return design_sos(self.filter, self.sample_rate)

    def stream_filter(self) -> StreamFilter:
        return StreamFilter(self.sos(), self.n_channels)

    def window_buffer(self, stride: int | None = None) -> WindowBuffer:
        return WindowBuffer(self.window, self.stride if stride is None else stride, self.n_channels)

    def check_trials(self, sample_rate: float, channel_names) -> None:
        """Raise ``DataError`` when data at ``sample_rate`` with ``channel_names`` does not fit."""
        if abs(float(sample_rate) - self.sample_rate) > 1e-6 * self.sample_rate:
            raise DataError(f"data sampled at {sample_rate} Hz; the model expects {self.sample_rate} Hz")
        if len(tuple(channel_names)) != self.n_channels:
            raise DataError(
                f"data has {len(tuple(channel_names))} channels {tuple(channel_names)}; the model expects "
                f"{self.n_channels} {self.channel_names}"
            )

    def to_dict(self) -> dict:
        return {
            "sample_rate": self.sample_rate,
            "channel_names": list(self.channel_names),
            "window_ms": self.window_ms,
            "stride_ms": self.stride_ms,
            "filter": self.filter.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "InputSpec":
        try:
            return cls(
                sample_rate=float(d["sample_rate"]),
                channel_names=tuple(d["channel_names"]),
                window_ms=float(d["window_ms"]),
                stride_ms=float(d["stride_ms"]),
                filter=FilterConfig(**d["filter"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"input spec {d!r} is incomplete or malformed: {exc}") from exc


def filter_and_window(trials: np.ndarray, spec: InputSpec, stride: int | None = None) -> np.ndarray:
    """Filter trials causally and cut them into windows.

    Args:
        trials: (n_trials, n_samples, n_channels) raw signal (e.g. volts with DC offset).
        spec: filter and window.
        stride: hop in samples (default ``spec.stride``).

    Returns:
        (n_trials, n_windows, window, n_channels) float64 filtered windows (a copy).
    """
    trials = np.asarray(trials)
    if trials.ndim != 3 or trials.shape[2] != spec.n_channels:
        raise DataError(f"trials must be (n, samples, {spec.n_channels}), got {trials.shape}")
    filtered = filter_trials(trials, spec.sos())
    return np.ascontiguousarray(sliding_windows(filtered, spec.window, spec.stride if stride is None else stride))
