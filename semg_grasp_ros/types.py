"""Domain types: frozen dataclasses with numpy arrays, one per message that crosses a topic.

They mirror the interfaces in ``msg/`` and the standard ROS 2 messages the pipeline uses,
but carry arrays in their natural shapes (an ``EmgChunk`` holds ``(samples, channels)``,
an ``ObjectSdf`` an ``(nx, ny, nz)`` grid). ``semg_grasp_ros.msgs.convert`` maps them to
and from message objects. Times are integer nanoseconds; units SI, angles radians,
quaternions ``(x, y, z, w)`` as in ROS.

Arrays are made read-only on construction so a message shared by several subscribers
cannot be changed by one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError


def _frozen_array(value, dtype) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Header:
    """Message header: ``stamp_ns`` nanoseconds (sim or wall clock), ``frame_id`` TF frame."""

    stamp_ns: int = 0
    frame_id: str = ""

    @property
    def stamp(self) -> float:
        """Stamp in seconds."""
        return self.stamp_ns * 1e-9


@dataclass(frozen=True, eq=False)
class Pose:
    """A rigid pose: ``position`` (3,) metres, ``orientation`` (4,) unit quaternion x, y, z, w."""

    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))

    def __post_init__(self):
        p = _frozen_array(self.position, np.float64)
        q = np.array(self.orientation, dtype=np.float64)
        if p.shape != (3,) or q.shape != (4,):
            raise DataError(f"Pose needs position (3,) and orientation (4,), got {p.shape} and {q.shape}")
        norm = np.linalg.norm(q)
        if not np.isfinite(norm) or norm < 1e-9 or not np.all(np.isfinite(p)):
            raise DataError(f"Pose has a non-finite position or a zero/non-finite quaternion: {p}, {q}")
        q = q / norm
        q.setflags(write=False)
        _set(self, "position", p)
        _set(self, "orientation", q)

    def matrix(self) -> np.ndarray:
        """Homogeneous transform (4, 4)."""
        from scipy.spatial.transform import Rotation

        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(self.orientation).as_matrix()
        m[:3, 3] = self.position
        return m

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> "Pose":
        """Pose from a homogeneous transform (4, 4)."""
        from scipy.spatial.transform import Rotation

        m = np.asarray(m, dtype=np.float64)
        return cls(m[:3, 3], Rotation.from_matrix(m[:3, :3]).as_quat())


@dataclass(frozen=True, eq=False)
class EmgChunk:
    """A block of consecutive sEMG samples.

    Attributes:
        header: stamp = time of the first sample.
        sample_rate: Hz.
        channel_names: one name per channel.
        first_sample_index: running index of the first sample since the stream began,
            so receivers can detect gaps (``next = first_sample_index + sample_count``).
        data: (sample_count, n_channels) float32, sample-major, in ``units``.
        units: physical unit of ``data`` (``"V"`` for volts, ``"raw"`` for ADC counts).
    """

    header: Header
    sample_rate: float
    channel_names: tuple[str, ...]
    first_sample_index: int
    data: np.ndarray
    units: str = "V"

    def __post_init__(self):
        data = _frozen_array(self.data, np.float32)
        names = tuple(self.channel_names)
        if data.ndim != 2 or data.shape[1] != len(names):
            raise DataError(
                f"EmgChunk data must be (samples, {len(names)} channels), got shape {data.shape}"
            )
        if not self.sample_rate > 0:
            raise DataError(f"EmgChunk sample_rate must be positive, got {self.sample_rate}")
        _set(self, "data", data)
        _set(self, "channel_names", names)

    @property
    def sample_count(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Seconds covered by the chunk."""
        return self.sample_count / self.sample_rate

    @property
    def next_sample_index(self) -> int:
        return self.first_sample_index + self.sample_count


@dataclass(frozen=True, eq=False)
class GraspIntent:
    """A decoded grasp intent.

    Attributes:
        header: stamp = time of the last sample of the deciding window.
        grasp_type: a class name from ``class_names`` or ``"rest"``.
        class_index: index into ``class_names``; -1 for rest or a rejected decision.
        confidence: probability of the decision in [0, 1].
        class_names: the classifier's classes.
        probabilities: (n_classes,) float32 posterior per class.
        window_duration: seconds of signal in the deciding window.
        level: contraction level in [0, 1] for proportional closing (the EMG envelope above the
            user's rest, normalised by their strongest calibration contraction); 1 = close fully
            (also the value of intents recorded before the field existed).
    """

    header: Header
    grasp_type: str
    class_index: int
    confidence: float
    class_names: tuple[str, ...]
    probabilities: np.ndarray
    window_duration: float
    level: float = 1.0

    def __post_init__(self):
        probs = _frozen_array(self.probabilities, np.float32)
        names = tuple(self.class_names)
        if probs.shape != (len(names),):
            raise DataError(f"GraspIntent probabilities {probs.shape} do not match {len(names)} classes")
        if not -1 <= self.class_index < len(names):
            raise DataError(f"GraspIntent class_index {self.class_index} out of range for {len(names)} classes")
        if not 0.0 <= self.level <= 1.0:
            raise DataError(f"GraspIntent level {self.level} outside [0, 1]")
        _set(self, "probabilities", probs)
        _set(self, "class_names", names)

    @property
    def is_rest(self) -> bool:
        return self.class_index < 0


@dataclass(frozen=True, eq=False)
class ObjectSdf:
    """A distance field on a regular grid around an object.

    Attributes:
        header: frame of the grid.
        origin: pose of the corner voxel centre (index 0, 0, 0); grid axes are the
            origin's rotated x, y, z.
        voxel_size: metres between voxel centres.
        distances: (nx, ny, nz) float32 metres, C order (x slowest).
        is_signed: negative inside the object when True; unsigned otherwise.
        centroid: (3,) object centroid in the header frame, metres.
        extent: (3,) object bounding-box size, metres.
    """

    header: Header
    origin: Pose
    voxel_size: float
    distances: np.ndarray
    is_signed: bool
    centroid: np.ndarray
    extent: np.ndarray

    def __post_init__(self):
        d = _frozen_array(self.distances, np.float32)
        if d.ndim != 3:
            raise DataError(f"ObjectSdf distances must be 3-D, got shape {d.shape}")
        if not self.voxel_size > 0:
            raise DataError(f"ObjectSdf voxel_size must be positive, got {self.voxel_size}")
        _set(self, "distances", d)
        _set(self, "centroid", _frozen_array(self.centroid, np.float64))
        _set(self, "extent", _frozen_array(self.extent, np.float64))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.distances.shape)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class HandGrasp:
    """A ShadowHand grasp.

    Attributes:
        header: frame in which ``wrist_pose`` is given.
        grasp_type: one of ``GRASP_TYPES``.
        wrist_pose: pose of the hand root link in the header frame.
        joint_names: finger joint names (Shadow convention, ``rh_FFJ4`` ...).
        joint_positions: (n_joints,) float64 radians.
        score: ranking score, higher is better.
        penetration_depth: metres (max depth of hand into the object, >= 0).
        contact_distance: metres (mean distance of the type's contact points to the surface).
        pregrasp_positions: (n_joints,) float64 radians, the posture before the grasp (opened,
            at ``wrist_pose``), or empty (0,) when not given.
        squeeze_positions: (n_joints,) float64 radians, the posture after it (closed further
            onto the contacts), or empty (0,) when not given.
        finger_penetration_depth: metres (deepest overlap of fingers of different digits, >= 0).
    """

    header: Header
    grasp_type: str
    wrist_pose: Pose
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    score: float = 0.0
    penetration_depth: float = 0.0
    contact_distance: float = 0.0
    pregrasp_positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    squeeze_positions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    finger_penetration_depth: float = 0.0

    def __post_init__(self):
        names = tuple(self.joint_names)
        for attr in ("joint_positions", "pregrasp_positions", "squeeze_positions"):
            q = _frozen_array(getattr(self, attr), np.float64)
            if q.shape != (len(names),) and not (attr != "joint_positions" and q.size == 0):
                raise DataError(f"HandGrasp has {len(names)} joint names but {attr} of shape {q.shape}")
            if not np.all(np.isfinite(q)):
                raise DataError(f"HandGrasp {attr} contain NaN or inf")
            _set(self, attr, q.reshape(-1))
        _set(self, "joint_names", names)


@dataclass(frozen=True, eq=False)
class HandGraspArray:
    """Ranked grasp candidates, best first."""

    header: Header
    grasps: tuple[HandGrasp, ...]

    def __post_init__(self):
        _set(self, "grasps", tuple(self.grasps))


@dataclass(frozen=True, eq=False)
class PointCloud:
    """A point cloud (the domain side of ``sensor_msgs/PointCloud2``).

    Attributes:
        header: frame of the points.
        points: (N, 3) float32 metres; may contain NaN for organised clouds.
        fields: extra per-point fields, name -> (N,) array (e.g. ``intensity``, ``rgb``).
        height, width: organised layout (``height * width == N``); ``height == 1`` when
            unorganised.
    """

    header: Header
    points: np.ndarray
    fields: dict = field(default_factory=dict)
    height: int = 1
    width: int = -1

    def __post_init__(self):
        pts = _frozen_array(self.points, np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise DataError(f"PointCloud points must be (N, 3), got {pts.shape}")
        width = pts.shape[0] if self.width < 0 else self.width
        if self.height * width != pts.shape[0]:
            raise DataError(f"PointCloud {self.height}x{width} does not match {pts.shape[0]} points")
        fields = {k: _frozen_array(v, np.asarray(v).dtype) for k, v in self.fields.items()}
        for k, v in fields.items():
            if v.shape[0] != pts.shape[0]:
                raise DataError(f"PointCloud field {k!r} has {v.shape[0]} values for {pts.shape[0]} points")
        _set(self, "points", pts)
        _set(self, "fields", fields)
        _set(self, "width", width)


@dataclass(frozen=True, eq=False)
class JointState:
    """``sensor_msgs/JointState``: positions (rad), velocities (rad/s), efforts (N m)."""

    header: Header
    name: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    effort: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        names = tuple(self.name)
        for attr in ("position", "velocity", "effort"):
            arr = _frozen_array(getattr(self, attr), np.float64)
            if arr.size not in (0, len(names)):
                raise DataError(f"JointState {attr} has {arr.size} values for {len(names)} joints")
            _set(self, attr, arr)
        _set(self, "name", names)


@dataclass(frozen=True, eq=False)
class TransformStamped:
    """A TF transform: ``child_frame_id`` expressed in ``header.frame_id``."""

    header: Header
    child_frame_id: str
    transform: Pose


@dataclass(frozen=True, eq=False)
class TfMessage:
    """``tf2_msgs/TFMessage`` with several transforms (the links of a robot at one time).

    A message holding one transform is read back as a ``TransformStamped``."""

    transforms: tuple[TransformStamped, ...]

    def __post_init__(self):
        _set(self, "transforms", tuple(self.transforms))


@dataclass(frozen=True)
class Text:
    """``std_msgs/String``: e.g. the URDF on ``robot_description``."""

    data: str


@dataclass(frozen=True, eq=False)
class PoseStamped:
    """``geometry_msgs/PoseStamped``."""

    header: Header
    pose: Pose


@dataclass(frozen=True, eq=False)
class PoseArray:
    """``geometry_msgs/PoseArray``: e.g. the wrist poses of the grasp candidates, best first."""

    header: Header
    poses: tuple[Pose, ...]

    def __post_init__(self):
        _set(self, "poses", tuple(self.poses))

    @classmethod
    def of_candidates(cls, candidates: "HandGraspArray") -> "PoseArray":
        """The candidates' wrist poses (RViz and Foxglove have no display for ``HandGraspArray``)."""
        return cls(candidates.header, tuple(g.wrist_pose for g in candidates.grasps))


@dataclass(frozen=True, eq=False)
class JointTrajectoryPoint:
    """One waypoint: positions (rad), velocities (rad/s), time from the trajectory start (ns)."""

    positions: np.ndarray
    velocities: np.ndarray
    time_from_start_ns: int

    def __post_init__(self):
        _set(self, "positions", _frozen_array(self.positions, np.float64))
        _set(self, "velocities", _frozen_array(self.velocities, np.float64))


@dataclass(frozen=True, eq=False)
class JointTrajectory:
    """``trajectory_msgs/JointTrajectory``."""

    header: Header
    joint_names: tuple[str, ...]
    points: tuple[JointTrajectoryPoint, ...]

    def __post_init__(self):
        _set(self, "joint_names", tuple(self.joint_names))
        _set(self, "points", tuple(self.points))
        for p in self.points:
            if p.positions.shape != (len(self.joint_names),):
                raise DataError(
                    f"JointTrajectory point has {p.positions.shape} positions for {len(self.joint_names)} joints"
                )


@dataclass(frozen=True)
class GripperTranslation:
    """``moveit_msgs/GripperTranslation``: a straight motion of the end effector (``direction``: (3,)
    unit vector in ``frame_id``; ``desired_distance``, ``min_distance``: metres, the motion fails
    below the minimum)."""

    frame_id: str
    direction: np.ndarray
    desired_distance: float
    min_distance: float


@dataclass(frozen=True, eq=False)
class MoveItGrasp:
    """``moveit_msgs/Grasp``: an accepted grasp for MoveIt pick pipelines (the hand controller's,
    ``pipeline.moveit_grasp`` says what each field holds here)."""

    id: str
    pre_grasp_posture: JointTrajectory
    grasp_posture: JointTrajectory
    grasp_pose: PoseStamped
    grasp_quality: float
    pre_grasp_approach: GripperTranslation
    post_grasp_retreat: GripperTranslation
    max_contact_force: float = 0.0
    allowed_touch_objects: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Marker:
    """A subset of ``visualization_msgs/Marker`` used for RViz displays.

    ``type`` uses the ROS constants (e.g. 1 CUBE, 7 SPHERE_LIST, 8 POINTS);
    ``points`` (N, 3) metres; ``color`` (4,) RGBA in [0, 1]; ``scale`` (3,) metres.
    """

    header: Header
    ns: str
    id: int
    type: int
    pose: Pose = field(default_factory=Pose)
    scale: np.ndarray = field(default_factory=lambda: np.ones(3))
    color: np.ndarray = field(default_factory=lambda: np.array([0.2, 0.6, 1.0, 1.0]))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    action: int = 0

    ARROW, CUBE, SPHERE, CYLINDER, LINE_STRIP, LINE_LIST, CUBE_LIST, SPHERE_LIST, POINTS = range(9)
    ADD, DELETE = 0, 2

    def __post_init__(self):
        _set(self, "scale", _frozen_array(self.scale, np.float64))
        _set(self, "color", _frozen_array(self.color, np.float32))
        pts = _frozen_array(self.points, np.float64).reshape(-1, 3)
        _set(self, "points", pts)
