"""Without ROS: every node's parameters, topics and types agree with the component's
config dataclass, ``config/<node>.yaml``, ``topics.TOPICS`` and the msg files, so a
renamed field, parameter or topic fails here and not first on a robot."""

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from semg_grasp_ros.config import build_config, read_parameters
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


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_parameters_match_config_and_yaml(path):
    name, config_cls, _ = _node_spec(path)
    assert path.stem == f"{name}_node"
    params = read_parameters(name)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    assert set(params) == set(fields), f"config/{name}.yaml and {config_cls.__name__} differ"
    for f in fields.values():
        assert f.metadata.get("description"), f"{config_cls.__name__}.{f.name} has no description"
    build_config(config_cls, params)  # the shipped YAML is valid


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_topics_and_types_match_the_topic_table(path):
    _, config_cls, comp_cls = _node_spec(path)
    ports_src = ast.parse(Path(importlib.import_module(comp_cls.__module__).__file__).read_text())
    # Topics are string constants in the component's module; check every one it declares exists.
    declared = {n.value for n in ast.walk(ports_src) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and n.value in TOPICS}
    assert declared, f"{comp_cls.__name__} names no topic of topics.TOPICS"
    for topic in declared:
        assert TOPICS[topic].type in MSGTYPES
