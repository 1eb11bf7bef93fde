"""Object segmentation on synthetic scenes with known labels (sensor at the origin)."""

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.perception.segmentation import (
    SegmentationConfig, fit_plane, segment_object, voxel_downsample,
)

TABLE_Z = 0.6  # the table plane z = 0.6 in the sensor frame: the sensor looks down +z


def _scene(seed=0):
    """Table (z = 0.6), a sphere above it (towards the sensor), a small box, stray noise.

    Returns points (N, 3) and labels (0 table, 1 sphere, 2 box, 3 noise).
    """
    rng = np.random.default_rng(seed)
    table = np.c_[rng.uniform(-0.4, 0.4, (20000, 2)), TABLE_Z + rng.normal(0, 0.001, 20000)]
    v = rng.normal(size=(4000, 3))
    sphere = 0.04 * v / np.linalg.norm(v, axis=1, keepdims=True) + [0.1, 0.0, TABLE_Z - 0.05]
    sphere = sphere[sphere[:, 2] < TABLE_Z - 0.01]  # the part above the table
    box = np.c_[rng.uniform(-0.22, -0.2, (300, 2)), rng.uniform(TABLE_Z - 0.05, TABLE_Z - 0.02, 300)]
    noise = rng.uniform([-0.4, -0.4, 0.1], [0.4, 0.4, 0.3], (5, 3))
    below = np.c_[rng.uniform(-0.4, 0.4, (500, 2)), rng.uniform(TABLE_Z + 0.05, TABLE_Z + 0.3, 500)]
    pts = np.concatenate([table, sphere, box, noise, below]).astype(np.float32)
    labels = np.concatenate([np.zeros(len(table)), np.ones(len(sphere)), np.full(len(box), 2),
                             np.full(len(noise), 3), np.full(len(below), 4)])
    return pts, labels


def _rows(a):
    return {tuple(r) for r in np.asarray(a, dtype=np.float32)}


def test_finds_the_table_and_the_largest_object():
    pts, labels = _scene()
    seg = segment_object(pts)
    assert _rows(seg.points) == _rows(pts[labels == 1])
    normal, d = seg.plane[:3], seg.plane[3]
    assert abs(abs(normal[2]) - 1) < 1e-3
    assert d > 0 and np.dot(normal, [0, 0, TABLE_Z]) + d == pytest.approx(0, abs=2e-3)  # origin side positive
    assert seg.n_input == pts.shape[0] and seg.n_clusters >= 2


def test_closest_selection_and_determinism():
    pts, labels = _scene()
    cfg = SegmentationConfig(select="closest", target_point=(-0.2, -0.2, 0.55))
    seg = segment_object(pts, cfg)
    assert _rows(seg.points) == _rows(pts[labels == 2])
    again = segment_object(pts.copy(), cfg)
    np.testing.assert_array_equal(seg.points, again.points)


def test_crop_and_range_filters():
    pts, labels = _scene()
    cfg = SegmentationConfig(crop_enabled=True, crop_min=(-0.3, -0.3, 0.0), crop_max=(0.0, 0.0, 1.0))
    seg = segment_object(pts, cfg)
    assert _rows(seg.points) == _rows(pts[labels == 2])
    with pytest.raises(DataError, match="within range"):
        segment_object(pts, SegmentationConfig(max_range=0.05, min_range=0.0))


def test_bad_clouds_name_the_failing_step():
    with pytest.raises(DataError, match="empty"):
        segment_object(np.zeros((0, 3)))
    with pytest.raises(DataError, match="no finite points"):
        segment_object(np.full((100, 3), np.nan))
    with pytest.raises(DataError, match=r"\(N, 3\)"):
        segment_object(np.zeros((10, 2)))
    pts, labels = _scene()
    with pytest.raises(DataError, match="above the table plane"):
        segment_object(pts[labels == 0])
    with pytest.raises(DataError, match="no object among"):
        segment_object(pts[labels != 4], SegmentationConfig(min_object_points=100_000))


def test_huge_clouds_are_strided_before_processing():
    pts, labels = _scene()
    big = np.repeat(pts, 20, axis=0)  # 20 copies of every point, in place
    seg = segment_object(big, SegmentationConfig(max_points=pts.shape[0]))
    assert _rows(seg.points) == _rows(pts[labels == 1])
    assert seg.n_input == big.shape[0] and seg.n_used <= pts.shape[0]


def test_plane_normal_hint_picks_the_table_not_a_wall():
    rng = np.random.default_rng(1)
    table = np.c_[rng.uniform(-0.3, 0.3, (5000, 2)), np.full(5000, TABLE_Z)]
    wall = np.c_[np.full(15000, 0.5), rng.uniform(-0.5, 0.5, (15000, 2)) + [0, 0.5]]
    pts = np.concatenate([table, wall])
    cfg = SegmentationConfig(plane_normal=(0, 0, 1), plane_distance=0.005)
    assert abs(fit_plane(pts, cfg)[2]) > 0.99
    assert abs(fit_plane(pts, SegmentationConfig(plane_distance=0.005))[0]) > 0.99  # no hint: the wall


def test_voxel_downsample_matches_a_dictionary_grouping():
    pts = np.random.default_rng(2).uniform(-0.05, 0.05, (500, 3))
    cent, cell = voxel_downsample(pts, 0.02)
    groups = {}
    for p in pts:
        groups.setdefault(tuple(np.floor(p / 0.02).astype(int)), []).append(p)
    assert len(cent) == len(groups)
    assert _rows(cent.round(9)) == _rows(np.array([np.mean(g, axis=0) for g in groups.values()]).round(9))
    np.testing.assert_allclose(cent[cell], [np.mean(groups[tuple(np.floor(p / 0.02).astype(int))], axis=0)
                                            for p in pts])


def test_config_validation():
    for bad in (dict(select="nearest"), dict(crop_min=(0, 0)), dict(crop_enabled=True, crop_min=(0, 0, 0),
                crop_max=(1, -1, 1)), dict(plane_normal=(0, 0, float("nan"))), dict(cluster_eps=0), dict(min_range=5.0)):
        with pytest.raises(ConfigError):
            SegmentationConfig(**bad)
