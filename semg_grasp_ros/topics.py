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
        Topic("emg/chunks", EmgChunk, "sensor", "raw sEMG blocks from the acquisition node"),
        Topic("grasp/intent", GraspIntent, "reliable", "decoded grasp type (or rest) with confidence"),
        Topic("calibration/cue", GraspIntent, "reliable",
              "the grasp a calibration session prompts (confidence 1; rest between): the truth of its EMG"),
        Topic("object/points", PointCloud, "sensor", "depth-camera point cloud (remap to a real camera)"),
        Topic("object/sdf", ObjectSdf, "latched", "latest distance field of the segmented object"),
        Topic("object/marker", Marker, "latched", "RViz marker of the object's near-surface voxels"),
        Topic("grasp/candidates", HandGraspArray, "latched", "ranked grasp candidates, best first"),
        Topic("grasp/selected", HandGrasp, "latched", "the grasp chosen for execution"),
        Topic("joint_states", JointState, "reliable", "hand joint states for robot_state_publisher"),
        Topic("tf", TransformStamped, "reliable", "world -> hand root transform of the wrist"),
        Topic("hand/joint_trajectory", JointTrajectory, "reliable", "pre-shape, or pregrasp/approach/close/squeeze trajectory"),
        Topic("grasp/pose", PoseStamped, "latched", "wrist target pose for an arm planner"),
    )
}

#: Topics that tools of a ROS launch publish besides the pipeline's nodes (robot_state_publisher,
#: static transforms); the standalone runtime records them too, so a bag alone shows the scene.
VIEWER_TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic("tf", TfMessage, "reliable", "parent -> link transforms of every moving hand link (robot_state_publisher)"),
        Topic("tf_static", TfMessage, "latched", "fixed hand links; world -> camera and table"),
        Topic("robot_description", Text, "latched", "the hand's URDF"),
        Topic("grasp/candidate_poses", PoseArray, "latched", "wrist poses of grasp/candidates, best first"),
    )
}
