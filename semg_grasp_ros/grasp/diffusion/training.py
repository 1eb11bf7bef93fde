"""Training of the grasp diffusion models: config, loop, checkpoints, resume.

Data: a ``GraspArrays`` (``training_data``: grasps with type labels, each pointing at one of
a set of distance fields), from an ``.npz`` file or built in memory by a dataset loader. The loop
draws a timestep and noise per grasp, noises the normalised grasp vector
(``scheduler.add_noise``) and regresses the scheduler's target with a (wrist-weighted)
mean squared error, AdamW, as in the paper (Ho et al. 2020, algorithm 1). Each distinct
field of a batch is encoded once (several grasps share an object), which gives the same
gradients as encoding it per grasp.

Outputs under ``out_dir``: ``model/`` (``checkpoint.from_pretrained`` reads it; rewritten
at every checkpoint) and ``state/`` (weights, optimiser moments, random generator state,
epoch and loss history, for ``resume``). Resuming from the last checkpoint reproduces an
uninterrupted run exactly on the same device.

Data parallel: started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), every process
draws the same batches, timesteps and noise, computes the loss of its share of each batch
(the batch sorted by object, cut into equal runs: each field is encoded by about one
process) and DistributedDataParallel averages the gradients
(gloo on CPUs, nccl on GPUs, one GPU per process: ``cuda:LOCAL_RANK``). The shares' losses are
scaled so that the averaged gradient is the whole batch's, so N processes train the same model
as one, up to float rounding, N times faster at best. Rank 0 writes the checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...checkpoint import load_weights, read_json, save_weights, write_json
from ...config import build_config, load_config_file
from ...errors import ConfigError, DatasetError
from .checkpoint import load_state, save_pretrained
from .networks import GraspDiffusion, ModelConfig
from .sampler import SamplerConfig
from .scheduler import make_scheduler
from .training_data import (
    AUGMENTATIONS,
    DiffusionDataset,
    GraspArrays,
    load_training_data,
    random_rotations,
    rotate_fields,
    split_by_object,
)

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


# ---------------------------------------------------------------------------------- config


@dataclass(frozen=True, eq=False)
class TrainConfig:
    """Training settings (read from YAML by ``load_train_config``).

    Attributes:
        model: the model to train.
        sampler: sampling settings stored with the weights as the model's defaults.
        data: training data path (see ``load_grasp_arrays``).
        out_dir: folder for ``model/`` and ``state/``.
        epochs, batch_size, lr, weight_decay: AdamW training (the paper: 200, 64, 1e-4).
        p_uncond: probability of dropping the type to the null type (classifier-free
            guidance training, Ho & Salimans 2022); 0 for the paper's model.
        wrist_loss_weight: loss weight of the wrist numbers relative to the joints.
        augment_rotation: ``"none"``, ``"z"`` or ``"so3"``: turn each object of a batch with
            its grasps by a random rotation about its field's centre, so the model does not
            depend on the object's orientation in the field's frame (a camera frame online).
        grad_clip: gradient norm clip (0 = off).
        val_fraction: share of objects held out for the validation loss.
        seed: seeds initialisation, shuffling, timesteps and noise.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or ``"cuda"``.
        checkpoint_every: epochs between checkpoints (the last epoch always writes one).
        num_threads: CPU threads for torch (0 = torch's default).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    data: str = ""
    out_dir: str = "runs/grasp_diffusion"
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    p_uncond: float = 0.0
    wrist_loss_weight: float = 1.0
    augment_rotation: str = "none"
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 10
    num_threads: int = 0

    def __post_init__(self):
        if isinstance(self.model, Mapping):
            object.__setattr__(self, "model", build_config(ModelConfig, dict(self.model)))
        if isinstance(self.sampler, Mapping):
            object.__setattr__(self, "sampler", build_config(SamplerConfig, dict(self.sampler)))
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0 or not self.weight_decay >= 0 or not self.grad_clip >= 0 or not self.wrist_loss_weight > 0:
            raise ConfigError("lr and wrist_loss_weight must be positive, weight_decay and grad_clip >= 0")
        if not 0 <= self.p_uncond < 1 or not 0 <= self.val_fraction < 1:
            raise ConfigError(f"p_uncond and val_fraction must lie in [0, 1), got {self.p_uncond}, {self.val_fraction}")
        if self.p_uncond > 0 and self.model.kind == "paper":
            raise ConfigError("p_uncond > 0 needs a model with a null type (kind 'improved')")
        if self.augment_rotation not in AUGMENTATIONS:
            raise ConfigError(f"unknown augment_rotation {self.augment_rotation!r}; expected one of {list(AUGMENTATIONS)}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; expected one of {list(DEVICES)}")
        if not isinstance(self.num_threads, int) or self.num_threads < 0:
            raise ConfigError(f"num_threads must be an integer >= 0, got {self.num_threads!r}")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["model"], d["sampler"] = self.model.to_dict(), asdict(self.sampler)
        return d


def load_train_config(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Read a training YAML (keys = ``TrainConfig`` fields; ``model`` and ``sampler`` nested).

    Relative ``data`` and ``out_dir`` paths are kept as written (relative to the working
    directory). ``overrides`` replace top-level keys.

    Raises:
        ConfigError: unreadable file, unknown keys or invalid values.
    """
    return load_config_file(TrainConfig, path, **overrides)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU.

    Raises:
        ConfigError: ``"cuda"`` requested without a GPU.
    """
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA GPU is available; use 'cpu' or 'auto'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------------------- loop


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The trained model, per-epoch history (dicts with epoch, train_loss, val_loss) and output folder."""

    model: GraspDiffusion
    history: list[dict[str, float | None]]
    out_dir: Path


def _loss_weights(model: GraspDiffusion, wrist_weight: float) -> torch.Tensor:
    """(D,) loss weights: 1 for finger joints (the first 22 numbers), ``wrist_weight`` for the wrist."""
    w = torch.ones(model.grasp_dim)
    w[22:] = wrist_weight
    return w / w.mean()


class _Denoise(nn.Module):
    """The network's part of the loss in one module (the unit DistributedDataParallel wraps):
    encode the distinct fields, then denoise every grasp with its field's code."""

    def __init__(self, model: GraspDiffusion):
        super().__init__()
        self.model = model

    def forward(self, fields, voxel_sizes, inverse, xt, t, types):
        return self.model(xt, t, self.model.encode(fields, voxel_sizes)[inverse], types)


def diffusion_loss(model: GraspDiffusion, scheduler, dataset: DiffusionDataset, index: torch.Tensor,
                   weights: torch.Tensor, generator: torch.Generator, p_uncond: float, device: torch.device,
                   augment: str = "none", part: torch.Tensor | None = None, net: nn.Module | None = None
                   ) -> torch.Tensor:
    """Weighted MSE between the network output and the scheduler's target on one batch.

    Args:
        index: (B,) items of ``dataset``.
        generator: CPU generator of timesteps, noise, type dropping and rotations.
        augment: ``"none"``, or rotate every object of the batch (its field and its grasps
            together, about the field's centre) by a random ``"z"`` or ``"so3"`` rotation.
        part: (P,) positions in the batch whose errors this call sums (data parallel: this
            process's share; default all). The random numbers are drawn for the whole batch
            either way, so the shares of several processes add up to the whole batch.
        net: the module that runs the network (``_Denoise(model)`` or its distributed wrapper;
            default ``_Denoise(model)``).

    Returns:
        () the squared errors of ``part`` summed and divided by B x D (the whole batch's mean
        when ``part`` is all of it).
    """
    x0, types, fidx = dataset[index]
    B = x0.shape[0]
    t = torch.randint(0, scheduler.num_train_timesteps, (B,), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    drop = torch.rand(B, generator=generator) < p_uncond
    unique, inverse = torch.unique(fidx, return_inverse=True)
    fields = dataset.fields[unique]
    if augment != "none":
        rot = random_rotations(len(unique), augment, generator)
        fields = rotate_fields(fields, rot)
        r = rot[inverse]
        offset = (r @ dataset.offset[index].unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            x0 = model.encode_grasps(dataset.joints[index], r @ dataset.rot[index], offset,
                                     torch.zeros_like(offset)).float()
    xt = scheduler.add_noise(x0, noise, t)
    target = scheduler.training_target(x0, noise, t)
    types = torch.where(drop, torch.full_like(types, -1), types)
    voxel_sizes = dataset.voxel_sizes[unique]
    if part is not None:  # only the fields this share uses
        used, inverse = torch.unique(inverse[part], return_inverse=True)
        fields, voxel_sizes = fields[used], voxel_sizes[used]
        xt, t, types, target = xt[part], t[part], types[part], target[part]
    net = net if net is not None else _Denoise(model)
    pred = net(fields.to(device), voxel_sizes.to(device), inverse.to(device), xt.to(device), t.to(device),
               types.to(device))
    return ((pred - target.to(device)).square() * weights.to(device)).sum() / (B * x0.shape[1])


def _share(field_index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """(P,) positions in a batch (field indices (B,)) that process ``rank`` of ``world`` computes:
    the batch sorted by field, cut into ``world`` runs of (nearly) equal length, so that most
    fields are encoded by one process only (the encoder is most of the work)."""
    return torch.tensor_split(torch.argsort(field_index, stable=True), world)[rank]


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _state_tensors(model: GraspDiffusion, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in model.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"optim.{i}.{k}"] = torch.as_tensor(v)
    out["generator"] = gen.get_state()
    return out


def _restore_state(folder: Path, model: GraspDiffusion, opt: torch.optim.Optimizer, gen: torch.Generator, config: TrainConfig) -> dict:
    meta = read_json(folder / "train_state.json")
    if meta.get("config", {}).get("model") != json.loads(json.dumps(config.model.to_dict())):
        raise ConfigError(f"cannot resume from {folder}: it was trained with a different model config")
    tensors = load_weights(folder / "train_state.safetensors", "torch")
    load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(folder))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    opt_state = opt.state_dict()
    opt_state["state"] = state
    opt.load_state_dict(opt_state)
    gen.set_state(tensors["generator"])
    return meta


def train(config: TrainConfig, data: GraspArrays | None = None, val_data: GraspArrays | None = None,
          resume: bool = False, progress: bool = True, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a grasp diffusion model.

    Args:
        config: training settings.
        data: the training grasps (default: ``load_training_data(config.data)``); without
            ``val_data`` it is split by object with ``config.val_fraction``.
        val_data: validation grasps.
        resume: continue from ``out_dir/state`` when it exists.
        progress: show a tqdm progress bar.
        on_epoch: called with each epoch's history entry.

    Returns:
        The trained model (also written to ``out_dir/model``) and the loss history.

    Raises:
        ConfigError, DatasetError: invalid settings or data.
    """
    from tqdm import tqdm

    rank, world, started = _init_distributed(config.device)
    device = resolve_device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if data is None:
        if not config.data:
            raise ConfigError("no training data: set 'data' in the training config (a dataset folder or a "
                              "GraspArrays .npz)")
        train_arrays, val_arrays = load_training_data(config.data, config.val_fraction, config.seed)
    elif val_data is None:
        train_arrays, val_arrays = split_by_object(data, config.val_fraction, config.seed)
    else:
        train_arrays, val_arrays = data, val_data
    if len(train_arrays) == 0:
        raise DatasetError("training data holds no grasps")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = GraspDiffusion(config.model)
    train_set = DiffusionDataset(train_arrays, model)
    val_set = DiffusionDataset(val_arrays, model) if val_arrays is not None else None
    model.to(device)
    scheduler = make_scheduler("ddpm", config.model.scheduler)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    weights = _loss_weights(model, config.wrist_loss_weight)
    out_dir = Path(config.out_dir)
    state_dir = out_dir / "state"
    history: list[dict] = []
    start = 0
    if resume and (state_dir / "train_state.json").is_file():
        meta = _restore_state(state_dir, model, opt, gen, config)
        start, history = int(meta["epoch"]), list(meta["history"])
        log.info("resumed from %s at epoch %d", state_dir, start)
    training_info = {"data": str(config.data), "objects": len(train_arrays.object_ids),
                     "val_objects": len(val_arrays.object_ids) if val_arrays is not None else 0,
                     "grasps": len(train_arrays), "config": config.to_dict()}
    net = _Denoise(model)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    bar = tqdm(range(start, config.epochs), desc=f"train {config.model.kind}", unit="epoch",
               disable=not progress or rank != 0, initial=start, total=config.epochs)
    for epoch in bar:
        model.train()
        total = torch.zeros((), dtype=torch.float64)
        for idx in _batches(len(train_set), config.batch_size, gen):
            part = _share(train_set.field_index[idx], rank, world) if world > 1 else None
            loss = diffusion_loss(model, scheduler, train_set, idx, weights, gen, config.p_uncond, device,
                                  config.augment_rotation, part, net)
            opt.zero_grad(set_to_none=True)
            (loss * world).backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            total += float(loss.detach()) * len(idx)
        if world > 1:
            torch.distributed.all_reduce(total)
        entry = {"epoch": epoch + 1, "train_loss": float(total) / len(train_set),
                 "val_loss": validation_loss(model, scheduler, val_set, weights, config, device)}
        history.append(entry)
        bar.set_postfix(loss=f"{entry['train_loss']:.4f}", val=f"{entry['val_loss']:.4f}" if entry["val_loss"] is not None else "-")
        if on_epoch is not None:
            on_epoch(entry)
        if rank == 0 and ((epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs):
            _checkpoint(out_dir, model, opt, gen, config, epoch + 1, history, training_info)
    if started:
        torch.distributed.barrier()  # the checkpoint is written before any process returns
        torch.distributed.destroy_process_group()
    model.eval()
    model.info = _info(training_info, history, config)
    return TrainResult(model, history, out_dir)


def _init_distributed(device: str) -> tuple[int, int, bool]:
    """(rank, world size, whether this call started the process group) under ``torchrun``.

    Without ``WORLD_SIZE`` > 1 in the environment: (0, 1, False). Otherwise the default process
    group is joined (nccl for a CUDA device, gloo on CPUs) unless already initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return 0, 1, False
    dist = torch.distributed
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch has no torch.distributed")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    backend = "nccl" if resolve_device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), True


def _info(training_info: dict, history: list, config: TrainConfig) -> dict:
    return {"training": {**training_info, "epochs_done": len(history), "history": history},
            "sampler": asdict(config.sampler)}


@torch.no_grad()
def validation_loss(model: GraspDiffusion, scheduler, dataset: DiffusionDataset | None, weights: torch.Tensor,
                    config: TrainConfig, device: torch.device) -> float | None:
    """Mean loss on ``dataset`` with fixed timesteps and noise (seed + 1), comparable across epochs."""
    if dataset is None or len(dataset) == 0:
        return None
    model.eval()
    gen = torch.Generator().manual_seed(config.seed + 1)
    total = 0.0
    for idx in _batches(len(dataset), config.batch_size, None):
        total += float(diffusion_loss(model, scheduler, dataset, idx, weights, gen, 0.0, device)) * len(idx)
    return total / len(dataset)


def _checkpoint(out_dir: Path, model: GraspDiffusion, opt, gen, config: TrainConfig, epoch: int, history: list,
                training_info: dict) -> None:
    state_dir = out_dir / "state"
    state_dir.mkdir(parents=True, exist_ok=True)
    save_weights(state_dir / "train_state.safetensors", _state_tensors(model, opt, gen))
    write_json(state_dir / "train_state.json", {"epoch": epoch, "history": history, "config": config.to_dict()})
    model.info = _info(training_info, history, config)
    save_pretrained(model, out_dir / "model")
