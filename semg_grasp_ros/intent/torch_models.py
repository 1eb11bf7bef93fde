"""The neural grasp-type models: feature MLP, spectrogram ResNet-18, LSTM + causal CNN hybrid.

Each wraps one network of ``networks.py``, an input transform (``encode``), a normaliser
learned on the training data, and ``training.train_classifier``. The network config in
the checkpoint carries the resolved input and class sizes, so loading never guesses a
shape.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field, fields, replace
from typing import get_type_hints

import numpy as np
import torch
from scipy.special import erf
from torch import nn

from ..emg.features import RICH_FEATURES, FeatureConfig, SpectrogramConfig, extract_features, feature_names, spectrogram
from ..errors import ConfigError, ModelError
from .base import IntentModel, Standardiser, take
from .lda import softmax
from .networks import HybridConfig, HybridNet, MlpConfig, MlpNet, ResNet18, ResNetConfig
from .training import TrainConfig, predict_logits, train_classifier


_SQRT_HALF = float(np.sqrt(0.5))


class _PartsConfig:
    """A model config made of part configs (input transform, network, training), each a
    dataclass with ``to_dict``, stored in the checkpoint JSON as one mapping per part."""

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name).to_dict() for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict):
        parts = get_type_hints(cls)
        return cls(**{f.name: parts[f.name](**d[f.name]) for f in fields(cls)})


class TorchModel(IntentModel):
    """Common parts: build the net from ``config.network``, normalise, train, save tensors."""

    net: nn.Module

    def __init__(self, spec, class_names, config=None):
        super().__init__(spec, class_names, config)
        self._build(replace(self.config.network, **self._input_sizes(), n_classes=len(self.class_names)))

    @abstractmethod
    def _input_sizes(self) -> dict[str, int]:
        """The network config's input sizes for ``spec`` (checked against the config)."""

    def _build(self, network_config) -> None:
        self.config = replace(self.config, network=network_config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.net = self.network_type(network_config)
        self.net.eval()

    def _init_weights(self, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = self.network_type(self.config.network)

    def _normaliser_axes(self):
        return 0

    def _stat_view(self, stat: np.ndarray) -> np.ndarray:
        """Reshape a normaliser statistic to broadcast against encoded inputs (n, ...)."""
        return stat

    def _normalise(self, inputs: np.ndarray) -> np.ndarray:
        mean, std = self._stat_view(self.normaliser.mean), self._stat_view(self.normaliser.std)
        return ((inputs - mean) / std).astype(np.float32)

    def fit_encoded(self, inputs, labels, groups=None, seed=0, progress=None):
        x = np.asarray(inputs, dtype=np.float64)
        self.normaliser = Standardiser.fit(x, axis=self._normaliser_axes())
        self._init_weights(seed)
        self.info["training"] = train_classifier(
            self.net, self._normalise(x), labels, self.config.train, groups=groups, seed=seed, progress=progress
        )
        self.fitted = True
        return self

    def predict_proba_encoded(self, inputs):
        x = torch.from_numpy(self._normalise(np.asarray(inputs, dtype=np.float64)))
        return softmax(predict_logits(self.net, x).numpy().astype(np.float64))

    def state(self):
        return {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def load_state(self, arrays):
        expected = self.net.state_dict()
        tensors = {}
        for k, v in expected.items():
            arr = take(arrays, f"net.{k}", tuple(v.shape))
            tensors[k] = torch.from_numpy(np.array(arr)).to(v.dtype)
        extra = sorted(k for k in arrays if not k.startswith("net.") or k[4:] not in expected)
        if extra:
            raise ModelError(f"weights hold arrays the {self.architecture} config does not build: {extra[:5]}")
        self.net.load_state_dict(tensors, strict=True)
        self.net.eval()


# --- feature MLP --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureMlpConfig(_PartsConfig):
    features: FeatureConfig = field(default_factory=lambda: RICH_FEATURES)
    network: MlpConfig = field(default_factory=MlpConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class FeatureMlpModel(TorchModel):
    """Window features -> z-score -> MLP."""

    architecture = "feature_mlp"
    config_type = FeatureMlpConfig
    network_type = MlpNet

    def _input_sizes(self):
        return {"in_features": len(feature_names(self.spec.channel_names, self.config.features))}

    def normaliser_shape(self):
        return (self.config.network.in_features,)

    def encode(self, windows):
        return extract_features(windows, self.spec.sample_rate, self.config.features)

    def fit_encoded(self, inputs, labels, groups=None, seed=0, progress=None):
        self._layers = None
        return super().fit_encoded(inputs, labels, groups, seed, progress)

    def load_state(self, arrays):
        self._layers = None
        super().load_state(arrays)

    def predict_proba_encoded(self, inputs):
        # The online decoder asks for one window 20 times a second; plain numpy matmuls
        # avoid torch's per-call overhead (about 0.2 ms). Same maths as MlpNet.forward in
        # eval mode: Linear -> exact GELU (dropout is the identity) ..., Linear, softmax.
        if getattr(self, "_layers", None) is None:
            self._layers = [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy().copy())
                            for m in self.net.layers if isinstance(m, nn.Linear)]
        z = (np.asarray(inputs, dtype=np.float64) - self.normaliser.mean) / self.normaliser.std
        for i, (weight, bias) in enumerate(self._layers):
            z = z @ weight + bias
            if i < len(self._layers) - 1:
                z = 0.5 * z * (1.0 + erf(z * _SQRT_HALF))
        return softmax(z)


# --- ResNet-18 on spectrograms ---------------------------------------------------------------

#: The paper's recipe: SGD, momentum 0.9, lr 0.001, batch 10, 30 epochs, 10 % validation.
PAPER_TRAIN = TrainConfig(
    optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=0.0, batch_size=10, epochs=30,
    schedule="constant", label_smoothing=0.0, val_fraction=0.125,
)


@dataclass(frozen=True)
class SpectrogramResNetConfig(_PartsConfig):
    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)
    network: ResNetConfig = field(default_factory=ResNetConfig)
    train: TrainConfig = field(default_factory=lambda: PAPER_TRAIN)


class SpectrogramResNetModel(TorchModel):
    """Log STFT power of each channel stacked as image planes -> ResNet-18.

    The paper rendered 480x640 spectrogram images; the network sees the STFT tensor
    itself here ((channels, nperseg / 2 + 1, frames)), normalised per channel.
    """

    architecture = "spectrogram_resnet"
    config_type = SpectrogramResNetConfig
    network_type = ResNet18

    def _input_sizes(self):
        if self.config.spectrogram.nperseg > self.spec.window:
            raise ConfigError(
                f"spectrogram nperseg {self.config.spectrogram.nperseg} exceeds the {self.spec.window}-sample window"
            )
        return {"in_channels": self.spec.n_channels}

    def _normaliser_axes(self):
        return (0, 2, 3)  # one mean/std per channel plane

    def normaliser_shape(self):
        return (self.spec.n_channels,)

    def _stat_view(self, stat):
        return stat[:, None, None]

    def encode(self, windows):
        return spectrogram(windows, self.spec.sample_rate, self.config.spectrogram).numpy()


# --- hybrid LSTM + dilated causal CNN ----------------------------------------------------------


@dataclass(frozen=True)
class HybridModelConfig(_PartsConfig):
    network: HybridConfig = field(default_factory=HybridConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=128, epochs=15))


class HybridModel(TorchModel):
    """Per-channel z-score of the filtered signal, rectified (Gulati et al.), -> ``HybridNet``."""

    architecture = "lstm_causal_cnn"
    config_type = HybridModelConfig
    network_type = HybridNet

    def _input_sizes(self):
        if self.spec.window < self.config.network.pool:
            raise ConfigError(
                f"window of {self.spec.window} samples is shorter than the pooling {self.config.network.pool}")
        return {"in_channels": self.spec.n_channels}

    def encode(self, windows):
        return np.swapaxes(np.asarray(windows, dtype=np.float64), 1, 2)  # (n, channels, samples)

    def _normaliser_axes(self):
        return (0, 2)

    def normaliser_shape(self):
        return (self.spec.n_channels,)

    def _stat_view(self, stat):
        return stat[:, None]

    def _normalise(self, inputs):
        return np.abs(super()._normalise(inputs))
