"""The training loop shared by the neural grasp-type models.

Mini-batch cross-entropy with SGD (momentum) or AdamW, an optional one-cycle learning
rate, and an optional validation split of whole trials used to keep the weights of the
best epoch (the paper's 80/10/10 protocol: train / validation / test). Seeded: the same
seed, data and config give the same weights. The global torch RNG is left as it was.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .base import Progress

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("constant", "onecycle")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adamw"``.
        lr: learning rate (peak rate for ``"onecycle"``).
        momentum: SGD momentum.
        weight_decay: L2 (SGD) / decoupled (AdamW) weight decay.
        batch_size: samples per step.
        epochs: passes over the training set.
        schedule: ``"constant"`` or ``"onecycle"``.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        val_fraction: fraction of the training trials held out to pick the best epoch
            (0 keeps the last epoch).
    """

    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 1e-3
    batch_size: int = 256
    epochs: int = 30
    schedule: str = "onecycle"
    label_smoothing: float = 0.1
    val_fraction: float = 0.0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {self.optimizer!r} unknown; choose from {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule {self.schedule!r} unknown; choose from {SCHEDULES}")
        if not (self.lr > 0 and self.batch_size >= 1 and self.epochs >= 1 and self.weight_decay >= 0):
            raise ConfigError(
                f"need lr > 0, batch_size >= 1, epochs >= 1, weight_decay >= 0; got {self.lr}, "
                f"{self.batch_size}, {self.epochs}, {self.weight_decay}"
            )
        if not (0 <= self.label_smoothing < 1 and 0 <= self.val_fraction < 1 and 0 <= self.momentum < 1):
            raise ConfigError("label_smoothing, val_fraction and momentum must be in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


def split_groups(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask (n,) of the validation items: ``fraction`` of the groups of each class
    (at least one group per class when the class has two or more), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    val = np.zeros(labels.shape[0], dtype=bool)
    for k in np.unique(labels):
        g = np.unique(groups[labels == k])
        n_val = int(round(fraction * g.size))
        if g.size >= 2:
            n_val = min(max(n_val, 1), g.size - 1)
        else:
            n_val = 0
        chosen = rng.choice(g, size=n_val, replace=False)
        val |= np.isin(groups, chosen) & (labels == k)
    return val


def predict_logits(net: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits of ``x`` in eval mode, batch by batch."""
    if net.training:
        net.eval()
    with torch.inference_mode():
        if x.shape[0] <= batch_size:  # the online case: one window, no copies
            return net(x)
        return torch.cat([net(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def train_classifier(
    net: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    groups: np.ndarray | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Train ``net`` in place on inputs ``x`` (n, ...) float32 and labels ``y`` (n,).

    Args:
        groups: (n,) trial ids for the validation split (default: every item its own trial).
        progress: called after every epoch with (epoch, epochs, message).

    Returns:
        A summary: epochs run, final training loss, best validation accuracy and epoch
        (``None`` without validation).
    """
    y = np.asarray(y, dtype=np.int64)
    groups = np.arange(y.size) if groups is None else np.asarray(groups)
    val_mask = split_groups(y, groups, config.val_fraction, seed) if config.val_fraction > 0 else np.zeros(y.size, bool)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(y)
    x_train, y_train = xt[~torch.as_tensor(val_mask)], yt[~torch.as_tensor(val_mask)]
    x_val, y_val = xt[torch.as_tensor(val_mask)], yt[torch.as_tensor(val_mask)]
    n = int(y_train.shape[0])
    steps_per_epoch = -(-n // config.batch_size)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout masks; weights were initialised by the caller
        if config.optimizer == "sgd":
            opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
        else:
            opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        sched = (
            torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch)
            if config.schedule == "onecycle"
            else None
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        best = (-1.0, 0, None)
        loss_value = float("nan")
        for epoch in range(config.epochs):
            net.train()
            perm = torch.randperm(n, generator=generator)
            total = 0.0
            for i in range(0, n, config.batch_size):
                idx = perm[i : i + config.batch_size]
                if idx.numel() < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
                    continue  # batch norm cannot train on a single sample
                loss = loss_fn(net(x_train[idx]), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total += loss.item() * idx.numel()
            loss_value = total / max(n, 1)
            message = f"loss {loss_value:.3f}"
            if y_val.numel():
                acc = float((predict_logits(net, x_val).argmax(1) == y_val).float().mean())
                message += f" val {acc:.3f}"
                if acc > best[0]:
                    best = (acc, epoch, copy.deepcopy(net.state_dict()))
            if progress is not None:
                progress(epoch + 1, config.epochs, message)
        if best[2] is not None:
            net.load_state_dict(best[2])
    net.eval()
    return {
        "epochs": config.epochs,
        "final_train_loss": loss_value,
        "best_val_accuracy": best[0] if best[2] is not None else None,
        "best_epoch": best[1] + 1 if best[2] is not None else None,
    }
