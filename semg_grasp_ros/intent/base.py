"""The interface every grasp-type model implements, and its checkpoint format.

A model maps filtered windows ``(n, window, n_channels)`` to class posteriors. It works in
two stages so cross-validation can encode a subject's windows once:

* ``encode(windows)``: a fixed transform with no learned parameters (features,
  spectrogram, rectification);
* ``fit_encoded`` / ``predict_proba_encoded``: everything learned, the input
  normaliser (z-scoring of the encoded inputs) included.

``fit`` and ``predict_proba`` chain the two. ``save`` writes a checkpoint
(``intent.checkpoint``: ``<stem>.json`` + ``<stem>.safetensors``); loading rebuilds the
model from the JSON and then fills in the arrays; nothing is unpickled.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from . import checkpoint
from .spec import InputSpec

log = logging.getLogger(__name__)

#: ``progress(step, total, message)`` callback for long fits (the CLI wires it to tqdm).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Prediction:
    """Posteriors for a batch of windows.

    Attributes:
        probabilities: (n, n_classes) float64, rows sum to 1.
        class_names: column names.
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]

    @property
    def labels(self) -> np.ndarray:
        """(n,) int64 most probable class index."""
        return np.argmax(self.probabilities, axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """(n,) probability of the most probable class."""
        return np.max(self.probabilities, axis=1)


class IntentModel(ABC):
    """Base class of the grasp-type classifiers.

    Subclasses set ``architecture`` and ``config_type`` (a frozen dataclass with
    ``to_dict``/``from_dict``) and implement the abstract methods.
    """

    architecture: ClassVar[str]
    config_type: ClassVar[type]

    def __init__(self, spec: InputSpec, class_names, config=None):
        self.spec = spec
        self.class_names = tuple(class_names)
        if len(self.class_names) < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.class_names}")
        self.config = self.config_type() if config is None else config
        if not isinstance(self.config, self.config_type):
            raise ConfigError(f"{type(self).__name__} needs a {self.config_type.__name__}, got {type(self.config).__name__}")
        self.fitted = False
        #: free-form provenance stored in the JSON (training data, metrics, notes).
        self.info: dict[str, Any] = {}

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    # --- the two stages -----------------------------------------------------------------

    @abstractmethod
    def encode(self, windows: np.ndarray) -> np.ndarray:
        """Fixed transform of filtered windows (n, window, n_channels) -> model input (n, ...)."""

    @abstractmethod
    def fit_encoded(
        self,
        inputs: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray | None = None,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> "IntentModel":
        """Learn from encoded inputs; ``groups`` (n,) are trial ids so any validation split
        keeps whole trials apart."""

    @abstractmethod
    def predict_proba_encoded(self, inputs: np.ndarray) -> np.ndarray:
        """(n, n_classes) float64 posteriors of encoded inputs."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Every learned array but the normaliser's, by name (the safetensors content)."""

    @abstractmethod
    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of ``state``; raise ``ModelError`` on missing or misshapen arrays."""

    @abstractmethod
    def normaliser_shape(self) -> tuple[int, ...]:
        """Shape of the normaliser's mean and std (stored in the JSON)."""

    # --- convenience ----------------------------------------------------------------------

    def _check_windows(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows, dtype=np.float64)
        expected = (self.spec.window, self.spec.n_channels)
        if w.ndim != 3 or w.shape[1:] != expected:
            raise DataError(f"{self.architecture}: windows must be (n, {expected[0]}, {expected[1]}), got {w.shape}")
        return w

    def fit(
        self,
        windows: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray | None = None,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> "IntentModel":
        """Train on filtered windows (n, window, n_channels) with labels (n,) int."""
        labels = np.asarray(labels, dtype=np.int64)
        w = self._check_windows(windows)
        if labels.shape != (w.shape[0],) or labels.min(initial=0) < 0 or labels.max(initial=0) >= self.n_classes:
            raise DataError(f"labels must be ({w.shape[0]},) ints in 0..{self.n_classes - 1}")
        return self.fit_encoded(self.encode(w), labels, groups=groups, seed=seed, progress=progress)

    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        """(n, n_classes) posteriors of filtered windows (n, window, n_channels)."""
        if not self.fitted:
            raise ModelError(f"{self.architecture}: predict before fit or load")
        return self.predict_proba_encoded(self.encode(self._check_windows(windows)))

    def predict(self, windows: np.ndarray) -> Prediction:
        return Prediction(self.predict_proba(windows), self.class_names)

    def size_bytes(self) -> int:
        """Bytes of the learned arrays (weights and normaliser statistics)."""
        return int(sum(a.nbytes for a in self.state().values()) + self.normaliser.mean.nbytes * 2)

    # --- checkpoints ----------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            **checkpoint.header(),
            "architecture": self.architecture,
            "config": self.config.to_dict(),
            "input": self.spec.to_dict(),
            "class_names": list(self.class_names),
            **({"normaliser": self.normaliser.to_json()} if self.fitted else {}),
            **self.info,
        }

    def save(self, path) -> Path:
        """Write ``<stem>.json`` and ``<stem>.safetensors``; returns the JSON path."""
        if not self.fitted:
            raise ModelError(f"{self.architecture}: nothing to save before fit")
        return checkpoint.write(path, self.to_json(), self.state())

    @classmethod
    def from_pretrained(cls, path) -> "IntentModel":
        """Load a checkpoint of this architecture: a path (stem, ``.json`` or
        ``.safetensors``) or the name of a shipped model in ``models/`` (e.g.
        ``"intent_default"``); ``intent.models.load_model`` loads any architecture.

        Raises:
            ModelError: missing, corrupt or incompatible files, another architecture.
        """
        json_path, meta = checkpoint.read(path)
        if meta.get("architecture") != getattr(cls, "architecture", None):
            raise ModelError(f"{path}: holds a {meta.get('architecture')} model, not {cls.__name__}")
        return cls.from_checkpoint(json_path, meta)

    @classmethod
    def from_checkpoint(cls, json_path: Path, meta: dict) -> "IntentModel":
        """Rebuild from a checkpoint's JSON content ``meta`` (read from ``json_path``) and its weights.

        Raises:
            ModelError: a config that does not rebuild this architecture, bad weights or normaliser.
        """
        try:
            spec = InputSpec.from_dict(meta["input"])
            config = cls.config_type.from_dict(meta["config"])
            model = cls(spec, meta["class_names"], config)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{json_path}: model config does not rebuild a {cls.architecture} "
                             f"({type(exc).__name__}: {exc})") from exc
        arrays = checkpoint.read_weights(json_path, meta)
        model.normaliser = Standardiser.from_json(meta.get("normaliser"), model.normaliser_shape(), json_path)
        model.load_state(arrays)
        model.fitted = True
        model.info = {k: v for k, v in meta.items() if k not in _RESERVED}
        return model


_RESERVED = {"format", "format_version", "package_version", "architecture", "config", "input", "class_names", "weights",
             "normaliser"}


def take(arrays: dict[str, np.ndarray], name: str, shape: tuple | None = None) -> np.ndarray:
    """``arrays[name]`` checked for presence and shape; ``ModelError`` otherwise."""
    if name not in arrays:
        raise ModelError(f"weights lack array {name!r} (have {sorted(arrays)[:8]}...)")
    arr = np.asarray(arrays[name])
    if shape is not None and arr.shape != tuple(shape):
        raise ModelError(f"weights array {name!r} has shape {arr.shape}, the config implies {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise ModelError(f"weights array {name!r} contains NaN or inf")
    return arr


@dataclass(frozen=True)
class Standardiser:
    """Per-column z-scoring learned on training inputs (stored as ``<prefix>.mean/.std``)."""

    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.ones(0))

    @classmethod
    def fit(cls, x: np.ndarray, axis=0) -> "Standardiser":
        mean = np.mean(x, axis=axis, keepdims=True)
        std = np.std(x, axis=axis, keepdims=True)
        std = np.where(std > 1e-12 * (np.abs(mean) + 1.0), std, 1.0)
        return cls(np.squeeze(mean, axis=axis).astype(np.float64), np.squeeze(std, axis=axis).astype(np.float64))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std

    def to_json(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "note": "model inputs (features, spectrogram planes or channels) are z-scored: (x - mean) / std",
        }

    @classmethod
    def from_json(cls, d, shape: tuple, where="model config") -> "Standardiser":
        """Rebuild from ``to_json`` output, checking shape, finiteness and positive std.

        Raises:
            ModelError: missing or malformed statistics.
        """
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            std = np.asarray(d["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: no valid 'normaliser' mean/std ({type(exc).__name__}: {exc})") from exc
        if mean.shape != tuple(shape) or std.shape != tuple(shape):
            raise ModelError(f"{where}: normaliser statistics have shapes {mean.shape}, {std.shape}; expected {tuple(shape)}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise ModelError(f"{where}: normaliser statistics must be finite with std > 0")
        return cls(mean, std)
