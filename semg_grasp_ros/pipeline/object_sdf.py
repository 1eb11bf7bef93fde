"""The object distance-field component: a camera cloud in, the object's field out.

``object/points`` (``PointCloud``, the domain side of ``sensor_msgs/PointCloud2``) ->
segmentation (range/crop, table plane, DBSCAN, object choice) -> a ``grid.size``³
distance field around the object -> ``object/sdf`` (``ObjectSdf``, in the cloud's frame)
and ``object/marker`` (``Marker``: the near-surface voxels as POINTS, id 0, and the grid's
bounding box as a LINE_LIST, id 1).

Policy:

* ``rate_hz`` = 0 processes every cloud as it arrives; ``rate_hz`` > 0 processes a cloud
  only when its stamp is at least ``1 / rate_hz`` after that of the last processed one (the
  others are dropped and counted in ``skipped``), which bounds the CPU used whatever the
  camera rate. The choice depends on message stamps only, so a replayed session makes
  the same fields.
* ``publish_on_change``: a new field is published only if the object moved or changed:
  its centroid, or the mean field difference at the last field's near-surface voxels,
  changed by more than ``change_threshold`` metres.
* Bad input (empty, all-NaN, nothing left after segmentation, malformed): the reason is
  logged (throttled) and counted in ``failures``; then ``keep_last_good`` = False
  publishes nothing but a DELETE of the markers, True re-publishes the last good field
  and markers unchanged (original stamp, so consumers can judge their age).

Deterministic: the output is a function of the input cloud and the configuration.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..config import nested, param
from ..errors import ConfigError, DataError
from ..perception.completion import COMPLETIONS, MirrorConfig, view_field
from ..perception.sdf import SIGNED_METHODS, DistanceField, GridSpec, sdf_from_points
from ..perception.segmentation import SegmentationConfig, segment_object
from ..throttle import Throttle
from ..topics import OBJECT_MARKER, OBJECT_POINTS, OBJECT_SDF
from ..types import Header, Marker, ObjectSdf, PointCloud, Pose
from .component import Ports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectSdfConfig:
    """Parameters of :class:`ObjectSdfComponent` (metres unless named otherwise)."""

    grid: GridSpec = nested(GridSpec, "the grid around the object")
    segmentation: SegmentationConfig = nested(SegmentationConfig, "how the object is found in the cloud")
    signed: str = param("view", "'none': unsigned distance; 'hull': negative inside the convex hull "
                             "closed down to the table; 'view': negative in the space the sensor cannot see "
                             "behind the observed surface, to view_depth")
    viewpoint: tuple[float, ...] = param((0.0, 0.0, 0.0), "sensor origin in the cloud's frame (x, y, z), metres "
                                                          "(the origin for a cloud in the camera's optical frame)")
    view_depth: float = param(0.0, "how far an object extends behind its observed surface ('view'), metres; "
                                   "0 = its visible width across the view", (0.0, 1.0))
    completion: str = param("mirror", "what fills the unseen back ('view'): 'mirror': the observed surface "
                                      "reflected about the vertical plane that best agrees with the view "
                                      "(extrude where none does); 'extrude': the surface extended to view_depth")
    mirror: MirrorConfig = nested(MirrorConfig, "the mirror plane search ('mirror' completion)")
    # Publishing policy.
    rate_hz: float = param(2.0, "0: process every cloud; > 0: at most this many clouds per second of their stamps, "
                             "the others dropped (a field takes tens of ms: every frame of a 30 Hz camera would "
                             "need more than a core), Hz", (0.0, 1000.0))
    publish_on_change: bool = param(False, "publish a new field only when the object changed")
    change_threshold: float = param(0.003, "centroid shift or mean near-surface field change that counts, metres", (0.0, 1.0))
    keep_last_good: bool = param(False, "on bad input re-publish the last good field (True) or nothing (False)")
    marker_max_points: int = param(20_000, "most near-surface points in the marker", (0, 1_000_000))
    log_throttle_s: float = param(1.0, "same failure reason logged at most once per this many seconds "
                                    "(message time)", (0.0, 3600.0))

    def __post_init__(self):
        if self.rate_hz < 0 or self.change_threshold < 0 or self.marker_max_points < 0 or self.log_throttle_s < 0:
            raise ConfigError("rate_hz, change_threshold, marker_max_points and log_throttle_s must be >= 0")
        if self.signed not in (*SIGNED_METHODS, "view"):
            raise ConfigError(f"signed {self.signed!r} unknown; expected one of {(*SIGNED_METHODS, 'view')}")
        if self.completion not in COMPLETIONS:
            raise ConfigError(f"completion {self.completion!r} unknown; expected one of {COMPLETIONS}")
        if len(self.viewpoint) != 3:
            raise ConfigError(f"viewpoint needs 3 values (x, y, z), got {len(self.viewpoint)}")


def _bbox_lines(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(24, 3) endpoints of the 12 edges of an axis-aligned box."""
    corners = np.array([[hi[i] if (c >> i) & 1 else lo[i] for i in range(3)] for c in range(8)])
    edges = [(a, a | (1 << i)) for a in range(8) for i in range(3) if not (a >> i) & 1]
    return corners[np.array(edges).reshape(-1)]


class ObjectSdfComponent:
    """Cloud -> object distance field (see the module docstring)."""

    name = "object_sdf"

    def __init__(self, config: ObjectSdfConfig = ObjectSdfConfig()):
        self.config = config
        self._spec = config.grid
        self._segmentation = config.segmentation
        self._last_stamp: int | None = None  # stamp of the last processed cloud
        self._last: list | None = None  # last published [ObjectSdf, Marker, Marker]
        self._last_field: DistanceField | None = None
        self._throttle = Throttle(config.log_throttle_s * 1e9)
        #: failure reason -> count (bad clouds).
        self.failures: Counter[str] = Counter()
        #: clouds processed, fields published, clouds dropped by the rate limit.
        self.processed = 0
        self.published = 0
        self.skipped = 0

    def ports(self) -> Ports:
        return Ports(inputs={OBJECT_POINTS: self.on_cloud}, outputs={ObjectSdf: OBJECT_SDF, Marker: OBJECT_MARKER})

    def on_cloud(self, cloud: PointCloud) -> list:
        """Process the cloud now, unless the rate limit drops it (see the module docstring)."""
        if self.config.rate_hz > 0 and isinstance(cloud, PointCloud):
            stamp, last = int(cloud.header.stamp_ns), self._last_stamp
            # a stamp going backwards (a looped or restarted recording) starts over
            if last is not None and 0 <= stamp - last < 1e9 / self.config.rate_hz:
                self.skipped += 1
                return []
            self._last_stamp = stamp
        return self.process(cloud)

    def compute(self, cloud: PointCloud) -> DistanceField:
        """The object's field in the cloud's frame (no publishing policy).

        Raises:
            DataError: bad cloud or no object (the message says why).
        """
        if not isinstance(cloud, PointCloud):
            raise DataError(f"object_sdf expects a PointCloud, got {type(cloud).__name__}")
        seg = segment_object(cloud.points, self._segmentation)
        if self.config.signed == "view":
            return view_field(seg.points, self._spec, support_plane=seg.plane, viewpoint=self.config.viewpoint,
                              view_depth=self.config.view_depth, completion=self.config.completion,
                              mirror=self.config.mirror)
        return sdf_from_points(seg.points, self._spec, signed=self.config.signed, support_plane=seg.plane)

    def process(self, cloud: PointCloud) -> list:
        """Compute and apply the publishing policy; bad input never raises."""
        self.processed += 1
        try:
            field_ = self.compute(cloud)
        except DataError as exc:
            return self._on_failure(cloud, str(exc))
        if self.config.publish_on_change and self._last_field is not None and not self._changed(field_):
            return []
        header = cloud.header
        out = [field_.to_object_sdf(header), *self._markers(field_, header)]
        self._last, self._last_field = out, field_
        self.published += 1
        return out

    def _changed(self, new: DistanceField) -> bool:
        """Centroid moved, or the new field differs near the old surface, by more than the threshold."""
        old, thr = self._last_field, self.config.change_threshold
        if np.linalg.norm(new.centroid - old.centroid) > thr:
            return True
        # Compare at the old near-surface voxels (grids move with the object, so not voxel by voxel).
        near = np.abs(old.distances) <= 2 * old.voxel_size
        if not near.any():
            return True
        centres = old.origin + old.voxel_size * np.argwhere(near)
        return float(np.abs(new.sample(centres) - old.distances[near]).mean()) > thr

    def _on_failure(self, cloud: PointCloud, reason: str) -> list:
        key = re.sub(r"\d[\d.e+-]*", "#", reason)[:100]  # one counter per kind of failure
        self.failures[key] += 1
        stamp = cloud.header.stamp_ns if isinstance(cloud, PointCloud) else 0
        if self._throttle(key, stamp):
            log.warning("no object field for this cloud (%d so far): %s; %s", self.failures[key], reason,
                        "re-publishing the last good field" if self.config.keep_last_good and self._last
                        else "publishing nothing")
        if self.config.keep_last_good and self._last is not None:
            return list(self._last)
        header = cloud.header if isinstance(cloud, PointCloud) else Header()
        return [Marker(header, "object_sdf", i, Marker.POINTS, action=Marker.DELETE) for i in (0, 1)]

    def _markers(self, field_: DistanceField, header: Header) -> list[Marker]:
        d, v = field_.distances, field_.voxel_size
        # Voxels within ~one voxel of the surface trace its shape.
        near = np.flatnonzero(np.abs(d.reshape(-1)) <= 0.75 * v)
        limit = self.config.marker_max_points
        if near.size > limit:
            near = near[:: int(np.ceil(near.size / max(limit, 1)))][:limit]
        idx = np.stack(np.unravel_index(near, d.shape), axis=1)
        points = field_.origin + v * idx
        lo = field_.origin
        hi = field_.origin + v * (np.array(d.shape) - 1)
        return [
            Marker(header, "object_sdf", 0, Marker.POINTS, Pose(), scale=np.array([v, v, v]),
                   color=np.array([0.1, 0.8, 0.3, 1.0]), points=points),
            Marker(header, "object_sdf", 1, Marker.LINE_LIST, Pose(), scale=np.array([0.002, 0.0, 0.0]),
                   color=np.array([0.9, 0.9, 0.9, 0.6]), points=_bbox_lines(lo, hi)),
        ]
