"""Checkpoint files of every model family: safetensors weights + a JSON config, never a pickle.

A checkpoint's JSON starts with a header ``{"format", "format_version", "package_version"}``
(``header`` / ``check_header``); its weights are a safetensors file of named arrays. Files
are written atomically (a temporary file, then a rename), so a crash never leaves half a
file. A shipped model is found by name under the package's ``models/`` (``shipped``).
The families build on this: ``intent.checkpoint`` (``<stem>.json`` + ``<stem>.safetensors``)
and ``grasp.diffusion.checkpoint`` (a folder with ``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError, ModelError


def header(format_name: str, version: int) -> dict[str, Any]:
    """The first keys of a checkpoint JSON."""
    return {"format": format_name, "format_version": version, "package_version": __version__}


def check_header(data: Mapping[str, Any], format_name: str, version: int, where: str) -> None:
    """Raise ``ModelError`` unless ``data`` has ``format_name`` and ``version``."""
    if data.get("format") != format_name:
        raise ModelError(f"{where}: format {data.get('format')!r} is not {format_name!r}")
    if data.get("format_version") != version:
        raise ModelError(f"{where}: format_version {data.get('format_version')!r} unsupported; expected {version}")


def write_json(path: Path, data: Mapping[str, Any], allow_nan: bool = False) -> None:
    """Write ``data`` as indented JSON, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=allow_nan) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``.

    Raises:
        ModelError: missing, unreadable or not a JSON object.
    """
    if not path.is_file():
        raise ModelError(f"config file {path} not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable JSON config ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def save_weights(path: Path, arrays: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays atomically: numpy arrays, or torch tensors (stored as contiguous CPU copies)."""
    tmp = path.with_name(path.name + ".tmp")
    if arrays and all(hasattr(v, "detach") for v in arrays.values()):
        from safetensors.torch import save_file

        arrays = {k: v.detach().to("cpu").contiguous() for k, v in arrays.items()}
    else:
        from safetensors.numpy import save_file
    save_file(dict(arrays), str(tmp), metadata=dict(metadata or {}))
    os.replace(tmp, path)


def load_weights(path: Path, framework: str = "numpy") -> dict[str, Any]:
    """Named arrays from a safetensors file, as numpy arrays or (``framework="torch"``) tensors.

    Raises:
        ModelError: missing, unreadable or corrupt file (a pickle is never unpickled).
    """
    from safetensors import SafetensorError

    if framework == "torch":
        from safetensors.torch import load_file
    else:
        from safetensors.numpy import load_file
    if not path.is_file():
        raise ModelError(f"weights file {path} not found (missing)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: corrupt weights, not a readable safetensors file ({exc})") from exc


def shipped(name: str | os.PathLike) -> Path | None:
    """``models/<name>`` of the package (a file or folder), or None when it has none."""
    from .paths import resource

    try:
        return resource("models", str(name))
    except ConfigError:
        return None
