"""The two shapes of labelled sEMG data.

* ``TrialSet``: equal-length trials, one label each (Sapsanis: 30 trials x 6 s per grasp;
  the Myo CSV folder: one file per (repetition, class)). What offline training and
  cross-validation consume.
* ``Recording``: one continuous stream with a label per sample (NinaPro: ``restimulus``,
  ``rerepetition``), or trials concatenated with rest gaps (``TrialSet.to_recording``).
  What the streaming sources replay.

Loaders for the public datasets that give them are in ``emg.datasets``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import REST
from ..errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class _Labelled:
    """The fields and checks ``TrialSet`` and ``Recording`` share; they differ in the leading
    axes of ``data`` and in whether -1 (rest) is a label."""

    data: np.ndarray
    labels: np.ndarray
    repetitions: np.ndarray
    class_names: tuple[str, ...]
    channel_names: tuple[str, ...]
    sample_rate: float
    subject: str
    units: str = "V"

    #: The axes of ``data`` before the channels, as error messages name them.
    AXES: ClassVar[tuple[str, ...]]
    #: The lowest valid label.
    LOWEST_LABEL: ClassVar[int]

    def __post_init__(self):
        kind = type(self).__name__
        data = np.asarray(self.data, dtype=np.float32)
        labels = np.asarray(self.labels, dtype=np.int64)
        reps = np.asarray(self.repetitions, dtype=np.int64)
        names = tuple(self.class_names)
        channels = tuple(self.channel_names)
        if data.ndim != len(self.AXES) + 1 or data.shape[-1] != len(channels):
            axes = ", ".join(self.AXES)
            raise DatasetError(f"{kind} {self.subject!r}: data must be ({axes}, {len(channels)} channels), got {data.shape}")
        if labels.shape != (data.shape[0],) or reps.shape != (data.shape[0],):
            raise DatasetError(
                f"{kind} {self.subject!r}: labels {labels.shape} and repetitions {reps.shape} must be "
                f"({data.shape[0]},)"
            )
        if labels.size and (labels.min() < self.LOWEST_LABEL or labels.max() >= len(names)):
            raise DatasetError(f"{kind} {self.subject!r}: labels outside {self.LOWEST_LABEL}..{len(names) - 1}")
        if not self.sample_rate > 0:
            raise DatasetError(f"{kind} {self.subject!r}: sample_rate must be positive, got {self.sample_rate}")
        for attr, value in (("data", data), ("labels", labels), ("repetitions", reps)):
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "channel_names", channels)
        object.__setattr__(self, "sample_rate", float(self.sample_rate))

    def _as(self, cls: type, data: np.ndarray, labels: np.ndarray, repetitions: np.ndarray):
        """A ``cls`` (``TrialSet`` or ``Recording``) of ``data``, ``labels`` and ``repetitions``
        with these names, sample rate, subject and units."""
        return cls(data=data, labels=labels, repetitions=repetitions, class_names=self.class_names,
                   channel_names=self.channel_names, sample_rate=self.sample_rate, subject=self.subject,
                   units=self.units)


@dataclass(frozen=True, eq=False)
class TrialSet(_Labelled):
    """Equal-length labelled trials of one subject.

    Attributes:
        data: (n_trials, n_samples, n_channels) float32, values as stored (volts for
            Sapsanis, raw counts for Myo; see ``units``).
        labels: (n_trials,) int64 index into ``class_names``.
        repetitions: (n_trials,) int64 repetition number (0-based) within its class.
        class_names: class of each label index.
        channel_names: one name per channel.
        sample_rate: Hz.
        subject: subject name (file stem or folder name).
        units: ``"V"`` or ``"raw"``.
    """

    AXES = ("trials", "samples")
    LOWEST_LABEL = 0

    @property
    def n_trials(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[2])

    def of_class(self, name: str) -> np.ndarray:
        """Trials of one class: (n, n_samples, n_channels) float32, ordered by repetition."""
        if name not in self.class_names:
            raise DatasetError(f"class {name!r} not in {self.class_names}")
        idx = np.flatnonzero(self.labels == self.class_names.index(name))
        return self.data[idx[np.argsort(self.repetitions[idx], kind="stable")]]

    def to_recording(
        self,
        order: np.ndarray | None = None,
        rest_s: float = 0.0,
        rest_value: np.ndarray | float | None = None,
    ) -> "Recording":
        """Concatenate trials into one labelled stream.

        Args:
            order: trial indices in playback order (default: stored order).
            rest_s: seconds of rest inserted before every trial (labelled -1).
            rest_value: value of the rest samples per channel, (n_channels,) or scalar;
                default the median of each channel over all trials (the DC offset), so
                the gap looks like a quiet electrode rather than a step to zero.

        Returns:
            A ``Recording`` with per-sample labels (-1 during rest gaps).
        """
        order = np.arange(self.n_trials) if order is None else np.asarray(order, dtype=np.int64)
        if order.size and (order.min() < 0 or order.max() >= self.n_trials):
            raise DatasetError(f"trial order has indices outside 0..{self.n_trials - 1}")
        n_rest = int(round(rest_s * self.sample_rate))
        if rest_value is None:
            rest_value = np.median(self.data, axis=(0, 1)) if self.n_trials else 0.0
        rest = np.broadcast_to(np.asarray(rest_value, np.float32), (n_rest, self.n_channels))
        parts, labels, reps = [], [], []
        for i in order:
            parts += [rest, self.data[i]]
            labels += [np.full(n_rest, -1), np.full(self.n_samples, self.labels[i])]
            reps += [np.full(n_rest, -1), np.full(self.n_samples, self.repetitions[i])]
        empty = np.zeros((0, self.n_channels), np.float32)
        none = np.zeros(0, np.int64)
        return self._as(Recording, np.concatenate(parts) if parts else empty,
                        np.concatenate(labels) if labels else none, np.concatenate(reps) if reps else none)


@dataclass(frozen=True, eq=False)
class Recording(_Labelled):
    """One continuous labelled stream.

    Attributes:
        data: (n_samples, n_channels) float32 in ``units``.
        labels: (n_samples,) int64 index into ``class_names``; -1 = rest.
        repetitions: (n_samples,) int64 0-based repetition of the movement; -1 during rest.
        class_names, channel_names, sample_rate (Hz), subject, units: as in ``TrialSet``.
    """

    AXES = ("samples",)
    LOWEST_LABEL = -1

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    def label_names(self) -> np.ndarray:
        """(n_samples,) object array of class names, ``"rest"`` where the label is -1."""
        names = np.array((*self.class_names, REST), dtype=object)
        return names[self.labels]

    def segments(self) -> list[tuple[int, int, int, int]]:
        """Runs of constant (label, repetition) with label >= 0: ``(start, stop, label, repetition)``."""
        if self.n_samples == 0:
            return []
        key = self.labels * (1 << 32) + self.repetitions
        edges = np.flatnonzero(np.diff(key)) + 1
        starts = np.r_[0, edges]
        stops = np.r_[edges, self.n_samples]
        return [
            (int(a), int(b), int(self.labels[a]), int(self.repetitions[a]))
            for a, b in zip(starts, stops)
            if self.labels[a] >= 0
        ]

    def to_trials(self, n_samples: int | None = None) -> TrialSet:
        """Cut each labelled segment into a trial of ``n_samples`` (default: the shortest
        segment), keeping its first ``n_samples`` samples; shorter segments are skipped
        (logged)."""
        segs = self.segments()
        if not segs:
            raise DatasetError(f"Recording {self.subject!r} has no labelled segments")
        length = min(b - a for a, b, _, _ in segs) if n_samples is None else int(n_samples)
        kept = [s for s in segs if s[1] - s[0] >= length]
        if len(kept) < len(segs):
            log.info("%s: %d segments shorter than %d samples skipped", self.subject, len(segs) - len(kept), length)
        return self._as(TrialSet, np.stack([self.data[a : a + length] for a, _, _, _ in kept]),
                        np.array([lab for _, _, lab, _ in kept]), np.array([rep for _, _, _, rep in kept]))
