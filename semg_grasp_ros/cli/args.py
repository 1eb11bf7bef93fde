"""Validated command-line values, refused while the arguments are parsed (before any work).

Each function here is an ``argparse`` ``type=``: it returns the parsed value or raises
``ArgumentTypeError`` with what is wrong and what is valid, which the ``semg-grasp``
parser prints as one line (``semg-grasp demo: error: argument --duration: must be a
positive number of seconds, got -3``) with exit status 2.
"""

from __future__ import annotations

import math
from argparse import ArgumentTypeError
from collections.abc import Callable
from pathlib import Path


def number(kind: type = float, low: float | None = None, high: float | None = None, *, above: bool = False,
           unit: str = "") -> Callable[[str], float]:
    """A finite ``kind`` (int or float) in ``[low, high]`` (``(low, high]`` with ``above``)."""
    name = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        valid = f"{name} in {'(' if above else '['}{low:g}, {high:g}]"
    elif low is not None:
        valid = f"{name} {'>' if above else '>='} {low:g}"
    else:
        valid = name
    valid += f" {unit}" if unit else ""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ArgumentTypeError(f"expected {valid}, got {text!r}") from None
        if not math.isfinite(value) or (low is not None and (value <= low if above else value < low)) or (
                high is not None and value > high):
            raise ArgumentTypeError(f"expected {valid}, got {text}")
        return value

    parse.__name__ = "integer" if kind is int else "number"  # argparse names the type in its messages
    return parse


def positive(unit: str = "") -> Callable[[str], float]:
    """A finite number > 0."""
    return number(float, 0, above=True, unit=unit)


def count(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An integer >= ``low`` (and <= ``high``)."""
    return number(int, low, high)


def existing_file(*suffixes: str) -> Callable[[str], Path]:
    """An existing file (not a folder), with one of ``suffixes`` when given (case-insensitive)."""
    def parse(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise ArgumentTypeError(f"{path} is a folder; expected a file" + _suffixes(suffixes))
        if not path.exists():
            raise ArgumentTypeError(f"file {path} does not exist")
        if suffixes and path.suffix.lower() not in suffixes:
            raise ArgumentTypeError(f"{path} has suffix {path.suffix or '(none)'!r}; expected" + _suffixes(suffixes))
        return path

    parse.__name__ = "file"
    return parse


def existing_dir(text: str) -> Path:
    """An existing folder."""
    path = Path(text)
    if path.is_file():
        raise ArgumentTypeError(f"{path} is a file; expected a folder")
    if not path.is_dir():
        raise ArgumentTypeError(f"folder {path} does not exist")
    return path


def bag_dir(text: str) -> Path:
    """An existing ROS 2 bag folder (``metadata.yaml``, or a storage file to recover)."""
    path = existing_dir(text)
    if not (path / "metadata.yaml").is_file() and not any(p.suffix in (".mcap", ".db3") for p in path.iterdir()):
        raise ArgumentTypeError(f"{path} has no metadata.yaml (nor a .mcap or .db3 file): not a ROS 2 bag folder "
                                "(one written by `semg-grasp record`, `demo` or `ros2 bag record`)")
    return path


def new_path(text: str) -> Path:
    """A path that does not exist yet (an output folder or file; nothing is overwritten)."""
    path = Path(text)
    if path.exists():
        raise ArgumentTypeError(f"{path} already exists; choose a new path (nothing is overwritten)")
    return path


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """A file to write: not a folder, with one of ``suffixes``, in a folder that exists or can be made."""
    def parse(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise ArgumentTypeError(f"{path} is a folder; expected a file name" + _suffixes(suffixes))
        if suffixes and path.suffix.lower() not in suffixes:
            raise ArgumentTypeError(f"{path} has suffix {path.suffix or '(none)'!r}; expected" + _suffixes(suffixes))
        parent = next((p for p in path.absolute().parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ArgumentTypeError(f"cannot write {path}: {parent} is a file")
        return path

    parse.__name__ = "file"
    return parse


def _suffixes(suffixes: tuple[str, ...]) -> str:
    return f" ({', '.join(suffixes)})" if suffixes else ""
