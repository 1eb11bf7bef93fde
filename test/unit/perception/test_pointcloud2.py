"""PointCloud2 byte layouts, written independently with numpy structured dtypes."""

from types import SimpleNamespace

import numpy as np
import pytest

from semg_grasp_ros.errors import DataError
from semg_grasp_ros.perception.pointcloud2 import (
    FLOAT32, FLOAT64, INT16, UINT8, UINT16, UINT32, decode_pointcloud2, encode_pointcloud2,
)


def _pack(columns: dict, offsets: dict, point_step: int, big: bool = False) -> bytes:
    """Pack columns into records of point_step bytes with the given offsets."""
    order = ">" if big else "<"
    names = list(columns)
    formats = [np.dtype(columns[n].dtype).newbyteorder(order) if columns[n].ndim == 1
               else (np.dtype(columns[n].dtype).newbyteorder(order), (columns[n].shape[1],)) for n in names]
    dt = np.dtype({"names": names, "formats": formats, "offsets": [offsets[n] for n in names],
                   "itemsize": point_step})
    rec = np.zeros(len(next(iter(columns.values()))), dtype=dt)
    for n in names:
        rec[n] = columns[n]
    return rec.tobytes()


def test_round_trip_with_extra_fields():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3)).astype(np.float32)
    extra = {"intensity": rng.random(50).astype(np.float32), "rgb": rng.integers(0, 2**24, 50).astype(np.uint32),
             "ring": rng.integers(0, 64, 50).astype(np.uint16)}
    enc = encode_pointcloud2(pts, extra)
    assert enc["point_step"] == 12 + 4 + 4 + 2 and enc["row_step"] == enc["point_step"] * 50
    assert enc["fields"][3] == ("intensity", 12, FLOAT32, 1) and enc["fields"][4] == ("rgb", 16, UINT32, 1)
    assert enc["is_dense"] and enc["height"] == 1 and enc["width"] == 50 and not enc["is_bigendian"]
    out, ext = decode_pointcloud2(enc["fields"], enc["data"], enc["point_step"], enc["row_step"], 1, 50, False)
    np.testing.assert_array_equal(out, pts)
    for k, v in extra.items():
        np.testing.assert_array_equal(ext[k], v)
        assert ext[k].dtype == v.dtype


def test_float64_big_endian_padded_layout_with_nans_dropped():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(40, 3))
    xyz[[3, 17], 1] = np.nan
    xyz[25, 2] = np.inf
    inten = rng.random(40).astype(np.float32)
    # Unusual layout: intensity first, x/y/z as float64 at odd offsets, 8 bytes of padding.
    cols = {"intensity": inten, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}
    offs = {"intensity": 0, "x": 4, "y": 12, "z": 20}
    data = _pack(cols, offs, 36, big=True)
    fields = [("intensity", 0, FLOAT32, 1), ("x", 4, FLOAT64, 1), ("y", 12, FLOAT64, 1), ("z", 20, FLOAT64, 1)]
    out, ext = decode_pointcloud2(fields, data, 36, 36 * 40, 1, 40, True)
    keep = np.isfinite(xyz).all(axis=1)
    assert out.dtype == np.float32 and out.shape == (37, 3)
    np.testing.assert_allclose(out, xyz[keep].astype(np.float32))
    np.testing.assert_array_equal(ext["intensity"], inten[keep])
    kept, _ = decode_pointcloud2(fields, data, 36, 36 * 40, 1, 40, True, drop_invalid=False)
    assert kept.shape == (40, 3) and np.isnan(kept[3, 1])


def test_organised_cloud_with_row_padding_and_multi_count_field():
    h, w, step, row_pad = 4, 5, 20, 12
    rng = np.random.default_rng(2)
    xyz = rng.normal(size=(h * w, 3)).astype(np.float32)
    normal = rng.normal(size=(h * w, 2)).astype(np.int16)
    rows = []
    for r in range(h):
        sl = slice(r * w, (r + 1) * w)
        rows.append(_pack({"x": xyz[sl, 0], "y": xyz[sl, 1], "z": xyz[sl, 2], "n": normal[sl]},
                          {"x": 0, "y": 4, "z": 8, "n": 12}, step) + b"\xab" * row_pad)
    data = b"".join(rows)
    fields = [SimpleNamespace(name=n, offset=o, datatype=d, count=c)
              for n, o, d, c in [("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1), ("n", 12, INT16, 2)]]
    out, ext = decode_pointcloud2(fields, data, step, w * step + row_pad, h, w, False)
    np.testing.assert_array_equal(out, xyz)
    np.testing.assert_array_equal(ext["n"], normal)
    strided, ext2 = decode_pointcloud2(fields, data, step, w * step + row_pad, h, w, False, max_points=7)
    np.testing.assert_array_equal(strided, xyz[::3])
    np.testing.assert_array_equal(ext2["n"], normal[::3])


def test_striding_bounds_unpadded_clouds():
    pts = np.arange(3000, dtype=np.float32).reshape(1000, 3)
    enc = encode_pointcloud2(pts)
    out, _ = decode_pointcloud2(enc["fields"], enc["data"], 12, 12000, 1, 1000, False, max_points=100)
    np.testing.assert_array_equal(out, pts[::10])


def test_empty_cloud():
    enc = encode_pointcloud2(np.zeros((0, 3)))
    out, ext = decode_pointcloud2(enc["fields"], enc["data"], enc["point_step"], 0, 1, 0, False)
    assert out.shape == (0, 3) and ext == {}
    out, _ = decode_pointcloud2(enc["fields"], b"", 12, 0, 0, 0, False)
    assert out.shape == (0, 3)


@pytest.mark.parametrize("fields, match", [
    ([("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1)], "no 'z' field"),
    ([("x", 0, INT16, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1)], "'x' is 1 x INT16"),
    ([("x", 0, 42, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1)], "unknown datatype 42"),
    ([("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT64, 1)], "does not fit in point_step"),
    ([("x", 0, FLOAT32, 2), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1)], "'x' is 2 x FLOAT32"),
    (["bad"], "must be \\(name, offset, datatype, count\\)"),
])
def test_wrong_fields_are_data_errors(fields, match):
    with pytest.raises(DataError, match=match):
        decode_pointcloud2(fields, bytes(12 * 4), 12, 48, 1, 4, False)


def test_wrong_sizes_are_data_errors():
    fields = [("x", 0, FLOAT32, 1), ("y", 4, FLOAT32, 1), ("z", 8, FLOAT32, 1)]
    with pytest.raises(DataError, match="expected height \\* row_step"):
        decode_pointcloud2(fields, bytes(40), 12, 48, 1, 4, False)
    with pytest.raises(DataError, match="row_step 40 is smaller"):
        decode_pointcloud2(fields, bytes(40), 12, 40, 1, 4, False)
    with pytest.raises(DataError, match="point_step > 0"):
        decode_pointcloud2(fields, b"", 0, 0, 1, 0, False)


def test_unknown_extra_datatype_is_skipped_not_fatal():
    enc = encode_pointcloud2(np.ones((3, 3)), {"flag": np.array([1, 0, 1], dtype=np.uint8)})
    fields = [f if f[0] != "flag" else ("flag", f[1], 99, 1) for f in enc["fields"]]
    out, ext = decode_pointcloud2(fields, enc["data"], enc["point_step"], enc["row_step"], 1, 3, False)
    assert out.shape == (3, 3) and "flag" not in ext
    assert enc["fields"][3][2] == UINT8


def test_encode_rejects_bad_input():
    with pytest.raises(DataError, match="\\(N, 3\\)"):
        encode_pointcloud2(np.zeros((4, 2)))
    with pytest.raises(DataError, match="N=4"):
        encode_pointcloud2(np.zeros((4, 3)), {"i": np.zeros(3, np.float32)})
    with pytest.raises(DataError, match="dtype complex128"):
        encode_pointcloud2(np.zeros((4, 3)), {"i": np.zeros(4, complex)})
    enc = encode_pointcloud2(np.array([[np.nan, 0, 0]]))
    assert not enc["is_dense"]
    assert encode_pointcloud2(np.zeros((2, 3)), {"u": np.zeros(2, np.uint16)})["fields"][3][2] == UINT16
