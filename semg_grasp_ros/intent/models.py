"""Named model presets: what ``--model NAME`` builds, and the default.

A preset fixes the architecture, its config and the analysis window. ``whole_trial``
presets classify a whole trial at once (the paper's ResNet-18 on the per-trial
spectrogram); the others classify windows, as online control does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..config import build_config, load_config_file
from ..emg.features import RICH_FEATURES, TD_FEATURES, FeatureConfig, SpectrogramConfig
from ..emg.filters import FilterConfig
from ..emg.windows import ACTIVE_FRACTION
from ..errors import ConfigError, ModelError
from . import checkpoint
from .base import IntentModel
from .lda import LdaConfig, LdaModel
from .networks import HybridConfig, MlpConfig
from .spec import InputSpec
from .torch_models import (
    PAPER_TRAIN,
    FeatureMlpConfig,
    FeatureMlpModel,
    HybridModel,
    HybridModelConfig,
    SpectrogramResNetConfig,
    SpectrogramResNetModel,
)
from .training import TrainConfig

#: Analysis window of the window-level models and of the window-level metric, ms.
WINDOW_MS = 250.0
#: Hop between training windows, ms.
STRIDE_MS = 50.0


@dataclass(frozen=True)
class Preset:
    """A named model recipe.

    Attributes:
        name: the ``--model`` name.
        description: one line for tables and model cards.
        factory: ``(spec, class_names) -> IntentModel`` (untrained).
        window_ms: analysis window; ignored when ``whole_trial``.
        stride_ms: hop between training windows and between the window-level test windows.
        whole_trial: the model sees a whole trial (window = trial length).
    """

    name: str
    description: str
    factory: Callable[[InputSpec, tuple[str, ...]], IntentModel]
    window_ms: float = WINDOW_MS
    stride_ms: float = STRIDE_MS
    whole_trial: bool = False

    def build(self, sample_rate: float, channel_names, class_names, trial_samples: int | None = None,
              filter_config: FilterConfig | None = None) -> IntentModel:
        """An untrained model for data at ``sample_rate`` with these channels and classes.

        ``trial_samples`` (the trial length) is required for ``whole_trial`` presets.
        """
        window_ms = self.window_ms
        if self.whole_trial:
            if not trial_samples:
                raise ConfigError(f"model {self.name} classifies whole trials; the trial length is needed")
            window_ms = trial_samples * 1000.0 / sample_rate
        spec = InputSpec(
            sample_rate=sample_rate,
            channel_names=tuple(channel_names),
            window_ms=window_ms,
            stride_ms=window_ms if self.whole_trial else self.stride_ms,
            filter=filter_config or FilterConfig(),
        )
        model = self.factory(spec, tuple(class_names))
        model.info["preset"] = self.name
        model.info["description"] = self.description
        return model


#: The paper's STFT (256-sample Hann, 50 % overlap) and the same on 250 ms windows, where
#: 256 samples do not fit: 64-sample segments keep the 50 % overlap.
PAPER_STFT = SpectrogramConfig(nperseg=256, overlap=0.5)
WINDOW_STFT = SpectrogramConfig(nperseg=64, overlap=0.5)

MLP_TRAIN = TrainConfig(optimizer="adamw", lr=3e-3, weight_decay=1e-3, batch_size=256, epochs=30,
                        schedule="onecycle", label_smoothing=0.1)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "lda_td",
            "LDA on Hudgins' time-domain features (MAV, WL, ZC, SSC)",
            lambda spec, names: LdaModel(spec, names, LdaConfig(features=TD_FEATURES)),
        ),
        Preset(
            "lda_rich",
            "LDA on log-TD, Hjorth, AR(4), band-power, spectral-moment and channel-relation features",
            lambda spec, names: LdaModel(spec, names, LdaConfig(features=RICH_FEATURES)),
        ),
        Preset(
            "mlp_rich",
            "MLP (2 x 128, GELU, dropout) on the rich window features",
            lambda spec, names: FeatureMlpModel(
                spec, names, FeatureMlpConfig(RICH_FEATURES, MlpConfig(hidden=(128, 128), dropout=0.2), MLP_TRAIN)
            ),
        ),
        Preset(
            "resnet18_paper",
            "ResNet-18 from scratch on the per-trial 2-channel STFT (256 Hann, 50 %), SGD 0.001/0.9, "
            "batch 10, 30 epochs, 10 % validation (the paper's recipe)",
            lambda spec, names: SpectrogramResNetModel(spec, names, SpectrogramResNetConfig(PAPER_STFT, train=PAPER_TRAIN)),
            whole_trial=True,
        ),
        Preset(
            "resnet18_window",
            "the paper's ResNet-18 recipe on 250 ms window spectrograms (64-sample Hann, 50 %)",
            lambda spec, names: SpectrogramResNetModel(spec, names, SpectrogramResNetConfig(WINDOW_STFT, train=PAPER_TRAIN)),
        ),
        Preset(
            "lstm_causal_cnn",
            "dilated causal CNN (4 residual blocks, 32 ch, dilations 1-8) + 2-layer LSTM (64) on rectified "
            "z-scored sEMG (Gulati et al.'s hybrid, LSTM reduced from 4 x 128 for the CPU budget)",
            lambda spec, names: HybridModel(spec, names, HybridModelConfig(
                HybridConfig(lstm_hidden=64, lstm_layers=2), TrainConfig(batch_size=128, epochs=15))),
            stride_ms=100.0,  # half the training windows of the others: the LSTM is slow to train on a CPU
        ),
    )
}

#: The model ``semg-grasp`` uses unless told otherwise.
DEFAULT_MODEL = "mlp_rich"


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (``"default"`` = ``DEFAULT_MODEL``)."""
    name = DEFAULT_MODEL if name == "default" else name
    if name not in PRESETS:
        raise ConfigError(f"unknown model {name!r}; choose from {['default', *PRESETS]}")
    return PRESETS[name]


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained: ``config/intent_*.yaml`` (``semg-grasp train intent --config``);
    the shipped models are trained from theirs.

    Attributes:
        model: preset name (``"default"`` = ``DEFAULT_MODEL``).
        window_ms: analysis window of a window model, ms; 0 = the preset's.
        epochs: training epochs of a neural model; 0 = the preset's.
        subjects: subjects (file stems) to train on; empty = every subject of the data folder.
        seed: seed of the weight initialisation and batches.
        active_fraction: a window model trains on the windows of each trial whose envelope reaches
            this fraction of the trial's reference envelope (``emg.windows.active_mask``); below the
            active part's ``ACTIVE_FRACTION`` it also learns the contraction's rise, which is what
            the streaming decoder sees first.
        segments: a feature model's features also on this many consecutive sub-windows of each
            window (``FeatureConfig.segments``: the course of the contraction inside the window);
            0 = the preset's.
    """

    model: str = "default"
    window_ms: float = 0.0
    epochs: int = 0
    subjects: tuple[str, ...] = ()
    seed: int = 0
    active_fraction: float = ACTIVE_FRACTION
    segments: int = 0

    def __post_init__(self):
        preset = get_preset(self.model)
        if self.window_ms < 0 or self.epochs < 0:
            raise ConfigError(f"window_ms and epochs must be >= 0 (0 = the preset's), got {self.window_ms}, "
                              f"{self.epochs}")
        if self.window_ms and preset.whole_trial:
            raise ConfigError(f"window_ms needs a window model; {preset.name} classifies whole trials")
        if not 0 < self.active_fraction <= 1 or self.segments < 0:
            raise ConfigError(f"need active_fraction in (0, 1] and segments >= 0, got {self.active_fraction}, "
                              f"{self.segments}")

    @classmethod
    def load(cls, path=None, **given) -> "TrainRecipe":
        """The recipe of the YAML file ``path`` (``config/intent_*.yaml``; None = the defaults), with
        the fields in ``given`` that are not None (command-line options) overriding it.

        Raises:
            ConfigError: unreadable file, unknown fields or invalid values.
        """
        given = {k: v for k, v in given.items() if v is not None}
        return load_config_file(cls, path, **given) if path is not None else build_config(cls, given)

    @classmethod
    def of(cls, model: IntentModel) -> "TrainRecipe":
        """The recipe that trained ``model``: the one stored in its JSON (``info["recipe"]``), else
        (a model saved before recipes were stored) its preset and window with the other defaults.

        Raises:
            ModelError: the model names neither a recipe nor a preset.
        """
        if model.info.get("recipe"):
            return build_config(cls, model.info["recipe"])
        name = model.info.get("preset")
        if not name:
            raise ModelError("the model names neither its recipe nor its preset; cannot retrain it")
        return cls(model=name, window_ms=0.0 if get_preset(name).whole_trial else model.spec.window_ms)

    def preset(self) -> Preset:
        """The preset with this recipe's window, epochs and feature segments."""
        preset = get_preset(self.model)
        if self.epochs:
            preset = with_train(preset, epochs=self.epochs)
        if self.segments:
            preset = with_features(preset, segments=self.segments)
        return replace(preset, window_ms=self.window_ms) if self.window_ms else preset


def with_features(preset: Preset, **changes) -> Preset:
    """A copy of ``preset`` whose window features (``FeatureConfig``) have ``changes``.

    Raises:
        ConfigError: (when a model is built) the preset's model has no window features.
    """
    factory = preset.factory

    def patched(spec, names):
        model = factory(spec, names)
        if not isinstance(getattr(model.config, "features", None), FeatureConfig):
            raise ConfigError(f"model {preset.name} has no window features to change")
        return type(model)(spec, names, replace(model.config, features=replace(model.config.features, **changes)))

    return replace(preset, factory=patched)


def with_train(preset: Preset, **changes) -> Preset:
    """A copy of ``preset`` whose training config has ``changes`` (e.g. fewer epochs for tests)."""
    factory = preset.factory

    def patched(spec, names):
        model = factory(spec, names)
        if hasattr(model.config, "train"):
            model.config = replace(model.config, train=replace(model.config.train, **changes))
        return model

    return replace(preset, factory=patched)


#: architecture name -> model class, for loading a checkpoint of any architecture.
ARCHITECTURES: dict[str, type[IntentModel]] = {
    cls.architecture: cls for cls in (LdaModel, FeatureMlpModel, HybridModel, SpectrogramResNetModel)
}


def load_model(path) -> IntentModel:
    """Rebuild a model of any architecture from its checkpoint: a path (stem, ``.json``,
    ``.safetensors`` or a folder holding ``model.json``) or a shipped model name.

    Raises:
        ModelError: missing, corrupt or incompatible files, an unknown architecture.
    """
    json_path, meta = checkpoint.read(path)
    arch = meta.get("architecture")
    if arch not in ARCHITECTURES:
        raise ModelError(f"{json_path}: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch].from_checkpoint(json_path, meta)
