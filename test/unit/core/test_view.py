"""The session view's own pieces: link normals without trimesh, the TF tree as entity paths
(a frame waits for its ancestors), and a bag read for the view without torch, scipy.signal or
trimesh (each takes a second or more to import)."""

import subprocess
import sys

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.pipeline.view import vertex_normals
from semg_grasp_ros.topics import TF_STATIC
from semg_grasp_ros.types import Header, Pose, TfMessage, TransformStamped


def test_vertex_normals_of_a_sphere_point_outwards():
    trimesh = pytest.importorskip("trimesh")
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.02)
    n = vertex_normals(sphere.vertices, sphere.faces)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert np.min(np.sum(n * radial, axis=1)) > 0.995  # the analytic normal of a sphere, to the facets
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)
    flipped = vertex_normals(sphere.vertices, sphere.faces[:, ::-1])  # clockwise faces: inwards
    np.testing.assert_allclose(flipped, -n, atol=1e-12)


def test_a_frame_waits_for_its_place_in_the_tf_tree():
    rr = pytest.importorskip("rerun")
    from semg_grasp_ros.pipeline.view import SessionView

    rec = rr.RecordingStream("test_view")
    rec.memory_recording()
    view = SessionView(rec)
    view.log("tf", TfMessage((TransformStamped(Header(5, "rh_ffmiddle"), "rh_ffdistal", Pose()),
                              TransformStamped(Header(5, "rh_ffdistal"), "rh_fftip", Pose()))), 5)
    assert view._path("rh_fftip") is None  # rh_ffmiddle's parent is not known yet
    assert view._path("rh_fftip", final=True) == "world/rh_ffmiddle/rh_ffdistal/rh_fftip"
    view.log(TF_STATIC, TfMessage((TransformStamped(Header(0, "world"), "camera", Pose()),
                                   TransformStamped(Header(0, "camera"), "rh_ffmiddle", Pose()))), 0)
    assert view._path("rh_fftip") == "world/camera/rh_ffmiddle/rh_ffdistal/rh_fftip"
    with pytest.raises(ConfigError, match="root_link"):
        SessionView(rec, root_link="rh_wrist")


def test_reading_a_bag_for_the_view_imports_no_heavy_module():
    code = ("import sys, semg_grasp_ros.pipeline.bag, semg_grasp_ros.pipeline.view as v; v._link_mesh('rh_palm', []);"
            "print(sorted(m for m in ('torch', 'scipy.signal', 'scipy.spatial', 'trimesh') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout
