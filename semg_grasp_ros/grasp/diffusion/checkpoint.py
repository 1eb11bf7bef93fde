"""Grasp diffusion checkpoints: safetensors weights + a JSON config, never a pickle.

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

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ... import __version__
from ...errors import ConfigError, DataError, ModelError
from ...hand.convert import GraspNormalizer
from ...paths import resource
from .networks import GraspDiffusion, ModelConfig

log = logging.getLogger(__name__)

FORMAT = "semg_grasp_ros.grasp_diffusion"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (temporary file, then rename), so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)


def save_tensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> None:
    """Write tensors to a safetensors file atomically (contiguous CPU copies)."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=dict(metadata or {}))
    os.replace(tmp, path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file.

    Raises:
        ModelError: missing, unreadable or corrupt file.
    """
    if not path.is_file():
        raise ModelError(f"weights file {path} not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a readable safetensors file: {exc}") from exc


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object.

    Raises:
        ModelError: missing, unreadable or not a JSON object.
    """
    if not path.is_file():
        raise ModelError(f"config file {path} not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


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
    save_tensors(folder / WEIGHTS_FILE, model.state_dict(), {"format": FORMAT})
    write_json(folder / CONFIG_FILE, {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
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
    if data.get("format") != FORMAT:
        raise ModelError(f"{where}: format {data.get('format')!r} is not {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{where}: format_version {data.get('format_version')!r} unsupported; expected {FORMAT_VERSION}")
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
    try:
        return resource("models", str(name))
    except ConfigError as exc:
        raise ModelError(f"grasp model {str(name)!r} not found as a folder or under models/: {exc}") from exc


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
    load_state(model, load_tensors(folder / WEIGHTS_FILE), str(folder / WEIGHTS_FILE))
    model.info = {key: data.get(key, {}) for key in ("training", "metrics", "sampler")}
    return model.to(device).eval()
