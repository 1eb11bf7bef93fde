"""Grasp diffusion checkpoints: safetensors weights + a JSON config, never a pickle
(the files themselves: ``semg_grasp_ros.checkpoint``).

A model folder holds ``model.safetensors`` (the state dict) and ``config.json``::

    {"format": "semg_grasp_ros.grasp_diffusion", "format_version": 1,
     "package_version": "0.1.0",
     "model": {kind, network: {every denoiser setting}, scheduler, representation,
               grasp_types, translation_range},
     "normalizer": {lower, upper, translation_range},
     "grasp_types": [...], "training": {...}, "metrics": {...}}

``from_pretrained`` rebuilds the network from the stored config (shapes are never
guessed) and checks that the weights match it tensor by tensor. Anything missing,
unreadable, inconsistent or non-finite raises ``ModelError``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...checkpoint import check_header, header, load_weights, read_json, save_weights, shipped, write_json
from ...errors import ConfigError, DataError, ModelError
from ...hand.convert import GraspNormalizer
from .networks import GraspDiffusion, ModelConfig

log = logging.getLogger(__name__)

FORMAT = "semg_grasp_ros.grasp_diffusion"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def save_pretrained(model: GraspDiffusion, path: str | os.PathLike, training: Mapping[str, Any] | None = None,
                    metrics: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created if needed).

    Args:
        model: the model to store; its ``info`` (``training``, ``metrics``, ``sampler``:
            the default sampling settings) goes into the JSON.
        training: replaces ``info["training"]`` (how it was trained: data, epochs, seed, ...).
        metrics: replaces ``info["metrics"]`` (evaluation results).

    Returns:
        The folder.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    if training is not None:
        model.info["training"] = dict(training)
    if metrics is not None:
        model.info["metrics"] = dict(metrics)
    save_weights(folder / WEIGHTS_FILE, model.state_dict(), {"format": FORMAT})
    write_json(folder / CONFIG_FILE, {
        **header(FORMAT, FORMAT_VERSION),
        "model": model.config.to_dict(),
        "normalizer": model.normalizer.to_dict(),
        "grasp_types": list(model.grasp_types),
        "sampler": model.info.get("sampler", {}),
        "training": model.info.get("training", {}),
        "metrics": model.info.get("metrics", {}),
    })
    log.info("saved grasp diffusion model (%s) to %s", model.config.kind, folder)
    return folder


def model_from_config(data: Mapping[str, Any], where: str = "config") -> GraspDiffusion:
    """A freshly initialised model from a stored config dict (``config.json`` content).

    Raises:
        ModelError: wrong format or version, or settings that do not build a model.
    """
    check_header(data, FORMAT, FORMAT_VERSION, where)
    try:
        config = ModelConfig(**data["model"])
        normalizer = GraspNormalizer.from_dict(data["normalizer"])
        model = GraspDiffusion(config, normalizer)
    except (KeyError, TypeError, ValueError, ConfigError, DataError) as exc:
        raise ModelError(f"{where}: the stored model settings are invalid: {exc!r}") from exc
    if list(data.get("grasp_types", [])) != list(config.grasp_types):
        raise ModelError(f"{where}: grasp_types {data.get('grasp_types')} differ from the model's {list(config.grasp_types)}")
    return model


def load_state(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor], where: str) -> None:
    """Copy ``tensors`` into ``model`` after checking names, shapes and finiteness.

    Raises:
        ModelError: a missing, unexpected, mis-shaped or non-finite tensor.
    """
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelError(f"{where}: weights do not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ModelError(f"{where}: tensor {name} has shape {tuple(value.shape)}, the config needs {tuple(expected[name].shape)}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelError(f"{where}: tensor {name} contains NaN or inf")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})


def model_folder(name: str | os.PathLike) -> Path:
    """A model folder: ``name`` as a path if that folder exists, else ``models/<name>`` of the package.

    Raises:
        ModelError: neither exists.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    folder = shipped(name)
    if folder is None:
        raise ModelError(f"grasp model {str(name)!r} not found as a folder or under the package's models/")
    return folder


def model_files(name: str | os.PathLike) -> list[Path]:
    """The JSON and safetensors files of a model folder (``model_folder``)."""
    return sorted(p for p in model_folder(name).iterdir() if p.suffix in (".json", ".safetensors"))


def from_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> GraspDiffusion:
    """Load a model folder written by ``save_pretrained`` (or either of its two files).

    Returns:
        The model in eval mode on ``device``, with ``info`` = {"training", "metrics",
        "sampler"} as stored.

    Raises:
        ModelError: missing, corrupt or inconsistent files.
    """
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} not found (expected {CONFIG_FILE} and {WEIGHTS_FILE} in it)")
    data = read_json(folder / CONFIG_FILE)
    model = model_from_config(data, str(folder / CONFIG_FILE))
    load_state(model, load_weights(folder / WEIGHTS_FILE, "torch"), str(folder / WEIGHTS_FILE))
    model.info = {key: data.get(key, {}) for key in ("training", "metrics", "sampler")}
    return model.to(device).eval()
