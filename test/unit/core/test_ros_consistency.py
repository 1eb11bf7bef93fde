"""Without ROS: every node's parameters, topics and types agree with the component's
config dataclass, ``config/<node>.yaml``, ``topics.TOPICS`` and the msg files, so a
renamed field, parameter or topic fails here and not first on a robot."""

import ast
import importlib
from pathlib import Path

import pytest

from semg_grasp_ros.config import build_config, flat_fields, read_parameters
from semg_grasp_ros.msgs.convert import MSGTYPES
from semg_grasp_ros.topics import TOPICS

ROS_DIR = Path(__file__).resolve().parents[3] / "semg_grasp_ros" / "ros"
NODE_FILES = sorted(ROS_DIR.glob("*_node.py"))


def _node_spec(path: Path):
    """(node name, config class, component class) from the node file's super().__init__ call."""
    tree = ast.parse(path.read_text())
    imports = {alias.name: node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    for call in ast.walk(tree):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"
                and isinstance(call.func.value, ast.Call)):
            name, cfg, comp = call.args[:3]
            module = importlib.import_module("semg_grasp_ros.pipeline." + imports[cfg.id].split(".")[-1])
            return name.value, getattr(module, cfg.id), getattr(module, comp.id)
    raise AssertionError(f"{path.name} has no ComponentNode.__init__ call")


def test_every_component_has_a_node():
    names = {p.stem for p in NODE_FILES}
    assert names >= {"emg_acquisition_node", "grasp_classifier_node", "object_sdf_node", "grasp_diffusion_node",
                     "hand_controller_node", "depth_camera_sim_node"}


def _flat(params: dict, prefix: str = "") -> dict:
    """YAML parameters with nested mappings as dotted names (as ROS reads them)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_yaml_sets_only_known_parameters_that_differ_from_the_defaults(path):
    """config/<node>.yaml lists only what differs from the config dataclass (each default
    written once), every setting has a description, and the YAML builds a valid config."""
    name, config_cls, _ = _node_spec(path)
    assert path.stem == f"{name}_node"
    params = _flat(read_parameters(name))
    fields = {n: (f, d) for n, f, d in flat_fields(config_cls)}
    assert set(params) <= set(fields), f"config/{name}.yaml sets unknown parameters {set(params) - set(fields)}"
    for n, (f, default) in fields.items():
        assert f.metadata.get("description"), f"{config_cls.__name__}: {n} has no description"
        if n in params:
            value = tuple(params[n]) if isinstance(default, tuple) else params[n]
            assert value != default, f"config/{name}.yaml repeats the default of {n}"
    build_config(config_cls, read_parameters(name))  # the shipped YAML is valid


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_topics_and_types_match_the_topic_table(path):
    """A component names its topics by the constants of topics.py (no string literal); each is a
    topic of the table with a message type, or a ROS-only topic (the MoveIt grasp)."""
    from semg_grasp_ros import topics

    _, config_cls, comp_cls = _node_spec(path)
    source = ast.parse(Path(importlib.import_module(comp_cls.__module__).__file__).read_text())
    literals = {n.value for n in ast.walk(source) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & (set(TOPICS) | set(topics.VIEWER_TOPICS)), f"{comp_cls.__name__} spells a topic name"
    named = {a.name for n in ast.walk(source) if isinstance(n, ast.ImportFrom) and (n.module or "").endswith("topics")
             for a in n.names}
    declared = {getattr(topics, name) for name in named if isinstance(getattr(topics, name), str)}
    assert declared, f"{comp_cls.__name__} names no topic of topics.TOPICS"
    for topic in declared:
        assert topic in topics.ROS_ONLY_TOPICS or TOPICS[topic].type in MSGTYPES


def test_no_topic_name_is_spelled_outside_topics_py():
    """Every module names topics through topics.py's constants."""
    from semg_grasp_ros import topics

    names = set(TOPICS) | set(topics.VIEWER_TOPICS) | set(topics.ROS_ONLY_TOPICS)
    package = ROS_DIR.parent
    for path in sorted(package.rglob("*.py")):
        if path.name == "topics.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr)}
        spelled = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                   and id(n) not in docstrings and n.value in names}
        assert not spelled, f"{path.relative_to(package)} spells topic names {spelled}"


# ----------------------------------------------------------------------- launch files

LAUNCH_DIR = ROS_DIR.parents[1] / "launch"


def test_pipeline_launch_starts_every_node_with_its_yaml():
    """Each node("<executable>", "<name>") of pipeline.launch.py names an existing node file
    whose component's node name is <name> (so config/<name>.yaml is the file it reads)."""
    tree = ast.parse((LAUNCH_DIR / "pipeline.launch.py").read_text())
    started = {c.args[0].value: c.args[1].value for c in ast.walk(tree)
               if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "node"}
    assert set(started) == {p.stem for p in NODE_FILES}
    overrides = {c.args[0].value: [k.value for k in c.args[2].keys] for c in ast.walk(tree)
                 if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "node" and len(c.args) > 2}
    for executable, name in started.items():
        node_name, config_cls, _ = _node_spec(ROS_DIR / f"{executable}.py")
        assert node_name == name
        fields = {n for n, _, _ in flat_fields(config_cls)}
        assert set(overrides.get(executable, ())) <= fields, f"{executable}: launch overrides unknown parameters"


@pytest.mark.parametrize("name", ["pipeline.launch.py", "replay.launch.py"])
def test_launch_files_repeat_no_parameter_default(name):
    """A launch argument that sets a node parameter defaults to '' (= the node's YAML and
    defaults): the launch files choose files, namespaces and models, never values."""
    tree = ast.parse((LAUNCH_DIR / name).read_text())
    defaults = {c.args[0].value: kw.value.value for c in ast.walk(tree)
                if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "DeclareLaunchArgument"
                for kw in c.keywords if kw.arg == "default_value" and isinstance(kw.value, ast.Constant)}
    setting = {a.value for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "node"
               and len(c.args) > 2 for a in c.args[2].values} | ({"object"} & set(defaults))
    assert setting and all(defaults[a] == "" for a in setting), {a: defaults[a] for a in setting}


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_declared_ranges_hold_the_defaults_and_the_yaml_values(path):
    """A range a node declares (rclpy refuses values outside it at start-up) must hold the
    dataclass default and the shipped YAML value."""
    name, config_cls, _ = _node_spec(path)
    params = _flat(read_parameters(name))
    for n, f, default in flat_fields(config_cls):
        if "range" not in f.metadata:
            continue
        lo, hi = f.metadata["range"]
        assert lo <= default <= hi, f"{config_cls.__name__}: {n} default outside {lo, hi}"
        if n in params:
            assert lo <= params[n] <= hi, f"config/{name}.yaml {n} outside {lo, hi}"


# ----------------------------------------------------------------------- ROS-only topics

def test_ros_only_topics_are_new_names_with_known_qos():
    from semg_grasp_ros.topics import GRASP_MOVEIT, QOS_CLASSES, ROS_ONLY_TOPICS

    assert ROS_ONLY_TOPICS[GRASP_MOVEIT].msgtype == "moveit_msgs/msg/Grasp"
    for topic, t in ROS_ONLY_TOPICS.items():
        assert topic == t.name and topic not in TOPICS and t.qos in QOS_CLASSES
        assert not topic.startswith("/") or topic == "/diagnostics"  # relative, but ROS's global diagnostics
        assert t.msgtype.count("/msg/") == 1


# ----------------------------------------------------------------------- SRDF and MoveIt grasp

URDF_DIR = ROS_DIR.parents[1] / "urdf"
SRDF_FILES = sorted(URDF_DIR.glob("*.srdf"))


def _urdf_for(robot: str):
    import xml.etree.ElementTree as ET

    for path in URDF_DIR.glob("*.urdf"):
        root = ET.parse(path).getroot()
        if root.get("name") == robot:
            return root
    raise AssertionError(f"no URDF in urdf/ describes robot {robot!r}")


def _srdf_groups(srdf) -> dict[str, set[str]]:
    """Group name -> joint names (chains and subgroups expanded through the URDF)."""
    urdf = _urdf_for(srdf.get("name"))
    child_joint = {j.find("child").get("link"): j for j in urdf.findall("joint")}
    raw = {g.get("name"): g for g in srdf.findall("group")}

    def joints(name):
        g = raw[name]
        out = {j.get("name") for j in g.findall("joint")}
        for chain in g.findall("chain"):
            link = chain.get("tip_link")
            while link != chain.get("base_link"):
                out.add(child_joint[link].get("name"))
                link = child_joint[link].find("parent").get("link")
        for sub in g.findall("group"):
            out |= joints(sub.get("name"))
        return out

    return {name: joints(name) for name in raw}


def test_there_is_an_srdf_for_the_hand():
    assert [p.name for p in SRDF_FILES] == ["shadow_hand.srdf"]


@pytest.mark.parametrize("path", SRDF_FILES, ids=lambda p: p.name)
def test_srdf_names_only_joints_and_links_of_its_urdf(path):
    import xml.etree.ElementTree as ET

    from semg_grasp_ros.hand.model import FINGER_JOINTS

    srdf = ET.parse(path).getroot()
    urdf = _urdf_for(srdf.get("name"))
    joints = {j.get("name") for j in urdf.findall("joint")}
    movable = {j.get("name") for j in urdf.findall("joint") if j.get("type") != "fixed"}
    links = {link.get("name") for link in urdf.findall("link")}
    named_joints = {e.get("name") for e in srdf.iter("joint")}
    assert named_joints and named_joints <= joints, named_joints - joints
    named_links = ({e.get(a) for e in srdf.iter("chain") for a in ("base_link", "tip_link")}
                   | {e.get(a) for e in srdf.iter("disable_collisions") for a in ("link1", "link2")}
                   | {e.get("parent_link") for e in srdf.iter("end_effector")})
    assert named_links <= links, named_links - links
    groups = _srdf_groups(srdf)
    assert groups["rh_fingers"] == set(FINGER_JOINTS)
    assert groups["rh_wrist"] == movable - set(FINGER_JOINTS)
    for state in srdf.iter("group_state"):
        assert {j.get("name") for j in state.findall("joint")} == groups[state.get("group")]
    (eef,) = srdf.findall("end_effector")
    assert eef.get("group") in groups and eef.get("parent_group") in groups
    # the end effector's group must not hold its parent link's joint
    assert not any(j.find("child").get("link") == eef.get("parent_link")
                   for j in urdf.findall("joint") if j.get("name") in groups[eef.get("group")])


def _grasp(q, frame="camera"):
    from semg_grasp_ros.hand.model import FINGER_JOINTS
    from semg_grasp_ros.types import HandGrasp, Header, Pose

    return HandGrasp(Header(1_500_000_000, frame), "cylindrical", Pose([0.1, 0.0, 0.5], [0.0, 0.0, 0.6, 0.8]),
                     FINGER_JOINTS, q, score=0.7)


def test_moveit_grasp_carries_the_controllers_preshape_grasp_and_approach():
    import numpy as np

    from semg_grasp_ros.grasp.representation import SPECS
    from semg_grasp_ros.hand.model import FINGER_JOINTS, PALM_NORMAL, couple
    from semg_grasp_ros.hand.trajectory import TrajectoryConfig
    from semg_grasp_ros.types import HandGrasp
    from semg_grasp_ros.pipeline.moveit_grasp import EEF_PARENT_LINK, moveit_grasp

    lower, upper = np.full(22, -0.2), np.full(22, 1.2)
    q = np.linspace(-0.5, 1.5, 22)  # beyond both limits at the ends
    q_open = np.zeros(22)
    cfg = TrajectoryConfig(preshape=0.25, approach_distance=0.06)
    g = moveit_grasp(_grasp(q), q_open, lower, upper, cfg, allowed_touch_objects=("object",))
    q_clamped = couple(np.clip(q, lower, upper))  # J1 = J2: the postures the hand can take
    closed, squeezed = g.grasp_posture.points  # a grasp without postures: held, opened copy as pregrasp
    preshape, pre = g.pre_grasp_posture.points
    np.testing.assert_allclose(closed.positions, q_clamped)
    np.testing.assert_allclose(squeezed.positions, q_clamped)
    np.testing.assert_allclose(pre.positions, 0.25 * q_clamped)  # q_open = 0
    type_preshape = couple(np.clip(SPECS["cylindrical"].preshape_vector(), lower, upper))
    np.testing.assert_allclose(preshape.positions, couple(np.clip(0.25 * type_preshape, lower, upper)))
    assert g.grasp_posture.joint_names == g.pre_grasp_posture.joint_names == FINGER_JOINTS
    assert 0 < closed.time_from_start_ns < squeezed.time_from_start_ns
    # a grasp with its postures: pre-shape -> pregrasp -> grasp -> squeeze
    q_pre, q_sq = q_clamped - 0.05, q_clamped + 0.05
    full = _grasp(q)
    full = HandGrasp(full.header, full.grasp_type, full.wrist_pose, full.joint_names, full.joint_positions,
                     full.score, pregrasp_positions=q_pre, squeeze_positions=q_sq)
    g2 = moveit_grasp(full, q_open, lower, upper, cfg)
    np.testing.assert_allclose(g2.pre_grasp_posture.points[1].positions, np.clip(q_pre, lower, upper))
    np.testing.assert_allclose(g2.grasp_posture.points[1].positions, np.clip(q_sq, lower, upper))
    assert g.grasp_pose.header.frame_id == "camera" and g.grasp_pose.header.stamp_ns == 1_500_000_000
    np.testing.assert_allclose(g.grasp_pose.pose.position, [0.1, 0.0, 0.5])
    np.testing.assert_allclose(g.grasp_pose.pose.orientation, [0.0, 0.0, 0.6, 0.8])
    assert g.pre_grasp_approach.frame_id == g.post_grasp_retreat.frame_id == EEF_PARENT_LINK == "rh_palm"
    np.testing.assert_allclose(g.pre_grasp_approach.direction, PALM_NORMAL)
    np.testing.assert_allclose(g.post_grasp_retreat.direction, -PALM_NORMAL)
    assert g.pre_grasp_approach.desired_distance == 0.06 and g.pre_grasp_approach.min_distance == 0.03
    assert g.grasp_quality == pytest.approx(0.7) and g.id == "cylindrical_1500000000"
    assert g.allowed_touch_objects == ("object",)


def test_moveit_grasp_refuses_unknown_joints():
    import numpy as np

    from semg_grasp_ros.errors import DataError
    from semg_grasp_ros.pipeline.moveit_grasp import moveit_grasp
    from semg_grasp_ros.types import HandGrasp, Header, Pose

    bad = HandGrasp(Header(0, "camera"), "cylindrical", Pose(), ("rh_FFJ4", "rh_XXJ9"), np.zeros(2))
    with pytest.raises(DataError):
        moveit_grasp(bad, np.zeros(22), np.full(22, -1.0), np.ones(22))


# moveit_msgs/msg/Grasp and GripperTranslation (MoveIt, humble branch), field by field.
MOVEIT_MSGS = {
    "moveit_msgs/msg/GripperTranslation":
        "geometry_msgs/Vector3Stamped direction\nfloat32 desired_distance\nfloat32 min_distance\n",
    "moveit_msgs/msg/Grasp":
        "string id\ntrajectory_msgs/JointTrajectory pre_grasp_posture\ntrajectory_msgs/JointTrajectory grasp_posture\n"
        "geometry_msgs/PoseStamped grasp_pose\nfloat64 grasp_quality\nGripperTranslation pre_grasp_approach\n"
        "GripperTranslation post_grasp_retreat\nGripperTranslation post_place_retreat\nfloat32 max_contact_force\n"
        "string[] allowed_touch_objects\n",
}


def test_grasp_message_fills_every_moveit_field_and_survives_cdr():
    import numpy as np
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from semg_grasp_ros.msgs.typestore import RosbagsFactory
    from semg_grasp_ros.msgs.convert import to_msg
    from semg_grasp_ros.pipeline.moveit_grasp import moveit_grasp

    store = get_typestore(Stores.ROS2_HUMBLE)
    for name, text in MOVEIT_MSGS.items():
        store.register(get_types_from_msg(text, name))
    g = moveit_grasp(_grasp(np.full(22, 0.4)), np.zeros(22), np.full(22, -1.0), np.full(22, 1.5))
    msg = to_msg(g, RosbagsFactory(store))
    back = store.deserialize_cdr(store.serialize_cdr(msg, "moveit_msgs/msg/Grasp"), "moveit_msgs/msg/Grasp")
    assert back.id == g.id and back.grasp_pose.header.frame_id == "camera"
    assert back.grasp_pose.header.stamp.sec == 1 and back.grasp_pose.header.stamp.nanosec == 500_000_000
    np.testing.assert_allclose(back.grasp_posture.points[0].positions, 0.4)
    np.testing.assert_allclose(back.pre_grasp_posture.points[-1].positions, 0.3 * 0.4)  # the pregrasp
    assert back.pre_grasp_approach.direction.header.frame_id == "rh_palm"
    assert back.pre_grasp_approach.direction.vector.y == -1.0 and back.post_grasp_retreat.direction.vector.y == 1.0
    assert back.pre_grasp_approach.desired_distance == pytest.approx(0.08)
    assert back.post_place_retreat.desired_distance == 0.0


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_yaml_values_have_the_parameter_types_rclpy_declares(path):
    """rclpy fixes a parameter's type from its default: a YAML ``5`` for a float parameter
    (or ``5.0`` for an integer one) stops the node at start-up."""
    name, config_cls, _ = _node_spec(path)
    params = _flat(read_parameters(name))
    for n, f, default in flat_fields(config_cls):
        assert default is not None and default != (), f"{config_cls.__name__}: {n} has no typed ROS default"
        if n not in params:
            continue
        value = params[n]
        if isinstance(default, tuple):
            assert isinstance(value, list) and value, f"config/{name}.yaml {n} must be a non-empty list"
            assert {type(v) for v in value} == {type(d) for d in default}, f"config/{name}.yaml {n}"
        else:
            assert type(value) is type(default), f"config/{name}.yaml {n}: {value!r} vs default {default!r}"


def test_candidate_pose_array_keeps_the_ranking_and_the_frame():
    import numpy as np

    from semg_grasp_ros.hand.model import FINGER_JOINTS
    from semg_grasp_ros.msgs.typestore import RosbagsFactory
    from semg_grasp_ros.ros.convert import pose_array
    from semg_grasp_ros.types import HandGrasp, HandGraspArray, Header, Pose

    header = Header(7, "camera")
    grasps = tuple(HandGrasp(header, "tip", Pose([0.01 * k, 0, 0.5]), FINGER_JOINTS, np.zeros(22)) for k in range(3))
    msg = pose_array(HandGraspArray(header, grasps), RosbagsFactory())
    assert msg.header.frame_id == "camera" and msg.header.stamp.nanosec == 7
    assert [p.position.x for p in msg.poses] == [0.0, 0.01, 0.02]


def test_rviz_config_subscribes_to_pipeline_topics_with_matching_qos():
    """Each display of config/pipeline.rviz reads a topic of the table with compatible QoS (a
    reliable subscriber gets nothing from a best-effort publisher; a volatile one misses the
    latched state published before RViz started)."""
    import yaml

    rviz = yaml.safe_load((ROS_DIR.parents[1] / "config" / "pipeline.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    classes = {d["Class"].split("/")[-1] for d in displays}
    assert {"RobotModel", "TF", "PointCloud2", "Marker", "PoseArray", "Pose"} <= classes
    qos_of = {name: t.qos for name, t in TOPICS.items()}
    from semg_grasp_ros.topics import ROS_ONLY_TOPICS

    qos_of.update({name: t.qos for name, t in ROS_ONLY_TOPICS.items()})
    expected = {"sensor": ("Best Effort", "Volatile"), "latched": ("Reliable", "Transient Local"),
                "reliable": ("Reliable", "Volatile")}
    subscribed = [d for d in displays if isinstance(d.get("Topic"), dict)]
    assert {d["Topic"]["Value"] for d in subscribed} == {"object/points", "object/marker", "grasp/candidate_poses",
                                                         "grasp/pose"}
    for d in subscribed:
        topic = d["Topic"]
        assert (topic["Reliability Policy"], topic["Durability Policy"]) == expected[qos_of[topic["Value"]]], d["Name"]


def test_the_generated_topic_and_parameter_reference_is_current():
    import importlib.util

    path = ROS_DIR.parents[1] / "docs" / "ros2_interfaces.py"
    spec = importlib.util.spec_from_file_location("ros2_interfaces_doc", path)
    doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc)
    assert doc.OUT.read_text() == doc.render(), "docs/ros2_interfaces.md is stale: run python docs/ros2_interfaces.py"
