"""Session scripts of the simulator: (grasp type or ``rest``, seconds) in order."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from ... import GRASP_TYPES, REST
from ...errors import ConfigError

#: A scripted session: (grasp type or "rest", duration in seconds) in order.
Script = Sequence[tuple[str, float]]


def parse_script(text: str) -> list[tuple[str, float]]:
    """``"rest:2,spherical:3,rest:2"`` -> ``[("rest", 2.0), ("spherical", 3.0), ("rest", 2.0)]``.

    Raises:
        ConfigError: an item is not ``name:seconds``.
    """
    items = []
    for part in filter(None, (p.strip() for p in re.split(r"[,\s]+", text))):
        name, sep, dur = part.partition(":")
        try:
            items.append((name.strip(), float(dur)))
        except ValueError:
            sep = ""
        if sep and not (math.isfinite(items[-1][1]) and items[-1][1] > 0):
            raise ConfigError(f"script item {part!r}: seconds must be a positive number")
        if not sep:
            raise ConfigError(f"script item {part!r} is not NAME:SECONDS (e.g. 'rest:2,spherical:3')")
    if not items:
        raise ConfigError("empty script; expected e.g. 'rest:2,spherical:3,rest:2'")
    return items


def default_script(
    repetitions: int = 1,
    grasp_s: float = 3.0,
    rest_s: float = 2.0,
    classes: Sequence[str] = GRASP_TYPES,
    seed: int = 0,
) -> list[tuple[str, float]]:
    """Rest, then every class ``repetitions`` times in shuffled order, each followed by rest."""
    rng = np.random.default_rng(seed)
    order = [c for _ in range(repetitions) for c in rng.permutation(list(classes))]
    script = [(REST, rest_s)]
    for c in order:
        script += [(str(c), grasp_s), (REST, rest_s)]
    return script


def validate_script(script: Script, class_names: Sequence[str]) -> list[tuple[str, float]]:
    """Check names and durations; returns the script as a list.

    Raises:
        ConfigError: unknown class, non-positive or non-finite duration, empty script.
    """
    out = []
    for item in script:
        try:
            name, dur = item
            dur = float(dur)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"script item {item!r} is not (name, seconds)") from exc
        if name != REST and name not in class_names:
            raise ConfigError(f"unknown script class {name!r}; expected one of {[REST, *class_names]}")
        if not (math.isfinite(dur) and dur > 0):
            raise ConfigError(f"script item {name!r} needs a positive finite duration, got {dur}")
        out.append((name, dur))
    if not out:
        raise ConfigError("empty script")
    return out
