"""A simulated depth camera looking at an object standing on a table.

The scene (world frame: z up, table top at z = 0) holds a table slab and one object mesh
resting on it. A pinhole camera on a sphere around a target point renders it by ray
casting (open3d ``RaycastingScene``) into an organised cloud in its optical frame (z
forward, x right, y down, as ``*_optical_frame`` in ROS), with the artefacts of a real
structured-light / stereo sensor:

* depth noise along the ray, sigma(z) = a + b (z - 0.4)² metres (the axial noise model
  of Nguyen, Izadi & Lovell 2012 for the Kinect: a = 0.0012, b = 0.0019);
* quantisation of depth to ``depth_unit`` (1 mm: a 16-bit depth image in millimetres);
* dropouts: random pixels, grazing surfaces (incidence above ``max_incidence_deg``),
  depth discontinuities (flying pixels at silhouettes) and out-of-range returns, all
  as NaN points (the organised cloud keeps its layout).

It is the standalone demo's camera and the test bench of the distance-field code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from ..types import Header, PointCloud

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraConfig:
    """Camera intrinsics, placement and sensor model.

    Attributes:
        width, height: image size, pixels.
        hfov_deg: horizontal field of view, degrees (square pixels, centred principal point).
        distance: metres from the camera to the look-at target.
        elevation_deg: angle of the viewing ray above the table plane, degrees.
        azimuth_deg: camera position around the vertical axis, degrees (0: on the -x side
            looking towards +x).
        target_height: height of the look-at point above the table, metres.
        min_range, max_range: valid depth interval, metres.
        noise_base, noise_quadratic: a and b of sigma(z) = a + b (z - 0.4)², metres.
        depth_unit: depth quantisation step, metres (0 disables).
        dropout: probability that a pixel returns nothing.
        max_incidence_deg: surfaces seen more obliquely than this return nothing.
        edge_jump: pixels whose depth differs from a 4-neighbour by more than this many
            metres are dropped (0 disables).
        frame_id: frame of the rendered cloud.
    """

    width: int = 320
    height: int = 240
    hfov_deg: float = 58.0
    distance: float = 0.6
    elevation_deg: float = 40.0
    azimuth_deg: float = 0.0
    target_height: float = 0.05
    min_range: float = 0.2
    max_range: float = 3.0
    noise_base: float = 0.0012
    noise_quadratic: float = 0.0019
    depth_unit: float = 0.001
    dropout: float = 0.02
    max_incidence_deg: float = 80.0
    edge_jump: float = 0.02
    frame_id: str = "camera_depth_optical_frame"

    def __post_init__(self):
        if self.width < 2 or self.height < 2 or not 1.0 <= self.hfov_deg <= 170.0:
            raise ConfigError(f"camera needs width, height >= 2 and hfov_deg in [1, 170], got "
                              f"{self.width}x{self.height}, {self.hfov_deg}")
        if not (self.distance > 0 and 0 <= self.min_range < self.max_range):
            raise ConfigError(f"camera needs distance > 0 and 0 <= min_range < max_range, got {self.distance}, "
                              f"[{self.min_range}, {self.max_range}]")
        if not (0 <= self.dropout < 1 and self.noise_base >= 0 and self.noise_quadratic >= 0
                and self.depth_unit >= 0 and self.edge_jump >= 0 and 0 < self.max_incidence_deg <= 90):
            raise ConfigError("camera needs dropout in [0, 1), non-negative noise, depth_unit and edge_jump, "
                              "and max_incidence_deg in (0, 90]")
        if not -90.0 < self.elevation_deg < 90.0:
            raise ConfigError(f"camera elevation_deg must be in (-90, 90), got {self.elevation_deg}")

    @property
    def focal(self) -> float:
        """Focal length in pixels (fx = fy)."""
        return (self.width / 2) / np.tan(np.radians(self.hfov_deg) / 2)

    def pose(self) -> np.ndarray:
        """T_world_camera (4, 4): optical frame (z forward, x right, y down) in the world frame."""
        el, az = np.radians(self.elevation_deg), np.radians(self.azimuth_deg)
        target = np.array([0.0, 0.0, self.target_height])
        eye = target + self.distance * np.array([-np.cos(el) * np.cos(az), -np.cos(el) * np.sin(az), np.sin(el)])
        z = (target - eye) / np.linalg.norm(target - eye)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        t = np.eye(4)
        t[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
        t[:3, 3] = eye
        return t


@dataclass(frozen=True, eq=False)
class TableScene:
    """An object mesh (metres, its own frame, z up) resting on a table top at z = 0.

    Attributes:
        mesh: ``trimesh.Trimesh`` in metres.
        yaw: rotation of the object about the vertical axis, radians.
        position_xy: (2,) where the object's bounding-box centre stands on the table, metres.
        table_size: (2,) table top size, metres (centred at the world origin).
        table_thickness: metres.
    """

    mesh: object
    yaw: float = 0.0
    position_xy: tuple[float, float] = (0.0, 0.0)
    table_size: tuple[float, float] = (1.2, 1.2)
    table_thickness: float = 0.03

    def object_pose(self) -> np.ndarray:
        """T_world_object (4, 4): yawed, bounding-box centre over ``position_xy``, lowest point on the table."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        v = np.asarray(self.mesh.vertices) @ rot.T
        lo, hi = v.min(axis=0), v.max(axis=0)
        t = np.eye(4)
        t[:3, :3] = rot
        t[:3, 3] = [self.position_xy[0] - (lo[0] + hi[0]) / 2, self.position_xy[1] - (lo[1] + hi[1]) / 2, -lo[2]]
        return t

    def object_mesh(self, frame_from_world: np.ndarray | None = None):
        """The object mesh placed in the world, or in another frame given T_frame_world (4, 4)."""
        t = self.object_pose() if frame_from_world is None else frame_from_world @ self.object_pose()
        return self.mesh.copy().apply_transform(t)


@dataclass(frozen=True, eq=False)
class DepthView:
    """One rendered frame.

    Attributes:
        points: (height, width, 3) float32 metres in the optical frame; NaN where nothing returned.
        object_mask: (height, width) bool, pixels whose ray hit the object (before dropouts).
        camera_pose: T_world_camera (4, 4).
        frame_id: the optical frame's name.
    """

    points: np.ndarray
    object_mask: np.ndarray
    camera_pose: np.ndarray
    frame_id: str

    def cloud(self, stamp_ns: int = 0) -> PointCloud:
        """The organised cloud as a domain ``PointCloud`` (NaN points kept)."""
        h, w, _ = self.points.shape
        return PointCloud(Header(stamp_ns, self.frame_id), self.points.reshape(-1, 3), height=h, width=w)

    def valid_points(self) -> np.ndarray:
        """(N, 3) finite points."""
        pts = self.points.reshape(-1, 3)
        return pts[np.isfinite(pts).all(axis=1)]


class DepthCamera:
    """Renders a :class:`TableScene` as seen by a camera placed by a :class:`CameraConfig`.

    The ray-casting scene is built once; each :meth:`render` draws fresh sensor noise.
    """

    def __init__(self, scene: TableScene, config: CameraConfig = CameraConfig()):
        import open3d as o3d
        import trimesh

        self.scene = scene
        self.config = config
        self.pose = config.pose()
        obj = scene.object_mesh()
        if len(obj.faces) == 0:
            raise DataError("the scene's object mesh has no triangles")
        sx, sy = scene.table_size
        table = trimesh.creation.box(extents=(sx, sy, scene.table_thickness))
        table.apply_translation((0.0, 0.0, -scene.table_thickness / 2))
        self._raycaster = o3d.t.geometry.RaycastingScene()
        self._object_id = self._raycaster.add_triangles(
            o3d.core.Tensor(np.asarray(obj.vertices, dtype=np.float32)),
            o3d.core.Tensor(np.asarray(obj.faces, dtype=np.uint32)))
        self._raycaster.add_triangles(o3d.core.Tensor(np.asarray(table.vertices, dtype=np.float32)),
                                      o3d.core.Tensor(np.asarray(table.faces, dtype=np.uint32)))
        c = config
        u = (np.arange(c.width) + 0.5 - c.width / 2) / c.focal
        v = (np.arange(c.height) + 0.5 - c.height / 2) / c.focal
        uu, vv = np.meshgrid(u, v)
        #: (height, width, 3) ray directions in the optical frame with unit z, so hit distance = depth.
        self.directions = np.stack([uu, vv, np.ones_like(uu)], axis=-1)
        world_dirs = self.directions @ self.pose[:3, :3].T
        rays = np.concatenate([np.broadcast_to(self.pose[:3, 3], world_dirs.shape), world_dirs], axis=-1)
        hits = self._raycaster.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))
        # The scene is static: cast once, add fresh noise per render.
        self._depth = hits["t_hit"].numpy().astype(np.float64)
        self._hit_object = hits["geometry_ids"].numpy() == self._object_id
        normals = hits["primitive_normals"].numpy().astype(np.float64)
        cos = np.abs((normals * world_dirs).sum(axis=-1)) / np.linalg.norm(world_dirs, axis=-1)
        self._grazing = cos < np.cos(np.radians(c.max_incidence_deg))
        log.debug("camera %dx%d at %s sees the object in %d pixels", c.width, c.height,
                  np.round(self.pose[:3, 3], 3).tolist(), int(self._hit_object.sum()))
        if not self._hit_object.any():
            log.warning("the simulated camera does not see the object (check distance, elevation, target_height)")

    def object_mesh_in_camera(self):
        """Ground truth: the object mesh in the optical frame (metres)."""
        return self.scene.object_mesh(np.linalg.inv(self.pose))

    def render(self, rng: np.random.Generator | int | None = 0) -> DepthView:
        """Render one noisy frame.

        Args:
            rng: a ``numpy.random.Generator`` or a seed (same seed -> same frame).

        Returns:
            A :class:`DepthView`.
        """
        c = self.config
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        z = self._depth.copy()
        valid = np.isfinite(z)
        if c.edge_jump > 0:
            padded = np.pad(np.where(valid, z, np.inf), 1, mode="edge")
            for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
                neighbour = padded[dy:dy + c.height, dx:dx + c.width]
                with np.errstate(invalid="ignore"):
                    valid &= ~(np.abs(neighbour - z) > c.edge_jump)
        valid &= ~self._grazing & (rng.random(z.shape) >= c.dropout)
        sigma = c.noise_base + c.noise_quadratic * np.square(np.where(valid, z, 0.4) - 0.4)
        z = z + rng.normal(size=z.shape) * sigma
        if c.depth_unit > 0:
            z = np.round(z / c.depth_unit) * c.depth_unit
        valid &= (z >= c.min_range) & (z <= c.max_range)
        points = np.where(valid[..., None], self.directions * z[..., None], np.nan).astype(np.float32)
        return DepthView(points, self._hit_object.copy(), self.pose.copy(), c.frame_id)
