"""Window features (time-domain, autoregressive, spectral) and STFT spectrograms.

Every feature function takes windows ``(..., n_samples, n_channels)`` of filtered,
zero-mean signal and returns ``(..., k)`` values; the names of the columns come from
``feature_names``. Windows are vectorised over any leading axes (trials, windows).

Definitions follow the myoelectric literature: Hudgins et al. 1993 (MAV, WL, ZC, SSC),
Phinyomark et al. 2012 (RMS, log features, mean/median frequency), Hjorth 1970
(mobility, complexity), autoregressive coefficients by least squares (Graupe & Cline
1975 used order 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import ConfigError, DataError

_EPS = 1e-12


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute and their parameters.

    Attributes:
        names: feature groups, in column order (keys of ``FEATURES``).
        zc_threshold: amplitude a zero crossing / slope sign change must exceed, in the
            signal's unit (0 counts every crossing; Hudgins used a noise threshold).
        ar_order: number of autoregressive coefficients per channel.
        band_edges_hz: edges of the spectral bands for ``log_band_power``/``rel_band_power``.
        segments: >1 also computes every group on that many equal consecutive
            sub-windows (multi-scale: the temporal course inside the window).
    """

    names: tuple[str, ...] = ("mav", "wl", "zc", "ssc")
    zc_threshold: float = 0.0
    ar_order: int = 4
    band_edges_hz: tuple[float, ...] = (15.0, 30.0, 50.0, 75.0, 100.0, 150.0, 250.0)
    segments: int = 1

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "band_edges_hz", tuple(float(e) for e in self.band_edges_hz))
        unknown = [n for n in self.names if n not in FEATURES]
        if unknown or not self.names:
            raise ConfigError(f"unknown or no feature names {unknown or list(self.names)}; choose from {sorted(FEATURES)}")
        if self.ar_order < 1 or self.segments < 1 or self.zc_threshold < 0:
            raise ConfigError(
                f"ar_order ({self.ar_order}) and segments ({self.segments}) must be >= 1, zc_threshold >= 0"
            )
        edges = np.asarray(self.band_edges_hz)
        if edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
            raise ConfigError(f"band_edges_hz must be >= 2 increasing non-negative values, got {self.band_edges_hz}")

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "zc_threshold": self.zc_threshold,
            "ar_order": self.ar_order,
            "band_edges_hz": list(self.band_edges_hz),
            "segments": self.segments,
        }


# --- time-domain features, each (..., n, ch) -> (..., ch) -------------------------------


def mav(w: np.ndarray) -> np.ndarray:
    """Mean absolute value."""
    return np.mean(np.abs(w), axis=-2)


def rms(w: np.ndarray) -> np.ndarray:
    """Root mean square."""
    return np.sqrt(np.mean(np.square(w), axis=-2))


def waveform_length(w: np.ndarray) -> np.ndarray:
    """Waveform length: sum of absolute sample-to-sample differences."""
    return np.sum(np.abs(np.diff(w, axis=-2)), axis=-2)


def zero_crossings(w: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Zero crossings: sign changes between consecutive samples whose step is at least ``threshold``."""
    a, b = w[..., :-1, :], w[..., 1:, :]
    crossing = a * b < 0
    if threshold > 0:
        crossing &= np.abs(a - b) >= threshold
    return np.count_nonzero(crossing, axis=-2).astype(np.float64)


def slope_sign_changes(w: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Slope sign changes: samples where the slope changes sign, with
    ``(x[i] - x[i-1]) * (x[i] - x[i+1]) > threshold`` (Hudgins' form)."""
    d = np.diff(w, axis=-2)
    return _ssc(d, threshold)


def _ssc(d: np.ndarray, threshold: float) -> np.ndarray:
    return np.count_nonzero(d[..., :-1, :] * d[..., 1:, :] < -threshold, axis=-2).astype(np.float64)


def hjorth(w: np.ndarray) -> np.ndarray:
    """Hjorth mobility and complexity per channel: (..., 2 * ch), mobilities first."""
    d1 = np.diff(w, axis=-2)
    return _hjorth(w, d1, np.diff(d1, axis=-2))


def _power(v: np.ndarray) -> np.ndarray:
    """Mean square along the sample axis: (..., n, ch) -> (..., ch)."""
    return np.einsum("...ij,...ij->...j", v, v) / v.shape[-2]


def _hjorth(w, d1, d2):
    v0, v1, v2 = _power(w), _power(d1), _power(d2)
    mobility = np.sqrt(v1 / (v0 + _EPS))
    complexity = np.sqrt(v2 / (v1 + _EPS)) / (mobility + _EPS)
    return np.concatenate([mobility, complexity], axis=-1)


def ar_coefficients(w: np.ndarray, order: int = 4) -> np.ndarray:
    """Autoregressive coefficients by least squares, ``x[t] = sum_k a_k x[t-k] + e[t]``.

    Returns:
        (..., ch * order), channel-major (``a_1..a_p`` of channel 0, then channel 1 ...).
    """
    n = w.shape[-2]
    if n <= 2 * order:
        raise DataError(f"AR order {order} needs windows longer than {2 * order} samples, got {n}")
    x = np.swapaxes(w, -1, -2)  # (..., ch, n)
    # Rows [x[t], x[t-1], ..., x[t-p]] for t = p .. n-1; one product gives the normal
    # equations: gram = sum lags lags', rhs = sum lags x[t].
    rows = np.lib.stride_tricks.as_strided(  # (..., ch, n-p, p+1) read-only view; faster than sliding_window_view
        x, x.shape[:-1] + (n - order, order + 1), x.strides + x.strides[-1:], writeable=False
    )[..., ::-1]
    m = np.swapaxes(rows, -1, -2) @ rows  # (..., ch, p+1, p+1)
    gram, rhs = m[..., 1:, 1:], m[..., 1:, :1]
    # A tiny ridge keeps flat windows solvable; relative to the signal power, so unitless.
    ridge = 1e-9 * (np.trace(gram, axis1=-2, axis2=-1)[..., None, None] / order) + 1e-300
    coef = np.linalg.solve(gram + ridge * np.eye(order), rhs)[..., 0]
    return coef.reshape(*coef.shape[:-2], -1)


# --- spectral features -----------------------------------------------------------------


@lru_cache(maxsize=32)
def _taper_and_freqs(n: int, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Hann taper (n, 1) and the rfft bin frequencies (n // 2 + 1,) in Hz."""
    return np.hanning(n)[:, None], np.fft.rfftfreq(n, 1.0 / sample_rate)


@lru_cache(maxsize=32)
def _band_matrix(n: int, sample_rate: float, edges: tuple[float, ...]) -> np.ndarray:
    """(n_bands, n_freq) 0/1 membership of each rfft bin in ``[edges[i], edges[i+1])`` (last closed)."""
    freqs = _taper_and_freqs(n, sample_rate)[1]
    member = np.zeros((len(edges) - 1, freqs.size))
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        member[i] = (freqs >= lo) & ((freqs < hi) if i < len(edges) - 2 else (freqs <= hi))
    return member


def power_spectrum(w: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed periodogram ``|rfft(w * hann)|^2``: frequencies (n_freq,) Hz and
    power (..., n_freq, ch)."""
    taper, freqs = _taper_and_freqs(w.shape[-2], float(sample_rate))
    return freqs, np.abs(np.fft.rfft(w * taper, axis=-2)) ** 2


def band_powers(w: np.ndarray, sample_rate: float, edges_hz) -> np.ndarray:
    """Periodogram power in bands ``[edges[i], edges[i+1])`` (last band closed): (..., n_bands, ch)."""
    _, spec = power_spectrum(w, sample_rate)
    return _band_matrix(w.shape[-2], float(sample_rate), tuple(edges_hz)) @ spec


def mean_median_frequency(w: np.ndarray, sample_rate: float) -> np.ndarray:
    """Mean and median frequency (Hz) of the periodogram: (..., 2 * ch), means first."""
    freqs, spec = power_spectrum(w, sample_rate)
    return _mnf_mdf(freqs, spec)


def _mnf_mdf(freqs, spec):
    cum = np.cumsum(spec, axis=-2)
    total = cum[..., -1:, :]
    mean_f = (freqs @ spec)[..., None, :] / (total + _EPS)
    median_idx = np.sum(cum < 0.5 * total, axis=-2)  # first bin reaching half the power
    return np.concatenate([mean_f[..., 0, :], freqs[median_idx]], axis=-1)


# --- feature groups ----------------------------------------------------------------------


class _Window:
    """Windows plus lazily computed intermediates shared by several feature groups."""

    def __init__(self, w: np.ndarray, sample_rate: float, config: FeatureConfig):
        self.w, self.fs, self.cfg = w, float(sample_rate), config
        self._cache: dict[str, np.ndarray] = {}

    def get(self, key: str, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def n(self) -> int:
        return self.w.shape[-2]

    @property
    def d1(self):
        return self.get("d1", lambda: np.diff(self.w, axis=-2))

    @property
    def d2(self):
        return self.get("d2", lambda: np.diff(self.d1, axis=-2))

    @property
    def rms(self):
        return self.get("rms", lambda: np.sqrt(_power(self.w)))

    @property
    def mav(self):
        return self.get("mav", lambda: mav(self.w))

    @property
    def wl(self):
        return self.get("wl", lambda: np.sum(np.abs(self.d1), axis=-2))

    @property
    def zc(self):
        return self.get("zc", lambda: zero_crossings(self.w, self.cfg.zc_threshold))

    @property
    def ssc(self):
        return self.get("ssc", lambda: _ssc(self.d1, self.cfg.zc_threshold))

    @property
    def spectrum(self):
        return self.get("spec", lambda: power_spectrum(self.w, self.fs)[1])

    @property
    def bands(self):
        return self.get("bands", lambda: _band_matrix(self.n, self.fs, self.cfg.band_edges_hz) @ self.spectrum)


@lru_cache(maxsize=8)
def _pairs(n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel index pairs (i < j), in row-major order."""
    return np.triu_indices(n_channels, 1)


def _corr(x: _Window) -> np.ndarray:
    i, j = _pairs(x.w.shape[-1])
    cov = np.swapaxes(x.w, -1, -2) @ x.w / x.n  # zero-mean signal: second moments (..., ch, ch)
    r = x.rms
    return cov[..., i, j] / (r[..., i] * r[..., j] + _EPS)


def _log_ratio(x: _Window) -> np.ndarray:
    i, j = _pairs(x.w.shape[-1])
    lr = np.log(x.rms + _EPS)
    return lr[..., i] - lr[..., j]


def _flatten_bands(b: np.ndarray) -> np.ndarray:
    return b.reshape(*b.shape[:-2], -1)  # band-major: (band 0: ch0, ch1, ...), (band 1: ...)


def _per_channel(label: str):
    return lambda ch, cfg: [f"{label}_{c}" for c in ch]


def _pair_names(label: str):
    return lambda ch, cfg: [f"{label}_{a}_{b}" for i, a in enumerate(ch) for b in ch[i + 1 :]]


def _band_names(label: str):
    def names(ch, cfg):
        e = cfg.band_edges_hz
        return [f"{label}_{e[i]:g}-{e[i + 1]:g}Hz_{c}" for i in range(len(e) - 1) for c in ch]

    return names


GroupFn = Callable[[_Window], np.ndarray]
#: Feature groups: name -> (values of a ``_Window`` (..., k), column names(channels, config)).
#: Counts are per window; rates per sample pair; ``log_*`` natural logs of the unit's values.
FEATURES: dict[str, tuple[GroupFn, Callable]] = {
    "mav": (lambda x: x.mav, _per_channel("mav")),
    "rms": (lambda x: x.rms, _per_channel("rms")),
    "wl": (lambda x: x.wl, _per_channel("wl")),
    "zc": (lambda x: x.zc, _per_channel("zc")),
    "ssc": (lambda x: x.ssc, _per_channel("ssc")),
    "log_mav": (lambda x: np.log(x.mav + _EPS), _per_channel("log_mav")),
    "log_rms": (lambda x: np.log(x.rms + _EPS), _per_channel("log_rms")),
    "log_wl": (lambda x: np.log(x.wl / (x.n - 1) + _EPS), _per_channel("log_wl")),
    "zc_rate": (lambda x: x.zc / (x.n - 1), _per_channel("zc_rate")),
    "ssc_rate": (lambda x: x.ssc / (x.n - 2), _per_channel("ssc_rate")),
    "hjorth": (
        lambda x: _hjorth(x.w, x.d1, x.d2),
        lambda ch, cfg: [f"mobility_{c}" for c in ch] + [f"complexity_{c}" for c in ch],
    ),
    "ar": (
        lambda x: ar_coefficients(x.w, x.cfg.ar_order),
        lambda ch, cfg: [f"ar{k + 1}_{c}" for c in ch for k in range(cfg.ar_order)],
    ),
    "rel_band_power": (
        lambda x: _flatten_bands(np.log(x.bands / (x.bands.sum(axis=-2, keepdims=True) + _EPS) + 1e-6)),
        _band_names("log_rel_power"),
    ),
    "log_band_power": (lambda x: _flatten_bands(np.log(x.bands / x.n + _EPS)), _band_names("log_power")),
    "mnf_mdf": (
        # In hundreds of Hz so all groups have comparable magnitudes.
        lambda x: _mnf_mdf(_taper_and_freqs(x.n, x.fs)[1], x.spectrum) / 100.0,
        lambda ch, cfg: [f"mnf_{c}" for c in ch] + [f"mdf_{c}" for c in ch],
    ),
    "corr": (_corr, _pair_names("corr")),
    "log_rms_ratio": (_log_ratio, _pair_names("log_rms_ratio")),
}

#: Hudgins' classic time-domain set.
TD_FEATURES = FeatureConfig(names=("mav", "wl", "zc", "ssc"))
#: Log time-domain, Hjorth, AR(4), relative band powers, spectral moments and the
#: inter-channel relation.
RICH_FEATURES = FeatureConfig(
    names=(
        "log_mav", "log_rms", "log_wl", "zc_rate", "ssc_rate", "hjorth", "rel_band_power",
        "mnf_mdf", "ar", "corr", "log_rms_ratio",
    ),
)


def _group_values(w: np.ndarray, sample_rate: float, config: FeatureConfig) -> np.ndarray:
    x = _Window(w, sample_rate, config)
    return np.concatenate([FEATURES[n][0](x) for n in config.names], axis=-1)


def extract_features(windows: np.ndarray, sample_rate: float, config: FeatureConfig = TD_FEATURES) -> np.ndarray:
    """Feature vector of every window.

    Args:
        windows: (..., n_samples, n_channels) filtered signal.
        sample_rate: Hz.
        config: which features.

    Returns:
        (..., n_features) float64, columns named by ``feature_names``.
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim < 2 or w.shape[-2] < 3 * config.segments:
        raise DataError(f"windows must be (..., samples >= {3 * config.segments}, channels), got {w.shape}")
    parts = [_group_values(w, sample_rate, config)]
    if config.segments > 1:
        bounds = np.linspace(0, w.shape[-2], config.segments + 1).round().astype(int)
        parts += [_group_values(w[..., a:b, :], sample_rate, config) for a, b in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(parts, axis=-1)


def feature_names(channel_names, config: FeatureConfig = TD_FEATURES) -> list[str]:
    """Column names of ``extract_features`` for these channels."""
    ch = list(channel_names)
    base = [name for n in config.names for name in FEATURES[n][1](ch, config)]
    names = list(base)
    for s in range(config.segments if config.segments > 1 else 0):
        names += [f"{n}@seg{s + 1}of{config.segments}" for n in base]
    return names


# --- spectrograms ----------------------------------------------------------------------


@dataclass(frozen=True)
class SpectrogramConfig:
    """STFT parameters (the paper: 256-sample Hann windows, 50 % overlap).

    Attributes:
        nperseg: samples per STFT segment.
        overlap: fraction of ``nperseg`` shared by consecutive segments, in [0, 1).
        log: natural log of the power spectral density (floored at ``floor``).
        floor: smallest PSD kept before the log, in unit**2 / Hz.
    """

    nperseg: int = 256
    overlap: float = 0.5
    log: bool = True
    floor: float = field(default=1e-10)

    def __post_init__(self):
        if self.nperseg < 2 or not 0 <= self.overlap < 1 or not self.floor > 0:
            raise ConfigError(
                f"spectrogram needs nperseg >= 2, 0 <= overlap < 1, floor > 0; got {self.nperseg}, "
                f"{self.overlap}, {self.floor}"
            )

    @property
    def hop(self) -> int:
        return max(1, self.nperseg - int(round(self.overlap * self.nperseg)))

    def to_dict(self) -> dict:
        return {"nperseg": self.nperseg, "overlap": self.overlap, "log": self.log, "floor": self.floor}


def spectrogram(x, sample_rate: float, config: SpectrogramConfig = SpectrogramConfig()):
    """One-sided STFT power spectral density, as a tensor image per channel.

    Same values as ``scipy.signal.spectrogram(x, fs, window="hann", nperseg, noverlap,
    detrend=False, scaling="density", mode="psd")`` (periodic Hann, no padding).

    Args:
        x: (..., n_samples, n_channels) array or tensor, n_samples >= nperseg.
        sample_rate: Hz.

    Returns:
        torch.float32 tensor (..., n_channels, nperseg // 2 + 1, n_frames): frequency
        rows (0 .. sample_rate / 2), time columns; log PSD when ``config.log``.
    """
    import torch

    t = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x).float()
    if t.ndim < 2 or t.shape[-2] < config.nperseg:
        raise DataError(f"spectrogram needs (..., samples >= {config.nperseg}, channels), got {tuple(t.shape)}")
    seq = t.transpose(-1, -2)  # (..., ch, n)
    frames = seq.unfold(-1, config.nperseg, config.hop)  # (..., ch, n_frames, nperseg)
    window = torch.hann_window(config.nperseg, periodic=True, dtype=torch.float32)
    spec = torch.fft.rfft(frames * window, dim=-1).abs().square()
    spec = spec / (sample_rate * window.square().sum())
    # One-sided density: double every bin but DC (and Nyquist when nperseg is even).
    last = spec.shape[-1] - (1 if config.nperseg % 2 == 0 else 0)
    spec[..., 1:last] *= 2.0
    spec = spec.transpose(-1, -2)  # (..., ch, freq, frames)
    return torch.log(spec.clamp_min(config.floor)) if config.log else spec
