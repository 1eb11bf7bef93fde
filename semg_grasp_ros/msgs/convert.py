"""Domain objects <-> ROS 2 message objects, by field name.

One module for both message families: ``rosbags`` classes (standalone bags) and rclpy's
generated classes (the ROS nodes). Message objects are built through a factory with
``new(msgtype, **fields)`` and ``array(values, rostype)`` (``RosbagsFactory`` here, the
rclpy one in ``semg_grasp_ros.ros.convert``); reading needs no factory, since both
families expose fields as attributes and numeric sequences as array-likes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..errors import DataError
from ..types import (
    EmgChunk,
    GraspIntent,
    GripperTranslation,
    HandGrasp,
    HandGraspArray,
    Header,
    JointState,
    JointTrajectory,
    JointTrajectoryPoint,
    Marker,
    MoveItGrasp,
    ObjectSdf,
    PointCloud,
    Pose,
    PoseArray,
    PoseStamped,
    Text,
    TfMessage,
    TransformStamped,
)

log = logging.getLogger(__name__)
#: Clouds are decoded with an even stride down to at most this many points, so a huge
#: message costs bounded memory before any component sees it.
MAX_CLOUD_POINTS = 300_000


class MessageFactory(Protocol):
    def new(self, msgtype: str, **fields: Any) -> Any: ...

    def array(self, values: Any, rostype: str) -> Any: ...


#: Domain type -> ROS message type it is carried in.
MSGTYPES: dict[type, str] = {
    EmgChunk: "semg_grasp_ros/msg/EmgChunk",
    GraspIntent: "semg_grasp_ros/msg/GraspIntent",
    ObjectSdf: "semg_grasp_ros/msg/ObjectSdf",
    HandGrasp: "semg_grasp_ros/msg/HandGrasp",
    HandGraspArray: "semg_grasp_ros/msg/HandGraspArray",
    PointCloud: "sensor_msgs/msg/PointCloud2",
    JointState: "sensor_msgs/msg/JointState",
    TransformStamped: "tf2_msgs/msg/TFMessage",
    TfMessage: "tf2_msgs/msg/TFMessage",
    Text: "std_msgs/msg/String",
    PoseArray: "geometry_msgs/msg/PoseArray",
    PoseStamped: "geometry_msgs/msg/PoseStamped",
    JointTrajectory: "trajectory_msgs/msg/JointTrajectory",
    Marker: "visualization_msgs/msg/Marker",
}


def msgtype_of(obj_or_type: Any) -> str:
    """ROS message type name (``pkg/msg/Name``) for a domain object or type."""
    cls = obj_or_type if isinstance(obj_or_type, type) else type(obj_or_type)
    try:
        return MSGTYPES[cls]
    except KeyError as exc:
        raise DataError(f"{cls.__name__} has no ROS message mapping; known: {sorted(t.__name__ for t in MSGTYPES)}") from exc


def msgtype_name(msg: Any) -> str:
    """``pkg/msg/Name`` of a message object of either family."""
    name = getattr(msg, "__msgtype__", None)
    if name:
        return name
    cls = type(msg)
    return f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}"


# --- small field helpers -------------------------------------------------------------

def _time(f: MessageFactory, ns: int) -> Any:
    return f.new("builtin_interfaces/msg/Time", sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _duration(f: MessageFactory, ns: int) -> Any:
    return f.new("builtin_interfaces/msg/Duration", sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _ns(t: Any) -> int:
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def _header(f: MessageFactory, h: Header) -> Any:
    return f.new("std_msgs/msg/Header", stamp=_time(f, h.stamp_ns), frame_id=h.frame_id)


def _from_header(m: Any) -> Header:
    return Header(_ns(m.stamp), str(m.frame_id))


def _xyz(f: MessageFactory, msgtype: str, v: np.ndarray) -> Any:
    return f.new(msgtype, x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _vec(m: Any) -> np.ndarray:
    return np.array([m.x, m.y, m.z], dtype=np.float64)


def _pose(f: MessageFactory, p: Pose) -> Any:
    q = p.orientation
    return f.new(
        "geometry_msgs/msg/Pose",
        position=_xyz(f, "geometry_msgs/msg/Point", p.position),
        orientation=f.new("geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def _from_pose(m: Any) -> Pose:
    o = m.orientation
    return Pose(_vec(m.position), np.array([o.x, o.y, o.z, o.w]))


def _arr(seq: Any, dtype) -> np.ndarray:
    return np.asarray(seq, dtype=dtype)


# --- per message type ----------------------------------------------------------------

def _emg_to(f: MessageFactory, c: EmgChunk) -> Any:
    return f.new(
        MSGTYPES[EmgChunk], header=_header(f, c.header), sample_rate=float(c.sample_rate),
        channel_names=list(c.channel_names), sample_count=c.sample_count,
        first_sample_index=int(c.first_sample_index), units=c.units, data=f.array(c.data, "float32"),
    )


def _emg_from(m: Any) -> EmgChunk:
    names = tuple(m.channel_names)
    data = _arr(m.data, np.float32)
    if data.size != int(m.sample_count) * len(names):
        raise DataError(
            f"EmgChunk has {data.size} values; expected sample_count {m.sample_count} x {len(names)} channels"
        )
    return EmgChunk(_from_header(m.header), float(m.sample_rate), names, int(m.first_sample_index),
                    data.reshape(int(m.sample_count), len(names)), str(m.units))


def _intent_to(f: MessageFactory, i: GraspIntent) -> Any:
    return f.new(
        MSGTYPES[GraspIntent], header=_header(f, i.header), grasp_type=i.grasp_type,
        class_index=int(i.class_index), confidence=float(i.confidence), class_names=list(i.class_names),
        probabilities=f.array(i.probabilities, "float32"), window_duration=float(i.window_duration),
        level=float(i.level),
    )


def _intent_from(m: Any) -> GraspIntent:
    return GraspIntent(_from_header(m.header), str(m.grasp_type), int(m.class_index), float(m.confidence),
                       tuple(m.class_names), _arr(m.probabilities, np.float32), float(m.window_duration),
                       float(getattr(m, "level", 1.0)))  # bags recorded before the field: close fully


def _sdf_to(f: MessageFactory, s: ObjectSdf) -> Any:
    nx, ny, nz = s.shape
    return f.new(
        MSGTYPES[ObjectSdf], header=_header(f, s.header), origin=_pose(f, s.origin),
        voxel_size=float(s.voxel_size), size_x=nx, size_y=ny, size_z=nz, is_signed=bool(s.is_signed),
        distances=f.array(s.distances, "float32"), centroid=_xyz(f, "geometry_msgs/msg/Point", s.centroid),
        extent=_xyz(f, "geometry_msgs/msg/Vector3", s.extent),
    )


def _sdf_from(m: Any) -> ObjectSdf:
    shape = (int(m.size_x), int(m.size_y), int(m.size_z))
    d = _arr(m.distances, np.float32)
    if d.size != shape[0] * shape[1] * shape[2]:
        raise DataError(f"ObjectSdf has {d.size} distances for a grid of {shape}")
    return ObjectSdf(_from_header(m.header), _from_pose(m.origin), float(m.voxel_size), d.reshape(shape),
                     bool(m.is_signed), _vec(m.centroid), _vec(m.extent))


def _grasp_to(f: MessageFactory, g: HandGrasp) -> Any:
    return f.new(
        MSGTYPES[HandGrasp], header=_header(f, g.header), grasp_type=g.grasp_type,
        wrist_pose=_pose(f, g.wrist_pose), joint_names=list(g.joint_names),
        joint_positions=f.array(g.joint_positions, "float64"), score=float(g.score),
        penetration_depth=float(g.penetration_depth), contact_distance=float(g.contact_distance),
        pregrasp_positions=f.array(g.pregrasp_positions, "float64"),
        squeeze_positions=f.array(g.squeeze_positions, "float64"),
        finger_penetration_depth=float(g.finger_penetration_depth),
    )


def _grasp_from(m: Any) -> HandGrasp:
    return HandGrasp(_from_header(m.header), str(m.grasp_type), _from_pose(m.wrist_pose), tuple(m.joint_names),
                     _arr(m.joint_positions, np.float64), float(m.score), float(m.penetration_depth),
                     float(m.contact_distance), _arr(m.pregrasp_positions, np.float64),
                     _arr(m.squeeze_positions, np.float64), float(m.finger_penetration_depth))


def _grasps_to(f: MessageFactory, a: HandGraspArray) -> Any:
    return f.new(MSGTYPES[HandGraspArray], header=_header(f, a.header), grasps=[_grasp_to(f, g) for g in a.grasps])


def _grasps_from(m: Any) -> HandGraspArray:
    return HandGraspArray(_from_header(m.header), tuple(_grasp_from(g) for g in m.grasps))


def _cloud_to(f: MessageFactory, c: PointCloud) -> Any:
    from ..perception.pointcloud2 import encode_pointcloud2

    enc = encode_pointcloud2(c.points, dict(c.fields) or None)
    fields = [f.new("sensor_msgs/msg/PointField", name=n, offset=o, datatype=d, count=k) for n, o, d, k in enc["fields"]]
    height, width = (c.height, c.width) if c.height > 1 else (enc["height"], enc["width"])
    return f.new(
        MSGTYPES[PointCloud], header=_header(f, c.header), height=height, width=width, fields=fields,
        is_bigendian=enc["is_bigendian"], point_step=enc["point_step"], row_step=enc["point_step"] * width,
        data=f.array(np.frombuffer(enc["data"], dtype=np.uint8), "uint8"), is_dense=enc["is_dense"],
    )


def _cloud_from(m: Any) -> PointCloud:
    from ..perception.pointcloud2 import decode_pointcloud2

    fields = [(str(p.name), int(p.offset), int(p.datatype), int(p.count)) for p in m.fields]
    points, extra = decode_pointcloud2(fields, _arr(m.data, np.uint8).tobytes(), int(m.point_step),
                                       int(m.row_step), int(m.height), int(m.width), bool(m.is_bigendian),
                                       max_points=MAX_CLOUD_POINTS)
    return PointCloud(_from_header(m.header), points, extra)


def _joints_to(f: MessageFactory, j: JointState) -> Any:
    return f.new(MSGTYPES[JointState], header=_header(f, j.header), name=list(j.name),
                 position=f.array(j.position, "float64"), velocity=f.array(j.velocity, "float64"),
                 effort=f.array(j.effort, "float64"))


def _joints_from(m: Any) -> JointState:
    return JointState(_from_header(m.header), tuple(m.name), _arr(m.position, np.float64),
                      _arr(m.velocity, np.float64), _arr(m.effort, np.float64))


def _stamped_to(f: MessageFactory, t: TransformStamped) -> Any:
    q = t.transform.orientation
    transform = f.new(
        "geometry_msgs/msg/Transform", translation=_xyz(f, "geometry_msgs/msg/Vector3", t.transform.position),
        rotation=f.new("geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )
    return f.new("geometry_msgs/msg/TransformStamped", header=_header(f, t.header),
                 child_frame_id=t.child_frame_id, transform=transform)


def _tf_to(f: MessageFactory, t: TransformStamped) -> Any:
    return f.new(MSGTYPES[TransformStamped], transforms=[_stamped_to(f, t)])


def _tfs_to(f: MessageFactory, t: TfMessage) -> Any:
    return f.new(MSGTYPES[TfMessage], transforms=[_stamped_to(f, s) for s in t.transforms])


def _stamped_from(t: Any) -> TransformStamped:
    r = t.transform.rotation
    pose = Pose(_vec(t.transform.translation), np.array([r.x, r.y, r.z, r.w]))
    return TransformStamped(_from_header(t.header), str(t.child_frame_id), pose)


def _tf_from(m: Any) -> TransformStamped | TfMessage:
    """One transform -> ``TransformStamped`` (the wrist TF); several -> ``TfMessage``."""
    if not m.transforms:
        raise DataError("TFMessage holds no transform")
    if len(m.transforms) == 1:
        return _stamped_from(m.transforms[0])
    return TfMessage(tuple(_stamped_from(t) for t in m.transforms))


def _pose_array_to(f: MessageFactory, p: PoseArray) -> Any:
    return f.new(MSGTYPES[PoseArray], header=_header(f, p.header), poses=[_pose(f, q) for q in p.poses])


def _pose_array_from(m: Any) -> PoseArray:
    return PoseArray(_from_header(m.header), tuple(_from_pose(q) for q in m.poses))


def _text_to(f: MessageFactory, t: Text) -> Any:
    return f.new(MSGTYPES[Text], data=t.data)


def _text_from(m: Any) -> Text:
    return Text(str(m.data))


def _pose_stamped_to(f: MessageFactory, p: PoseStamped) -> Any:
    return f.new(MSGTYPES[PoseStamped], header=_header(f, p.header), pose=_pose(f, p.pose))


def _pose_stamped_from(m: Any) -> PoseStamped:
    return PoseStamped(_from_header(m.header), _from_pose(m.pose))


def _trajectory_to(f: MessageFactory, t: JointTrajectory) -> Any:
    points = [
        f.new("trajectory_msgs/msg/JointTrajectoryPoint", positions=f.array(p.positions, "float64"),
              velocities=f.array(p.velocities, "float64"), time_from_start=_duration(f, p.time_from_start_ns))
        for p in t.points
    ]
    return f.new(MSGTYPES[JointTrajectory], header=_header(f, t.header), joint_names=list(t.joint_names), points=points)


def _trajectory_from(m: Any) -> JointTrajectory:
    points = tuple(
        JointTrajectoryPoint(_arr(p.positions, np.float64), _arr(p.velocities, np.float64), _ns(p.time_from_start))
        for p in m.points
    )
    return JointTrajectory(_from_header(m.header), tuple(m.joint_names), points)


def _marker_to(f: MessageFactory, mk: Marker) -> Any:
    r, g, b, a = (float(c) for c in mk.color)
    return f.new(
        MSGTYPES[Marker], header=_header(f, mk.header), ns=mk.ns, id=int(mk.id), type=int(mk.type),
        action=int(mk.action), pose=_pose(f, mk.pose), scale=_xyz(f, "geometry_msgs/msg/Vector3", mk.scale),
        color=f.new("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a),
        points=[_xyz(f, "geometry_msgs/msg/Point", p) for p in mk.points],
    )


def _marker_from(m: Any) -> Marker:
    c = m.color
    points = np.array([[p.x, p.y, p.z] for p in m.points], dtype=np.float64).reshape(-1, 3)
    return Marker(_from_header(m.header), str(m.ns), int(m.id), int(m.type), _from_pose(m.pose), _vec(m.scale),
                  np.array([c.r, c.g, c.b, c.a]), points, int(m.action))


def _translation_to(f: MessageFactory, t: GripperTranslation, stamp_ns: int) -> Any:
    direction = f.new("geometry_msgs/msg/Vector3Stamped", header=_header(f, Header(stamp_ns, t.frame_id)),
                      vector=_xyz(f, "geometry_msgs/msg/Vector3", t.direction))
    return f.new("moveit_msgs/msg/GripperTranslation", direction=direction,
                 desired_distance=float(t.desired_distance), min_distance=float(t.min_distance))


def _moveit_to(f: MessageFactory, g: MoveItGrasp) -> Any:
    """``moveit_msgs/msg/Grasp`` (a ROS-only message: published where ``moveit_msgs`` is installed,
    never recorded); no place motion (``post_place_retreat`` zero)."""
    stamp = g.grasp_pose.header.stamp_ns
    no_motion = GripperTranslation("", np.zeros(3), 0.0, 0.0)
    return f.new(
        "moveit_msgs/msg/Grasp", id=g.id, pre_grasp_posture=_trajectory_to(f, g.pre_grasp_posture),
        grasp_posture=_trajectory_to(f, g.grasp_posture), grasp_pose=_pose_stamped_to(f, g.grasp_pose),
        grasp_quality=float(g.grasp_quality), pre_grasp_approach=_translation_to(f, g.pre_grasp_approach, stamp),
        post_grasp_retreat=_translation_to(f, g.post_grasp_retreat, stamp),
        post_place_retreat=_translation_to(f, no_motion, stamp), max_contact_force=float(g.max_contact_force),
        allowed_touch_objects=list(g.allowed_touch_objects),
    )


_TO: dict[type, Callable[[MessageFactory, Any], Any]] = {
    EmgChunk: _emg_to, GraspIntent: _intent_to, ObjectSdf: _sdf_to, HandGrasp: _grasp_to,
    HandGraspArray: _grasps_to, PointCloud: _cloud_to, JointState: _joints_to, TransformStamped: _tf_to,
    PoseStamped: _pose_stamped_to, JointTrajectory: _trajectory_to, Marker: _marker_to, TfMessage: _tfs_to,
    Text: _text_to, PoseArray: _pose_array_to, MoveItGrasp: _moveit_to,
}
_FROM: dict[str, Callable[[Any], Any]] = {
    MSGTYPES[EmgChunk]: _emg_from, MSGTYPES[GraspIntent]: _intent_from, MSGTYPES[ObjectSdf]: _sdf_from,
    MSGTYPES[HandGrasp]: _grasp_from, MSGTYPES[HandGraspArray]: _grasps_from, MSGTYPES[PointCloud]: _cloud_from,
    MSGTYPES[JointState]: _joints_from, MSGTYPES[TransformStamped]: _tf_from,
    MSGTYPES[PoseStamped]: _pose_stamped_from, MSGTYPES[JointTrajectory]: _trajectory_from,
    MSGTYPES[Marker]: _marker_from, MSGTYPES[Text]: _text_from, MSGTYPES[PoseArray]: _pose_array_from,
}


def to_msg(obj: Any, factory: MessageFactory) -> Any:
    """Message object for a domain object, built with ``factory``."""
    try:
        return _TO[type(obj)](factory, obj)
    except KeyError as exc:
        raise DataError(f"{type(obj).__name__} has no ROS message mapping") from exc


def from_msg(msg: Any) -> Any:
    """Domain object for a message object of either family.

    Raises:
        DataError: the message type is not one the pipeline uses, or its arrays are
            inconsistent (e.g. ``data`` length vs ``sample_count``).
    """
    name = msgtype_name(msg)
    try:
        convert = _FROM[name]
    except KeyError as exc:
        raise DataError(f"no domain mapping for message type {name}") from exc
    try:
        return convert(msg)
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
        # a message of this name with other fields (a bag's own, different definition) or values
        raise DataError(f"malformed {name} message: {type(exc).__name__}: {exc}") from None


def supported_msgtypes() -> frozenset[str]:
    """Message types ``from_msg`` understands."""
    return frozenset(_FROM)


def from_cdr(raw: bytes, msgtype: str, deserialize: Callable[[bytes, str], Any]) -> Any:
    """Domain object of one serialized (CDR) message, as read from a bag or a socket.

    Args:
        deserialize: ``(raw, msgtype) -> message`` of a ``rosbags`` typestore or reader.

    Raises:
        DataError: the bytes are not a valid ``msgtype`` message, or its content is
            inconsistent (see ``from_msg``).
    """
    try:
        msg = deserialize(raw, msgtype)
    except Exception as exc:  # rosbags' CDR decoder raises struct, index, value and unicode errors
        raise DataError(f"malformed {msgtype} message ({len(raw)} bytes): {type(exc).__name__}: {exc}") from None
    return from_msg(msg)
