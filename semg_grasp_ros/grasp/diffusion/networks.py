"""Denoiser networks of the grasp diffusion models (``nn.Module``s only, no I/O).

Every denoiser has the same two calls, so the training loop and the sampler do not care
which one they drive:

* ``encode(sdf, voxel_size) -> (B, cond_dim)``: the object's distance field
  (B, n, n, n) in metres and its voxel size (B,) in metres to an object code. It depends
  on the object only, so the sampler computes it once per object and reuses it.
* ``forward(x, t, obj, type_index) -> (B, grasp_dim)``: the noisy normalised grasp x_t,
  integer timesteps t (B,), object codes (B, cond_dim) and grasp-type indices (B,) into
  ``GRASP_TYPES`` (-1 = no type: the null condition of classifier-free guidance) to the
  scheduler's prediction target.

``PaperDenoiser`` follows the paper's description; ``ImprovedDenoiser`` is lighter on
the field, handles the wrist pose in its own branch and learns a null type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ... import GRASP_TYPES
from ...config import build_config
from ...errors import ConfigError, DataError
from ...hand.convert import GraspNormalizer
from .scheduler import SchedulerConfig


def sinusoidal_embedding(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer position encoding of real values (Vaswani et al. 2017, section 3.5).

    Args:
        x: (...) values (timesteps, or scaled grasp coordinates).
        dim: even embedding size.
        max_period: longest period; frequencies are max_period^(-k / (dim/2)), k = 0..dim/2-1.

    Returns:
        (..., dim) ``[sin(x w_0..), cos(x w_0..)]``.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
    angles = x.float().unsqueeze(-1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def _tuple_fields(config, *names: str) -> None:
    """Turn list-valued fields (from YAML/JSON) into tuples of ints on a frozen dataclass."""
    for name in names:
        value = getattr(config, name)
        try:
            object.__setattr__(config, name, tuple(int(v) for v in value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{type(config).__name__}.{name} must be a list of integers, got {value!r}") from exc


def _positive(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        values = value if isinstance(value, tuple) else (value,)
        if not values or any(not v > 0 for v in values):
            raise ConfigError(f"{type(config).__name__}.{name} must be positive, got {value!r}")


class SdfEncoder(nn.Module):
    """3-D convolutional encoder of a distance field.

    (B, n, n, n) metres -> absolute value -> optional average pooling by ``pool`` ->
    scaled by 1 / ``field_scale_m`` -> strided 3x3x3 convolutions (stride 2, SiLU) ->
    flatten -> linear -> (B, out_dim).

    The absolute value makes the input the paper's Euclidean distance map (distance to the
    closest surface point) whether the field is signed (from a mesh) or unsigned (from a
    partial cloud), so a model trained on one works on the other. Flattening (no global
    pooling) keeps where the surface lies in the grid, which the wrist translation needs.
    """

    def __init__(self, size: int, channels: tuple[int, ...], out_dim: int, pool: int = 1, field_scale_m: float = 0.05):
        super().__init__()
        self.size, self.pool, self.field_scale_m = size, pool, field_scale_m
        layers, c_in, n = [], 1, size // pool
        for c in channels:
            layers += [nn.Conv3d(c_in, c, kernel_size=3, stride=2, padding=1), nn.SiLU()]
            c_in, n = c, (n - 1) // 2 + 1
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in * n**3, out_dim)

    def forward(self, sdf: torch.Tensor) -> torch.Tensor:
        x = sdf.abs().unsqueeze(1) / self.field_scale_m
        if self.pool > 1:
            x = F.avg_pool3d(x, self.pool)
        return self.proj(self.convs(x).flatten(1))


@dataclass(frozen=True)
class PaperDenoiserConfig:
    """The paper's denoiser: field encoder to 512, 64-d sinusoidal embedding of each of the
    28 grasp numbers (1792), 64-d time embedding, grasp-type one-hot, MLP to 28 numbers.

    Attributes:
        grasp_dim: numbers per grasp (22 joints + 3 Euler angles + 3 translation).
        n_types: length of the one-hot (the six grasp types).
        sdf_size: grid points per side of the distance field.
        sdf_channels: channels of the strided convolutions (50 -> 25 -> 13 -> 7 -> 4 -> 2).
        sdf_dim: field embedding size (the paper: 512).
        value_embed_dim: sinusoidal embedding size per grasp number (the paper: 64).
        value_scale: grasp numbers (about [-1, 1]) are multiplied by this before the
            embedding, so its frequencies resolve about 1e-3 of the range.
        time_embed_dim: sinusoidal timestep embedding size (the paper: 64).
        hidden: widths of the MLP's hidden layers.
        field_scale_m: distances are divided by this (metres) before the convolutions.
    """

    grasp_dim: int = 28
    n_types: int = 6
    sdf_size: int = 50
    sdf_channels: tuple[int, ...] = (16, 32, 64, 128, 128)
    sdf_dim: int = 512
    value_embed_dim: int = 64
    value_scale: float = 1000.0
    time_embed_dim: int = 64
    hidden: tuple[int, ...] = (512, 512, 512)
    field_scale_m: float = 0.05

    def __post_init__(self):
        _tuple_fields(self, "sdf_channels", "hidden")
        _positive(self, "grasp_dim", "n_types", "sdf_size", "sdf_channels", "sdf_dim", "hidden",
                  "value_scale", "field_scale_m")  # fmt: skip
        for name in ("value_embed_dim", "time_embed_dim"):
            if getattr(self, name) <= 0 or getattr(self, name) % 2:
                raise ConfigError(f"PaperDenoiserConfig.{name} must be a positive even number, got {getattr(self, name)}")


class PaperDenoiser(nn.Module):
    """The paper's noise predictor (see ``PaperDenoiserConfig``). It has no null type: a
    type index of -1 gives an all-zero one-hot."""

    def __init__(self, config: PaperDenoiserConfig):
        super().__init__()
        self.config = config
        self.encoder = SdfEncoder(config.sdf_size, config.sdf_channels, config.sdf_dim, 1, config.field_scale_m)
        width = config.sdf_dim + config.grasp_dim * config.value_embed_dim + config.time_embed_dim + config.n_types
        layers = []
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.SiLU()]
            width = h
        layers.append(nn.Linear(width, config.grasp_dim))
        self.mlp = nn.Sequential(*layers)

    @property
    def cond_dim(self) -> int:
        return self.config.sdf_dim

    def encode(self, sdf: torch.Tensor, voxel_size: torch.Tensor) -> torch.Tensor:
        """(B, n, n, n) metres, (B,) metres (unused: the paper's maps have no scale input) -> (B, 512)."""
        return self.encoder(sdf)

    def forward(self, x: torch.Tensor, t: torch.Tensor, obj: torch.Tensor, type_index: torch.Tensor) -> torch.Tensor:
        c = self.config
        values = sinusoidal_embedding(x * c.value_scale, c.value_embed_dim).flatten(1)
        time = sinusoidal_embedding(t.to(x.dtype), c.time_embed_dim)
        onehot = F.one_hot(type_index.clamp(min=0), c.n_types).to(x.dtype) * (type_index >= 0).unsqueeze(1).to(x.dtype)
        return self.mlp(torch.cat([obj, values, time, onehot], dim=1))


@dataclass(frozen=True)
class ImprovedDenoiserConfig:
    """A denoiser with a light field encoder, a wrist branch and a finger branch.

    The grasp vector ends with the ``wrist_dims`` wrist numbers (6-D rotation and
    translation); the rest are finger joints. Both branches see the whole noisy vector
    and the condition (object code + type + time, applied by FiLM in every residual
    block); the finger branch also receives the wrist branch's features, so finger
    poses are predicted knowing the wrist estimate.

    Attributes:
        grasp_dim: numbers per grasp (22 joints + 6-D rotation + 3 translation).
        wrist_dims: trailing numbers of the wrist branch.
        n_types: grasp types; one more embedding row is the null type.
        sdf_size: grid points per side of the input field.
        sdf_pool: average pooling factor applied first (50 -> 25).
        sdf_channels: strided convolution channels (25 -> 13 -> 7 -> 4 -> 2).
        sdf_dim: object code size.
        time_embed_dim: sinusoidal timestep embedding size (then an MLP to ``width``).
        width: hidden width of both branches.
        wrist_blocks, finger_blocks: residual blocks per branch.
        field_scale_m: distances are divided by this (metres) before the convolutions.
    """

    grasp_dim: int = 31
    wrist_dims: int = 9
    n_types: int = 6
    sdf_size: int = 50
    sdf_pool: int = 2
    sdf_channels: tuple[int, ...] = (8, 16, 32, 64)
    sdf_dim: int = 256
    time_embed_dim: int = 128
    width: int = 256
    wrist_blocks: int = 3
    finger_blocks: int = 3
    field_scale_m: float = 0.05

    def __post_init__(self):
        _tuple_fields(self, "sdf_channels")
        _positive(self, "grasp_dim", "wrist_dims", "n_types", "sdf_size", "sdf_pool", "sdf_channels", "sdf_dim",
                  "width", "wrist_blocks", "finger_blocks", "field_scale_m")  # fmt: skip
        if self.wrist_dims >= self.grasp_dim:
            raise ConfigError(f"wrist_dims ({self.wrist_dims}) must be smaller than grasp_dim ({self.grasp_dim})")
        if self.time_embed_dim <= 0 or self.time_embed_dim % 2:
            raise ConfigError(f"time_embed_dim must be a positive even number, got {self.time_embed_dim}")
        if self.sdf_size % self.sdf_pool:
            raise ConfigError(f"sdf_size {self.sdf_size} is not a multiple of sdf_pool {self.sdf_pool}")


class FiLMBlock(nn.Module):
    """Pre-norm residual MLP block modulated by a condition (FiLM, Perez et al. 2018):
    h + W2 silu(W1 silu(LN(h) (1 + s(c)) + b(c))); W2 starts at zero so the block starts as identity."""

    def __init__(self, width: int, cond_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(cond_dim, 2 * width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.modulated(h, *self.film(c).chunk(2, dim=-1))

    def modulated(self, h: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """The block with its FiLM scale and shift given (broadcast against ``h``)."""
        y = self.norm(h) * (1 + scale) + shift
        return h + self.fc2(F.silu(self.fc1(F.silu(y))))


class ImprovedDenoiser(nn.Module):
    """See ``ImprovedDenoiserConfig``. The object code holds the field embedding and
    log(voxel size), so the network knows the metric scale of the grid."""

    def __init__(self, config: ImprovedDenoiserConfig):
        super().__init__()
        self.config = config
        c, w = config, config.width
        self.encoder = SdfEncoder(c.sdf_size, c.sdf_channels, c.sdf_dim, c.sdf_pool, c.field_scale_m)
        self.type_embed = nn.Embedding(c.n_types + 1, w)
        self.time_mlp = nn.Sequential(nn.Linear(c.time_embed_dim, w), nn.SiLU(), nn.Linear(w, w))
        self.obj_mlp = nn.Sequential(nn.Linear(c.sdf_dim + 1, w), nn.SiLU(), nn.Linear(w, w))
        self.wrist_in = nn.Linear(c.grasp_dim, w)
        self.finger_in = nn.Linear(c.grasp_dim, w)
        self.wrist_to_finger = nn.Linear(w, w)
        self.wrist_blocks = nn.ModuleList(FiLMBlock(w, w) for _ in range(c.wrist_blocks))
        self.finger_blocks = nn.ModuleList(FiLMBlock(w, w) for _ in range(c.finger_blocks))
        self.wrist_out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, c.wrist_dims))
        self.finger_out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, c.grasp_dim - c.wrist_dims))

    @property
    def cond_dim(self) -> int:
        return self.config.sdf_dim + 1

    def encode(self, sdf: torch.Tensor, voxel_size: torch.Tensor) -> torch.Tensor:
        """(B, n, n, n) metres, (B,) metres -> (B, sdf_dim + 1)."""
        scale = torch.log(voxel_size.to(sdf.dtype).reshape(-1, 1))
        return torch.cat([self.encoder(sdf), scale], dim=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, obj: torch.Tensor, type_index: torch.Tensor) -> torch.Tensor:
        return self.denoise(x, self.conditioning(t, obj, type_index))

    def conditioning(self, t: torch.Tensor, obj: torch.Tensor,
                     type_index: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """FiLM scale and shift of every block (wrist blocks, then finger blocks), (B, width)
        each, for timesteps ``t`` (B,), object codes ``obj`` (B, cond_dim) and types (B,)
        (-1: the null type). A sampler computes them once per request for all its steps:
        they do not depend on the noisy grasp."""
        c = self.config
        types = torch.where(type_index < 0, torch.full_like(type_index, c.n_types), type_index)
        cond = F.silu(self.obj_mlp(obj) + self.type_embed(types) + self.time_mlp(sinusoidal_embedding(t, c.time_embed_dim)))
        return [block.film(cond).chunk(2, dim=-1) for block in (*self.wrist_blocks, *self.finger_blocks)]

    def denoise(self, x: torch.Tensor, films: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The prediction for noisy grasps ``x`` (..., grasp_dim) under ``films`` (from
        ``conditioning``, broadcast against ``x``'s leading dimensions)."""
        hw = self.wrist_in(x)
        for block, (scale, shift) in zip(self.wrist_blocks, films):
            hw = block.modulated(hw, scale, shift)
        hf = self.finger_in(x) + self.wrist_to_finger(hw)
        for block, (scale, shift) in zip(self.finger_blocks, films[len(self.wrist_blocks):]):
            hf = block.modulated(hf, scale, shift)
        return torch.cat([self.finger_out(hf), self.wrist_out(hw)], dim=-1)


#: Denoiser kinds: name -> (config class, module class). Checkpoints store the name.
DENOISERS: dict[str, tuple[type, type]] = {
    "paper": (PaperDenoiserConfig, PaperDenoiser),
    "improved": (ImprovedDenoiserConfig, ImprovedDenoiser),
}
#: Grasp vector layouts of ``GraspNormalizer``: name -> length.
REPRESENTATIONS = {"vector28": 28, "vector31": 31}


def build_denoiser(kind: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh denoiser of ``kind`` (``"paper"`` or ``"improved"``) from config fields ``params``.

    Raises:
        ConfigError: unknown kind, unknown field, or an invalid value.
    """
    if kind not in DENOISERS:
        raise ConfigError(f"unknown denoiser kind {kind!r}; expected one of {sorted(DENOISERS)}")
    config_cls, module_cls = DENOISERS[kind]
    return module_cls(build_config(config_cls, dict(params or {})))


@dataclass(frozen=True, eq=False)
class ModelConfig:
    """Everything that defines a grasp diffusion model; stored with its weights.

    Attributes:
        kind: denoiser kind, ``"paper"`` or ``"improved"``.
        network: fields of the denoiser's config (``grasp_dim`` and ``n_types`` follow from
            ``representation`` and ``grasp_types`` when left out).
        scheduler: the training noise schedule.
        representation: ``"vector28"`` (22 joints, Euler sxyz, translation: the paper) or
            ``"vector31"`` (22 joints, 6-D rotation, translation), see ``hand.convert``.
        grasp_types: the types the model is conditioned on, in index order.
        translation_range: metres mapped to +-1 (translations are taken relative to the
            distance field's centre, so they stay within a hand's reach of it).
    """

    kind: str = "improved"
    network: Mapping[str, Any] = field(default_factory=dict)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    representation: str = "vector31"
    grasp_types: tuple[str, ...] = GRASP_TYPES
    translation_range: float = 0.25

    def __post_init__(self):
        if self.kind not in DENOISERS:
            raise ConfigError(f"unknown denoiser kind {self.kind!r}; expected one of {sorted(DENOISERS)}")
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(f"unknown representation {self.representation!r}; expected one of {sorted(REPRESENTATIONS)}")
        if isinstance(self.scheduler, Mapping):
            object.__setattr__(self, "scheduler", build_config(SchedulerConfig, dict(self.scheduler)))
        types = tuple(self.grasp_types)
        if not types or len(set(types)) != len(types):
            raise ConfigError(f"grasp_types must be distinct names, got {types}")
        object.__setattr__(self, "grasp_types", types)
        if not self.translation_range > 0:
            raise ConfigError(f"translation_range must be positive (metres), got {self.translation_range}")
        network = dict(self.network)
        for name, value in (("grasp_dim", REPRESENTATIONS[self.representation]), ("n_types", len(types))):
            if network.setdefault(name, value) != value:
                raise ConfigError(f"network {name} = {network[name]} contradicts the model ({value})")
        object.__setattr__(self, "network", network)

    def to_dict(self) -> dict:
        """JSON-ready form (the inverse of ``ModelConfig(**d)``)."""
        return {"kind": self.kind, "network": dict(self.network), "scheduler": asdict(self.scheduler),
                "representation": self.representation, "grasp_types": list(self.grasp_types),
                "translation_range": self.translation_range}


class GraspDiffusion(nn.Module):
    """A denoiser together with the grasp <-> vector mapping it was trained with.

    Grasps are ``(joints (B, 22) rad, rot (B, 3, 3), trans (B, 3) m)`` of ``rh_palm`` in the
    distance field's frame; the vectors hold the translation relative to the field's centre
    ``centre`` (B, 3), normalised by ``GraspNormalizer``.

    Attributes:
        config: the ``ModelConfig``; ``config.network`` is completed with every field of the
            denoiser's config, so a stored model does not depend on later defaults.
        denoiser: the network (``PaperDenoiser`` or ``ImprovedDenoiser``).
        normalizer: the vector normaliser (joint limits, translation range).
        info: what is known about the weights (``training``, ``metrics``; filled by
            training and by ``checkpoint.from_pretrained``).
    """

    def __init__(self, config: ModelConfig, normalizer: GraspNormalizer | None = None):
        super().__init__()
        self.denoiser = build_denoiser(config.kind, config.network)
        self.config = replace(config, network=asdict(self.denoiser.config))
        self.normalizer = normalizer or GraspNormalizer(translation_range=config.translation_range)
        self.info: dict[str, Any] = {}

    @property
    def grasp_types(self) -> tuple[str, ...]:
        return self.config.grasp_types

    @property
    def sdf_size(self) -> int:
        return int(self.denoiser.config.sdf_size)

    @property
    def grasp_dim(self) -> int:
        return REPRESENTATIONS[self.config.representation]

    def type_index(self, grasp_type: str) -> int:
        """Index of ``grasp_type`` in ``grasp_types``.

        Raises:
            DataError: a type the model does not know.
        """
        if grasp_type not in self.config.grasp_types:
            raise DataError(f"unknown grasp type {grasp_type!r}; this model knows {list(self.config.grasp_types)}")
        return self.config.grasp_types.index(grasp_type)

    def encode_grasps(self, joints: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """(B, 22), (B, 3, 3), (B, 3) m, (B, 3) m -> (B, grasp_dim) normalised vectors."""
        to_vector = self.normalizer.to_vector28 if self.config.representation == "vector28" else self.normalizer.to_vector31
        return to_vector(joints, rot, trans - centre)

    def decode_grasps(self, x: torch.Tensor, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, grasp_dim), (B, 3) m -> joints (B, 22) rad, rot (B, 3, 3), trans (B, 3) m."""
        from_vector = self.normalizer.from_vector28 if self.config.representation == "vector28" else self.normalizer.from_vector31
        joints, rot, trans = from_vector(x)
        return joints, rot, trans + centre.to(trans)

    def forward(self, x: torch.Tensor, t: torch.Tensor, obj: torch.Tensor, type_index: torch.Tensor) -> torch.Tensor:
        """The denoiser's prediction, (B, grasp_dim)."""
        return self.denoiser(x, t, obj, type_index)

    def encode(self, sdf: torch.Tensor, voxel_size: torch.Tensor) -> torch.Tensor:
        """Object codes of distance fields (B, n, n, n) m with voxel sizes (B,) m."""
        return self.denoiser.encode(sdf, voxel_size)
