"""ROS tier: each launch file is loaded by the real launch system with its arguments, and run
(without RViz, and without robot_state_publisher where it is not installed) until its topics
flow: pipeline.launch.py with the simulated user and camera, replay.launch.py with a session
recorded standalone by ``semg-grasp record``, display.launch.py with robot_state_publisher."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
launch = pytest.importorskip("launch")
pytestmark = pytest.mark.ros

from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"
PIPELINE_NODES = ["emg_acquisition", "grasp_classifier", "depth_camera_sim", "object_sdf", "grasp_diffusion",
                  "hand_controller"]


def _installed(package: str) -> bool:
    return subprocess.run(["ros2", "pkg", "prefix", package], capture_output=True).returncode == 0


def _ros2_bag() -> bool:
    return subprocess.run(["ros2", "bag", "--help"], capture_output=True).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def installed_package():
    if not _installed("semg_grasp_ros"):
        pytest.skip("semg_grasp_ros is not installed in the sourced ROS 2 workspace")


@contextmanager
def _launched(*args):
    proc = subprocess.Popen(["ros2", "launch", "semg_grasp_ros", *args], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: launch and its nodes
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        assert "Traceback" not in out, out[-4000:]
        time.sleep(1)


def _wait_for_nodes(names, timeout: float = 180.0) -> None:
    """Until every node in ``names`` is up (importing torch and loading models takes a while)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(["ros2", "node", "list"], capture_output=True, text=True).stdout.split()
        if all(f"/{n}" in listed for n in names):
            return
        time.sleep(2.0)
    raise AssertionError(f"nodes {names} not all up after {timeout:.0f} s: {listed}")


def _echo_once(topic: str, timeout: float = 60.0) -> str:
    out = subprocess.run(["ros2", "topic", "echo", "--once", "--no-arr", topic], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0 and out.stdout.strip(), f"nothing on {topic}: {out.stderr[-2000:]}"
    return out.stdout


def _ros2(*args, stderr: bool = True) -> str:
    """What a ``ros2`` command prints: stdout, then stderr (``ros2 param set`` reports a refusal there)
    unless ``stderr`` is False, for output that is parsed (a middleware may log warnings on stderr,
    e.g. Cyclone DDS on an interface without multicast)."""
    out = subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=60)
    return out.stdout + (out.stderr if stderr else "")


@pytest.mark.parametrize("name", ["pipeline.launch.py", "replay.launch.py", "display.launch.py"])
def test_launch_file_loads_and_describes_every_argument(name):
    desc = PythonLaunchDescriptionSource(str(LAUNCH_DIR / name)).get_launch_description(launch.LaunchContext())
    args = desc.get_launch_arguments()
    assert args and all(a.description and a.description != "no description given" for a in args)


def test_pipeline_launch_runs_and_publishes():
    with _launched("pipeline.launch.py", "use_rviz:=false", "use_robot_state_publisher:=false"):
        _wait_for_nodes(PIPELINE_NODES)
        for topic in ("/emg/chunks", "/object/points", "/object/sdf", "/object/marker", "/grasp/intent",
                      "/joint_states", "/diagnostics"):
            _echo_once(topic)
        assert _ros2("lifecycle", "get", "/emg_acquisition").startswith("active")
        assert "read-only" in _ros2("param", "set", "/grasp_classifier", "decoder.stride_ms", "40.0")
        assert "successful" in _ros2("param", "set", "/grasp_classifier", "decoder.debounce", "3")
        assert _ros2("param", "get", "/grasp_classifier", "decoder.debounce", stderr=False).split()[-1] == "3"


@pytest.mark.parametrize("player", ["ros2bag", "node"])
def test_replay_launch_feeds_a_standalone_recording_to_the_classifier(tmp_path, player):
    if player == "ros2bag" and not _ros2_bag():
        pytest.skip("ros2 bag (rosbag2) is not installed")
    bag = tmp_path / "session"
    subprocess.run([sys.executable, "-m", "semg_grasp_ros.cli", "record", "--out", str(bag), "--duration", "8",
                    "--script", "rest:3,cylindrical:5", "--model", "female_1"], check=True, capture_output=True)
    loop = ["loop:=true"] if player == "ros2bag" else []  # the node plays the bag once
    with _launched("replay.launch.py", f"bag:={bag}", f"player:={player}", "start_delay:=20.0", *loop,
                   "use_rviz:=false", "use_robot_state_publisher:=false", "use_sim_camera:=false"):
        out = subprocess.run(["ros2", "topic", "echo", "--once", "--no-arr", "/grasp/intent",
                              "semg_grasp_ros/msg/GraspIntent"], capture_output=True, text=True, timeout=180)
        assert "grasp_type:" in out.stdout and "class_names:" in out.stdout, out.stderr[-2000:]


def test_display_launch_publishes_the_hand_description():
    if not _installed("robot_state_publisher"):
        pytest.skip("robot_state_publisher is not installed")
    with _launched("display.launch.py", "use_rviz:=false"):
        _wait_for_nodes(["robot_state_publisher"])
        _echo_once("/robot_description")
        description = _ros2("param", "get", "/robot_state_publisher", "robot_description")  # echo truncates
        assert "rh_palm" in description and "package://semg_grasp_ros/urdf/meshes/palm.stl" in description
