"""Simulated camera -> object_sdf, wired as the launch file wires the nodes."""

import logging

import numpy as np
import pytest

from semg_grasp_ros.config import build_config, load_config
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.msgs.convert import from_msg, to_msg
from semg_grasp_ros.msgs.typestore import RosbagsFactory
from semg_grasp_ros.perception.sdf import DistanceField, sdf_from_mesh
from semg_grasp_ros.pipeline.depth_camera import DepthCameraSim, DepthCameraSimConfig
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.pipeline.object_sdf import ObjectSdfComponent, ObjectSdfConfig
from semg_grasp_ros.types import Header, Marker, ObjectSdf, PointCloud

CAN = DepthCameraSimConfig(object="cylinder:0.035,0.12", width=160, height=120, rate_hz=10.0)


def _run(camera_cfg=CAN, sdf_cfg=ObjectSdfConfig(rate_hz=0.0), seconds=0.5):
    graph = Graph()
    camera = graph.add(DepthCameraSim(camera_cfg))
    component = graph.add(ObjectSdfComponent(sdf_cfg))
    fields, markers = [], []
    graph.subscribe("object/sdf", fields.append)
    graph.subscribe("object/marker", markers.append)
    graph.run(duration=seconds)
    return camera, component, fields, markers


def test_camera_to_field_matches_the_true_object():
    camera, component, fields, markers = _run()
    assert len(fields) == 5 and component.failures == {}
    sdf = fields[-1]
    assert isinstance(sdf, ObjectSdf) and sdf.shape == (50, 50, 50) and sdf.is_signed  # signed: 'view'
    assert sdf.header.frame_id == "camera_depth_optical_frame" and sdf.header.stamp_ns == 500_000_000
    truth_mesh = camera.camera.object_mesh_in_camera()
    field = DistanceField.from_object_sdf(sdf)
    signed_truth = sdf_from_mesh(truth_mesh, field.layout).distances
    truth = np.abs(signed_truth)
    # The visible side is where the field is right: voxels near the true surface and near the camera.
    centres = field.layout.centres()
    front = (truth <= 0.01) & (centres[..., 2] < truth_mesh.centroid[2])
    assert np.median(np.abs(np.abs(field.distances) - truth)[front]) < 0.003
    # The unseen back is filled: most of the true inside is inside the field too.
    assert np.mean(field.distances[signed_truth < -0.005] < 0) > 0.8
    # The object lies inside the grid, with the margin around it.
    assert np.all(truth_mesh.bounds[0] > field.origin) and np.all(truth_mesh.bounds[1] < centres[-1, -1, -1])
    assert np.all(sdf.centroid > truth_mesh.bounds[0]) and np.all(sdf.centroid < truth_mesh.bounds[1])
    assert {m.id for m in markers[-2:]} == {0, 1} and markers[-2].type == Marker.POINTS
    assert markers[-2].points.shape[0] > 100 and markers[-1].points.shape == (24, 3)


def test_same_input_same_output():
    _, _, a, _ = _run(seconds=0.2)
    _, _, b, _ = _run(seconds=0.2)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.distances, y.distances)
        np.testing.assert_array_equal(x.origin.position, y.origin.position)


def test_rate_limit_keeps_one_cloud_per_period():
    _, component, fields, _ = _run(sdf_cfg=ObjectSdfConfig(rate_hz=2.0), seconds=1.0)
    assert len(fields) == 2 and component.processed == 2 and component.skipped == 8
    # clouds at 0.1, 0.2, ..., 1.0 s: the first, then the first at least 0.5 s later (by stamp)
    assert [f.header.stamp_ns for f in fields] == [100_000_000, 600_000_000]


def test_publish_on_change():
    camera = DepthCameraSim(CAN)
    component = ObjectSdfComponent(ObjectSdfConfig(publish_on_change=True, change_threshold=0.003))
    clouds = [camera.on_timer(k * 100_000_000)[0] for k in range(3)]
    first = component.process(clouds[0])
    assert [type(m) for m in first] == [ObjectSdf, Marker, Marker]
    assert component.process(clouds[1]) == [] and component.process(clouds[2]) == []  # sensor noise only
    moved = PointCloud(clouds[2].header, clouds[2].points + np.float32([0.05, 0.0, 0.0]),
                       height=clouds[2].height, width=clouds[2].width)
    out = component.process(moved)
    assert len(out) == 3 and out[0].centroid[0] == pytest.approx(first[0].centroid[0] + 0.05, abs=0.003)


def _bad_clouds():
    return {
        "empty": PointCloud(Header(1, "cam"), np.zeros((0, 3))),
        "all NaN": PointCloud(Header(2, "cam"), np.full((1000, 3), np.nan)),
        "no object": PointCloud(Header(3, "cam"), np.c_[np.random.default_rng(0).uniform(-0.3, 0.3, (5000, 2)),
                                                        np.full(5000, 0.6)]),
        "huge values": PointCloud(Header(4, "cam"), np.full((10, 3), 1e30)),
    }


def test_bad_input_publishes_nothing_but_clears_the_markers(caplog):
    good = DepthCameraSim(CAN).on_timer(0)[0]
    component = ObjectSdfComponent(ObjectSdfConfig(log_throttle_s=1.0))
    component.process(good)
    caplog.set_level(logging.WARNING, logger="semg_grasp_ros.pipeline.object_sdf")
    for name, cloud in _bad_clouds().items():
        out = component.process(cloud)
        assert all(isinstance(m, Marker) and m.action == Marker.DELETE for m in out), name
    assert len(component.failures) == 4 and sum(component.failures.values()) == 4
    assert any("cloud is empty" in r.message for r in caplog.records)
    assert any("no points left above the table plane" in r.message for r in caplog.records)
    # The same failure again within a second of message time is counted but not logged again.
    n_logged = len(caplog.records)
    component.process(PointCloud(Header(500_000_000, "cam"), np.zeros((0, 3))))
    assert len(caplog.records) == n_logged and component.failures["cloud is empty"] == 2
    component.process(PointCloud(Header(1_500_000_000, "cam"), np.zeros((0, 3))))
    assert len(caplog.records) == n_logged + 1


def test_bad_input_keeps_the_last_good_field_when_asked():
    good = DepthCameraSim(CAN).on_timer(0)[0]
    component = ObjectSdfComponent(ObjectSdfConfig(keep_last_good=True))
    before = component.process(_bad_clouds()["empty"])  # nothing to keep yet: only marker deletions
    assert before and all(isinstance(m, Marker) and m.action == Marker.DELETE for m in before)
    last = component.process(good)
    for cloud in _bad_clouds().values():
        out = component.process(cloud)
        assert out[0] is last[0] and out[0].header.stamp_ns == good.header.stamp_ns


def test_huge_cloud_is_strided_not_fatal():
    good = DepthCameraSim(CAN).on_timer(0)[0]
    big = PointCloud(good.header, np.tile(good.points, (30, 1)))  # 576k points, 30 copies in a row
    component = ObjectSdfComponent(build_config(ObjectSdfConfig, segmentation={"max_points": 20_000}))
    out = component.process(big)
    assert isinstance(out[0], ObjectSdf) and component.failures == {}


def test_point_cloud_message_round_trip_into_the_component():
    cloud = DepthCameraSim(CAN).on_timer(123)[0]
    msg = to_msg(cloud, RosbagsFactory())
    assert msg.height == 120 and msg.width == 160
    back = from_msg(msg)
    direct = ObjectSdfComponent().process(cloud)[0]
    via_msg = ObjectSdfComponent().process(back)[0]
    np.testing.assert_array_equal(direct.distances, via_msg.distances)  # NaN points dropped either way


def test_configs_from_yaml_match_the_defaults_and_validate():
    assert load_config(ObjectSdfConfig, "object_sdf") == ObjectSdfConfig()
    assert load_config(DepthCameraSimConfig, "depth_camera_sim") == DepthCameraSimConfig()
    for bad in (dict(grid={"size": 1}), dict(signed="mesh"), dict(segmentation={"select": "biggest"}),
                dict(rate_hz=-1.0), dict(segmentation={"crop_min": (0.0, 0.0)}), dict(grid={"extent_mode": "auto"}),
                {"segmentation.voxel_size": 0.0}, dict(grid_size=50)):
        with pytest.raises(ConfigError):
            build_config(ObjectSdfConfig, bad)
    cfg = build_config(ObjectSdfConfig, {"grid.size": 40, "segmentation": {"select": "closest"}})
    assert cfg.grid.size == 40 and cfg.grid.margin == 0.03 and cfg.segmentation.select == "closest"
    with pytest.raises(ConfigError):
        DepthCameraSimConfig(rate_hz=0.0)
    with pytest.raises(ConfigError):
        DepthCameraSim(DepthCameraSimConfig(object="cylinder:0.1"))


def test_signed_field_from_the_hull_closed_down_to_the_table():
    camera = DepthCameraSim(CAN)
    sdf = ObjectSdfComponent(ObjectSdfConfig(signed="hull")).process(camera.on_timer(0)[0])[0]
    field = DistanceField.from_object_sdf(sdf)
    truth_mesh = camera.camera.object_mesh_in_camera()
    assert sdf.is_signed and field.sample(truth_mesh.centroid) < -0.01  # the can's axis, 3.5 cm deep
    truth = sdf_from_mesh(truth_mesh, field.layout).distances
    clear = np.abs(truth) > 2 * field.voxel_size
    assert (np.sign(field.distances) == np.sign(truth))[clear].mean() > 0.97
