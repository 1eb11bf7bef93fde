"""Linear discriminant analysis on window features: the fast baseline.

Gaussian classes with one shared covariance (Englehart & Hudgins 2003 used TD features
with LDA for myoelectric control). The pooled covariance is shrunk towards a scaled
identity, ``(1 - s) * S + s * tr(S)/d * I``, so it stays invertible with correlated
features; the learned arrays (class means, covariance, discriminant coefficients) are
plain arrays in the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..emg.features import TD_FEATURES, FeatureConfig, extract_features, feature_names
from ..errors import ConfigError, DataError, ModelError
from .base import IntentModel, Standardiser, take


@dataclass(frozen=True)
class LdaConfig:
    """Features and covariance shrinkage ``s`` in [0, 1]."""

    features: FeatureConfig = field(default_factory=lambda: TD_FEATURES)
    shrinkage: float = 1e-3

    def __post_init__(self):
        if not 0 <= self.shrinkage <= 1:
            raise ConfigError(f"shrinkage must be in [0, 1], got {self.shrinkage}")

    def to_dict(self) -> dict:
        return {"features": self.features.to_dict(), "shrinkage": self.shrinkage}

    @classmethod
    def from_dict(cls, d: dict) -> "LdaConfig":
        return cls(features=FeatureConfig(**d["features"]), shrinkage=float(d["shrinkage"]))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (n, k) scores."""
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class LdaModel(IntentModel):
    """Window features -> z-score -> LDA."""

    architecture = "lda"
    config_type = LdaConfig

    @property
    def n_features(self) -> int:
        return len(feature_names(self.spec.channel_names, self.config.features))

    def encode(self, windows: np.ndarray) -> np.ndarray:
        return extract_features(windows, self.spec.sample_rate, self.config.features)

    def fit_encoded(self, inputs, labels, groups=None, seed=0, progress=None):
        x = np.asarray(inputs, dtype=np.float64)
        y = np.asarray(labels, dtype=np.int64)
        missing = sorted(set(range(self.n_classes)) - set(np.unique(y).tolist()))
        if missing:
            raise DataError(f"LDA needs training windows of every class; none of {[self.class_names[m] for m in missing]}")
        self.normaliser = Standardiser.fit(x)
        z = self.normaliser(x)
        self.means = np.stack([z[y == k].mean(axis=0) for k in range(self.n_classes)])
        self.priors = np.bincount(y, minlength=self.n_classes) / y.size
        centred = z - self.means[y]
        cov = centred.T @ centred / max(1, y.size - self.n_classes)
        s = self.config.shrinkage
        self.covariance = (1 - s) * cov + s * np.trace(cov) / cov.shape[0] * np.eye(cov.shape[0])
        self._derive()
        self.fitted = True
        return self

    def _derive(self) -> None:
        # Discriminant g_k(z) = z' S^-1 m_k - m_k' S^-1 m_k / 2 + log p_k.
        self.coef = np.linalg.solve(self.covariance, self.means.T).T
        self.intercept = -0.5 * np.sum(self.coef * self.means, axis=1) + np.log(self.priors)

    def predict_proba_encoded(self, inputs):
        z = self.normaliser(np.asarray(inputs, dtype=np.float64))
        return softmax(z @ self.coef.T + self.intercept)

    def normaliser_shape(self):
        return (self.n_features,)

    def state(self):
        return {
            "means": self.means,
            "covariance": self.covariance,
            "priors": self.priors,
            "coef": self.coef,
            "intercept": self.intercept,
        }

    def load_state(self, arrays):
        d, k = self.n_features, self.n_classes
        self.means = take(arrays, "means", (k, d)).astype(np.float64)
        self.covariance = take(arrays, "covariance", (d, d)).astype(np.float64)
        self.priors = take(arrays, "priors", (k,)).astype(np.float64)
        self.coef = take(arrays, "coef", (k, d)).astype(np.float64)
        self.intercept = take(arrays, "intercept", (k,)).astype(np.float64)
        extra = sorted(set(arrays) - {"means", "covariance", "priors", "coef", "intercept"})
        if extra:
            raise ModelError(f"weights hold arrays an LDA does not have: {extra[:5]}")
