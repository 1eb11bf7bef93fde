"""The simulated depth camera: geometry without noise, then each sensor artefact."""

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.perception.camera import CameraConfig, DepthCamera, TableScene
from semg_grasp_ros.perception.objects import Primitive

CLEAN = dict(noise_base=0.0, noise_quadratic=0.0, depth_unit=0.0, dropout=0.0, edge_jump=0.0, max_incidence_deg=90.0)
BOX = Primitive("box", (0.06, 0.04, 0.1))


def _world(view):
    pts = view.points.reshape(-1, 3)
    return pts @ view.camera_pose[:3, :3].T + view.camera_pose[:3, 3]


def test_camera_pose_looks_at_the_target_from_above():
    cfg = CameraConfig(distance=0.5, elevation_deg=30.0, azimuth_deg=90.0, target_height=0.1)
    t = cfg.pose()
    np.testing.assert_allclose(t[:3, :3].T @ t[:3, :3], np.eye(3), atol=1e-12)
    assert np.linalg.det(t[:3, :3]) == pytest.approx(1.0)
    eye, forward, down = t[:3, 3], t[:3, 2], t[:3, 1]
    np.testing.assert_allclose(eye + 0.5 * forward, [0, 0, 0.1], atol=1e-12)
    assert eye[2] == pytest.approx(0.1 + 0.5 * np.sin(np.radians(30)))
    assert eye[1] < 0 and abs(eye[0]) < 1e-12  # azimuth 90: on the -y side
    assert down[2] < 0  # image y points down in the world


def test_clean_render_lies_on_the_box_and_the_table():
    cam = DepthCamera(TableScene(BOX.mesh(), yaw=0.4), CameraConfig(width=80, height=60, **CLEAN))
    view = cam.render(0)
    world = _world(view)
    valid = np.isfinite(world).all(axis=1)
    mask = view.object_mask.reshape(-1)
    assert valid.mean() > 0.5 and mask.sum() > 50
    # Object pixels: on the box surface (box centred over the origin, resting on z = 0, yawed 0.4).
    c, s = np.cos(0.4), np.sin(0.4)
    local = (world[mask & valid] - [0, 0, 0.05]) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    q = np.abs(local) - np.array([0.03, 0.02, 0.05])
    box_dist = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    assert np.abs(box_dist).max() < 1e-4
    table = world[~mask & valid]
    assert np.abs(table[:, 2]).max() < 1e-4
    # The object mesh in the camera frame is the world mesh seen from the camera pose.
    cam_vertices = np.asarray(cam.object_mesh_in_camera().vertices)
    world_vertices = np.asarray(cam.scene.object_mesh().vertices)
    np.testing.assert_allclose(cam_vertices @ view.camera_pose[:3, :3].T + view.camera_pose[:3, 3],
                               world_vertices, atol=1e-12)


def test_noise_quantisation_dropout_and_determinism():
    cfg = CameraConfig(width=160, height=120, elevation_deg=90.0 - 1e-6, distance=1.0, target_height=0.0,
                       noise_base=0.004, noise_quadratic=0.0, depth_unit=0.001, dropout=0.1, edge_jump=0.0)
    cam = DepthCamera(TableScene(Primitive("box", (0.01, 0.01, 0.001)).mesh()), cfg)
    clean = DepthCamera(cam.scene, CameraConfig(**{**cfg.__dict__, **CLEAN})).render(0).points
    a, b, c = cam.render(1), cam.render(1), cam.render(2)
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(np.nan_to_num(a.points), np.nan_to_num(c.points))
    z, z0 = a.points[..., 2], clean[..., 2]
    ok = np.isfinite(z)
    assert 1 - ok.mean() == pytest.approx(0.1, abs=0.02)
    np.testing.assert_allclose(z[ok] / 0.001, np.round(z[ok] / 0.001), atol=1e-3)
    assert np.std(z[ok] - z0[ok]) == pytest.approx(np.sqrt(0.004 ** 2 + 0.001 ** 2 / 12), rel=0.1)


def test_edges_and_grazing_surfaces_drop_out():
    tall = Primitive("box", (0.05, 0.05, 0.2))
    base = dict(width=120, height=90, elevation_deg=20.0)
    edges = DepthCamera(TableScene(tall.mesh()), CameraConfig(**{**base, **CLEAN, "edge_jump": 0.02})).render(0)
    clean = DepthCamera(TableScene(tall.mesh()), CameraConfig(**base, **CLEAN)).render(0)
    lost = np.isfinite(clean.points[..., 2]) & ~np.isfinite(edges.points[..., 2])
    assert lost.sum() > 10
    # Every lost pixel sits next to a depth jump of more than 2 cm in the clean image.
    zc = np.nan_to_num(clean.points[..., 2], nan=1e6)
    pad = np.pad(zc, 1, mode="edge")
    jump = np.max([np.abs(pad[1 + dy:1 + dy + 90, 1 + dx:1 + dx + 120] - zc)
                   for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))], axis=0)
    assert np.all(jump[lost] > 0.02)
    grazing = DepthCamera(TableScene(tall.mesh()), CameraConfig(**{**base, **CLEAN, "max_incidence_deg": 60.0}))
    view = grazing.render(0)
    rays = grazing.directions @ view.camera_pose[:3, :3].T
    angle = np.degrees(np.arccos(np.abs(rays[..., 2]) / np.linalg.norm(rays, axis=-1)))  # from the table normal
    table_px = ~view.object_mask & np.isfinite(clean.points[..., 2])
    seen = np.isfinite(view.points[..., 2])
    assert (table_px & (angle > 60.5)).sum() > 100 and (table_px & (angle < 59.5)).sum() > 100
    assert not seen[table_px & (angle > 60.5)].any()
    assert seen[table_px & (angle < 59.5)].all()


def test_organised_cloud_message():
    cam = DepthCamera(TableScene(BOX.mesh()), CameraConfig(width=40, height=30, frame_id="cam"))
    cloud = cam.render(0).cloud(stamp_ns=7)
    assert cloud.height == 30 and cloud.width == 40 and cloud.points.shape == (1200, 3)
    assert cloud.header.frame_id == "cam" and cloud.header.stamp_ns == 7


def test_config_validation():
    for bad in (dict(width=1), dict(hfov_deg=180.0), dict(dropout=1.0), dict(min_range=4.0),
                dict(elevation_deg=90.0), dict(distance=0.0)):
        with pytest.raises(ConfigError):
            CameraConfig(**bad)
