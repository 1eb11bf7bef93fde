"""Zero-shot: a model for a person with no calibration, normalised on the person's own signal.

With two electrodes the same grasp looks different on every person (placement, skin, forearm
size): a model pooled on other people and applied as it is lands near chance on a new one
(``bench/fewshot.py``, K = 0). What does carry over is the structure of a person's signal
relative to their own range: which grasps are strong or weak on which channel, the spectral
shape. So the zero-shot model is

* ``subject_normalised_lda``: LDA on the window features of the other people, each person's
  features z-scored on that person's own active windows (all grasps, no labels needed); and
* ``UserNormaliser``: the new person's features z-scored the same way, on the running mean and
  standard deviation of every active window they have produced so far (before the first one:
  the average statistics of the training people). It needs no labels, so it runs during use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..emg.datasets import TrialSet
from ..errors import ConfigError, DataError
from .adaptation import features_of
from .base import IntentModel, Standardiser
from .lda import LdaConfig, LdaModel

#: Covariance shrinkage of the zero-shot LDA (the personal model's default).
ZERO_SHOT_SHRINKAGE = 0.3


def active_features(model: IntentModel, trials: TrialSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encoded windows of ``trials`` for ``model``: features (n_trials, n_windows, n_features),
    the active mask (n_trials, n_windows) and the window labels (n_trials, n_windows)."""
    from ..emg.windows import active_mask
    from .spec import filter_and_window

    model.spec.check_trials(trials.sample_rate, trials.channel_names)
    windows = filter_and_window(trials.data, model.spec)
    active = active_mask(windows)
    n_t, n_w = active.shape
    x = model.encode(windows.reshape(n_t * n_w, *windows.shape[2:])).reshape(n_t, n_w, -1)
    return x, active, np.repeat(trials.labels, n_w).reshape(n_t, n_w)


def subject_normalised_lda(template: IntentModel, subjects: Sequence[TrialSet],
                           shrinkage: float = ZERO_SHOT_SHRINKAGE) -> LdaModel:
    """LDA on the active windows of ``subjects``, every subject's features z-scored on their own.

    Args:
        template: the model whose input spec, classes and window features are kept.
        subjects: the training people (one ``TrialSet`` each, the template's classes).

    Returns:
        A fitted ``LdaModel`` whose normaliser maps a person's features z-scored on their own
        statistics; its ``info["zero_shot"]["population"]`` holds the mean of the training
        people's statistics (``UserNormaliser``'s start).
    """
    if not subjects:
        raise DataError("the zero-shot model needs at least one training subject")
    xs, ys, means, stds = [], [], [], []
    for t in subjects:
        if tuple(t.class_names) != tuple(template.class_names):
            raise DataError(f"subject {t.subject} has classes {t.class_names}, the model {template.class_names}")
        x, active, labels = active_features(template, t)
        own = Standardiser.fit(x[active])
        xs.append(own(x[active]))
        ys.append(labels[active])
        means.append(own.mean)
        stds.append(own.std)
    model = LdaModel(template.spec, template.class_names, LdaConfig(features_of(template), shrinkage))
    model.fit_encoded(np.concatenate(xs), np.concatenate(ys))
    model.info["zero_shot"] = {
        "method": "LDA on the training subjects' window features, each subject z-scored on their own active "
                  f"windows; covariance shrinkage {shrinkage:g}",
        "subjects": [t.subject for t in subjects],
        "population": {"mean": np.mean(means, axis=0).tolist(), "std": np.mean(stds, axis=0).tolist()},
    }
    return model


class UserNormaliser:
    """Z-scores a person's features on everything they have produced so far, for a
    ``subject_normalised_lda`` model (updated in place).

    The model's own normaliser (fitted on the z-scored pool, close to zero mean and unit
    standard deviation) is composed with the person's running statistics, so the model stays
    an ordinary ``LdaModel``.
    """

    def __init__(self, model: LdaModel):
        if not isinstance(model, LdaModel) or "zero_shot" not in model.info:
            raise ConfigError("UserNormaliser needs a subject-normalised LDA (intent.zeroshot.subject_normalised_lda)")
        self.model = model
        self._pool = model.normaliser
        population = model.info["zero_shot"]["population"]
        self._set(np.asarray(population["mean"], dtype=np.float64), np.asarray(population["std"], dtype=np.float64))
        self.n = 0
        self._sum = np.zeros(model.n_features)
        self._sumsq = np.zeros(model.n_features)

    def _set(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.model.normaliser = Standardiser(mean + std * self._pool.mean, std * self._pool.std)

    def update(self, inputs: np.ndarray) -> None:
        """Add a person's encoded active windows (n, n_features) to their statistics."""
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.model.n_features or not np.all(np.isfinite(x)):
            raise DataError(f"inputs must be finite (n, {self.model.n_features}), got {x.shape}")
        self.n += len(x)
        self._sum += x.sum(axis=0)
        self._sumsq += np.square(x).sum(axis=0)
        if self.n >= 2:
            mean = self._sum / self.n
            std = np.sqrt(np.maximum(self._sumsq / self.n - mean**2, 0.0))
            self._set(mean, np.where(std > 1e-12 * (np.abs(mean) + 1.0), std, 1.0))
