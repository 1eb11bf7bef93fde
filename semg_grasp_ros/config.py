"""Component configuration: dataclass defaults, overridden by ``config/<node>.yaml``.

Each setting is declared once, as a dataclass field with its default, description and
valid range (``param``). A node's config holds the configs of the domain code it runs as
nested fields (``nested``: e.g. ``ObjectSdfConfig.segmentation``), which are ROS
parameters with dotted names (``segmentation.voxel_size``) and nested mappings in YAML.
The YAML files are ROS 2 parameter files (``<node_name>: ros__parameters: {...}``) listing
only what differs from the defaults, so the same file configures the rclpy node
(``--params-file``) and the standalone pipeline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ConfigError
from .paths import resource

T = TypeVar("T")


def param(default: Any, description: str, range: tuple[float, float] | None = None, live: bool = False) -> Any:
    """A config dataclass field carrying the ROS parameter's description and valid range
    (``semg_grasp_ros.ros.node`` declares parameters from them). ``live``: the component
    applies a new value while running (``reconfigure``); other parameters are read-only once
    the node runs."""
    meta: dict[str, Any] = {"description": description, "live": live}
    if range is not None:
        meta["range"] = range
    return dataclasses.field(default=default, metadata=meta)


def nested(config_cls: type, description: str) -> Any:
    """A config dataclass field holding the config ``config_cls`` of the domain code a
    component runs (its fields are parameters named ``<field>.<name>``)."""
    return dataclasses.field(default_factory=config_cls, metadata={"description": description, "nested": config_cls})


def nested_class(f: dataclasses.Field) -> type | None:
    """The config class of a ``nested`` field, else None."""
    return f.metadata.get("nested")


def flat_fields(config_cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted parameter name, field, default) of every leaf setting of ``config_cls``, nested
    configs expanded in field order."""
    out = []
    for f in dataclasses.fields(config_cls):
        inner = nested_class(f)
        if inner is not None:
            out += flat_fields(inner, f"{prefix}{f.name}.")
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            out.append((prefix + f.name, f, default))
    return out


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``top``, mappings merged key by key."""
    out = dict(base)
    for key, value in top.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}`` (dotted ROS names to YAML nesting)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        head, _, rest = str(key).partition(".")
        if rest:
            value = {rest: value}
        if isinstance(value, dict):
            value = _nest(value)
        out[head] = _merge(out[head], value) if isinstance(value, dict) and isinstance(out.get(head), dict) else value
    return out


def read_parameters(node_name: str, path: str | Path | None = None) -> dict[str, Any]:
    """``ros__parameters`` of ``node_name`` in ``path`` (default ``config/<node_name>.yaml``)."""
    path = Path(path) if path is not None else resource("config", f"{node_name}.yaml")
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} is not a YAML mapping with a '{node_name}: ros__parameters:' section")
    section = doc.get(node_name, doc.get(f"/{node_name}", doc.get("/**", {})))
    params = section.get("ros__parameters") if isinstance(section, dict) else None
    if not isinstance(params, dict):
        raise ConfigError(f"{path} has no '{node_name}: ros__parameters:' section")
    return params


def build_config(config_cls: type[T], params: dict[str, Any] | None = None, **overrides: Any) -> T:
    """Instantiate ``config_cls`` from parameters: nested mappings or dotted names for the
    ``nested`` configs, whose unnamed settings keep their defaults (unknown names are errors;
    lists become tuples where the field's default is a tuple); validation is the dataclass's own."""
    values = _nest(params or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    for name, value in _nest(overrides).items():  # a nested config's settings merge, other values replace
        merge = name in fields and nested_class(fields[name]) and isinstance(value, dict)
        values[name] = _merge(values[name], value) if merge and isinstance(values.get(name), dict) else value
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} for {config_cls.__name__}; known: {sorted(fields)}")
    for name, value in values.items():
        inner = nested_class(fields[name])
        if inner is not None and isinstance(value, dict):
            try:
                values[name] = build_config(inner, value)
            except ConfigError as exc:
                raise ConfigError(f"{config_cls.__name__}.{name}: {exc}") from exc
            continue
        default = fields[name].default
        if isinstance(value, list) and (isinstance(default, tuple) or default is dataclasses.MISSING):
            values[name] = tuple(value)
    try:
        return config_cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{config_cls.__name__}: {exc}") from exc


def override(config: T, values: dict[str, Any]) -> T:
    """``config`` with the settings in ``values`` replaced (dotted names or nested mappings for
    its ``nested`` configs, e.g. ``{"decoder.level.max_rms": (1.0,)}``), validated again.

    Raises:
        ConfigError: an unknown setting, or a value the config refuses.
    """
    changes = {}
    for name, value in _nest(values).items():
        if name not in {f.name for f in dataclasses.fields(config)}:
            raise ConfigError(f"unknown parameter {name!r} for {type(config).__name__}")
        current = getattr(config, name)
        inner = dataclasses.is_dataclass(current) and isinstance(value, dict)
        changes[name] = override(current, value) if inner else value
    return dataclasses.replace(config, **changes)


def load_config(config_cls: type[T], node_name: str, path: str | Path | None = None, **overrides: Any) -> T:
    """``build_config`` from the node's YAML file."""
    return build_config(config_cls, read_parameters(node_name, path), **overrides)


def load_config_file(config_cls: type[T], path: str | Path, **overrides: Any) -> T:
    """``build_config`` from a YAML mapping of ``config_cls`` fields (a training recipe).

    Raises:
        ConfigError: unreadable file, not a mapping, unknown keys or invalid values.
    """
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"config file {path} must be a mapping of {config_cls.__name__} fields")
    return build_config(config_cls, doc, **overrides)
