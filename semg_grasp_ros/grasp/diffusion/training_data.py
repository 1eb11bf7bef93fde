"""Training data of the grasp diffusion models: ``GraspArrays`` (grasps with type labels, each
pointing at one of a set of distance fields) from an ``.npz`` file or a dataset folder, the
split by object, the batching dataset and the rotation augmentation of grasps and fields.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ... import GRASP_TYPES
from ...errors import ConfigError, DatasetError
from ..data.dataset import GraspDataset
from .networks import GraspDiffusion

log = logging.getLogger(__name__)

AUGMENTATIONS = ("none", "z", "so3")


@dataclass(frozen=True, eq=False)
class GraspArrays:
    """Grasps with type labels over a set of object distance fields.

    Grasps are given in the frame of their object's field (the grid axes; positions in
    metres in the same frame as ``origins``).

    Attributes:
        joints: (N, 22) rad, ``FINGER_JOINTS`` order (Shadow convention).
        rot: (N, 3, 3) palm (``rh_palm``) rotations.
        trans: (N, 3) palm positions, metres.
        type_index: (N,) int, index into ``grasp_types``.
        field_index: (N,) int, index of the grasp's object in ``fields``.
        fields: (M, n, n, n) float32 distances, metres (negative inside when signed).
        origins: (M, 3) centre of voxel (0, 0, 0) of each field, metres.
        voxel_sizes: (M,) metres.
        grasp_types: names of the type indices.
        object_ids: (M,) object names (for splits and reports).
    """

    joints: np.ndarray
    rot: np.ndarray
    trans: np.ndarray
    type_index: np.ndarray
    field_index: np.ndarray
    fields: np.ndarray
    origins: np.ndarray
    voxel_sizes: np.ndarray
    grasp_types: tuple[str, ...] = GRASP_TYPES
    object_ids: tuple[str, ...] = ()

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        for name, dtype in (("joints", np.float64), ("rot", np.float64), ("trans", np.float64),
                            ("type_index", np.int64), ("field_index", np.int64), ("fields", np.float32),
                            ("origins", np.float64), ("voxel_sizes", np.float64)):
            set_(name, np.asarray(getattr(self, name), dtype=dtype))
        n, m = self.joints.shape[0], self.fields.shape[0]
        set_("grasp_types", tuple(self.grasp_types))
        set_("object_ids", tuple(self.object_ids) or tuple(f"object_{i}" for i in range(m)))
        shapes = {"joints": (n, 22), "rot": (n, 3, 3), "trans": (n, 3), "type_index": (n,), "field_index": (n,),
                  "origins": (m, 3), "voxel_sizes": (m,)}
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise DatasetError(f"grasp arrays: {name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.fields.ndim != 4 or len(set(self.fields.shape[1:])) != 1:
            raise DatasetError(f"grasp arrays: fields must be (M, n, n, n), got {self.fields.shape}")
        if len(self.object_ids) != m:
            raise DatasetError(f"grasp arrays: {len(self.object_ids)} object ids for {m} fields")
        for name in ("joints", "rot", "trans", "fields", "origins", "voxel_sizes"):
            if not np.isfinite(getattr(self, name)).all():
                raise DatasetError(f"grasp arrays: {name} contains NaN or inf")
        if n and (self.type_index.min() < 0 or self.type_index.max() >= len(self.grasp_types)):
            raise DatasetError(f"grasp arrays: type_index outside 0..{len(self.grasp_types) - 1}")
        if n and (self.field_index.min() < 0 or self.field_index.max() >= m):
            raise DatasetError(f"grasp arrays: field_index outside 0..{m - 1}")
        if (self.voxel_sizes <= 0).any():
            raise DatasetError("grasp arrays: voxel sizes must be positive")

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    @property
    def sdf_size(self) -> int:
        return int(self.fields.shape[1])

    def centres(self) -> np.ndarray:
        """(M, 3) centre of each field's grid, metres."""
        return self.origins + self.voxel_sizes[:, None] * (self.sdf_size - 1) / 2

    def select_objects(self, objects: np.ndarray) -> "GraspArrays":
        """The grasps of the objects (field indices) ``objects``, fields renumbered."""
        objects = np.asarray(objects, dtype=np.int64)
        remap = np.full(self.fields.shape[0], -1)
        remap[objects] = np.arange(objects.size)
        keep = remap[self.field_index] >= 0
        return GraspArrays(self.joints[keep], self.rot[keep], self.trans[keep], self.type_index[keep],
                           remap[self.field_index[keep]], self.fields[objects], self.origins[objects],
                           self.voxel_sizes[objects], self.grasp_types,
                           tuple(self.object_ids[i] for i in objects))

    def save_npz(self, path: str | os.PathLike) -> None:
        """Write every array (and the names) to an ``.npz`` file (no pickle)."""
        np.savez_compressed(path, joints=self.joints, rot=self.rot, trans=self.trans, type_index=self.type_index,
                            field_index=self.field_index, fields=self.fields, origins=self.origins,
                            voxel_sizes=self.voxel_sizes, grasp_types=np.array(self.grasp_types),
                            object_ids=np.array(self.object_ids))

    @classmethod
    def load_npz(cls, path: str | os.PathLike) -> "GraspArrays":
        """Read a file written by ``save_npz``.

        Raises:
            DatasetError: missing file or keys, or inconsistent arrays.
        """
        names = [f.name for f in fields(cls)]
        try:
            with np.load(path, allow_pickle=False) as z:
                values = {k: z[k] for k in names}
        except (OSError, KeyError, ValueError) as exc:
            raise DatasetError(f"{path} is not a grasp-array file with {names}: {exc}") from exc
        values["grasp_types"] = tuple(str(s) for s in values["grasp_types"])
        values["object_ids"] = tuple(str(s) for s in values["object_ids"])
        return cls(**values)


def split_by_object(arrays: GraspArrays, val_fraction: float, seed: int) -> tuple[GraspArrays, GraspArrays | None]:
    """Split into training and validation grasps by object (no object in both).

    At least one object stays in training; ``val_fraction`` = 0 gives no validation set.
    """
    m = arrays.fields.shape[0]
    n_val = min(int(round(val_fraction * m)), m - 1)
    if n_val <= 0:
        return arrays, None
    order = np.random.default_rng(seed).permutation(m)
    return arrays.select_objects(np.sort(order[n_val:])), arrays.select_objects(np.sort(order[:n_val]))


class DiffusionDataset(torch.utils.data.Dataset):
    """A ``GraspArrays`` as training items of one model.

    Items (for an index or a tensor of indices): normalised grasp vector (D,), type index,
    field index. Shared tensors: ``fields`` (M, n, n, n), ``voxel_sizes`` (M,); and, for
    rotation augmentation, each grasp relative to its field's centre: ``joints`` (N, 22),
    ``rot`` (N, 3, 3), ``offset`` (N, 3) m.
    """

    def __init__(self, arrays: GraspArrays, model: GraspDiffusion):
        if arrays.grasp_types != model.grasp_types:
            raise ConfigError(f"the data's grasp types {arrays.grasp_types} differ from the model's {model.grasp_types}")
        if arrays.sdf_size != model.sdf_size:
            raise ConfigError(f"the data's fields are {arrays.sdf_size}^3, the model expects {model.sdf_size}^3")
        self.joints = torch.from_numpy(arrays.joints).float()
        self.rot = torch.from_numpy(arrays.rot).float()
        self.offset = torch.from_numpy(arrays.trans - arrays.centres()[arrays.field_index]).float()
        with torch.no_grad():
            self.vectors = model.encode_grasps(self.joints, self.rot, self.offset, torch.zeros_like(self.offset)).float()
        self.types = torch.from_numpy(arrays.type_index)
        self.field_index = torch.from_numpy(arrays.field_index)
        self.fields = torch.from_numpy(arrays.fields)
        self.voxel_sizes = torch.from_numpy(arrays.voxel_sizes).float()

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __getitem__(self, index):
        return self.vectors[index], self.types[index], self.field_index[index]


def random_rotations(n: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) random rotations: ``"z"`` uniform about the z axis, ``"so3"`` uniform over all
    rotations (normalised Gaussian quaternions, Shoemake 1992)."""
    if kind == "z":
        a = torch.rand(n, generator=generator) * 2 * math.pi
        c, s, o, z = a.cos(), a.sin(), torch.ones(n), torch.zeros(n)
        return torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(n, 3, 3)
    q = torch.randn(n, 4, generator=generator)
    w, x, y, z = (q / q.norm(dim=1, keepdim=True)).unbind(1)
    return torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1).reshape(n, 3, 3)


def rotate_fields(fields: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate cubic fields about their centres: F'(p) = F(R^T p) (trilinear; beyond the grid
    the border value is repeated).

    Args:
        fields: (U, n, n, n), axes x, y, z.
        rot: (U, 3, 3).

    Returns:
        (U, n, n, n).
    """
    U, n = fields.shape[0], fields.shape[1]
    flip = torch.eye(3, dtype=fields.dtype).flip(0)  # torch's grid coordinates run (z, y, x)
    theta = torch.zeros(U, 3, 4, dtype=fields.dtype)
    theta[:, :, :3] = flip @ rot.to(fields.dtype).transpose(1, 2) @ flip
    grid = F.affine_grid(theta, [U, 1, n, n, n], align_corners=True)
    return F.grid_sample(fields.unsqueeze(1), grid, mode="bilinear", padding_mode="border",
                         align_corners=True).squeeze(1)


def arrays_from_dataset(dataset: GraspDataset) -> GraspArrays:
    """A ``GraspArrays`` holding every item of a dataset folder's loader (``grasp.data.dataset``)."""
    items = [dataset[i] for i in range(len(dataset))]
    objects = dataset.objects
    return GraspArrays(
        joints=torch.stack([it["joints"] for it in items]).double().numpy(),
        rot=torch.stack([it["rot"] for it in items]).double().numpy(),
        trans=torch.stack([it["trans"] for it in items]).double().numpy(),
        type_index=dataset.types.numpy(),
        field_index=np.array([int(it["object_index"]) for it in items]),
        fields=np.stack([o.sdf for o in objects]),
        origins=np.stack([o.sdf_origin for o in objects]),
        voxel_sizes=np.array([o.sdf_voxel_size for o in objects]),
        object_ids=tuple(o.object_id for o in objects),
    )


def load_grasp_arrays(path: str | os.PathLike) -> GraspArrays:
    """Grasps from an ``.npz`` written by ``GraspArrays.save_npz``.

    Raises:
        DatasetError: missing or unreadable data.
    """
    path = Path(path)
    if path.suffix != ".npz" or not path.is_file():
        raise DatasetError(f"{path} is not a grasp-array .npz file (GraspArrays.save_npz)")
    return GraspArrays.load_npz(path)


def load_training_data(path: str | os.PathLike, val_fraction: float = 0.1,
                       seed: int = 0) -> tuple[GraspArrays, GraspArrays | None]:
    """Training and validation grasps from ``path``.

    A dataset folder (``index.json`` + ``objects/``, see ``grasp.data.dataset``) gives its
    ``train`` and ``val`` splits (physics-checked grasps only); an ``.npz`` of
    ``GraspArrays`` is split by object with ``split_by_object``.

    Raises:
        DatasetError: no data at ``path``, or an empty training split.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "index.json").is_file():
            raise DatasetError(f"{path} is not a grasp dataset folder (no index.json); build one with "
                               "'semg-grasp data synth' or pass a GraspArrays .npz file")
        train_arrays = arrays_from_dataset(GraspDataset(path, "train"))
        try:
            val_arrays = arrays_from_dataset(GraspDataset(path, "val"))
        except DatasetError:
            log.warning("dataset %s has no validation objects; training without a validation loss", path)
            val_arrays = None
        return train_arrays, val_arrays
    return split_by_object(load_grasp_arrays(path), val_fraction, seed)
