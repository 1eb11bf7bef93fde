"""The pipeline's topics: name (relative), domain type and QoS class, in one table.

Both runtimes read it: the in-process graph and the bag recorder (which stores the QoS
each topic is offered with, so ``ros2 bag play`` republishes latched topics as
transient-local), and ``semg_grasp_ros.ros.interfaces``, which turns the QoS classes
into rclpy profiles.

QoS classes: ``sensor`` = best effort, keep last 10, volatile (streams: EMG, clouds);
``latched`` = reliable, keep last 1, transient local (latest state: SDF, selected grasp);
``reliable`` = reliable, keep last 10, volatile (events and commands).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import (
    EmgChunk,
    GraspIntent,
    HandGrasp,
    HandGraspArray,
    JointState,
    JointTrajectory,
    Marker,
    ObjectSdf,
    PointCloud,
    PoseArray,
    PoseStamped,
    Text,
    TfMessage,
    TransformStamped,
)

#: Topic names (relative: namespace and remap friendly); code names topics only through these.
EMG_CHUNKS = "emg/chunks"
GRASP_INTENT = "grasp/intent"
CALIBRATION_CUE = "calibration/cue"
OBJECT_POINTS = "object/points"
OBJECT_SDF = "object/sdf"
OBJECT_MARKER = "object/marker"
GRASP_CANDIDATES = "grasp/candidates"
GRASP_SELECTED = "grasp/selected"
JOINT_STATES = "joint_states"
TF = "tf"
HAND_TRAJECTORY = "hand/joint_trajectory"
GRASP_POSE = "grasp/pose"
TF_STATIC = "tf_static"
ROBOT_DESCRIPTION = "robot_description"
CANDIDATE_POSES = "grasp/candidate_poses"
GRASP_MOVEIT = "grasp/moveit"
DIAGNOSTICS = "/diagnostics"

QOS_CLASSES = ("sensor", "latched", "reliable")


@dataclass(frozen=True)
class Topic:
    name: str
    type: type
    qos: str
    description: str


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(EMG_CHUNKS, EmgChunk, "sensor", "raw sEMG blocks from the acquisition node"),
        Topic(GRASP_INTENT, GraspIntent, "reliable", "decoded grasp type (or rest) with confidence"),
        Topic(CALIBRATION_CUE, GraspIntent, "reliable",
              "the grasp a calibration session prompts (confidence 1; rest between): the truth of its EMG"),
        Topic(OBJECT_POINTS, PointCloud, "sensor", "depth-camera point cloud (remap to a real camera)"),
        Topic(OBJECT_SDF, ObjectSdf, "latched", "latest distance field of the segmented object"),
        Topic(OBJECT_MARKER, Marker, "latched", "RViz marker of the object's near-surface voxels"),
        Topic(GRASP_CANDIDATES, HandGraspArray, "latched", "ranked grasp candidates, best first"),
        Topic(GRASP_SELECTED, HandGrasp, "latched", "the grasp chosen for execution"),
        Topic(JOINT_STATES, JointState, "reliable", "hand joint states for robot_state_publisher"),
        Topic(TF, TransformStamped, "reliable", "world -> hand root transform of the wrist"),
        Topic(HAND_TRAJECTORY, JointTrajectory, "reliable", "pre-shape, or pregrasp/approach/close/squeeze trajectory"),
        Topic(GRASP_POSE, PoseStamped, "latched", "wrist target pose for an arm planner"),
    )
}

#: Topics that tools of a ROS launch publish besides the pipeline's nodes (robot_state_publisher,
#: static transforms); the standalone runtime records them too, so a bag alone shows the scene.
VIEWER_TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(TF, TfMessage, "reliable", "parent -> link transforms of every moving hand link (robot_state_publisher)"),
        Topic(TF_STATIC, TfMessage, "latched", "fixed hand links; world -> camera and table"),
        Topic(ROBOT_DESCRIPTION, Text, "latched", "the hand's URDF"),
        Topic(CANDIDATE_POSES, PoseArray, "latched", "wrist poses of grasp/candidates, best first"),
    )
}


@dataclass(frozen=True)
class RosTopic:
    """A topic of the ROS nodes only, carrying a ROS message type with no domain type."""

    name: str
    msgtype: str
    qos: str
    description: str


#: Topics the ROS nodes publish besides ``TOPICS``: name -> ``RosTopic``.
ROS_ONLY_TOPICS: dict[str, RosTopic] = {
    t.name: t
    for t in (
        RosTopic(GRASP_MOVEIT, "moveit_msgs/msg/Grasp", "latched",
                 "accepted grasp as a MoveIt grasp: postures, palm pose, approach/retreat (hand controller)"),
        RosTopic(CANDIDATE_POSES, "geometry_msgs/msg/PoseArray", "latched",
                 "wrist poses of grasp/candidates, best first, for RViz's PoseArray display (generator)"),
        RosTopic(DIAGNOSTICS, "diagnostic_msgs/msg/DiagnosticArray", "reliable",
                 "each node's health, once per second (absolute, as diagnostic_aggregator and rqt_robot_monitor "
                 "expect)"),
    )
}
