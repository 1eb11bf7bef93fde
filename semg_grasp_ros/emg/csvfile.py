"""CSV files of sEMG: one row per sample, one column per channel (``CSV_FORMAT``).

What ``semg-grasp record --source csv`` replays and what the LibEMG-layout folders of
``emg.datasets.load_csv_folder`` hold.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError

#: How a CSV file of sEMG is laid out (``semg-grasp record --help`` shows this text).
CSV_FORMAT = (
    "CSV: one row per sample, one column per channel, comma-separated numbers; an optional header row "
    "of channel names; lines starting with '#' are comments, and '# sample_rate_hz=1000' gives the rate; "
    "a column named time_s (seconds) also gives it (and is not a channel). Without either, pass --rate."
)
_RATE_COMMENT = re.compile(r"^#\s*sample_rate_hz\s*[=:]\s*(\S+)\s*$")
_TIME_COLUMNS = ("time_s",)


@dataclass(frozen=True)
class CsvRecording:
    """One CSV file of sEMG (``CSV_FORMAT``)."""

    data: np.ndarray  # (n_samples, n_channels) float32, values as stored
    channel_names: tuple[str, ...]
    sample_rate: float | None  # Hz, when the file states it (comment or time_s column)


def read_csv(path) -> CsvRecording:
    """Read one CSV file of sEMG laid out as ``CSV_FORMAT`` says.

    Raises:
        DatasetError: missing file, a folder, non-numeric or ragged rows, no rows, non-finite
            values, a bad rate comment, or a time_s column that is not increasing and uniform.
    """
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a folder; expected a CSV file ({CSV_FORMAT})")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (expected a comma-separated EMG file)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable text file ({exc})") from None
    rate, names, rows = None, None, []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            m = _RATE_COMMENT.match(text)
            if m:
                rate = _csv_rate(path, m.group(1))
            continue
        cells = [c.strip() for c in text.split(",")]
        values = [_float_or_none(c) for c in cells]
        if names is None and not rows and all(v is None for v in values) and all(cells):
            names = tuple(cells)  # the header row
            continue
        if any(v is None for v in values):
            raise DatasetError(f"{path}, line {number}: {text[:60]!r} is not comma-separated numbers")
        rows.append(values)
        if len(rows[-1]) != len(rows[0]):
            raise DatasetError(f"{path}, line {number}: {len(rows[-1])} values, the first row has {len(rows[0])}")
    if not rows:
        raise DatasetError(f"{path}: no rows of samples ({CSV_FORMAT})")
    data = np.asarray(rows, dtype=np.float64)
    if names is not None and len(names) != data.shape[1]:
        raise DatasetError(f"{path}: the header names {len(names)} columns, the rows have {data.shape[1]}")
    names = names or tuple(f"ch{i + 1}" for i in range(data.shape[1]))
    if not np.isfinite(data).all():
        raise DatasetError(f"{path}: non-finite values (nan/inf) in the samples")
    time_col = next((i for i, n in enumerate(names) if n.lower() in _TIME_COLUMNS), None)
    if time_col is not None:
        t = data[:, time_col]
        step = np.diff(t)
        if len(t) < 2 or not (step > 0).all() or np.ptp(step) > 0.01 * np.median(step):
            raise DatasetError(f"{path}: column {names[time_col]} must increase in equal steps (seconds)")
        time_rate = 1.0 / float(np.median(step))
        if rate is not None and abs(time_rate - rate) > 0.01 * rate:
            raise DatasetError(f"{path}: the comment says {rate:g} Hz, column {names[time_col]} {time_rate:g} Hz")
        rate = rate or time_rate
        data = np.delete(data, time_col, axis=1)
        names = names[:time_col] + names[time_col + 1:]
        if not names:
            raise DatasetError(f"{path}: only a time column, no channels")
    return CsvRecording(data.astype(np.float32), tuple(names), rate)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rate(path: Path, text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise DatasetError(f"{path}: sample_rate_hz must be a positive number of Hz, got {text!r}")
    return rate


def load_csv(path, n_channels: int | None = None) -> np.ndarray:
    """The samples of one CSV file (``read_csv``): (n_samples, n_channels) float32.

    Raises:
        DatasetError: as ``read_csv``, or a channel count other than ``n_channels``.
    """
    data = read_csv(path).data
    if n_channels is not None and data.shape[1] != n_channels:
        raise DatasetError(f"{path}: {data.shape[1]} columns, expected {n_channels} channels")
    return data
