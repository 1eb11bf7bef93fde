"""Noise schedules for grasp diffusion: DDPM (Ho et al. 2020) and DDIM (Song et al. 2021).

Tensor maths only: no weights, no network. A scheduler turns a clean sample into a noisy
one for training (``add_noise``) and walks a noisy sample back one step given the
network's output (``step``), on the timesteps chosen by ``set_timesteps``.

Notation: ``alpha_bar[t] = prod_{s <= t} (1 - beta[s])``; the forward process is
``x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps`` (Ho et al. 2020, eq. 4).
The network predicts, by ``prediction_type``, the noise ``eps``, the clean sample
``x_0`` (``"sample"``) or the velocity ``v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0``
(Salimans & Ho 2022, section 4).

Example::

    sched = DDIMScheduler(SchedulerConfig(num_train_timesteps=100, beta_schedule="cosine"))
    sched.set_timesteps(8)
    x = torch.randn(16, 31, generator=gen)
    for t in sched.timesteps:
        x = sched.step(net(x, t), t, x, generator=gen).prev_sample
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...errors import ConfigError, DataError

BETA_SCHEDULES = ("linear", "cosine")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
VARIANCE_TYPES = ("fixed_small", "fixed_large")
SPACINGS = ("trailing", "leading", "linspace")


def _check_option(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"unknown {name} {value!r}; expected one of {list(options)}")


@dataclass(frozen=True)
class SchedulerConfig:
    """The training noise schedule (shared by DDPM and DDIM sampling of one model).

    Attributes:
        num_train_timesteps: T, the length of the training chain (the paper: 50).
        beta_schedule: ``"linear"`` (betas evenly spaced from ``beta_start`` to ``beta_end``)
            or ``"cosine"`` (Nichol & Dhariwal 2021, eq. 17, offset s = 0.008, beta <= 0.999).
        beta_start, beta_end: first and last beta of the linear schedule. ``None`` takes
            the 1000-step values 1e-4 and 0.02 scaled by 1000 / T (Nichol & Dhariwal 2021,
            their linear schedule; beta_end capped at 0.999), which keeps alpha_bar[T-1] near
            zero for short chains: with T = 50 the plain 1e-4..0.02 would leave 60 % of the
            signal at the last step.
        prediction_type: what the network predicts: ``"epsilon"``, ``"sample"`` or
            ``"v_prediction"``.
        clip_sample: clip the predicted x_0 to [-clip_sample, clip_sample] during
            sampling (the data is normalised to [-1, 1]); 0 disables clipping.
        variance_type: DDPM reverse variance, ``"fixed_small"`` (the posterior variance
            beta-tilde) or ``"fixed_large"`` (beta), Ho et al. 2020, section 3.2.
    """

    num_train_timesteps: int = 50
    beta_schedule: str = "linear"
    beta_start: float | None = None
    beta_end: float | None = None
    prediction_type: str = "epsilon"
    clip_sample: float = 1.0
    variance_type: str = "fixed_small"

    def __post_init__(self):
        if not isinstance(self.num_train_timesteps, int) or self.num_train_timesteps < 2:
            raise ConfigError(f"num_train_timesteps must be an integer >= 2, got {self.num_train_timesteps!r}")
        _check_option("beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        _check_option("prediction_type", self.prediction_type, PREDICTION_TYPES)
        _check_option("variance_type", self.variance_type, VARIANCE_TYPES)
        if self.clip_sample < 0:
            raise ConfigError(f"clip_sample must be >= 0 (0 = off), got {self.clip_sample}")
        start, end = self.linear_range()
        if self.beta_schedule == "linear" and not 0 < start <= end < 1:
            raise ConfigError(f"linear betas need 0 < beta_start <= beta_end < 1, got {start}, {end}")

    def linear_range(self) -> tuple[float, float]:
        """(beta_start, beta_end) of the linear schedule, defaults filled in."""
        scale = 1000.0 / self.num_train_timesteps
        start = 1e-4 * scale if self.beta_start is None else float(self.beta_start)
        end = min(0.02 * scale, 0.999) if self.beta_end is None else float(self.beta_end)
        return start, end


def make_betas(config: SchedulerConfig) -> torch.Tensor:
    """(T,) float64 betas of ``config``."""
    T = config.num_train_timesteps
    if config.beta_schedule == "linear":
        start, end = config.linear_range()
        return torch.linspace(start, end, T, dtype=torch.float64)
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return torch.clamp(1 - f[1:] / f[:-1], max=0.999)


@dataclass(frozen=True)
class StepOutput:
    """Result of one reverse step: ``prev_sample`` (B, D) and the predicted ``pred_original_sample`` (B, D)."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


class _Scheduler:
    """Shared maths of the DDPM and DDIM schedulers (forward process, targets, timesteps)."""

    def __init__(self, config: SchedulerConfig):
        self.config = config
        self.betas = make_betas(config)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self.num_inference_steps = config.num_train_timesteps
        self.timesteps = torch.arange(config.num_train_timesteps - 1, -1, -1, dtype=torch.long)

    @property
    def num_train_timesteps(self) -> int:
        return self.config.num_train_timesteps

    def set_timesteps(self, num_inference_steps: int, spacing: str = "trailing") -> None:
        """Choose the descending timesteps of sampling.

        Args:
            num_inference_steps: 1..T steps.
            spacing: ``"trailing"`` (start at T-1, every T/n; best for few steps, Lin et al.
                2024, table 2), ``"leading"`` (0, T//n, 2T//n, ... as in DDIM's paper) or
                ``"linspace"`` (rounded linspace from 0 to T-1).
        """
        T = self.num_train_timesteps
        _check_option("spacing", spacing, SPACINGS)
        if not isinstance(num_inference_steps, int) or not 1 <= num_inference_steps <= T:
            raise ConfigError(f"num_inference_steps must be an integer in 1..{T}, got {num_inference_steps!r}")
        n = num_inference_steps
        if spacing == "trailing":
            ts = torch.round(torch.arange(T, 0, -T / n, dtype=torch.float64)).long() - 1
        elif spacing == "leading":
            ts = torch.arange(n - 1, -1, -1, dtype=torch.long) * (T // n)
        else:
            ts = torch.round(torch.linspace(0, T - 1, n, dtype=torch.float64)).long().flip(0)
        self.timesteps = ts
        self.num_inference_steps = n

    def previous_timestep(self, t: int) -> int:
        """The timestep after ``t`` in the sampling order (-1 after the last)."""
        ts = self.timesteps.tolist()
        if t not in ts:
            raise DataError(f"timestep {t} is not one of the current sampling timesteps {ts}")
        i = ts.index(t)
        return ts[i + 1] if i + 1 < len(ts) else -1

    def _abar(self, t, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar at integer timesteps ``t`` (B,) as a (B, 1, ...) tensor broadcasting with ``like``."""
        t = torch.as_tensor(t, dtype=torch.long, device=self.alphas_cumprod.device)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_train_timesteps):
            raise DataError(f"timesteps must lie in 0..{self.num_train_timesteps - 1}, got {t.tolist()}")
        a = self.alphas_cumprod[t].to(device=like.device, dtype=like.dtype)
        return a.reshape(a.shape + (1,) * (like.ndim - a.ndim))

    def add_noise(self, original: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """Forward process q(x_t | x_0) (Ho et al. 2020, eq. 4).

        Args:
            original: (B, D) clean samples x_0.
            noise: (B, D) standard normal eps.
            timesteps: (B,) integer timesteps in 0..T-1.

        Returns:
            (B, D) x_t.
        """
        a = self._abar(timesteps, original)
        return a.sqrt() * original + (1 - a).sqrt() * noise

    def velocity(self, original: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022), (B, D)."""
        a = self._abar(timesteps, original)
        return a.sqrt() * noise - (1 - a).sqrt() * original

    def training_target(self, original: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """What the network must output for ``prediction_type``, (B, D)."""
        kind = self.config.prediction_type
        if kind == "epsilon":
            return noise
        if kind == "sample":
            return original
        return self.velocity(original, noise, timesteps)

    def split_prediction(self, model_output: torch.Tensor, t, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0, eps) implied by the network's output at timestep(s) ``t`` for ``sample`` x_t.

        x_0 is clipped to [-clip_sample, clip_sample] when clipping is on, and eps is then
        recomputed from the clipped x_0 so that both stay consistent with x_t.
        """
        a = self._abar(t, sample)
        sa, sb = a.sqrt(), (1 - a).sqrt()
        kind = self.config.prediction_type
        if kind == "epsilon":
            x0 = (sample - sb * model_output) / sa
        elif kind == "sample":
            x0 = model_output
        else:
            x0 = sa * sample - sb * model_output
        c = self.config.clip_sample
        if c > 0:
            x0 = x0.clamp(-c, c)
        eps = (sample - sa * x0) / sb
        return x0, eps

    def _step_start(self, model_output: torch.Tensor, timestep, sample: torch.Tensor) -> tuple[int, int, float, float]:
        """Check a step's shapes; (t, the next timestep t' (-1 after the last), alpha_bar[t],
        alpha_bar[t'] (1 after the last))."""
        if model_output.shape != sample.shape:
            raise DataError(f"model output {tuple(model_output.shape)} differs from sample {tuple(sample.shape)}")
        t = int(timestep)
        prev = self.previous_timestep(t)
        return t, prev, float(self.alphas_cumprod[t]), float(self.alphas_cumprod[prev]) if prev >= 0 else 1.0


class DDPMScheduler(_Scheduler):
    """Ancestral sampling of Ho et al. 2020 (algorithm 2); with fewer inference steps than T,
    each step uses the betas of the skipped span (beta' = 1 - alpha_bar[t] / alpha_bar[t'])."""

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator: torch.Generator | None = None) -> StepOutput:
        """One reverse step x_t -> x_{t'} with t' the next sampling timestep.

        Args:
            model_output: (B, D) the network's output at ``timestep``.
            timestep: current timestep t (int or 0-d tensor), one of ``timesteps``.
            sample: (B, D) x_t.
            generator: source of the reverse-process noise.

        Returns:
            x_{t'} and the predicted x_0. The posterior mean is eq. 7 of Ho et al. 2020:
            mu = sqrt(abar') beta' / (1 - abar) x_0 + sqrt(alpha') (1 - abar') / (1 - abar) x_t.
        """
        t, prev, abar, abar_prev = self._step_start(model_output, timestep, sample)
        alpha = abar / abar_prev
        beta = 1.0 - alpha
        x0, _ = self.split_prediction(model_output, t, sample)
        mean = (math.sqrt(abar_prev) * beta / (1 - abar)) * x0 + (math.sqrt(alpha) * (1 - abar_prev) / (1 - abar)) * sample
        if prev < 0:
            return StepOutput(mean, x0)
        var = beta * (1 - abar_prev) / (1 - abar) if self.config.variance_type == "fixed_small" else beta
        noise = torch.randn(sample.shape, generator=generator, dtype=sample.dtype, device=sample.device)
        return StepOutput(mean + math.sqrt(var) * noise, x0)


class DDIMScheduler(_Scheduler):
    """Implicit sampling of Song et al. 2021 (eq. 12): deterministic with ``eta = 0``,
    DDPM-like with ``eta = 1``; valid on any subsequence of the training timesteps."""

    def __init__(self, config: SchedulerConfig, eta: float = 0.0):
        super().__init__(config)
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"DDIM eta must lie in [0, 1], got {eta}")
        self.eta = float(eta)

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, generator: torch.Generator | None = None) -> StepOutput:
        """One reverse step x_t -> x_{t'}:
        x_{t'} = sqrt(abar') x_0 + sqrt(1 - abar' - sigma^2) eps + sigma z, with
        sigma = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar') (Song et al. 2021, eq. 16).

        Shapes as ``DDPMScheduler.step``.
        """
        t, prev, abar, abar_prev = self._step_start(model_output, timestep, sample)
        x0, eps = self.split_prediction(model_output, t, sample)
        sigma = self.eta * math.sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev))
        out = math.sqrt(abar_prev) * x0 + math.sqrt(max(1 - abar_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            out = out + sigma * torch.randn(sample.shape, generator=generator, dtype=sample.dtype, device=sample.device)
        return StepOutput(out, x0)


#: Sampling methods by name (``SamplerConfig.method``).
SCHEDULERS = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}


def make_scheduler(method: str, config: SchedulerConfig, eta: float = 0.0) -> _Scheduler:
    """A fresh scheduler of ``method`` (``"ddpm"`` or ``"ddim"``) on the schedule ``config``."""
    _check_option("sampling method", method, tuple(SCHEDULERS))
    return DDIMScheduler(config, eta) if method == "ddim" else DDPMScheduler(config)
