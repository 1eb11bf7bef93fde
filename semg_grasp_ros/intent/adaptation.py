"""A model for a new person from a few repetitions, and unsupervised adaptation during use.

Measured on the Sapsanis subjects (``bench/fewshot.py``): a model trained on other people is
near chance on a new one, whatever is re-used of it (re-standardising its input features on
the new person's data, a linear classifier on its hidden layer, fine-tuning it on the new
person's repetitions: at most 84-92 % per trial with 2 repetitions per grasp). What decides
the accuracy is the person's own signal drifting over the session: a classifier calibrated on
the first 2 repetitions is right on nearly every one of the next five and loses up to a
quarter of the last ones. So the personal model is

* ``personal_model``: linear discriminant analysis on the pretrained model's window features
  (same filter, window and features, so it streams through the same decoder), its normaliser
  fitted to the person's calibration windows, covariance shrunk towards the identity
  (``AdaptConfig.shrinkage``: a few repetitions do not estimate a 40 x 40 covariance); and
* ``OnlineAdapter``: unsupervised updates during use, after every completed grasp: the
  normaliser's mean follows the mean of all grasps (label-free re-centring, for changes
  common to every grasp: gain, fatigue), and the decided class's mean follows the grasp when
  its windows clearly agreed on that class and it lies near that class (the adaptive LDA of
  myoelectric control: Vidaurre et al. 2011, Sensinger et al. 2009; self-recalibrating
  classifiers). Every update is logged with its class so a benchmark with ground truth can
  show the decisions it adapted on were right (``bench/drift.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..emg.features import RICH_FEATURES, FeatureConfig
from ..errors import ConfigError, DataError
from .base import IntentModel
from .lda import LdaConfig, LdaModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdaptConfig:
    """Few-shot and online adaptation settings (chosen on the Sapsanis subjects, ``bench/fewshot.py``).

    Attributes:
        shrinkage: covariance shrinkage of the personal LDA, in [0, 1].
        rate: weight of a completed grasp's mean feature vector in its class mean, in [0, 1]
            (0 = no online adaptation).
        min_agreement: a grasp adapts its class only when at least this fraction of its
            windows decided that class on their own, in (0, 1].
        min_windows: a grasp with fewer windows is too short to adapt on.
        shift_rate: weight of every grasp's mean feature vector in the normaliser's mean, in
            [0, 1] (0 = off): a label-free re-centring that follows changes common to all
            grasps (a channel's gain, the spectrum's shift with fatigue), right or wrong decision.
        max_distance: a grasp adapts its class only when its mean lies within this squared
            Mahalanobis distance per feature of the class mean (0 = no limit): right after a
            large change the grasps fit no class, and adapting on their (often wrong) decisions
            would pull a class onto another's signal; the re-centring brings them back first.
    """

    shrinkage: float = 0.3
    rate: float = 0.3
    min_agreement: float = 0.6
    min_windows: int = 5
    shift_rate: float = 0.1
    max_distance: float = 0.5

    def __post_init__(self):
        if not (0 <= self.shrinkage <= 1 and 0 <= self.rate <= 1 and 0 <= self.shift_rate <= 1
                and 0 < self.min_agreement <= 1 and self.max_distance >= 0):
            raise ConfigError(f"need shrinkage, rate and shift_rate in [0, 1], min_agreement in (0, 1], max_distance "
                              f">= 0; got {self.shrinkage}, {self.rate}, {self.shift_rate}, {self.min_agreement}, "
                              f"{self.max_distance}")
        if self.min_windows < 1:
            raise ConfigError(f"min_windows must be >= 1, got {self.min_windows}")


def features_of(model: IntentModel) -> FeatureConfig:
    """The window features of ``model`` (the rich set for models without features)."""
    return getattr(model.config, "features", None) or RICH_FEATURES


def personal_model(pretrained: IntentModel, windows: np.ndarray, labels: np.ndarray,
                   config: AdaptConfig = AdaptConfig()) -> LdaModel:
    """Fit the personal model on a person's calibration windows.

    Args:
        pretrained: the pooled model whose input spec (rate, channels, filter, window) and
            features the personal model keeps.
        windows: (n, window, n_channels) filtered windows of the person's grasps.
        labels: (n,) class indices into ``pretrained.class_names``; every class needed.

    Returns:
        A fitted ``LdaModel``; ``info["adaptation"]`` records how it was made.
    """
    model = LdaModel(pretrained.spec, pretrained.class_names, LdaConfig(features_of(pretrained), config.shrinkage))
    model.fit(windows, labels)
    model.info["adaptation"] = {
        "method": "LDA on the pretrained model's window features, normaliser fitted to the person's calibration "
                  f"windows, covariance shrinkage {config.shrinkage:g}",
        "pretrained": {k: pretrained.info[k] for k in ("preset", "description", "training_data") if k in pretrained.info},
        "calibration_windows": int(len(labels)),
        "calibration_windows_per_class": np.bincount(np.asarray(labels), minlength=model.n_classes).tolist(),
    }
    return model


@dataclass
class Adaptation:
    """One online update: the class adapted, the agreement of its windows, the windows used."""

    class_index: int
    agreement: float
    n_windows: int
    truth: int | None = None


@dataclass
class OnlineAdapter:
    """Unsupervised class-mean updates of a personal LDA from confident completed grasps.

    Feed it the encoded windows of each completed grasp (``adapt_segment``; on a stream,
    ``StreamAdapter`` cuts the grasps out). The model is updated in place (normaliser mean,
    class means, then the discriminant); the covariance is kept.
    """

    model: LdaModel
    config: AdaptConfig = field(default_factory=AdaptConfig)
    history: list[Adaptation] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.model, LdaModel) or not self.model.fitted:
            raise ConfigError("online adaptation needs a fitted LDA personal model (semg-grasp calibrate makes one)")

    def adapt_segment(self, inputs: np.ndarray, truth: int | None = None) -> Adaptation | None:
        """Decide one grasp from its windows and adapt on it when they agree.

        Args:
            inputs: (n, n_features) encoded windows (``model.encode``) of one grasp.
            truth: the true class when known (benchmarks), stored with the update.

        Returns:
            The class update made, or None (too short, the windows disagree, or the grasp lies
            far from the class it was decided as); the re-centring is done in every case but
            the first.
        """
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.model.n_features:
            raise DataError(f"segment inputs must be (n, {self.model.n_features}), got {x.shape}")
        if len(x) < self.config.min_windows:
            return None
        if self.config.shift_rate > 0:
            norm = self.model.normaliser
            mean = norm.mean + self.config.shift_rate * (x.mean(axis=0) - norm.mean)
            self.model.normaliser = type(norm)(mean, norm.std)
        if self.config.rate == 0:
            return None
        proba = self.model.predict_proba_encoded(x)
        decided = int(np.argmax(np.log(np.clip(proba, 1e-12, 1.0)).sum(axis=0)))
        votes = proba.argmax(axis=1) == decided
        agreement = float(votes.mean())
        if agreement < self.config.min_agreement:
            return None
        z = self.model.normaliser(x[votes]).mean(axis=0)
        if self.config.max_distance > 0:
            d = z - self.model.means[decided]
            if d @ np.linalg.solve(self.model.covariance, d) / d.size > self.config.max_distance:
                return None
        self.model.means[decided] += self.config.rate * (z - self.model.means[decided])
        self.model._derive()
        update = Adaptation(decided, agreement, int(votes.sum()), truth)
        self.history.append(update)
        log.debug("adapted class %s on %d windows (agreement %.2f)", self.model.class_names[decided], votes.sum(),
                  agreement)
        return update

    def summary(self) -> dict:
        """Counts of the updates, and how many were right where the truth was given."""
        known = [a for a in self.history if a.truth is not None]
        return {
            "updates": len(self.history),
            "updates_per_class": np.bincount([a.class_index for a in self.history],
                                             minlength=self.model.n_classes).tolist(),
            "updates_with_truth": len(known),
            "updates_right": int(sum(a.class_index == a.truth for a in known)),
            "updates_right_fraction": float(np.mean([a.class_index == a.truth for a in known])) if known else None,
        }


class StreamAdapter:
    """Online adaptation on a stream: cuts every completed grasp out of the signal by the
    decoder's decisions and adapts the model on its windows (``OnlineAdapter.adapt_segment``).

    A grasp runs from the first sample of the first window decided as its class to the last
    sample of the last one; it ends when the decision changes. The model (the decoder's own,
    an ``LdaModel``) is updated in place, so the decoder uses the adapted model from the next
    window on.

    Args:
        model: the fitted personal model the decoder uses.
        config: adaptation settings.
        max_grasp_s: only the last this many seconds of a longer grasp are adapted on.
    """

    def __init__(self, model: LdaModel, config: AdaptConfig = AdaptConfig(), max_grasp_s: float = 10.0):
        self.adapter = OnlineAdapter(model, config)
        self.spec = model.spec
        self._keep = int(max_grasp_s * self.spec.sample_rate) + self.spec.window
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a gap in the samples, a new stream)."""
        self._filter = self.spec.stream_filter()
        self._signal = np.zeros((0, self.spec.n_channels))
        self._start = 0  # stream index of self._signal[0]
        self._next: int | None = None
        self._class, self._first, self._last = -1, 0, 0

    def process(self, block: np.ndarray, first_index: int, decisions) -> list[Adaptation]:
        """Take a block of raw samples (n, n_channels) starting at stream index ``first_index``
        and the decoder's decisions on it (``intent.decoder.Decision``); returns the updates
        made on grasps that ended in it."""
        from ..emg.windows import sliding_windows

        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[1] != self.spec.n_channels or not np.all(np.isfinite(block)):
            self.reset()
            return []
        if self._next is not None and first_index != self._next:
            self.reset()
        if self._next is None:
            self._start = first_index
        self._next = first_index + len(block)
        self._signal = np.concatenate([self._signal, self._filter.process(block)])[-self._keep:]
        self._start = self._next - len(self._signal)
        updates = []
        for d in decisions:
            if d.class_index == self._class:
                self._last = d.end_index
                continue
            if self._class >= 0:
                a, b = max(self._first, self._start), self._last + 1
                if b - a >= self.spec.window:
                    windows = sliding_windows(self._signal[a - self._start:b - self._start], self.spec.window,
                                              self.spec.stride)
                    update = self.adapter.adapt_segment(self.adapter.model.encode(np.ascontiguousarray(windows)))
                    if update is not None:
                        updates.append(update)
            self._class, self._first, self._last = d.class_index, d.end_index - self.spec.window + 1, d.end_index
        return updates
