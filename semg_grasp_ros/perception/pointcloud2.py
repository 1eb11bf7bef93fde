"""``sensor_msgs/PointCloud2`` byte buffers <-> numpy.

The message stores each point as ``point_step`` bytes with named fields at byte
offsets; rows of an organised cloud are ``row_step`` bytes apart (a row may carry
padding). This module reads any such layout without copying the buffer (one strided
view per field) and writes a packed little-endian layout back. It knows nothing about
message classes: the message converter passes the fields as plain tuples.

Datatype constants are those of ``sensor_msgs/PointField``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DataError

log = logging.getLogger(__name__)

INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)

#: PointField datatype -> numpy type (native order; the byte order is set per message).
DATATYPES: dict[int, np.dtype] = {
    INT8: np.dtype(np.int8),
    UINT8: np.dtype(np.uint8),
    INT16: np.dtype(np.int16),
    UINT16: np.dtype(np.uint16),
    INT32: np.dtype(np.int32),
    UINT32: np.dtype(np.uint32),
    FLOAT32: np.dtype(np.float32),
    FLOAT64: np.dtype(np.float64),
}
_NAMES = {INT8: "INT8", UINT8: "UINT8", INT16: "INT16", UINT16: "UINT16", INT32: "INT32",
          UINT32: "UINT32", FLOAT32: "FLOAT32", FLOAT64: "FLOAT64"}


def _field_tuple(field: Any) -> tuple[str, int, int, int]:
    """(name, offset, datatype, count) from a tuple or a PointField-like object."""
    if isinstance(field, Sequence) and not isinstance(field, str) and len(field) == 4:
        name, offset, datatype, count = field
    elif all(hasattr(field, a) for a in ("name", "offset", "datatype", "count")):
        name, offset, datatype, count = field.name, field.offset, field.datatype, field.count
    else:
        raise DataError(f"a PointCloud2 field must be (name, offset, datatype, count), got {field!r}")
    return str(name), int(offset), int(datatype), int(count)


def decode_pointcloud2(
    fields: Sequence[Any],
    data: bytes,
    point_step: int,
    row_step: int,
    height: int,
    width: int,
    is_bigendian: bool,
    *,
    max_points: int | None = None,
    drop_invalid: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read the points (and any extra fields) of a PointCloud2 byte buffer.

    Args:
        fields: ``(name, offset, datatype, count)`` per field (PointField-like objects are
            accepted too). ``x``, ``y``, ``z`` must be FLOAT32 or FLOAT64 with count 1;
            other fields may have any PointField datatype and count.
        data: ``height * row_step`` bytes (bytes, bytearray, memoryview or uint8 array).
        point_step: bytes per point; row_step: bytes per row (>= width * point_step).
        height, width: organised layout (height 1 for unorganised clouds).
        is_bigendian: byte order of every field.
        max_points: if given, the cloud is strided (every k-th point) down to at most this
            many points *before* any conversion, so memory stays bounded for huge clouds.
        drop_invalid: drop points whose x, y or z is NaN or inf (else keep them).

    Returns:
        ``(points, extras)``: points (N, 3) float32 metres in the message frame, and
        extras name -> (N,) array (or (N, count) for count > 1) in native byte order,
        filtered like the points.

    Raises:
        DataError: x/y/z missing or not float32/float64, fields outside ``point_step``,
        unknown datatypes, or a buffer whose size does not match the layout.
    """
    point_step, row_step, height, width = int(point_step), int(row_step), int(height), int(width)
    if point_step <= 0 or height < 0 or width < 0:
        raise DataError(f"PointCloud2 needs point_step > 0 and height, width >= 0, got "
                        f"point_step={point_step} height={height} width={width}")
    if height * width > 0 and row_step < width * point_step:
        raise DataError(f"PointCloud2 row_step {row_step} is smaller than width * point_step = "
                        f"{width * point_step}")
    if isinstance(data, np.ndarray):
        buf = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    else:
        buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != height * row_step:
        raise DataError(f"PointCloud2 data has {buf.size} bytes, expected height * row_step = "
                        f"{height} * {row_step} = {height * row_step}")
    order = ">" if is_bigendian else "<"
    parsed = {}
    for f in fields:
        name, offset, datatype, count = _field_tuple(f)
        if datatype not in DATATYPES:
            if name in ("x", "y", "z"):
                raise DataError(f"PointCloud2 field {name!r} has unknown datatype {datatype}; expected "
                                "FLOAT32 (7) or FLOAT64 (8)")
            log.warning("skipping PointCloud2 field %r with unknown datatype %d", name, datatype)
            continue
        dtype = DATATYPES[datatype].newbyteorder(order)
        if count < 1 or offset < 0 or offset + dtype.itemsize * count > point_step:
            raise DataError(f"PointCloud2 field {name!r} (offset {offset}, {count} x {_NAMES[datatype]}) "
                            f"does not fit in point_step {point_step}")
        parsed[name] = (offset, dtype, count, datatype)
    for axis in ("x", "y", "z"):
        if axis not in parsed:
            raise DataError(f"PointCloud2 has no {axis!r} field; fields are {sorted(parsed)}")
        _, _, count, datatype = parsed[axis]
        if datatype not in (FLOAT32, FLOAT64) or count != 1:
            raise DataError(f"PointCloud2 field {axis!r} is {count} x {_NAMES[datatype]}; expected "
                            "1 x FLOAT32 or 1 x FLOAT64")

    n = height * width
    stride = 1 if max_points is None or n <= max_points else math.ceil(n / max(int(max_points), 1))
    if stride > 1:
        log.debug("striding a %d-point cloud by %d to at most %d points", n, stride, max_points)

    rows = cols = None
    if stride > 1 or (height > 1 and row_step != width * point_step):
        # Padded rows or striding: gather only the selected points.
        rows, cols = np.divmod(np.arange(0, n, stride), max(width, 1))

    def view(offset: int, dtype: np.dtype, count: int) -> np.ndarray:
        """(n_selected, count) values of one field: a strided view of the buffer, no copy."""
        if n == 0:
            return np.zeros((0, count), dtype=dtype)
        arr = np.ndarray((height, width, count), dtype=dtype, buffer=buf, offset=offset,
                         strides=(row_step, point_step, dtype.itemsize))
        return arr.reshape(n, count) if rows is None else arr[rows, cols]

    points = np.empty((len(range(0, n, stride)), 3), dtype=np.float32)
    for i, axis in enumerate(("x", "y", "z")):
        offset, dtype, _, _ = parsed[axis]
        points[:, i] = view(offset, dtype, 1)[:, 0]
    keep = np.isfinite(points).all(axis=1) if drop_invalid else None
    if keep is not None and not keep.all():
        points = points[keep]
    extras: dict[str, np.ndarray] = {}
    for name, (offset, dtype, count, _) in parsed.items():
        if name in ("x", "y", "z"):
            continue
        values = view(offset, dtype, count).astype(dtype.newbyteorder("="))
        if keep is not None:
            values = values[keep]
        extras[name] = values[:, 0] if count == 1 else values
    return points, extras


def _datatype_of(name: str, dtype: np.dtype) -> int:
    for code, dt in DATATYPES.items():
        if dt == dtype.newbyteorder("="):
            return code
    raise DataError(f"extra field {name!r} has dtype {dtype}; PointCloud2 supports "
                    "int8/uint8/int16/uint16/int32/uint32/float32/float64")


def encode_pointcloud2(points: np.ndarray, extra: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Pack points (and extra per-point fields) into an unorganised little-endian PointCloud2 layout.

    Args:
        points: (N, 3) metres (stored as FLOAT32 ``x``, ``y``, ``z`` at offsets 0, 4, 8).
        extra: name -> (N,) or (N, count) array of a PointField datatype (e.g. ``intensity``
            float32, ``rgb`` float32 or uint32), appended in the given order.

    Returns:
        dict with ``fields`` [(name, offset, datatype, count)], ``data`` bytes, ``point_step``,
        ``row_step``, ``height`` (1), ``width`` (N), ``is_bigendian`` (False) and ``is_dense``
        (True when every point is finite).

    Raises:
        DataError: points not (N, 3), or an extra field of the wrong length or dtype.
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise DataError(f"points must be (N, 3), got shape {pts.shape}")
    n = pts.shape[0]
    names, formats, offsets = ["x", "y", "z"], ["<f4", "<f4", "<f4"], [0, 4, 8]
    fields = [("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1)]
    offset = 12
    columns = {}
    for name, values in (extra or {}).items():
        values = np.asarray(values)
        if values.dtype == np.bool_:
            values = values.astype(np.uint8)
        if values.shape[:1] != (n,) or values.ndim > 2:
            raise DataError(f"extra field {name!r} must be (N,) or (N, count) with N={n}, got {values.shape}")
        if name in ("x", "y", "z") or name in columns:
            raise DataError(f"extra field name {name!r} is used twice")
        datatype = _datatype_of(name, values.dtype)
        count = 1 if values.ndim == 1 else values.shape[1]
        dt = DATATYPES[datatype].newbyteorder("<")
        names.append(name)
        formats.append((dt, (count,)) if count > 1 else dt)
        offsets.append(offset)
        fields.append((name, offset, datatype, count))
        columns[name] = values
        offset += dt.itemsize * count
    record = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": offset})
    out = np.zeros(n, dtype=record)
    for i, axis in enumerate(("x", "y", "z")):
        out[axis] = pts[:, i]
    for name, values in columns.items():
        out[name] = values
    return {
        "fields": fields,
        "data": out.tobytes(),
        "point_step": offset,
        "row_step": offset * n,
        "height": 1,
        "width": n,
        "is_bigendian": False,
        "is_dense": bool(np.isfinite(pts).all()),
    }
