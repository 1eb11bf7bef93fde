"""DDPM / DDIM scheduler maths against independent closed-form computations (numpy, float64)."""

import math

import numpy as np
import pytest
import torch

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.diffusion.scheduler import DDIMScheduler, DDPMScheduler, SchedulerConfig, make_scheduler


def test_linear_betas_default_to_the_scaled_1000_step_range():
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=50))
    betas = np.linspace(1e-4 * 20, 0.02 * 20, 50)
    np.testing.assert_allclose(s.betas.numpy(), betas, rtol=1e-12)
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), np.cumprod(1 - betas), rtol=1e-12)
    assert s.alphas_cumprod[-1] < 1e-3  # the chain ends in (almost) pure noise


def test_cosine_alpha_bar_matches_the_closed_form():
    T, s_off = 100, 0.008
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=T, beta_schedule="cosine"))
    f = lambda t: math.cos((t / T + s_off) / (1 + s_off) * math.pi / 2) ** 2  # noqa: E731
    expected = np.array([f(t + 1) / f(0) for t in range(T)])
    # the last beta is capped at 0.999, the rest follow the closed form exactly
    np.testing.assert_allclose(s.alphas_cumprod.numpy()[:-1], expected[:-1], rtol=1e-10)


def test_add_noise_velocity_and_targets():
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=50))
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 7, 30, 49])
    a = np.cumprod(1 - np.linspace(0.002, 0.4, 50))[t.numpy()][:, None]
    xt = np.sqrt(a) * x0.numpy() + np.sqrt(1 - a) * eps.numpy()
    np.testing.assert_allclose(s.add_noise(x0, eps, t).numpy(), xt, rtol=1e-12)
    v = np.sqrt(a) * eps.numpy() - np.sqrt(1 - a) * x0.numpy()
    np.testing.assert_allclose(s.velocity(x0, eps, t).numpy(), v, rtol=1e-12)
    for kind, target in (("epsilon", eps.numpy()), ("sample", x0.numpy()), ("v_prediction", v)):
        sk = DDPMScheduler(SchedulerConfig(num_train_timesteps=50, prediction_type=kind))
        np.testing.assert_allclose(sk.training_target(x0, eps, t).numpy(), target, rtol=1e-12)


def test_ddpm_step_is_the_posterior_of_ho_et_al():
    """Ho et al. 2020, eq. 6-7: mean and fixed-small variance, with the same noise draw."""
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=50, clip_sample=0.0))
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    t = 20
    xt = s.add_noise(x0, eps, torch.full((5,), t))
    out = s.step(eps, t, xt, generator=torch.Generator().manual_seed(7))
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(7), dtype=torch.float64).numpy()
    betas = np.linspace(0.002, 0.4, 50)
    ab = np.cumprod(1 - betas)
    mean = (np.sqrt(ab[t - 1]) * betas[t] / (1 - ab[t])) * x0.numpy() + (
        np.sqrt(1 - betas[t]) * (1 - ab[t - 1]) / (1 - ab[t])) * xt.numpy()
    var = (1 - ab[t - 1]) / (1 - ab[t]) * betas[t]
    np.testing.assert_allclose(out.pred_original_sample.numpy(), x0.numpy(), rtol=1e-9)
    np.testing.assert_allclose(out.prev_sample.numpy(), mean + np.sqrt(var) * z, rtol=1e-9)


@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
def test_ddim_with_the_true_target_lands_on_the_forward_marginal(kind):
    """With eta = 0 and an exact prediction, x_{t'} = sqrt(abar') x0 + sqrt(1 - abar') eps."""
    cfg = SchedulerConfig(num_train_timesteps=100, beta_schedule="cosine", prediction_type=kind, clip_sample=0.0)
    s = DDIMScheduler(cfg)
    s.set_timesteps(10)
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    t, prev = 59, 49
    tt = torch.full((6,), t)
    xt = s.add_noise(x0, eps, tt)
    out = s.step(s.training_target(x0, eps, tt), t, xt)
    expected = s.add_noise(x0, eps, torch.full((6,), prev))
    np.testing.assert_allclose(out.prev_sample.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
    assert s.previous_timestep(t) == prev


def test_timestep_spacings():
    s = DDIMScheduler(SchedulerConfig(num_train_timesteps=50))
    s.set_timesteps(5, "trailing")
    assert s.timesteps.tolist() == [49, 39, 29, 19, 9]
    s.set_timesteps(5, "leading")
    assert s.timesteps.tolist() == [40, 30, 20, 10, 0]
    s.set_timesteps(5, "linspace")
    assert s.timesteps.tolist()[0] == 49 and s.timesteps.tolist()[-1] == 0


def _gaussian_eps(s, mu, sigma):
    """Bayes-optimal noise prediction for data x0 ~ N(mu, sigma^2) (independent dimensions)."""
    def eps(x, t):
        a = float(s.alphas_cumprod[t])
        return math.sqrt(1 - a) * (x - math.sqrt(a) * mu) / (a * sigma**2 + 1 - a)
    return eps


def _run(s, eps, n=20000, seed=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g, dtype=torch.float64)
    for t in s.timesteps.tolist():
        x = s.step(eps(x, t), t, x, generator=g).prev_sample
    return x


@pytest.mark.parametrize("steps", [50, 10])
def test_ddpm_with_the_exact_score_recovers_unit_variance_data(steps):
    """For x0 ~ N(mu, 1) DDPM's reverse kernels with the fixed_large variance are exact at any
    step count, so x at the last timestep t_L follows its forward marginal; the last step
    returns E[x0 | x_tL], of variance alpha_bar[t_L]."""
    mu = 0.3
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=50, clip_sample=0.0, variance_type="fixed_large"))
    s.set_timesteps(steps)
    x = _run(s, _gaussian_eps(s, mu, 1.0))
    last = s.timesteps.tolist()[-1]
    assert abs(float(x.mean()) - mu) < 0.025
    assert abs(float(x.std()) - math.sqrt(np.cumprod(1 - np.linspace(0.002, 0.4, 50))[last])) < 0.015


@pytest.mark.parametrize("method,eta,steps", [("ddpm", 0.0, 10), ("ddim", 0.0, 8), ("ddim", 0.5, 8)])
def test_sampling_follows_the_linear_gaussian_recursion(method, eta, steps):
    """For Gaussian data every step is affine in x: propagate mean and variance in numpy
    (betas rebuilt independently, Ho et al. eq. 7 / Song et al. eq. 12) and compare with the
    sampled moments."""
    mu, sigma, T = 0.3, 0.2, 50
    s = make_scheduler(method, SchedulerConfig(num_train_timesteps=T, clip_sample=0.0), eta)
    s.set_timesteps(steps)
    x = _run(s, _gaussian_eps(s, mu, sigma))
    ab = np.cumprod(1 - np.linspace(0.002, 0.4, T))
    m, v = 0.0, 1.0
    ts = s.timesteps.tolist()
    for i, t in enumerate(ts):
        a, a_prev = ab[t], (ab[ts[i + 1]] if i + 1 < len(ts) else 1.0)
        var_t = a * sigma**2 + 1 - a
        k, c = math.sqrt(a) * sigma**2 / var_t, mu * (1 - a) / var_t  # E[x0 | x_t] = k x + c
        if method == "ddpm":
            beta = 1 - a / a_prev
            c0, ct = math.sqrt(a_prev) * beta / (1 - a), math.sqrt(1 - beta) * (1 - a_prev) / (1 - a)
            A, b = c0 * k + ct, c0 * c
            noise = (1 - a_prev) / (1 - a) * beta if i + 1 < len(ts) else 0.0
        else:
            sig2 = eta**2 * (1 - a_prev) / (1 - a) * (1 - a / a_prev)
            ce = math.sqrt(1 - a_prev - sig2) / math.sqrt(1 - a)  # eps = (x - sqrt(a) x0) / sqrt(1 - a)
            A = math.sqrt(a_prev) * k + ce * (1 - math.sqrt(a) * k)
            b = math.sqrt(a_prev) * c - ce * math.sqrt(a) * c
            noise = sig2
        m, v = A * m + b, A**2 * v + noise
    assert abs(float(x.mean()) - m) < 0.01
    assert abs(float(x.var()) - v) < 0.05 * v
    assert abs(v - sigma**2) > 0.1 * sigma**2  # finite steps really change the variance here


def test_seeded_loops_repeat_and_differ_by_seed():
    s = DDPMScheduler(SchedulerConfig(num_train_timesteps=20))

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(3, 2, generator=g)
        for t in s.timesteps.tolist():
            x = s.step(0.5 * x, t, x, generator=g).prev_sample
        return x

    assert torch.equal(run(4), run(4))
    assert not torch.equal(run(4), run(5))


def test_errors_list_the_accepted_options():
    with pytest.raises(ConfigError, match="cosine"):
        SchedulerConfig(beta_schedule="quadratic")
    with pytest.raises(ConfigError, match="v_prediction"):
        SchedulerConfig(prediction_type="x0")
    with pytest.raises(ConfigError, match="ddim"):
        make_scheduler("euler", SchedulerConfig())
    s = DDIMScheduler(SchedulerConfig(num_train_timesteps=50))
    with pytest.raises(ConfigError, match="trailing"):
        s.set_timesteps(5, "uniform")
    with pytest.raises(ConfigError, match="1..50"):
        s.set_timesteps(51)
    with pytest.raises(DataError, match="not one of"):
        s.set_timesteps(5)
        s.step(torch.zeros(1, 2), 48, torch.zeros(1, 2))
    with pytest.raises(DataError, match="differs"):
        s.step(torch.zeros(1, 3), 49, torch.zeros(1, 2))
    with pytest.raises(DataError, match="0..49"):
        s.add_noise(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([50]))
