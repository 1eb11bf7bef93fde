"""The hand's visual meshes: closed outward shells generated from the kinematic facts, the
committed STL files current, every URDF link visual pointing at one, and each shell covering
its link from joint to joint (fingertip frames included)."""

import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from semg_grasp_ros.hand.meshes import LINK_MESHES, all_meshes, posed_meshes
from semg_grasp_ros.hand.model import FINGER_JOINTS, urdf_path

MESH_DIR = Path(__file__).resolve().parents[3] / "urdf" / "meshes"


@pytest.mark.parametrize("name", sorted(all_meshes()))
def test_meshes_are_closed_outward_and_the_files_current(name):
    v, f = all_meshes()[name]
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    stored = trimesh.load(MESH_DIR / f"{name}.stl", process=False)
    np.testing.assert_allclose(stored.triangles, v[f], atol=1e-6, err_msg="run python -m semg_grasp_ros.hand.meshes")


@pytest.mark.parametrize("variant", ["free", "fixed"])
def test_urdf_visuals_use_the_meshes(variant):
    text = urdf_path(variant).read_text()
    files = re.findall(r'<mesh filename="package://semg_grasp_ros/urdf/meshes/([^"]+)\.stl"/>', text)
    assert files and set(files) <= set(all_meshes())
    for link, stem in LINK_MESHES.items():
        block = re.search(rf'<link name="{link}">(.*?)</link>', text, re.S)
        if block is None:
            assert variant == "free" and link == "rh_forearm"
            continue
        visuals = re.findall(r"<visual>.*?</visual>", block.group(1), re.S)
        assert len(visuals) == 1 and f"meshes/{stem}.stl" in visuals[0], link


def test_shells_cover_each_link_from_joint_to_joint():
    """At the zero posture every finger's shells contain the points of its joint chain and
    reach its tip frame (within 1.5 mm)."""
    from semg_grasp_ros.hand.kinematics import HandKinematics

    fk = HandKinematics.load("free")
    poses = fk.link_poses(np.zeros((1, len(FINGER_JOINTS))))[0].numpy()
    shells = {link: trimesh.Trimesh(v, f, process=False) for link, v, f in posed_meshes(np.zeros(22))}
    for finger in ("ff", "mf", "rf", "lf", "th"):
        chain = [f"rh_{finger}{p}" for p in ("proximal", "middle", "distal")]
        joints = [poses[fk.link_names.index(link), :3, 3] for link in chain]
        tip = poses[fk.link_names.index(f"rh_{finger}tip"), :3, 3]
        for link, start, end in zip(chain, joints, joints[1:] + [tip]):
            inner = start + np.linspace(0.1, 0.9, 5)[:, None] * (end - start)
            assert shells[link].contains(inner).all(), link
        assert abs(trimesh.proximity.signed_distance(shells[chain[-1]], tip[None])[0]) < 1.5e-3, finger


def test_session_view_draws_the_visual_meshes():
    from semg_grasp_ros.hand.kinematics import HandKinematics
    from semg_grasp_ros.pipeline.view import _link_mesh

    fk = HandKinematics.load("free")
    v, f, _ = _link_mesh("rh_palm", [s for s in fk.collisions if s.link == "rh_palm"])
    np.testing.assert_array_equal(f, all_meshes()["palm"][1])
    wrist = [s for s in HandKinematics.load("fixed").collisions if s.link == "rh_wrist"]
    v, f, n = _link_mesh("rh_wrist", wrist)  # no visual mesh: its collision shapes
    assert len(wrist) == 2 and len(f) > 12 and n.shape == v.shape
