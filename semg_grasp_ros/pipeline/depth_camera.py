"""The simulated depth camera as a component: an object on a table, seen by a noisy
depth sensor, published as an organised ``PointCloud`` on ``object/points``.

The standalone demo's stand-in for a real camera driver (remap ``object/points`` to the
driver's topic to use a real one). Frame ``k`` is rendered with the noise of seed
``(seed, k)``, so a run is reproducible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..config import param
from ..errors import ConfigError
from ..perception.camera import CameraConfig, DepthCamera, TableScene
from ..perception.objects import resolve_object
from ..topics import OBJECT_POINTS
from ..types import Header, PointCloud
from .component import Ports, Timer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DepthCameraSimConfig:
    """Parameters of :class:`DepthCameraSim` (metres, degrees as named)."""

    object: str = param("cylinder:0.035,0.12", "'sphere:R', 'box:SX,SY,SZ', 'cylinder:R,H' (metres), a mesh file, "
                                            "or a DexGraspNet sample code (or unique part of one, e.g. 'mug')")
    scale: float = param(0.1, "mesh units -> metres for mesh files and DexGraspNet objects", (1e-4, 1e4))
    yaw_deg: float = param(0.0, "object rotation about the vertical axis, degrees", (-360.0, 360.0))
    rate_hz: float = param(10.0, "frames per second", (0.01, 1000.0))
    width: int = param(320, "image width, pixels", (2, 4096))
    height: int = param(240, "image height, pixels", (2, 4096))
    hfov_deg: float = param(58.0, "horizontal field of view, degrees", (1.0, 170.0))
    distance: float = param(0.6, "camera distance to the look-at point, metres", (0.05, 20.0))
    elevation_deg: float = param(40.0, "viewing angle above the table plane, degrees", (-89.0, 89.0))
    azimuth_deg: float = param(0.0, "camera position around the vertical axis, degrees", (-360.0, 360.0))
    target_height: float = param(0.05, "look-at point above the table, metres", (-10.0, 10.0))
    noise_base: float = param(0.0012, "depth noise a in sigma = a + b (z - 0.4)^2, metres", (0.0, 1.0))
    noise_quadratic: float = param(0.0019, "depth noise b in sigma = a + b (z - 0.4)^2, 1/metres", (0.0, 1.0))
    depth_unit: float = param(0.001, "depth quantisation step, metres (0: none)", (0.0, 1.0))
    dropout: float = param(0.02, "probability that a pixel returns nothing", (0.0, 0.99))
    max_incidence_deg: float = param(80.0, "surfaces seen more obliquely return nothing, degrees", (1.0, 90.0))
    edge_jump: float = param(0.02, "drop pixels at depth jumps larger than this, metres (0: keep)", (0.0, 10.0))
    frame_id: str = param("camera_depth_optical_frame", "frame of the published cloud")
    seed: int = param(0, "noise seed", (0, 2**31 - 1))

    def __post_init__(self):
        if not self.rate_hz > 0:
            raise ConfigError(f"rate_hz must be positive, got {self.rate_hz}")
        if not self.scale > 0:
            raise ConfigError(f"scale must be positive, got {self.scale}")
        self.camera()

    def camera(self) -> CameraConfig:
        return CameraConfig(
            width=self.width, height=self.height, hfov_deg=self.hfov_deg, distance=self.distance,
            elevation_deg=self.elevation_deg, azimuth_deg=self.azimuth_deg, target_height=self.target_height,
            noise_base=self.noise_base, noise_quadratic=self.noise_quadratic, depth_unit=self.depth_unit,
            dropout=self.dropout, max_incidence_deg=self.max_incidence_deg, edge_jump=self.edge_jump,
            frame_id=self.frame_id)


class DepthCameraSim:
    """Publishes a rendered cloud every ``1 / rate_hz`` seconds.

    Raises (at construction):
        ConfigError / DatasetError / DataError: invalid parameters or an object that cannot be loaded.
    """

    name = "depth_camera_sim"

    def __init__(self, config: DepthCameraSimConfig = DepthCameraSimConfig()):
        self.config = config
        mesh = resolve_object(config.object, config.scale)
        self.camera = DepthCamera(TableScene(mesh, yaw=np.radians(config.yaw_deg)), config.camera())
        log.info("simulated depth camera: %s (extent %s m) on a table, %dx%d at %.1f Hz", config.object,
                 np.round(mesh.extents, 3).tolist(), config.width, config.height, config.rate_hz)
        self.frames = 0

    def ports(self) -> Ports:
        return Ports(outputs={PointCloud: OBJECT_POINTS}, timers=[Timer(1.0 / self.config.rate_hz, self.on_timer)])

    def on_timer(self, now_ns: int) -> list[PointCloud]:
        """Render the next frame, stamped ``now_ns``."""
        view = self.camera.render(np.random.default_rng((self.config.seed, self.frames)))
        self.frames += 1
        h, w, _ = view.points.shape
        return [PointCloud(Header(int(now_ns), self.config.frame_id), view.points.reshape(-1, 3), height=h, width=w)]
