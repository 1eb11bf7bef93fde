"""The session view's own pieces: link normals without trimesh, the TF tree as entity paths
(a frame waits for its ancestors), a repeated TF message logged again without decoding it, and
a bag read for the view without torch, scipy.signal or trimesh (each takes a second or more to
import)."""

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


@pytest.mark.parametrize("little_endian", [True, False])
def test_a_repeated_tf_message_is_logged_again_undecoded(little_endian):
    """A hand at rest: robot_state's TF repeats but for its stamps; the view logs the previous
    message at the new time instead of decoding it, and decodes one that differs."""
    rr = pytest.importorskip("rerun")
    from semg_grasp_ros.msgs.convert import MSGTYPES, to_msg
    from semg_grasp_ros.msgs.typestore import RosbagsFactory, typestore
    from semg_grasp_ros.pipeline.view import SessionView, _Undecoded

    store, f = typestore(), RosbagsFactory()

    def raw(stamp_ns, x):
        links = TfMessage(tuple(TransformStamped(Header(stamp_ns, "rh_palm"), f"rh_link{k}", Pose([x, 0.0, k]))
                                for k in range(3)))
        return links, bytes(store.serialize_cdr(to_msg(links, f), MSGTYPES[TfMessage], little_endian=little_endian))

    rec = rr.RecordingStream("test_view")
    rec.memory_recording()
    view = SessionView(rec)
    keep = _Undecoded(view)
    first, first_raw = raw(10, 0.1)
    assert keep("tf", 10, first_raw)
    view.log("tf", first, 10)
    assert not keep("tf", 30, raw(30, 0.1)[1])  # the same transforms 20 ns later
    assert keep("tf", 50, raw(50, 0.2)[1])  # moved
    assert [t for t, _ in view._tf["rh_link2"]] == [10, 30]
    assert keep("joint_states", 60, b"") is False  # the TF places the links
