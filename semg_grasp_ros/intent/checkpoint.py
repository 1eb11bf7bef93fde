"""Grasp-type model checkpoints: ``<stem>.json`` + ``<stem>.safetensors``.

The JSON holds the header (``semg_grasp_ros.checkpoint``), the architecture, model config,
input spec, class names, normaliser statistics, training data and metrics; the
safetensors file the learned weights as named arrays. A checkpoint is named by a path
(stem, ``.json``, ``.safetensors``, or a folder holding ``model.json``) or by the name of
a shipped model (``models/<name>.json``). ``intent.models.load_model`` rebuilds any
architecture; ``IntentModel.from_pretrained`` one of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import checkpoint
from ..errors import ModelError

FORMAT = "semg_grasp_ros.intent_model"
FORMAT_VERSION = 1


def stem(path) -> Path:
    """``path`` without a ``.json`` / ``.safetensors`` suffix."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def jsonable(obj):
    """``obj`` with numpy arrays and scalars as lists and Python numbers (JSON-ready)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def resolve(path) -> Path:
    """The ``.json`` of a checkpoint given as a path or a shipped model name.

    Raises:
        ModelError: no such checkpoint.
    """
    if Path(path).is_dir():
        path = Path(path) / "model.json"
    s = stem(path)
    if s.with_suffix(".json").is_file():
        return s.with_suffix(".json")
    if not Path(path).is_absolute() and len(Path(path).parts) == 1:
        shipped = checkpoint.shipped(s.name + ".json")
        if shipped is not None:
            return shipped
    raise ModelError(f"model {path}: no {s.with_suffix('.json')} (expected <stem>.json + <stem>.safetensors)")


def files(path) -> list[Path]:
    """The JSON and weights files of a checkpoint given as a path or a shipped model name."""
    json_path = resolve(path)
    return [json_path, json_path.with_suffix(".safetensors")]


def header() -> dict[str, Any]:
    """The header of this family's checkpoint JSON (format, version, package version)."""
    return checkpoint.header(FORMAT, FORMAT_VERSION)


def write(path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``<stem>.safetensors`` (``arrays``) and ``<stem>.json`` (``header()`` + ``meta``);
    returns the JSON path."""
    s = stem(path)
    s.parent.mkdir(parents=True, exist_ok=True)
    weights = s.with_suffix(".safetensors")
    checkpoint.save_weights(weights, {k: np.array(v, order="C") for k, v in arrays.items()},  # keeps 0-d arrays 0-d
                            {"format": FORMAT})
    full = {**header(), **meta, "weights": weights.name}
    checkpoint.write_json(s.with_suffix(".json"), jsonable(full), allow_nan=True)
    return s.with_suffix(".json")


def read(path) -> tuple[Path, dict[str, Any]]:
    """The JSON path and content of a checkpoint, header checked.

    Raises:
        ModelError: missing or unreadable file, another format or version.
    """
    json_path = resolve(path)
    meta = checkpoint.read_json(json_path)
    checkpoint.check_header(meta, FORMAT, FORMAT_VERSION, f"{json_path} (a grasp-intent model config)")
    return json_path, meta


def read_weights(json_path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The named arrays of the checkpoint whose JSON is ``json_path``.

    Raises:
        ModelError: missing or corrupt weights.
    """
    return checkpoint.load_weights(json_path.with_name(meta.get("weights", json_path.with_suffix(".safetensors").name)))
