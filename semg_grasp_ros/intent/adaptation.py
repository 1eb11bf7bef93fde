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
  (``AdaptConfig.shrinkage``: a few repetitions do not estimate a 40 x 40 covariance), trained
  on the calibration windows and ``augment_copies`` transformed copies of them
  (``augment_windows``: a channel's gain, crosstalk between the channels as after an electrode
  shift, the spectrum compressed as with fatigue; training with displaced electrodes is
  Hargrove et al. 2008's remedy for electrode shift), so the model does not rest on what a
  session changes; and
* ``OnlineAdapter``: unsupervised updates during use, after every completed grasp: the
  normaliser's mean follows the mean of all grasps (label-free re-centring, for changes
  common to every grasp: gain, fatigue), and the decided class's mean follows the grasp when
  its windows clearly agreed on that class and it lies near that class (the adaptive LDA of
  myoelectric control: Vidaurre et al. 2011, Sensinger et al. 2009; self-recalibrating
  classifiers). A class mean never moves more than halfway from its calibrated place towards
  the nearest other class (``AdaptConfig.max_class_shift``), so wrong decisions after a change
  cannot carry one grasp's class onto another's signal. Every update is logged with its class
  so a benchmark with ground truth can show the decisions it adapted on were right
  (``bench/drift.py``).
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
        max_class_shift: a class mean moves at most this fraction of the (Mahalanobis)
            distance from its calibrated place to the nearest other class's (0 = no limit):
            at 0.5 no class can pass the midpoint to another, so a run of wrong decisions (a
            change that makes one grasp look like another) cannot carry a class onto another
            grasp's signal.
        augment_copies: transformed copies of every calibration window added to the personal
            model's training set (0 = none; ``augment_windows``).
        max_gain: a copy's channel gains are drawn log-uniformly in [1 / max_gain, max_gain].
        max_crosstalk: each channel of a copy picks up a fraction in [0, max_crosstalk] of
            the other (x' = M x, rows of M summing to 1).
        min_stretch: a copy's spectrum is compressed by a factor drawn in [min_stretch, 1]
            (x'(t) = x(f t): the median frequency times f).
        augment_seed: seed of the copies' random draws.
    """

    shrinkage: float = 0.3
    rate: float = 0.3
    min_agreement: float = 0.6
    min_windows: int = 5
    shift_rate: float = 0.1
    max_distance: float = 0.5
    max_class_shift: float = 0.5
    augment_copies: int = 3
    max_gain: float = 1.4
    max_crosstalk: float = 0.3
    min_stretch: float = 0.8
    augment_seed: int = 0

    def __post_init__(self):
        if not (0 <= self.shrinkage <= 1 and 0 <= self.rate <= 1 and 0 <= self.shift_rate <= 1
                and 0 < self.min_agreement <= 1 and self.max_distance >= 0 and self.max_class_shift >= 0):
            raise ConfigError(f"need shrinkage, rate and shift_rate in [0, 1], min_agreement in (0, 1], max_distance "
                              f"and max_class_shift >= 0; got {self.shrinkage}, {self.rate}, {self.shift_rate}, "
                              f"{self.min_agreement}, {self.max_distance}, {self.max_class_shift}")
        if self.min_windows < 1:
            raise ConfigError(f"min_windows must be >= 1, got {self.min_windows}")
        if not (self.augment_copies >= 0 and self.max_gain >= 1 and 0 <= self.max_crosstalk < 0.5
                and 0 < self.min_stretch <= 1):
            raise ConfigError(f"need augment_copies >= 0, max_gain >= 1, max_crosstalk in [0, 0.5), min_stretch in "
                              f"(0, 1]; got {self.augment_copies}, {self.max_gain}, {self.max_crosstalk}, "
                              f"{self.min_stretch}")

    def augmentation(self) -> dict:
        """The augmentation settings, as recorded in a personal model's info."""
        return {"copies": self.augment_copies, "max_gain": self.max_gain, "max_crosstalk": self.max_crosstalk,
                "min_stretch": self.min_stretch, "seed": self.augment_seed}


def features_of(model: IntentModel) -> FeatureConfig:
    """The window features of ``model`` (the rich set for models without features)."""
    return getattr(model.config, "features", None) or RICH_FEATURES


def augment_windows(windows: np.ndarray, config: AdaptConfig) -> np.ndarray:
    """``config.augment_copies`` transformed copies of every window, each with its own draw.

    A copy of a window is the window's spectrum compressed (``x(f t)``, linear interpolation
    inside the window, ``f`` in [``min_stretch``, 1]), then its channels mixed (each picks up
    a fraction in [0, ``max_crosstalk``] of the others' mean) and scaled (gains log-uniform in
    [1 / ``max_gain``, ``max_gain``]). The filter is linear, so mixing and gains of filtered
    windows equal those of the raw signal.

    Args:
        windows: (n, window, n_channels) filtered windows.

    Returns:
        (copies * n, window, n_channels): copy 0 of every window, then copy 1, ...
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] < 2:
        raise DataError(f"windows must be (n, samples >= 2, channels), got {w.shape}")
    rng = np.random.default_rng(config.augment_seed)
    n, length, n_ch = w.shape
    t = np.arange(length, dtype=np.float64)
    copies = []
    for _ in range(config.augment_copies):
        pos = rng.uniform(config.min_stretch, 1.0, size=(n, 1)) * t  # (n, length), <= length - 1
        lo = np.minimum(pos.astype(np.int64), length - 2)
        frac = (pos - lo)[..., None]
        take = lambda i: np.take_along_axis(w, i[..., None], axis=1)  # noqa: E731
        stretched = (1 - frac) * take(lo) + frac * take(lo + 1)
        if n_ch > 1:
            talk = rng.uniform(0.0, config.max_crosstalk, size=(n, n_ch))
            others = (stretched.sum(axis=2, keepdims=True) - stretched) / (n_ch - 1)
            stretched = (1 - talk[:, None, :]) * stretched + talk[:, None, :] * others
        gains = np.exp(rng.uniform(-np.log(config.max_gain), np.log(config.max_gain), size=(n, 1, n_ch)))
        copies.append(stretched * gains)
    return np.concatenate(copies) if copies else np.zeros((0, length, n_ch))


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
    labels = np.asarray(labels)
    if config.augment_copies:
        windows = np.concatenate([np.asarray(windows, dtype=np.float64), augment_windows(windows, config)])
        labels = np.tile(labels, config.augment_copies + 1)
    model.fit(windows, labels)
    model.info["adaptation"] = {
        "method": "LDA on the pretrained model's window features, normaliser fitted to the person's calibration "
                  f"windows and {config.augment_copies} transformed copies of each (gain, crosstalk, spectral "
                  f"compression), covariance shrinkage {config.shrinkage:g}",
        "augmentation": config.augmentation(),
        "pretrained": {k: pretrained.info[k] for k in ("preset", "description", "training_data") if k in pretrained.info},
        "calibration_windows": int(len(labels)) // (config.augment_copies + 1),
        "calibration_windows_per_class": (np.bincount(labels, minlength=model.n_classes)
                                          // (config.augment_copies + 1)).tolist(),
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
    class means, then the discriminant); the covariance is kept. The class means the model has
    when the adapter is made are the calibrated ones ``max_class_shift`` measures from.
    """

    model: LdaModel
    config: AdaptConfig = field(default_factory=AdaptConfig)
    history: list[Adaptation] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.model, LdaModel) or not self.model.fitted:
            raise ConfigError("online adaptation needs a fitted LDA personal model (semg-grasp calibrate makes one)")
        self._calibrated = self.model.means.copy()
        # whitening of the shared covariance: Mahalanobis distances become Euclidean
        self._whiten = np.linalg.cholesky(np.linalg.inv(self.model.covariance))
        white = self._calibrated @ self._whiten
        gaps = np.linalg.norm(white[:, None] - white[None], axis=-1)
        np.fill_diagonal(gaps, np.inf)
        self._reach = self.config.max_class_shift * gaps.min(axis=1)  # (n_classes,), inf if one class

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
        if self.config.max_class_shift > 0:
            moved = self.model.means[decided] - self._calibrated[decided]
            far = float(np.linalg.norm(moved @ self._whiten))
            if far > self._reach[decided]:
                self.model.means[decided] = self._calibrated[decided] + moved * (self._reach[decided] / far)
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
