"""The session view's pieces that decide its speed: link normals without trimesh, robot_state's
TF messages skipped undecoded, and no heavy module imported by reading a bag for the view."""

import subprocess
import sys

import numpy as np
import pytest

from semg_grasp_ros.msgs.convert import MSGTYPES, to_msg
from semg_grasp_ros.msgs.typestore import RosbagsFactory, typestore
from semg_grasp_ros.pipeline.view import _worth_decoding, vertex_normals
from semg_grasp_ros.topics import JOINT_STATES, TF
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


@pytest.mark.parametrize("little_endian", [True, False])
def test_tf_of_several_transforms_is_skipped_undecoded(little_endian):
    """robot_state's TF (every hand link) is skipped; the wrist TF (one transform) and other topics are read."""
    store, f = typestore(), RosbagsFactory()
    wrist = TransformStamped(Header(5, "camera"), "rh_palm", Pose([0.1, 0.0, 0.4]))
    links = TfMessage(tuple(TransformStamped(Header(5, "rh_palm"), f"rh_link{k}", Pose()) for k in range(3)))
    for obj, kept in ((wrist, True), (links, False)):
        raw = store.serialize_cdr(to_msg(obj, f), MSGTYPES[type(obj)], little_endian=little_endian)
        assert _worth_decoding(TF, bytes(raw)) is kept
        assert _worth_decoding(JOINT_STATES, bytes(raw))


def test_reading_a_bag_for_the_view_imports_no_signal_processing_or_mesh_library():
    """scipy.signal and trimesh take about a second each to import: the view needs neither."""
    code = ("import sys, semg_grasp_ros.pipeline.bag, semg_grasp_ros.pipeline.view as v; v._link_mesh(v.HandKinematics"
            ".load('free'), 'rh_palm'); print(sorted(m for m in ('scipy.signal', 'trimesh', 'scipy.spatial')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout
