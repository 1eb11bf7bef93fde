"""Statistics of a labelled recording and the fit of a ``SimulatorModel`` to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ..datasets import active_bounds, list_sapsanis_subjects, load_sapsanis, moving_rms
from ..recordings import TrialSet
from .model import PSD_NPERSEG, SimulatorModel, _unit_area
from .render import EmgSimulator, SimulatorConfig, _hum, _ramp

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ClassStatistics:
    """Per-class, per-channel statistics of the active parts of a ``TrialSet``.

    Attributes:
        class_names: (C,).
        rms: (C, K) RMS of the DC-removed active parts (all trials of a class pooled).
        median_hz: (C, K) median frequency of their power spectrum (Welch, 256-sample Hann).
        trial_log_rms_sd: (C, K) spread across trials of the log RMS of each trial's active part.
        dc: (K,) mean of each channel over all samples.
        correlation: (C, K, K) zero-lag correlation between channels of a trial's active part
            after a 15 Hz high-pass and mains notches (the muscles' cross-talk, not the
            motion artefacts or the hum), mean over the class's trials.
    """

    class_names: tuple[str, ...]
    rms: np.ndarray
    median_hz: np.ndarray
    trial_log_rms_sd: np.ndarray
    dc: np.ndarray
    correlation: np.ndarray

    def to_dict(self) -> dict:
        return {
            "class_names": list(self.class_names),
            "rms": self.rms.round(6).tolist(),
            "median_hz": self.median_hz.round(3).tolist(),
            "trial_log_rms_sd": self.trial_log_rms_sd.round(4).tolist(),
            "dc": self.dc.round(6).tolist(),
            "correlation": self.correlation.round(4).tolist(),
        }


def recording_statistics(trials: TrialSet, bounds: np.ndarray | None = None, hum_hz: float = 50.0) -> ClassStatistics:
    """Statistics of a trial set's active parts (``active_bounds``), measured identically
    for real and simulated trials so the two can be compared."""
    bounds = active_bounds(trials) if bounds is None else bounds
    dc = trials.data.mean(axis=(0, 1), dtype=np.float64)
    C, K = len(trials.class_names), trials.n_channels
    rms, med, spread = np.full((C, K), np.nan), np.full((C, K), np.nan), np.full((C, K), np.nan)
    corr = np.full((C, K, K), np.nan)
    high = _emg_band(trials.data, trials.sample_rate, hum_hz)
    for c in range(C):
        idx = np.flatnonzero(trials.labels == c)
        if idx.size == 0:
            continue
        pieces = [trials.data[i, a:b].astype(np.float64) - dc for i, (a, b) in zip(idx, bounds[idx])]
        sq = np.array([(p**2).sum(axis=0) for p in pieces])
        counts = np.array([len(p) for p in pieces])
        rms[c] = np.sqrt(sq.sum(axis=0) / counts.sum())
        spread[c] = np.log(np.sqrt(sq / counts[:, None]) + 1e-12).std(axis=0)
        freqs, psd = _pooled_psd(pieces, trials.sample_rate, 256)
        cum = np.cumsum(psd, axis=-1)
        for k in range(K):
            med[c, k] = np.interp(0.5 * cum[k, -1], cum[k], freqs)
        corr[c] = np.mean([_correlation(_second_moments([high[i, a:b]])) for i, (a, b) in zip(idx, bounds[idx])], axis=0)
    return ClassStatistics(tuple(trials.class_names), rms, med, spread, dc, corr)


def _emg_band(x: np.ndarray, fs: float, hum_hz: float, cutoff_hz: float = 15.0) -> np.ndarray:
    """``x`` (..., n, K) without motion artefacts and mains: zero-phase 4th-order Butterworth
    high-pass at ``cutoff_hz`` and notches (Q 30) at the harmonics of ``hum_hz`` below Nyquist."""
    from scipy import signal  # imported when used: it takes a second, and bag readers import this module
    y = signal.sosfiltfilt(signal.butter(4, cutoff_hz, "highpass", fs=fs, output="sos"),
                           np.asarray(x, dtype=np.float64), axis=-2)
    for f in np.arange(hum_hz, fs / 2 - 1.0, hum_hz) if hum_hz > 0 else []:
        b, a = signal.iirnotch(f, 30.0, fs=fs)
        y = signal.filtfilt(b, a, y, axis=-2)
    return y


def _second_moments(pieces: list[np.ndarray]) -> np.ndarray:
    """Pooled zero-lag second-moment matrix (K, K) of zero-mean pieces (n_i, K)."""
    total = sum(p.T @ p for p in pieces)
    return total / max(sum(len(p) for p in pieces), 1)


def _correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix (K, K) of a covariance matrix; 0 off the diagonal where a variance is 0."""
    d = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(np.outer(d, d) > 0, cov / np.outer(d, d), 0.0)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, -1.0, 1.0)


def _welch(x: np.ndarray, fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Welch one-sided PSD of ``x`` (n, K): Hann, 50 % overlap, mean removed per segment
    (as ``scipy.signal.welch`` defaults, vectorised over segments).

    Returns:
        freqs (F,) Hz, psd (K, F) units^2/Hz, number of segments.
    """
    from scipy import signal
    win = signal.get_window("hann", nperseg)
    segs = np.lib.stride_tricks.sliding_window_view(x, nperseg, axis=0)[:: nperseg - nperseg // 2]  # (S, K, nperseg)
    segs = segs - segs.mean(axis=-1, keepdims=True)
    spec = np.abs(np.fft.rfft(segs * win, axis=-1)) ** 2 / (fs * np.sum(win**2))
    spec[..., 1 : (nperseg + 1) // 2] *= 2.0  # one-sided: double all but DC (and Nyquist)
    return np.fft.rfftfreq(nperseg, 1.0 / fs), spec.mean(axis=0), segs.shape[0]


def _pooled_psd(pieces: list[np.ndarray], fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (K, F) units^2/Hz averaged over pieces (n_i, K), weighted by their segment counts."""
    total, weight, freqs = 0.0, 0, None
    for p in pieces:
        if len(p) < nperseg:
            continue
        freqs, psd, count = _welch(p, fs, nperseg)
        total = total + count * psd
        weight += count
    if freqs is None:
        raise DatasetError(f"no piece of at least {nperseg} samples to estimate a spectrum from")
    return freqs, total / weight


def _hum_rms(x: np.ndarray, labels: np.ndarray, fs: float, hum_hz: float, n_harmonics: int = 4) -> np.ndarray:
    """Mains interference in trials ``x`` (n_trials, n, K): RMS (K, H) of each harmonic.

    Per trial, the line power is the PSD excess within +-2 Hz of ``h * hum_hz`` over the
    median 5-10 Hz either side (1 s Welch segments). The median over the trials of each
    class is taken, then the minimum over classes: interference does not depend on the
    grasp, while a loud class's own spectrum near 50 Hz would be mistaken for it.
    Harmonics within 12 Hz of Nyquist are left out (H may be smaller than ``n_harmonics``).
    """
    H = max(1, min(n_harmonics, int((fs / 2 - 12) // hum_hz)))
    nper = int(fs)
    if x.shape[1] < nper or hum_hz >= fs / 2 - 12:
        return np.zeros((x.shape[-1], H))  # shorter than 1 s or above Nyquist: not resolvable
    excess = np.zeros((x.shape[0], x.shape[-1], H))
    for i, trial in enumerate(x):
        freqs, psd, _ = _welch(trial, fs, nper)
        for j in range(H):
            d = np.abs(freqs - (j + 1) * hum_hz)
            line, side = d <= 2.0, (d >= 5.0) & (d <= 10.0)
            floor = line.sum() * np.median(psd[:, side], axis=1)
            excess[i, :, j] = (psd[:, line].sum(axis=1) - floor) * (freqs[1] - freqs[0])
    per_class = np.array([np.median(excess[labels == c], axis=0) for c in np.unique(labels)])
    return np.sqrt(np.clip(per_class.min(axis=0), 0.0, None))


def _hum_psd(hum_rms: np.ndarray, hum_hz: float, fs: float, nperseg: int) -> np.ndarray:
    """What ``_welch`` measures (K, F) of the interference alone (10 s of it)."""
    t = np.arange(int(10 * fs)) / fs
    return _welch(_hum(t, hum_hz, hum_rms, np.zeros_like(hum_rms)), fs, nperseg)[1]


def _fit_profile(envs: list[np.ndarray], fs: float, skip_s: float) -> tuple[float, float]:
    """Fit ``1 + overshoot * exp(-tau / decay)`` to the mean normalised envelope after onset.

    Each envelope (n_i,) starts at the detected onset; it is divided by its own settled
    level (mean of its last 40 %) so loud and quiet trials weigh equally. The first
    ``skip_s`` (the onset ramp) is left out. Returns (overshoot >= 0, decay_s).
    """
    n = min(len(e) for e in envs)
    e = np.mean([x[:n] / max(x[int(0.6 * len(x)) :].mean(), 1e-12) for x in envs], axis=0)
    tau = np.arange(n) / fs
    keep = tau >= skip_s
    tau, e = tau[keep], e[keep]
    best = (np.inf, 0.0, 1.0)
    for decay in np.geomspace(0.1, 20.0, 40):
        basis = np.stack([np.ones_like(tau), np.exp(-tau / decay)], axis=1)
        (level, burst), *_ = np.linalg.lstsq(basis, e, rcond=None)
        if level <= 0:
            continue
        over = max(burst / level, 0.0)
        err = np.sum((e - level * (1 + over * np.exp(-tau / decay))) ** 2)
        if err < best[0]:
            best = (err, over, decay)
    return float(best[1]), float(best[2])


def fit_simulator(trials: TrialSet, hum_hz: float = 50.0, source: dict | None = None) -> SimulatorModel:
    """Fit a ``SimulatorModel`` to a labelled recording of Sapsanis-like trials (each
    trial starts at the cue and holds the grasp).

    Per channel: DC offset (mean), mains hum (line power), sensor noise (the white floor
    of the rest spectrum), rest level and spectrum (the samples before each onset, median
    over trials). Per class: onset ramp, reaction delay, burst-and-settle profile (from
    the envelopes aligned at onset), per-channel RMS and spectral shape of the active
    part above rest, spread and cross-channel correlation of the per-trial log RMS. The
    settled amplitude ``plateau_rms`` is solved so that the simulated active part has
    the measured RMS. The zero-lag correlation between channels of the activation
    (cross-talk) is set so that simulated trials show the recording's (``_calibrate_correlation``).

    Raises:
        DatasetError: trials too short (0.5 s + one spectrum segment), a class with no trials.
    """
    fs, K = trials.sample_rate, trials.n_channels
    if trials.n_samples < int(0.5 * fs) + PSD_NPERSEG:
        raise DatasetError(f"trials of {trials.n_samples} samples are too short to fit a simulator "
                           f"(need >= {int(0.5 * fs) + PSD_NPERSEG})")
    stats = recording_statistics(trials, hum_hz=hum_hz)
    if np.isnan(stats.rms).any():
        raise DatasetError(f"every class needs trials to fit a simulator; classes {trials.class_names}")
    bounds = active_bounds(trials)
    x = trials.data.astype(np.float64) - stats.dc
    hum = _hum_rms(x, trials.labels, fs, hum_hz)
    hum_ms = (hum**2).sum(axis=1)
    margin = int(0.05 * fs)
    targets_ms = stats.rms**2

    # Rest: what precedes each onset (minus a margin), median over trials, without the hum.
    rest_pieces = [x[i, : a - margin] for i, (a, _) in enumerate(bounds) if a - margin >= PSD_NPERSEG]
    if len(rest_pieces) >= 3:
        rest_ms = np.median([np.mean(p**2, axis=0) for p in rest_pieces], axis=0)
        freqs, rest_abs = _pooled_psd(rest_pieces, fs, PSD_NPERSEG)
    else:  # trials start active: no rest to measure; take the quietest class's shape
        log.warning("%s: fewer than 3 trials with >= %d samples before onset; rest estimated from the quietest class",
                    trials.subject, PSD_NPERSEG)
        rest_ms = 0.5 * targets_ms.min(axis=0)
        freqs, rest_abs = _pooled_psd([x[i, a:b] for i, (a, b) in enumerate(bounds)], fs, PSD_NPERSEG)
    df = freqs[1] - freqs[0]
    hum_psd = _hum_psd(hum, hum_hz, fs, PSD_NPERSEG)
    # The rest level cannot exceed the quietest grasp's (the part of a trial before the
    # onset already carries some preparation): cap at 80 % of its RMS.
    rest_ms = np.minimum(rest_ms, 0.64 * targets_ms.min(axis=0))
    broadband_ms = np.clip(rest_ms - hum_ms, 0.0, None)
    rest_abs = np.clip(rest_abs - hum_psd, 0.0, None)
    rest_abs *= (broadband_ms / np.maximum(rest_abs.sum(axis=1) * df, 1e-30))[:, None]
    band = (freqs >= 20.0) & (freqs <= 0.9 * fs / 2)
    floor = rest_abs[:, band].min(axis=1)  # white floor, V^2/Hz
    sensor_ms = np.minimum(floor * fs / 2, 0.5 * broadband_ms)
    shaped_ms = broadband_ms - sensor_ms
    rest_shape = _unit_area(np.clip(rest_abs - floor[:, None], 0.0, None), freqs)
    baseline_ms = shaped_ms + sensor_ms + hum_ms

    # Onset: mean normalised envelope around each onset -> 10-90 % rise time.
    env_all = [moving_rms(x[i], 0.1, fs) for i in range(trials.n_trials)]
    env_norm = [(e / np.maximum(np.median(e, axis=0), 1e-12)).mean(axis=1) for e in env_all]
    pre, post = int(0.3 * fs), int(0.8 * fs)
    aligned = [e[a - pre : a + post] for e, (a, _) in zip(env_norm, bounds) if a >= pre and a + post <= len(e)]
    onset_s = 0.3
    if len(aligned) >= 3:
        mean_env = np.mean(aligned, axis=0)
        lo, hi = mean_env[: pre // 2].mean(), mean_env[pre + int(0.3 * fs) :].mean()
        if hi > lo:
            rel = (mean_env - lo) / (hi - lo)
            t10 = np.argmax(rel >= 0.1)
            t90 = t10 + np.argmax(rel[t10:] >= 0.9)
            # 10-90 % of a raised cosine spans 0.59 of it; the 100 ms envelope widens it by ~0.06 s.
            onset_s = float(np.clip(((t90 - t10) / fs - 0.06) / 0.59, 0.05, 1.5))
    onset_times = bounds[:, 0] / fs
    reaction_s = float(max(np.median(onset_times) - 0.5 * onset_s, 0.0))
    reaction_sd_s = float(np.std(onset_times))

    C = len(trials.class_names)
    plateau, psd = np.zeros((C, K)), np.zeros((C, K, len(freqs)))
    sigma, rho = np.zeros((C, K)), np.zeros(C)
    overshoot, decay = np.zeros(C), np.zeros(C)
    for c in range(C):
        idx = np.flatnonzero(trials.labels == c)
        pieces = [x[i, a:b] for i, (a, b) in zip(idx, bounds[idx])]
        _, p_abs = _pooled_psd(pieces, fs, PSD_NPERSEG)
        p_act = np.clip(p_abs - rest_abs - hum_psd, 0.0, None)
        p_act = np.maximum(p_act, 1e-3 * p_act.max(axis=1, keepdims=True))
        psd[c] = _unit_area(p_act, freqs)
        log_rms = np.log(np.array([np.sqrt(np.mean(p**2, axis=0)) for p in pieces]) + 1e-12)
        sigma[c] = log_rms.std(axis=0)
        rho[c] = float(np.clip(np.corrcoef(log_rms.T)[0, 1], 0.0, 1.0)) if K > 1 and len(idx) > 2 else 1.0
        overshoot[c], decay[c] = _fit_profile([env_norm[i][a:b] for i, (a, b) in zip(idx, bounds[idx])], fs,
                                              0.5 * onset_s)
        # Mean square of (ramp * profile) over a simulated active part: from the half-way
        # point of the onset ramp to the median end of the measured active parts.
        length = np.median(bounds[idx, 1] - bounds[idx, 0]) / fs
        tau = np.arange(0.5 * onset_s, 0.5 * onset_s + length, 1.0 / fs)
        shape = _ramp(tau / onset_s) * (1 + overshoot[c] * np.exp(-tau / decay[c]))
        excess = targets_ms[c] - baseline_ms
        if (excess <= 0).any():
            log.warning("%s: class %s is not above rest on channels %s", trials.subject, trials.class_names[c],
                        np.flatnonzero(excess <= 0).tolist())
        plateau[c] = np.sqrt(np.clip(excess, 0.0, None) / np.mean(shape**2))

    model = SimulatorModel(
        sample_rate=fs,
        channel_names=trials.channel_names,
        class_names=trials.class_names,
        units=trials.units,
        freqs=freqs,
        rest_rms=np.sqrt(shaped_ms),
        rest_psd=rest_shape,
        plateau_rms=plateau,
        psd=psd,
        gain_sigma=sigma,
        gain_correlation=rho,
        overshoot=overshoot,
        decay_s=decay,
        onset_s=onset_s,
        offset_s=onset_s,
        reaction_s=reaction_s,
        reaction_sd_s=reaction_sd_s,
        sensor_noise_rms=np.sqrt(sensor_ms),
        hum_hz=hum_hz,
        hum_rms=hum,
        dc_offset=stats.dc,
        channel_correlation=stats.correlation,
        source={**(source or {}), "subject": trials.subject, "n_trials": trials.n_trials,
                "trial_s": trials.n_samples / fs, "statistics": stats.to_dict()},
    )
    return _calibrate_correlation(model, stats, trials.n_samples / fs)


def _calibrate_correlation(model: SimulatorModel, real: ClassStatistics, trial_s: float,
                           n_per_class: int = 30, seed: int = 12345) -> SimulatorModel:
    """Set the activation's channel correlation so that simulated trials show the real
    correlation (``recording_statistics``): the baseline, independent across channels,
    dilutes the activation's correlation by a factor per class and channel pair that one
    simulation with the measured values as a first guess estimates."""
    if model.n_channels < 2:
        return model
    sim = recording_statistics(EmgSimulator(model, SimulatorConfig(seed=seed)).trials(n_per_class, trial_s),
                               hum_hz=model.hum_hz)
    guess, measured = model.channel_correlation, sim.correlation
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(np.abs(measured) > 0.02, guess / measured, 1.0)
    r = np.clip(real.correlation * np.clip(factor, 1.0, 4.0), -0.95, 0.95)
    r[:, np.arange(model.n_channels), np.arange(model.n_channels)] = 1.0
    return replace(model, channel_correlation=r)


def compare_statistics(real: ClassStatistics, sim: ClassStatistics) -> dict:
    """Relative errors (C, K) of the simulated RMS and median frequency against the real ones,
    and the error (C, K, K) of the channel correlation (simulated - real)."""
    return {
        "rms_rel_error": (sim.rms / real.rms - 1.0),
        "median_hz_rel_error": (sim.median_hz / real.median_hz - 1.0),
        "correlation_error": (sim.correlation - real.correlation),
    }


def fit_sapsanis_models(folder, out_dir, n_check_trials: int = 30, seed: int = 0) -> dict[str, dict]:
    """Fit one model per Sapsanis subject in ``folder``, write ``emg_simulator_<subject>.json``
    into ``out_dir`` and check it: simulate ``n_check_trials`` trials per class and
    compare their statistics with the real ones (stored in the model's ``source``).

    Returns:
        subject -> {"path", "rms_rel_error", "median_hz_rel_error"} (errors (C, K) lists).
    """
    out = {}
    for subject, path in list_sapsanis_subjects(folder).items():
        trials = load_sapsanis(path)
        model = fit_simulator(trials, source={"dataset": "Sapsanis et al. 2013, Database 1", "file": path.name})
        trial_s = trials.n_samples / trials.sample_rate
        sim = EmgSimulator(model, SimulatorConfig(seed=seed)).trials(n_check_trials, trial_s)
        errors = compare_statistics(recording_statistics(trials), recording_statistics(sim))
        check = {k: v.round(4).tolist() for k, v in errors.items()}
        model = replace(model, source={**model.source, "check": {"seed": seed, "trials_per_class": n_check_trials,
                                                                   **check}})
        target = model.save(Path(out_dir) / f"emg_simulator_{subject}.json")
        out[subject] = {"path": str(target), **check}
        log.info("%s: fitted -> %s", subject, target)
    return out
