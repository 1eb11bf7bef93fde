"""The project's URDFs: well-formed trees with inertials, limits and primitive geometry; MuJoCo loads them."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from semg_grasp_ros.hand.model import FINGER_JOINTS, FINGERTIPS, WRIST_JOINTS, urdf_path

mujoco = pytest.importorskip("mujoco")


@pytest.mark.parametrize("variant,n_joints,root", [("free", 22, "rh_palm"), ("fixed", 24, "rh_forearm")])
def test_urdf_tree(variant, n_joints, root):
    text = urdf_path(variant).read_text()
    robot = ET.fromstring(text)
    links = {l.get("name"): l for l in robot.findall("link")}
    joints = robot.findall("joint")
    children = [j.find("child").get("link") for j in joints]
    assert len(children) == len(set(children)) == len(links) - 1  # a tree
    assert set(links) - set(children) == {root}
    revolute = [j for j in joints if j.get("type") == "revolute"]
    assert len(revolute) == n_joints
    assert {j.get("name") for j in revolute} == set(FINGER_JOINTS) | (set(WRIST_JOINTS) if variant == "fixed" else set())
    for j in revolute:
        lim = j.find("limit")
        assert float(lim.get("lower")) < float(lim.get("upper")) and float(lim.get("velocity")) > 0
        assert float(lim.get("effort")) > 0
        assert np.linalg.norm([float(v) for v in j.find("axis").get("xyz").split()]) == pytest.approx(1.0, abs=1e-5)
    for name, link in links.items():
        if name in FINGERTIPS:
            continue  # massless frames
        inertial = link.find("inertial")
        assert inertial is not None, name
        assert float(inertial.find("mass").get("value")) > 0
        i = inertial.find("inertia")
        tensor = np.array([[float(i.get("ixx")), float(i.get("ixy")), float(i.get("ixz"))],
                           [float(i.get("ixy")), float(i.get("iyy")), float(i.get("iyz"))],
                           [float(i.get("ixz")), float(i.get("iyz")), float(i.get("izz"))]])
        assert np.all(np.linalg.eigvalsh(tensor) > 0), name
        for c in link.iter("collision"):
            assert c.find("geometry")[0].tag in ("box", "cylinder", "sphere")  # primitive collision shapes
        for v in link.iter("visual"):  # primitives, or the shells generated in urdf/meshes
            g = v.find("geometry")[0]
            assert g.tag in ("box", "cylinder", "sphere") or g.get("filename").startswith(
                "package://semg_grasp_ros/urdf/meshes/")
    model = mujoco.MjModel.from_xml_string(text)
    assert model.njnt == n_joints
