"""Network modules of the grasp-type classifiers (``nn.Module``s only: no I/O, no seeding).

* ``MlpNet``: a small multilayer perceptron on window features.
* ``ResNet18``: He et al. 2016's ResNet-18 (BasicBlock, [2, 2, 2, 2], widths 64-512)
  with an ``in_channels`` stem, as the paper used on stacked sEMG spectrograms.
* ``HybridNet``: dilated causal 1-D convolution blocks followed by stacked LSTM layers
  (after Gulati et al.'s hybrid for NinaPro), classifying from the last time step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import ConfigError


def _check_positive(name: str, values) -> None:
    if any(int(v) < 1 for v in values):
        raise ConfigError(f"{name} must all be >= 1, got {values}")


@dataclass(frozen=True)
class MlpConfig:
    """in_features -> hidden (GELU, dropout) ... -> n_classes."""

    in_features: int = 40
    hidden: tuple[int, ...] = (128, 128)
    n_classes: int = 6
    dropout: float = 0.2

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        _check_positive("MLP sizes", (self.in_features, self.n_classes, *self.hidden))
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


class MlpNet(nn.Module):
    def __init__(self, config: MlpConfig):
        super().__init__()
        layers: list[nn.Module] = []
        width = config.in_features
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.GELU(), nn.Dropout(config.dropout)]
            width = h
        layers.append(nn.Linear(width, config.n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) -> (B, n_classes) logits."""
        return self.layers(x)


@dataclass(frozen=True)
class ResNetConfig:
    """ResNet with BasicBlocks; the defaults are ResNet-18."""

    in_channels: int = 2
    n_classes: int = 6
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if len(self.widths) != len(self.blocks) or not self.widths:
            raise ConfigError(f"widths {self.widths} and blocks {self.blocks} must have the same non-zero length")
        _check_positive("ResNet sizes", (self.in_channels, self.n_classes, *self.widths, *self.blocks))

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths), "blocks": list(self.blocks)}


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, config: ResNetConfig):
        super().__init__()
        w0 = config.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, w0, 7, 2, 3, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, c_in = [], w0
        for i, (width, n) in enumerate(zip(config.widths, config.blocks)):
            blocks = [BasicBlock(c_in, width, 1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(c_in, config.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) image (any H, W >= 1) -> (B, n_classes) logits."""
        h = self.stages(self.stem(x))
        return self.head(h.mean(dim=(2, 3)))


@dataclass(frozen=True)
class HybridConfig:
    """Dilated causal CNN blocks -> average pooling in time -> stacked LSTM -> linear.

    Attributes:
        in_channels: sEMG channels.
        conv_channels: width of every convolution block.
        kernel_size: taps of each causal convolution.
        dilations: one residual block per entry (receptive field grows with the sum).
        pool: time down-sampling between the CNN and the LSTM (samples per LSTM step).
        lstm_hidden, lstm_layers: LSTM size (Gulati et al.: 4 layers of 128).
        dropout: between LSTM layers and before the classifier.
    """

    in_channels: int = 2
    n_classes: int = 6
    conv_channels: int = 32
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    pool: int = 5
    lstm_hidden: int = 128
    lstm_layers: int = 4
    dropout: float = 0.2

    def __post_init__(self):
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        _check_positive(
            "hybrid sizes",
            (self.in_channels, self.n_classes, self.conv_channels, self.kernel_size, self.pool,
             self.lstm_hidden, self.lstm_layers, *self.dilations),
        )
        if not self.dilations or not 0 <= self.dropout < 1:
            raise ConfigError(f"hybrid needs dilations and dropout in [0, 1); got {self.dilations}, {self.dropout}")

    def to_dict(self) -> dict:
        return {**asdict(self), "dilations": list(self.dilations)}


class CausalConvBlock(nn.Module):
    """Residual block: two dilated causal convolutions (left padding only), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
        self.norm1 = nn.BatchNorm1d(c_out)
        self.norm2 = nn.BatchNorm1d(c_out)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        h = torch.relu(self.norm1(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        h = self.norm2(self.conv2(nn.functional.pad(h, (self.pad, 0))))
        return torch.relu(h + self.skip(x))


class HybridNet(nn.Module):
    def __init__(self, config: HybridConfig):
        super().__init__()
        blocks, c_in = [], config.in_channels
        for d in config.dilations:
            blocks.append(CausalConvBlock(c_in, config.conv_channels, config.kernel_size, d))
            c_in = config.conv_channels
        self.tcn = nn.Sequential(*blocks)
        self.pool = nn.AvgPool1d(config.pool, config.pool)
        self.lstm = nn.LSTM(
            config.conv_channels,
            config.lstm_hidden,
            num_layers=config.lstm_layers,
            batch_first=True,
            dropout=config.dropout if config.lstm_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.lstm_hidden, config.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, T) with T >= pool -> (B, n_classes) logits from the last step."""
        h = self.pool(self.tcn(x)).transpose(1, 2)  # (B, T / pool, C)
        out, _ = self.lstm(h)
        return self.head(self.drop(out[:, -1]))
