"""One-view completion: the mirror plane agrees with the view and the completed object matches
the true one better than the extrusion does."""

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.perception.camera import DepthCamera, TableScene
from semg_grasp_ros.perception.completion import MirrorConfig, find_mirror, view_field
from semg_grasp_ros.perception.segmentation import SegmentationConfig, segment_object


def _view(mesh, yaw=0.0):
    """A depth camera's view of ``mesh`` on the table: (segmented points, support plane, true
    object mesh in the camera frame)."""
    camera = DepthCamera(TableScene(mesh, yaw=yaw))
    seg = segment_object(camera.render(0).cloud().points, SegmentationConfig())
    return seg.points, seg.plane, camera.object_mesh_in_camera()


def _iou(field, mesh):
    truth = mesh.contains(field.layout.centres().reshape(-1, 3)).reshape(field.layout.shape)
    seen = field.distances < 0
    return (seen & truth).sum() / (seen | truth).sum(), seen.sum() / truth.sum()


def test_mirror_plane_of_a_can_passes_through_its_axis():
    """A can seen from above and the side: only its front half is observed. The chosen mirror plane
    passes through the can's axis (within 5 mm), agrees with the view, and its reflection restores
    the back half."""
    import trimesh

    can = trimesh.creation.cylinder(radius=0.035, height=0.11, sections=48)
    points, plane, truth = _view(can)
    mirror = find_mirror(points, plane)
    axis = truth.bounds.mean(axis=0)
    assert abs(axis @ mirror.normal - mirror.offset) < 0.005
    assert mirror.violation < MirrorConfig.max_violation
    seen = np.asarray(points)[np.isfinite(points).all(axis=1)]
    across = mirror.fill(seen, 0.002) @ mirror.normal - axis @ mirror.normal  # across the plane, from the axis
    lo, hi = np.percentile(across, [1, 99])  # sensor noise aside
    assert lo == pytest.approx(-0.035, abs=0.005) and hi == pytest.approx(0.035, abs=0.005)

@pytest.mark.parametrize("extents, yaw", [((0.16, 0.06, 0.21), 0.0), ((0.16, 0.06, 0.21), 1.1)])
def test_mirror_completion_matches_a_box_better_than_the_extrusion(extents, yaw):
    """A cereal-box-like box, face-on and turned: the mirror completion's inside overlaps the true
    box more than the extrusion's, without inflating it (the extrusion nearly doubles it)."""
    import trimesh

    points, plane, truth = _view(trimesh.creation.box(extents=extents), yaw)
    mirror_iou, mirror_ratio = _iou(view_field(points, support_plane=plane, completion="mirror"), truth)
    extrude_iou, extrude_ratio = _iou(view_field(points, support_plane=plane, completion="extrude"), truth)
    assert mirror_iou > extrude_iou + 0.1 and mirror_iou > 0.7
    assert 0.8 < mirror_ratio < 1.4, (mirror_ratio, extrude_ratio, mirror_iou, extrude_iou)


def test_completion_without_a_support_plane_extrudes_and_unknown_names_are_refused():
    from semg_grasp_ros.pipeline.object_sdf import ObjectSdfConfig

    rng = np.random.default_rng(0)
    d = rng.normal(size=(4000, 3))
    front = np.array([0.0, 0.0, 0.5]) + 0.04 * d / np.linalg.norm(d, axis=1, keepdims=True)
    front = front[front[:, 2] < 0.49]
    a = view_field(front, completion="mirror")
    b = view_field(front, completion="extrude")
    np.testing.assert_array_equal(a.distances, b.distances)
    with pytest.raises(ConfigError, match="completion"):
        view_field(front, completion="guess")
    with pytest.raises(ConfigError, match="completion"):
        ObjectSdfConfig(completion="guess")


def test_mirror_search_stays_small_for_duplicated_and_stray_points():
    """A cloud of many duplicates of a view plus stray points across the scene (a repeated frame
    with noise) keeps the search's raster bounded and yields a finite field; points behind the
    sensor fall back to the extrusion."""
    import trimesh

    points, plane, _ = _view(trimesh.creation.cylinder(radius=0.03, height=0.1))
    seen = np.asarray(points)[np.isfinite(points).all(axis=1)]
    rng = np.random.default_rng(0)
    cloud = np.concatenate([np.tile(seen, (20, 1)), rng.uniform(-1, 1, (2000, 3)) + [0, 0, 1.5]])
    field = view_field(cloud, support_plane=plane)
    assert np.isfinite(field.distances).all()
    behind = np.concatenate([seen, seen * [1, 1, -1]])
    assert find_mirror(behind, plane).violation == 1.0
