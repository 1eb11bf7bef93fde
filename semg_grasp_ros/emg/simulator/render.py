"""``EmgSimulator``: renders a session script with a ``SimulatorModel`` into samples."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ... import REST
from ...errors import ConfigError
from ..recordings import TrialSet
from .model import SimulatorModel
from .script import Script, validate_script

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulatorConfig:
    """How to run a model.

    Attributes:
        sample_rate: Hz; ``None`` = the model's (500 Hz for the default model).
        seed: seed of every random draw; same seed + script = same samples.
        band_hz: (low, high) pass band of the shaped noise, Hz; ``high`` is capped at
            Nyquist (20-450 Hz is the usual sEMG band).
        hum: add mains interference; sensor_noise: add white noise; dc_offset: add the offset.
        variability: per-trial gains and reaction delays (off: every trial identical in level).
        modulation_depth: relative depth of the slow amplitude modulation (0 = none).
        modulation_s: its time constant, seconds.
        fir_taps: length of the spectral-shaping FIR filters (odd).
    """

    sample_rate: float | None = None
    seed: int = 0
    band_hz: tuple[float, float] = (20.0, 450.0)
    hum: bool = True
    sensor_noise: bool = True
    dc_offset: bool = True
    variability: bool = True
    modulation_depth: float = 0.1
    modulation_s: float = 0.3
    fir_taps: int = 129

    def __post_init__(self):
        if self.sample_rate is not None and not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ConfigError(f"sample_rate must be a positive number of Hz, got {self.sample_rate}")
        lo, hi = self.band_hz
        if not 0 <= lo < hi:
            raise ConfigError(f"band_hz must be (low, high) with 0 <= low < high, got {self.band_hz}")
        if not 0 <= self.modulation_depth <= 1 or not self.modulation_s > 0:
            raise ConfigError("modulation_depth must be in [0, 1] and modulation_s > 0")
        if self.fir_taps < 3 or self.fir_taps % 2 == 0:
            raise ConfigError(f"fir_taps must be odd and >= 3, got {self.fir_taps}")


@dataclass(frozen=True, eq=False)
class SimBlock:
    """Consecutive simulated samples.

    Attributes:
        first_index: index of the first sample since the session began.
        data: (n, K) float32 in the model's units.
        labels: (n,) int64 ground truth: index into ``class_names``, -1 = rest (the script's cue).
        activation: (n,) float32 activation envelope in [0, ~2] (0 = muscles at rest).
    """

    first_index: int
    data: np.ndarray
    labels: np.ndarray
    activation: np.ndarray


class _ShapedNoise:
    """Unit-variance Gaussian noise with a given spectrum, continuous across calls.

    Valid-mode FIR convolution over a kept tail of white noise, so consecutive draws join
    without a filter transient.
    """

    def __init__(self, taps: np.ndarray, rng: np.random.Generator):
        self.taps = taps  # (K, L), each row unit energy
        self.rng = rng
        self.tail = rng.standard_normal((taps.shape[1] - 1, taps.shape[0]))

    def draw(self, n: int) -> np.ndarray:
        white = np.concatenate([self.tail, self.rng.standard_normal((n, self.taps.shape[0]))])
        self.tail = white[n:]
        return np.stack([np.convolve(white[:, k], h, mode="valid") for k, h in enumerate(self.taps)], axis=1)


class EmgSimulator:
    """Runs a ``SimulatorModel``.

    Example::

        sim = EmgSimulator(SimulatorModel.shipped("female_2"), SimulatorConfig(seed=1))
        session = sim.render([("rest", 2), ("hook", 3), ("rest", 2)])
        session.data.shape   # (3500, 2) float32, volts
        session.labels       # (3500,) -1 = rest, 2 = hook
    """

    def __init__(self, model: SimulatorModel | None = None, config: SimulatorConfig | None = None, n_channels: int = 2):
        self.config = config or SimulatorConfig()
        if model is None:
            model = SimulatorModel.default(n_channels, self.config.sample_rate or 500.0)
        self.model = model
        self.sample_rate = float(self.config.sample_rate or model.sample_rate)
        nyquist = self.sample_rate / 2
        lo, hi = self.config.band_hz
        self._band = (lo, min(hi, nyquist))
        if self._band[0] >= self._band[1]:
            raise ConfigError(f"band_hz {self.config.band_hz} is empty below Nyquist ({nyquist} Hz)")
        if model.hum_hz >= nyquist and self.config.hum and (model.hum_rms > 0).any():
            log.warning("mains hum at %.0f Hz is above Nyquist (%.0f Hz) and will alias", model.hum_hz, nyquist)
        self._rest_taps = self._design(model.rest_psd)
        self._class_taps = [self._design(p) for p in model.psd]
        self._mixing = np.stack([_correlation_factor(r) for r in model.channel_correlation])  # (C, K, K)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self.model.channel_names

    def _design(self, shape: np.ndarray) -> np.ndarray:
        """FIR taps (K, L) whose power response follows ``shape`` (K, F) inside the band."""
        from scipy import signal  # imported when used: it takes a second, and bag readers import this module
        nyq = self.sample_rate / 2
        grid = np.linspace(0.0, nyq, 129)
        lo, hi = self._band
        taps = []
        for row in shape:
            p = np.interp(grid, self.model.freqs, row, right=0.0)
            p[(grid < lo) | (grid > hi)] = 0.0
            if p.max() <= 0:
                p = ((grid >= lo) & (grid <= hi)).astype(float)
            h = signal.firwin2(self.config.fir_taps, grid / nyq, np.sqrt(p / p.max()), window="hamming")
            taps.append(h / np.sqrt(np.sum(h**2)))
        return np.array(taps)

    # ---- rendering ---------------------------------------------------------------------
    def blocks(self, script: Script, loop: bool = False) -> Iterator[SimBlock]:
        """One ``SimBlock`` per script item, in order (forever if ``loop``).

        Raises:
            ConfigError: the script is invalid (checked here, before any block).
        """
        script = validate_script(script, self.class_names)

        def generate():
            state = _RenderState(self)
            while True:
                for name, dur in script:
                    yield state.render(name, dur)
                if not loop:
                    return

        return generate()

    def render(self, script: Script) -> SimBlock:
        """The whole script as one block (data (n, K), labels (n,), activation (n,))."""
        parts = list(self.blocks(script))
        return SimBlock(
            first_index=0,
            data=np.concatenate([b.data for b in parts]),
            labels=np.concatenate([b.labels for b in parts]),
            activation=np.concatenate([b.activation for b in parts]),
        )

    def trials(self, n_per_class: int, trial_s: float = 6.0, subject: str = "simulated") -> TrialSet:
        """Trials laid out like Sapsanis: each starts at the cue (muscles at rest, then
        the reaction delay and onset) and ends while the grasp is still held.

        Returns:
            ``TrialSet`` (C * n_per_class, round(trial_s * rate), K), class-major.
        """
        n = int(round(trial_s * self.sample_rate))
        tail = self.model.offset_s + 1.0 / self.sample_rate  # rendered, then cut off: no offset ramp
        script = [(c, trial_s + tail) for c in self.class_names for _ in range(n_per_class)]
        data = np.stack([b.data[:n] for b in self.blocks(script)])
        return TrialSet(
            data=data,
            labels=np.repeat(np.arange(len(self.class_names)), n_per_class),
            repetitions=np.tile(np.arange(n_per_class), len(self.class_names)),
            class_names=self.class_names,
            channel_names=self.channel_names,
            sample_rate=self.sample_rate,
            subject=subject,
            units=self.model.units,
        )


class _RenderState:
    """Everything that carries over from one script item to the next."""

    def __init__(self, sim: EmgSimulator):
        self.sim = sim
        cfg, m = sim.config, sim.model
        self.rng = np.random.default_rng(cfg.seed)
        self.index = 0
        self.rest = _ShapedNoise(sim._rest_taps, self.rng)
        self.active: dict[int, _ShapedNoise] = {}
        self.hum_phase = self.rng.uniform(0, 2 * np.pi, size=m.hum_rms.shape)  # (K, H)
        self.mod_state = self.rng.standard_normal(m.n_channels)
        # One-pole (Ornstein-Uhlenbeck) modulation: m[i] = a m[i-1] + sqrt(1 - a^2) w[i].
        self.mod_a = math.exp(-1.0 / (cfg.modulation_s * sim.sample_rate))

    def _modulation(self, n: int) -> np.ndarray:
        from scipy import signal
        a = self.mod_a
        w = self.rng.standard_normal((n, len(self.mod_state))) * math.sqrt(1 - a * a)
        out, zf = signal.lfilter([1.0], [1.0, -a], w, axis=0, zi=(a * self.mod_state)[None, :])
        self.mod_state = out[-1]
        depth = self.sim.config.modulation_depth
        return np.maximum(1.0 + depth * out, 0.0) / math.sqrt(1.0 + depth * depth)

    def render(self, name: str, duration: float) -> SimBlock:
        sim, m, cfg = self.sim, self.sim.model, self.sim.config
        fs = sim.sample_rate
        n = max(1, int(round(duration * fs)))
        t = (self.index + np.arange(n)) / fs
        x = m.rest_rms * self.rest.draw(n)
        if cfg.sensor_noise:
            x += m.sensor_noise_rms * self.rng.standard_normal((n, m.n_channels))
        if cfg.hum:
            x += _hum(t, m.hum_hz, m.hum_rms, self.hum_phase)
        if cfg.dc_offset:
            x += m.dc_offset
        env = np.zeros(n)
        label = -1
        if name != REST:
            label = sim.class_names.index(name)
            env = self._envelope(label, n)
            gain = self._gains(label)
            if label not in self.active:
                self.active[label] = _ShapedNoise(sim._class_taps[label], self.rng)
            own = gain * self._modulation(n) * self.active[label].draw(n)  # (n, K), independent channels
            x += m.plateau_rms[label] * env[:, None] * (own @ sim._mixing[label].T)
        self.index += n
        return SimBlock(
            first_index=self.index - n,
            data=x.astype(np.float32),
            labels=np.full(n, label, dtype=np.int64),
            activation=env.astype(np.float32),
        )

    def _envelope(self, c: int, n: int) -> np.ndarray:
        m, fs = self.sim.model, self.sim.sample_rate
        delay = m.reaction_s
        if self.sim.config.variability:
            delay = m.reaction_s + m.reaction_sd_s * self.rng.standard_normal()
        delay = float(np.clip(delay, 0.0, 0.5 * n / fs))
        tau = np.arange(n) / fs - delay
        active_len = n / fs - delay
        on = min(m.onset_s, 0.5 * active_len)
        off = min(m.offset_s, 0.5 * active_len)
        env = (1.0 + m.overshoot[c] * np.exp(-np.maximum(tau, 0.0) / max(m.decay_s[c], 1e-6))) * (tau >= 0)
        env *= _ramp(tau / on) if on > 0 else 1.0
        env *= _ramp((active_len - tau) / off) if off > 0 else 1.0
        return env

    def _gains(self, c: int) -> np.ndarray:
        m = self.sim.model
        if not self.sim.config.variability:
            return np.ones(m.n_channels)
        rho = float(np.clip(m.gain_correlation[c], 0.0, 1.0))
        z = math.sqrt(rho) * self.rng.standard_normal() + math.sqrt(1 - rho) * self.rng.standard_normal(m.n_channels)
        sigma = m.gain_sigma[c]
        return np.exp(sigma * z - sigma**2)  # log-normal with E[g^2] = 1


def _correlation_factor(r: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` (K, K) with ``L L^T`` = ``r`` (K, K), or the nearest valid
    correlation matrix when ``r`` is not positive definite (eigenvalues clipped at 1e-6,
    rows renormalised); every row has unit norm, so mixing keeps each channel's power."""
    w, v = np.linalg.eigh(0.5 * (r + r.T))
    psd = (v * np.clip(w, 1e-6, None)) @ v.T
    d = np.sqrt(np.diag(psd))
    return np.linalg.cholesky(psd / np.outer(d, d))


def _hum(t: np.ndarray, hum_hz: float, rms: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Mains interference (n, K) at times ``t`` (n,) s: harmonics h = 1..H of ``hum_hz``
    with RMS ``rms`` (K, H) and phases ``phase`` (K, H) rad."""
    h = np.arange(1, rms.shape[1] + 1)
    arg = 2 * np.pi * hum_hz * t[:, None, None] * h + phase  # (n, K, H)
    return (math.sqrt(2) * rms * np.sin(arg)).sum(axis=-1)


def _ramp(x: np.ndarray) -> np.ndarray:
    """Raised cosine: 0 for x <= 0, 1 for x >= 1."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))
