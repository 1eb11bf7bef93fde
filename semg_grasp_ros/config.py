"""Component configuration: dataclass defaults, overridden by ``config/<node>.yaml``.

The YAML files are ROS 2 parameter files (``<node_name>: ros__parameters: {...}``), so
the same file configures the rclpy node (``--params-file``) and the standalone pipeline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ConfigError
from .paths import resource

T = TypeVar("T")


def param(default: Any, description: str, range: tuple[float, float] | None = None) -> Any:
    """A config dataclass field carrying the ROS parameter's description and valid range
    (``semg_grasp_ros.ros.node`` declares parameters from them)."""
    meta: dict[str, Any] = {"description": description}
    if range is not None:
        meta["range"] = range
    return dataclasses.field(default=default, metadata=meta)


def read_parameters(node_name: str, path: str | Path | None = None) -> dict[str, Any]:
    """``ros__parameters`` of ``node_name`` in ``path`` (default ``config/<node_name>.yaml``)."""
    path = Path(path) if path is not None else resource("config", f"{node_name}.yaml")
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc}") from exc
    section = doc.get(node_name, doc.get(f"/{node_name}", doc.get("/**", {})))
    params = (section or {}).get("ros__parameters")
    if not isinstance(params, dict):
        raise ConfigError(f"{path} has no '{node_name}: ros__parameters:' section")
    return params


def build_config(config_cls: type[T], params: dict[str, Any] | None = None, **overrides: Any) -> T:
    """Instantiate ``config_cls`` from parameters (unknown names are errors; lists become
    tuples where the field's default is a tuple); validation is the dataclass's own."""
    values = {**(params or {}), **overrides}
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {config_cls.__name__}; known: {sorted(fields)}")
    for name, value in values.items():
        default = fields[name].default
        if isinstance(value, list) and (isinstance(default, tuple) or default is dataclasses.MISSING):
            values[name] = tuple(value)
    try:
        return config_cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{config_cls.__name__}: {exc}") from exc


def load_config(config_cls: type[T], node_name: str, path: str | Path | None = None, **overrides: Any) -> T:
    """``build_config`` from the node's YAML file."""
    return build_config(config_cls, read_parameters(node_name, path), **overrides)
