"""Find the object in a depth-camera cloud: crop, remove the table, cluster, choose.

Steps (all vectorised, deterministic for a given input and seed):

1. bound memory: clouds above ``max_points`` are strided down first;
2. drop non-finite points, points outside the sensor's range (distance from the frame
   origin, which is the sensor for camera clouds) and outside the optional crop box;
3. table removal: RANSAC plane fit (hypotheses from random point triples, scored on a
   random subset in one matrix product, refined by least squares on the inliers); when
   the plane holds at least ``min_plane_fraction`` of the points it is removed, together
   with everything on its far side from the sensor;
4. clustering: voxel downsampling, then DBSCAN (open3d ``cluster_dbscan``) on the voxel
   centroids, labels mapped back to every point;
5. choice: the largest cluster, or the one whose centroid is closest to ``target_point``,
   among clusters with at least ``min_object_points`` points and at most
   ``max_object_size`` metres of bounding-box diagonal.

A cloud with nothing left at some step raises ``DataError`` naming the step.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..config import param
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

SELECT_RULES = ("largest", "closest")


def _vec3(value, name: str) -> tuple[float, float, float]:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (3,) or not np.isfinite(arr).all():
        raise ConfigError(f"{name} must be 3 finite numbers, got {value!r}")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class SegmentationConfig:
    """Parameters of :func:`segment_object` (metres unless named otherwise); the object
    distance-field node's ``segmentation.*`` parameters."""

    max_points: int = param(300_000, "larger clouds are strided down to this many points first (bounds memory)",
                            (1000, 100_000_000))
    min_range: float = param(0.05, "nearest valid point from the sensor (cloud frame origin), metres", (0.0, 100.0))
    max_range: float = param(3.0, "farthest valid point from the sensor, metres", (0.01, 100.0))
    crop_enabled: bool = param(False, "keep only points inside the box crop_min..crop_max (cloud frame)")
    crop_min: tuple[float, ...] = param((-1.0, -1.0, 0.0), "lower corner of the crop box, metres")
    crop_max: tuple[float, ...] = param((1.0, 1.0, 2.0), "upper corner of the crop box, metres")
    voxel_size: float = param(0.01, "downsampling cell for clustering, metres", (0.001, 0.2))
    remove_plane: bool = param(True, "find the supporting plane (table) with RANSAC and remove it")
    plane_distance: float = param(0.008, "RANSAC inlier distance, metres", (0.0005, 0.2))
    plane_iterations: int = param(100, "RANSAC hypotheses", (1, 100_000))
    plane_sample: int = param(1000, "points scoring the RANSAC hypotheses", (10, 1_000_000))
    min_plane_fraction: float = param(0.1, "a plane is the table only if it holds this fraction of the points",
                                      (0.0, 1.0))
    plane_normal: tuple[float, ...] = param((0.0, 0.0, 0.0), "expected table normal in the cloud frame (e.g. from "
                                            "TF); planes tilted more than plane_max_angle_deg from it are rejected; "
                                            "zeros: any orientation")
    plane_max_angle_deg: float = param(30.0, "largest tilt of the plane from plane_normal, degrees", (0.1, 90.0))
    drop_below_plane: bool = param(True, "also drop points on the far side of the table from the sensor")
    cluster_eps: float = param(0.025, "DBSCAN neighbourhood radius, metres", (0.001, 1.0))
    cluster_min_points: int = param(3, "DBSCAN core-point neighbour count (downsampled cells)", (1, 10_000))
    select: str = param("largest", "object choice: 'largest' cluster or 'closest' to target_point")
    target_point: tuple[float, ...] = param((0.0, 0.0, 0.6), "point (cloud frame) for select='closest', metres")
    min_object_points: int = param(30, "smallest object, points", (1, 10_000_000))
    max_object_size: float = param(0.6, "largest object bounding-box diagonal, metres (larger clusters are scenery)",
                                   (0.01, 10.0))
    seed: int = param(0, "RANSAC seed (fixed per cloud: same cloud, same field)", (0, 2**31 - 1))

    def __post_init__(self):
        for name in ("crop_min", "crop_max", "plane_normal", "target_point"):
            object.__setattr__(self, name, _vec3(getattr(self, name), name))
        if self.crop_enabled and not all(a < b for a, b in zip(self.crop_min, self.crop_max)):
            raise ConfigError(f"crop_min {self.crop_min} must be below crop_max {self.crop_max} on every axis")
        if self.select not in SELECT_RULES:
            raise ConfigError(f"select {self.select!r} unknown; expected one of {SELECT_RULES}")
        positive = {"max_points": self.max_points, "voxel_size": self.voxel_size,
                    "plane_distance": self.plane_distance, "plane_iterations": self.plane_iterations,
                    "plane_sample": self.plane_sample, "cluster_eps": self.cluster_eps,
                    "cluster_min_points": self.cluster_min_points, "min_object_points": self.min_object_points,
                    "max_object_size": self.max_object_size, "max_range": self.max_range}
        bad = {k: v for k, v in positive.items() if not v > 0}
        if bad:
            raise ConfigError(f"segmentation parameters must be positive: {bad}")
        if not (0 <= self.min_range < self.max_range and 0 <= self.min_plane_fraction <= 1
                and 0 < self.plane_max_angle_deg <= 90):
            raise ConfigError("segmentation needs 0 <= min_range < max_range, min_plane_fraction in [0, 1] "
                              "and plane_max_angle_deg in (0, 90]")


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Result of :func:`segment_object`.

    Attributes:
        points: (M, 3) float32 object points, metres, cloud frame.
        plane: (4,) table plane (n, d) with unit n, ``n . p + d`` > 0 on the sensor side; None if none.
        n_input: points in the input cloud; n_used: finite points inside range and crop.
        n_clusters: clusters found by DBSCAN.
    """

    points: np.ndarray
    plane: np.ndarray | None
    n_input: int
    n_used: int
    n_clusters: int


def fit_plane(points: np.ndarray, config: SegmentationConfig) -> np.ndarray | None:
    """RANSAC plane (4,) ``(n, d)`` with unit ``n`` pointing to the frame origin's side, or None.

    Args:
        points: (N, 3) metres.
    """
    rng = np.random.default_rng(config.seed)
    n = points.shape[0]
    if n < 3:
        return None
    sample = points if n <= config.plane_sample else points[rng.integers(0, n, config.plane_sample)]
    sample = sample.astype(np.float32)
    tri = sample[rng.integers(0, sample.shape[0], (config.plane_iterations, 3))]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-12
    normals = normals[ok] / norms[ok, None]
    if any(config.plane_normal):
        hint = np.asarray(config.plane_normal) / np.linalg.norm(config.plane_normal)
        ok = np.abs(normals @ hint) >= np.cos(np.radians(config.plane_max_angle_deg))
        normals = normals[ok]
        tri = tri[np.flatnonzero(norms > 1e-12)[ok]]
    else:
        tri = tri[ok]
    if normals.shape[0] == 0:
        return None
    normals, offsets = normals.astype(np.float32), -(normals * tri[:, 0]).sum(axis=1).astype(np.float32)
    scores = (np.abs(sample @ normals.T + offsets) < config.plane_distance).sum(axis=0)
    best = int(np.argmax(scores))
    inliers = sample[np.abs(sample @ normals[best] + offsets[best]) < config.plane_distance].astype(np.float64)
    if inliers.shape[0] < 3:
        return None
    # Least-squares refinement: the normal is the direction of least variance of the inliers.
    centre = inliers.mean(axis=0)
    normal = np.linalg.eigh(np.cov(inliers.T))[1][:, 0]
    if any(config.plane_normal) and abs(normal @ hint) < np.cos(np.radians(config.plane_max_angle_deg)):
        normal = normals[best].astype(np.float64)
    d = -float(normal @ centre)
    return np.append(normal, d) if d >= 0 else -np.append(normal, d)


def voxel_downsample(points: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Centroids of the occupied cells of a ``voxel_size`` grid.

    Args:
        points: (N, 3) metres.

    Returns:
        ``(centroids (M, 3) float64, cell (N,) int)``: each point's index into ``centroids``.
    """
    keys = np.floor(points / voxel_size).astype(np.int64)
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]
    _, cell, counts = np.unique(flat, return_inverse=True, return_counts=True)
    centroids = np.stack([np.bincount(cell, weights=points[:, i], minlength=counts.size) for i in range(3)], axis=1)
    return centroids / counts[:, None], cell


def cluster_dbscan(points: np.ndarray, eps: float, min_points: int) -> np.ndarray:
    """DBSCAN labels (N,) int (-1 = noise) of points (N, 3), with open3d."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, dtype=np.float64)))
    return np.asarray(cloud.cluster_dbscan(eps=eps, min_points=min_points, print_progress=False), dtype=np.int64)


def segment_object(points: np.ndarray, config: SegmentationConfig = SegmentationConfig()) -> Segmentation:
    """Extract the object's points from a cloud.

    Args:
        points: (N, 3) metres in the sensor frame (NaN/inf rows allowed).
        config: see :class:`SegmentationConfig`.

    Returns:
        A :class:`Segmentation`.

    Raises:
        DataError: the cloud is empty or malformed, or nothing is left after range/crop,
        plane removal or clustering (the message names the step).
    """
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise DataError(f"cloud points must be (N, 3), got shape {pts.shape}")
    n_input = pts.shape[0]
    if n_input == 0:
        raise DataError("cloud is empty")
    if n_input > config.max_points:
        stride = math.ceil(n_input / config.max_points)
        log.debug("cloud of %d points strided by %d to bound memory", n_input, stride)
        pts = pts[::stride]
    pts = pts.astype(np.float32, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        keep = np.isfinite(pts).all(axis=1)
        r2 = np.einsum("ij,ij->i", pts, pts)
        keep &= (r2 >= config.min_range ** 2) & (r2 <= config.max_range ** 2)
        if config.crop_enabled:
            keep &= ((pts >= np.float32(config.crop_min)) & (pts <= np.float32(config.crop_max))).all(axis=1)
    if not keep.any():
        finite = int(np.isfinite(pts).all(axis=1).sum())
        raise DataError("cloud has no finite points" if finite == 0 else
                        f"none of the {finite} finite points lies within range "
                        f"[{config.min_range}, {config.max_range}] m and the crop box")
    pts = pts[keep]
    n_used = pts.shape[0]
    plane = fit_plane(pts, config) if config.remove_plane else None
    if plane is not None:
        height = pts @ plane[:3].astype(np.float32) + np.float32(plane[3])
        on_plane = np.abs(height) < config.plane_distance
        if on_plane.mean() >= config.min_plane_fraction:
            above = height >= config.plane_distance if config.drop_below_plane else ~on_plane
            pts = pts[above]
        else:
            plane = None
        if pts.shape[0] == 0:
            raise DataError(f"no points left above the table plane (all {n_used} on or below it)")
    centroids, cell = voxel_downsample(pts.astype(np.float64), config.voxel_size)
    cell_labels = cluster_dbscan(centroids, config.cluster_eps, config.cluster_min_points)
    labels = cell_labels[cell]
    n_clusters = int(labels.max()) + 1
    if n_clusters == 0:
        raise DataError(f"no cluster found among {pts.shape[0]} points (cluster_eps={config.cluster_eps} m, "
                        f"cluster_min_points={config.cluster_min_points})")
    counts = np.bincount(labels[labels >= 0], minlength=n_clusters)
    clustered = labels >= 0
    sums = np.stack([np.bincount(labels[clustered], weights=pts[clustered, i], minlength=n_clusters)
                     for i in range(3)], axis=1)
    centres = sums / np.maximum(counts, 1)[:, None]
    # Cluster extents from the cell centroids (few) rather than every point.
    in_cluster = cell_labels >= 0
    lo = np.full((n_clusters, 3), np.inf)
    hi = np.full((n_clusters, 3), -np.inf)
    np.minimum.at(lo, cell_labels[in_cluster], centroids[in_cluster])
    np.maximum.at(hi, cell_labels[in_cluster], centroids[in_cluster])
    size = np.linalg.norm(hi - lo, axis=1)
    eligible = (counts >= config.min_object_points) & (size <= config.max_object_size)
    if not eligible.any():
        raise DataError(f"no object among {n_clusters} clusters: none has >= {config.min_object_points} points "
                        f"and a bounding-box diagonal <= {config.max_object_size} m (largest: "
                        f"{int(counts.max())} points)")
    if config.select == "largest":
        score = np.where(eligible, counts, -1)
        chosen = int(np.argmax(score))
    else:
        dist = np.linalg.norm(centres - np.asarray(config.target_point), axis=1)
        chosen = int(np.argmin(np.where(eligible, dist, np.inf)))
    return Segmentation(pts[labels == chosen], plane, n_input, n_used, n_clusters)
