"""LDA: posteriors against Gaussian class densities computed independently (scipy)."""

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import multivariate_normal

from semg_grasp_ros.emg.features import FeatureConfig
from semg_grasp_ros.errors import DataError
from semg_grasp_ros.intent.lda import LdaConfig, LdaModel
from semg_grasp_ros.intent.spec import InputSpec

SPEC = InputSpec(sample_rate=500.0, channel_names=("a", "b"), window_ms=100.0, stride_ms=50.0)
NAMES = ("x", "y", "z")


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 0.0], [2.0, -1.0, 0.5], [-1.0, 2.0, 1.0]])
    a = rng.standard_normal((3, 3))
    y = rng.integers(0, 3, n)
    x = means[y] + rng.standard_normal((n, 3)) @ a.T
    return x, y


def test_posteriors_equal_gaussian_density_ratio():
    x, y = _data()
    model = LdaModel(SPEC, NAMES, LdaConfig(shrinkage=0.0))
    model.fit_encoded(x, y)
    # Independent: z-score, class means, pooled covariance (n - K), Gaussian log densities + log priors.
    mu, sd = x.mean(0), x.std(0)
    z = (x - mu) / sd
    means = [z[y == k].mean(0) for k in range(3)]
    scatter = sum((z[y == k] - means[k]).T @ (z[y == k] - means[k]) for k in range(3))
    cov = scatter / (len(y) - 3)
    prior = np.bincount(y, minlength=3) / len(y)
    test = np.random.default_rng(9).standard_normal((7, 3)) * 2
    zt = (test - mu) / sd
    logp = np.stack([multivariate_normal(means[k], cov).logpdf(zt) + np.log(prior[k]) for k in range(3)], axis=1)
    np.testing.assert_allclose(model.predict_proba_encoded(test), softmax(logp, axis=1), rtol=1e-8, atol=1e-12)


def test_shrinkage_keeps_collinear_features_solvable():
    x, y = _data(1)
    x = np.concatenate([x, x[:, :1]], axis=1)  # duplicated column: singular covariance
    model = LdaModel(SPEC, NAMES, LdaConfig(shrinkage=1e-3)).fit_encoded(x, y)
    p = model.predict_proba_encoded(x)
    assert np.all(np.isfinite(p)) and np.mean(p.argmax(1) == y) > 0.6


def test_fit_on_windows_and_missing_class():
    rng = np.random.default_rng(2)
    n = SPEC.window
    windows = np.concatenate([0.1 * rng.standard_normal((20, n, 2)), 1.0 * rng.standard_normal((20, n, 2)),
                              np.stack([rng.standard_normal((20, n)), 0.1 * rng.standard_normal((20, n))], -1)])
    labels = np.repeat([0, 1, 2], 20)
    model = LdaModel(SPEC, NAMES, LdaConfig(features=FeatureConfig(names=("log_rms",))))
    model.fit(windows, labels)
    assert np.mean(model.predict(windows).labels == labels) == 1.0
    with pytest.raises(DataError, match="every class"):
        LdaModel(SPEC, NAMES).fit(windows[:40], labels[:40])
    with pytest.raises(DataError):
        model.predict_proba(windows[:, :10])
