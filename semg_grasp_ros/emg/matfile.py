"""A bounds-checked reader of MATLAB v5 (``-v6`` / ``-v7``) ``.mat`` files: numeric arrays only.

``scipy.io.loadmat`` crashes the interpreter (a segmentation fault in its compiled reader)
on some damaged files, which the fuzz tier found; this reader checks every length against
the bytes present and raises ``DatasetError`` instead. It reads what sEMG datasets store
(Sapsanis, NinaPro): real numeric and logical N-D arrays, plain or zlib-compressed; other
variables (cells, structs, strings, sparse, complex) are skipped.

Format: a 128-byte header (text, subsystem offset, version 0x0100, endian indicator ``IM``),
then data elements ``(type u32, nbytes u32, data padded to 8 bytes)`` or small elements
(``nbytes << 16 | type`` and 4 data bytes); ``miCOMPRESSED`` wraps one element in zlib;
``miMATRIX`` holds array flags, dimensions, name and the real part, column-major.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetError

#: data element types -> numpy dtype (native little-endian names; byte order applied on read)
_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
#: array classes -> numpy dtype of the result (6 double ... 15 uint64)
_CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MATRIX, _COMPRESSED = 14, 15
_LOGICAL, _COMPLEX = 0x200, 0x800
#: largest decompressed element accepted (a damaged length must not exhaust memory), bytes
MAX_ELEMENT_BYTES = 1 << 31


class _Bad(Exception):
    pass


def _elements(data: bytes, order: str, compressed_ok: bool = True):
    """``(type, payload)`` of each data element of ``data``."""
    pos = 0
    while pos + 8 <= len(data):
        kind, nbytes = struct.unpack_from(order + "II", data, pos)
        if kind >> 16:  # small data element: 4 bytes of data in the tag
            kind, nbytes = kind & 0xFFFF, kind >> 16
            if nbytes > 4:
                raise _Bad(f"small element at byte {pos} claims {nbytes} bytes")
            yield kind, data[pos + 4: pos + 4 + nbytes]
            pos += 8
            continue
        start = pos + 8
        if nbytes > len(data) - start:
            raise _Bad(f"element at byte {pos} claims {nbytes} bytes, {len(data) - start} remain")
        yield kind, data[start: start + nbytes]
        pos = start + (nbytes if kind == _COMPRESSED else (nbytes + 7) // 8 * 8)
    if pos < len(data) and any(data[pos:]):
        raise _Bad(f"{len(data) - pos} stray bytes at the end")


def _numeric(kind: int, payload: bytes, order: str) -> np.ndarray:
    if kind not in _TYPES:
        raise _Bad(f"data type {kind} is not numeric")
    dtype = np.dtype(_TYPES[kind]).newbyteorder(order)
    if len(payload) % dtype.itemsize:
        raise _Bad(f"{len(payload)} bytes are not a whole number of {dtype} values")
    return np.frombuffer(payload, dtype=dtype)


def _matrix(payload: bytes, order: str) -> tuple[str, np.ndarray] | None:
    """Name and array of a numeric ``miMATRIX`` element; None for other classes."""
    if not payload:
        return None
    parts = list(_elements(payload, order))
    if len(parts) < 3:
        raise _Bad("an array lacks its flags, dimensions or name")
    flags = _numeric(parts[0][0], parts[0][1], order)
    dims = _numeric(parts[1][0], parts[1][1], order).astype(np.int64)
    name = parts[2][1].decode("utf-8", errors="replace")
    if flags.size < 1 or dims.size < 2 or (dims < 0).any():
        raise _Bad(f"array {name!r}: malformed flags or dimensions {dims.tolist()}")
    klass = int(flags[0]) & 0xFF
    if klass not in _CLASSES or int(flags[0]) & _COMPLEX:
        return None  # cells, structs, strings, sparse, complex: not sEMG data
    if len(parts) < 4:
        raise _Bad(f"array {name!r} has no data")
    values = _numeric(parts[3][0], parts[3][1], order)
    if values.size != int(np.prod(dims, dtype=np.float64)):
        raise _Bad(f"array {name!r}: {values.size} values for dimensions {dims.tolist()}")
    array = values.astype(bool if int(flags[0]) & _LOGICAL else np.dtype(_CLASSES[klass]))
    return name, array.reshape(tuple(int(d) for d in dims), order="F")


def read_mat(path: str | Path) -> dict[str, np.ndarray]:
    """``{name: array}`` of the numeric variables of a MATLAB v5 ``.mat`` file.

    Raises:
        DatasetError: missing file, MATLAB v4 or v7.3 (HDF5), or a damaged file (what and where).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (expected a MATLAB .mat file)")
    data = path.read_bytes()
    if data[:8] == b"\x89HDF\r\n\x1a\n" or (len(data) >= 520 and data[512:520] == b"\x89HDF\r\n\x1a\n"):
        raise DatasetError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save it with -v7")
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise DatasetError(f"{path}: not a MATLAB v5 .mat file (no MAT-file header; v4 files: save with -v7)")
    order = "<" if data[126:128] == b"IM" else ">"
    out: dict[str, np.ndarray] = {}
    try:
        for kind, payload in _elements(data[128:], order):
            if kind == _COMPRESSED:
                inflater = zlib.decompressobj()
                payload = inflater.decompress(payload, MAX_ELEMENT_BYTES)
                if inflater.unconsumed_tail:
                    raise _Bad(f"a compressed element expands beyond {MAX_ELEMENT_BYTES} bytes")
                inner = list(_elements(payload, order))
                if not inner:
                    continue
                kind, payload = inner[0]
            if kind == _MATRIX:
                found = _matrix(payload, order)
                if found is not None:
                    out[found[0]] = found[1]
    except (_Bad, zlib.error, ValueError) as exc:
        raise DatasetError(f"{path}: damaged MATLAB .mat file ({exc})") from None
    return out
