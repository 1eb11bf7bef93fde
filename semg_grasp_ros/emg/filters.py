"""Causal band-pass / notch filtering shared by offline training and the online decoder.

Both paths run the *same* causal IIR filter (second-order sections): offline on whole
trials (``filter_trials``), online sample block by sample block (``StreamFilter``), so a
classifier trained offline sees exactly the signal it sees live. Zero-phase filtering
(``filtfilt``) would look at the future and cannot run online.

The filter state starts in steady state for the first sample (``sosfilt_zi`` scaled by
that sample): recordings carry a DC offset (Sapsanis: about +0.14 V) that would
otherwise ring through the high-pass as a large start-up transient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from ..errors import ConfigError, DataError


@dataclass(frozen=True)
class FilterConfig:
    """A Butterworth band-pass (or high-pass) followed by an optional notch.

    Attributes:
        highpass_hz: lower cut-off, Hz (removes DC offset and motion artefact).
        lowpass_hz: upper cut-off, Hz; ``None`` or a value at/above Nyquist means no
            low-pass (e.g. Sapsanis' 15-500 Hz band at 500 Hz sampling).
        order: Butterworth order of each of the high- and low-pass parts.
        notch_hz: mains frequency to notch, Hz; ``None`` disables the notch.
        notch_q: quality factor of the notch (bandwidth = notch_hz / notch_q).
    """

    highpass_hz: float = 15.0
    lowpass_hz: float | None = None
    order: int = 4
    notch_hz: float | None = 50.0
    notch_q: float = 30.0

    def __post_init__(self):
        if not self.highpass_hz > 0:
            raise ConfigError(f"highpass_hz must be > 0 Hz, got {self.highpass_hz}")
        if self.lowpass_hz is not None and not self.lowpass_hz > self.highpass_hz:
            raise ConfigError(f"lowpass_hz ({self.lowpass_hz}) must exceed highpass_hz ({self.highpass_hz})")
        if not 1 <= int(self.order) <= 10 or int(self.order) != self.order:
            raise ConfigError(f"order must be an integer in 1..10, got {self.order}")
        if self.notch_hz is not None and not (self.notch_hz > 0 and self.notch_q > 0):
            raise ConfigError(f"notch_hz and notch_q must be > 0, got {self.notch_hz}, {self.notch_q}")

    def to_dict(self) -> dict:
        return {
            "highpass_hz": self.highpass_hz,
            "lowpass_hz": self.lowpass_hz,
            "order": self.order,
            "notch_hz": self.notch_hz,
            "notch_q": self.notch_q,
        }


def design_sos(config: FilterConfig, sample_rate: float) -> np.ndarray:
    """Second-order sections of the filter at ``sample_rate`` Hz.

    Returns:
        (n_sections, 6) float64, for ``scipy.signal.sosfilt``.

    Raises:
        ConfigError: a cut-off or the notch at or above Nyquist (``sample_rate / 2``).
    """
    if not sample_rate > 0:
        raise ConfigError(f"sample_rate must be > 0 Hz, got {sample_rate}")
    nyquist = sample_rate / 2.0
    if config.highpass_hz >= nyquist:
        raise ConfigError(f"highpass_hz {config.highpass_hz} must be below Nyquist ({nyquist} Hz)")
    if config.lowpass_hz is not None and config.lowpass_hz < nyquist:
        sos = signal.butter(
            config.order, [config.highpass_hz, config.lowpass_hz], btype="bandpass", fs=sample_rate, output="sos"
        )
    else:
        sos = signal.butter(config.order, config.highpass_hz, btype="highpass", fs=sample_rate, output="sos")
    if config.notch_hz is not None:
        if config.notch_hz >= nyquist:
            raise ConfigError(f"notch_hz {config.notch_hz} must be below Nyquist ({nyquist} Hz)")
        b, a = signal.iirnotch(config.notch_hz, config.notch_q, fs=sample_rate)
        sos = np.vstack([sos, signal.tf2sos(b, a)])
    return np.ascontiguousarray(sos, dtype=np.float64)


def filter_trials(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    """Causally filter each trial along time, starting in steady state for its first sample.

    Args:
        x: (n_trials, n_samples, n_channels) or (n_samples, n_channels), any float.
        sos: (n_sections, 6) from ``design_sos``.

    Returns:
        float64 array of the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 3) or x.shape[-2] == 0:
        raise DataError(f"filter_trials expects (trials, samples, channels) or (samples, channels), got {x.shape}")
    squeeze = x.ndim == 2
    x3 = x[None] if squeeze else x
    zi0 = signal.sosfilt_zi(sos)  # (n_sections, 2), unit-step steady state
    zi = zi0[:, None, :, None] * x3[None, :, :1, :]  # (n_sections, trials, 2, channels)
    y, _ = signal.sosfilt(sos, x3, axis=1, zi=zi)
    return y[0] if squeeze else y


class StreamFilter:
    """The same filter as ``filter_trials``, applied block by block with carried state.

    Feeding a signal in any chunking gives the same output as ``filter_trials`` on the
    whole signal (up to float rounding).
    """

    def __init__(self, sos: np.ndarray, n_channels: int):
        self.sos = np.asarray(sos, dtype=np.float64)
        self.n_channels = int(n_channels)
        self._zi0 = signal.sosfilt_zi(self.sos)
        self._zi: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the state; the next block starts in steady state for its first sample."""
        self._zi = None

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter (n_samples, n_channels) samples; returns float64 of the same shape."""
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise DataError(f"StreamFilter expects (samples, {self.n_channels}) blocks, got {block.shape}")
        if block.shape[0] == 0:
            return block.copy()
        if self._zi is None:
            self._zi = self._zi0[:, :, None] * block[None, :1, :]  # (n_sections, 2, channels)
        y, self._zi = signal.sosfilt(self.sos, block, axis=0, zi=self._zi)
        return y
