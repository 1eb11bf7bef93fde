"""A session on a Rerun timeline: the sEMG, the decisions, the scene and the moving hand.

``SessionView.log(topic, obj, stamp_ns)`` takes the pipeline's messages (from a bag with
``view_bag``, or live from a graph's tap) and writes a Rerun recording on the timeline
``time`` (the messages' receive stamps):

* ``emg/<channel>``: both sEMG channels, every sample (scalars, volts);
* ``intent/probability/<type>`` and ``intent/confidence`` (scalars), ``intent/decision`` (text on
  each change of the decided type), ``grasp/selected`` (text: type, score, penetration);
* ``world/...``: the session's TF tree, each frame an entity under its parent (``tf_static``:
  world -> camera, table and the hand's fixed links; ``tf``: the wrist and every moving hand link,
  as robot_state computed them with the project's kinematics from the joint states): the
  camera's cloud (coloured by depth), the field's near-surface voxels and box, the candidates'
  wrist poses (arrows along their x axis), the selected wrist pose (axes), and the hand, each
  link drawn as its visual mesh (``hand.meshes``: forearm, palm, phalanges) or else its URDF
  collision shapes (``robot_description``). A bag with joint states but no TF of the hand links
  has them placed by ``HandKinematics.joint_transforms`` here.

Columns (sEMG, probabilities, transforms) are buffered and sent by ``flush`` (at the end of a
bag, or every step of a live session); a frame waits there until its ancestors reach ``world``.
Reading a bag for the view imports neither torch nor scipy (only the kinematics fallback does):
importing them would take most of the time of ``view --save``. Rerun (``rerun-sdk``) is an
optional extra: ``pip install semg_grasp_ros[view]``; without it a ``ConfigError`` says so.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import numpy as np

from .. import GRASP_TYPES
from ..errors import ConfigError
from ..topics import (
    CANDIDATE_POSES,
    EMG_CHUNKS,
    GRASP_INTENT,
    GRASP_SELECTED,
    JOINT_STATES,
    OBJECT_MARKER,
    OBJECT_POINTS,
    ROBOT_DESCRIPTION,
    TF,
    TF_STATIC,
)
from ..types import (
    EmgChunk,
    GraspIntent,
    HandGrasp,
    JointState,
    Marker,
    PointCloud,
    PoseArray,
    Text,
    TfMessage,
    TransformStamped,
)
from .robot_state import ROOT_VARIANTS, WORLD_FRAME
from .viewer import start_viewer

log = logging.getLogger(__name__)

TIMELINE = "time"
APPLICATION_ID = "semg_grasp_ros"
#: clouds are drawn with at most this many points (an even stride): a 640x480 camera's view
#: of an object on a table reads the same with a sixth of its points, and loads faster
MAX_VIEW_POINTS = 12_000
HAND_RGBA = (184, 189, 204, 255)
VOXEL_RGBA = (26, 204, 77, 255)
CANDIDATE_RGBA = (255, 26, 0, 255)
INSTALL_HINT = "pip install semg_grasp_ros[view]"


def import_rerun():
    """The ``rerun`` module, or a ConfigError naming the extra that installs it."""
    try:
        import rerun
    except ImportError as exc:
        raise ConfigError(f"the session view needs the optional package 'rerun-sdk': {INSTALL_HINT} ({exc})") from exc
    return rerun


def blueprint():
    """The layout: the 3D scene on the left; the sEMG, the intent's probabilities and the decisions on the right."""
    rrb = import_rerun().blueprint
    return rrb.Blueprint(rrb.Horizontal(
        rrb.Spatial3DView(origin=WORLD_FRAME, name="scene"),
        rrb.Vertical(rrb.TimeSeriesView(origin="emg", name="sEMG (V)"),
                     rrb.TimeSeriesView(origin="intent", name="intent: probabilities and confidence"),
                     rrb.TextLogView(origin="/", name="decisions and grasps")),
        column_shares=[3, 2]), collapse_panels=True)


def _times(rr, stamps_ns) -> object:
    return rr.TimeColumn(TIMELINE, timestamp=np.asarray(stamps_ns, dtype=np.int64).astype("datetime64[ns]"))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals: the area-weighted sum of the normals of the faces around
    each vertex (``vertices`` (V, 3), ``faces`` (F, 3) counter-clockwise seen from outside)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    face_n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 x area
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], face_n)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _link_mesh(link: str, shapes) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(vertices (V, 3), faces (F, 3), normals (V, 3)) of a link's visual mesh (``hand.meshes``)
    or else of its collision ``shapes`` (``hand.kinematics.CollisionShape``s), in its frame;
    None for a link with neither."""
    from ..hand.meshes import LINK_MESHES, all_meshes

    if link in LINK_MESHES:
        v, f = all_meshes()[LINK_MESHES[link]]
        return v, f, vertex_normals(v, f)
    if not shapes:
        return None
    import trimesh  # only for links without a visual mesh (its import costs about a second)

    parts = []
    for shape in shapes:
        if shape.kind == "box":
            mesh = trimesh.creation.box(extents=shape.size)
        elif shape.kind == "sphere":
            mesh = trimesh.creation.icosphere(subdivisions=2, radius=shape.size[0])
        else:
            mesh = trimesh.creation.cylinder(radius=shape.size[0], height=shape.size[1], sections=16)
        mesh.apply_transform(shape.origin)
        parts.append(mesh)
    mesh = trimesh.util.concatenate(parts)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces), np.asarray(mesh.vertex_normals)


class SessionView:
    """Writes a session's messages to a Rerun recording (see the module docstring).

    Args:
        recording: a ``rerun.RecordingStream`` with its sinks set (a file, a viewer).
        root_link: the hand controller's wrist TF child (``rh_palm`` or ``rh_forearm``): picks the
            URDF of the kinematics when the session has joint states but no TF of the hand links
            (unless a wrist TF names the root).
    """

    def __init__(self, recording, root_link: str = "rh_palm"):
        if root_link not in ROOT_VARIANTS:
            raise ConfigError(f"root_link {root_link!r}: expected one of {sorted(ROOT_VARIANTS)}")
        self.rr = import_rerun()
        self.rec = recording
        self.root_link = root_link
        self._parent_frame: dict[str, str] = {}  # TF child -> parent
        self._paths: dict[str, str] = {WORLD_FRAME: WORLD_FRAME}  # frames whose ancestors reach world
        self._static: dict[str, object] = {}  # child -> static Transform3D waiting for its frame's place
        self._tf: dict[str, list] = defaultdict(list)  # child -> [(stamp, Pose)] not sent yet
        self._drawn: set[str] = set()  # frames whose mesh is logged (or that have none)
        self.link_tf = False  # TF messages of several transforms seen (robot_state's hand links)
        self.last_tf: TfMessage | None = None  # the latest of them
        self._wrist_child: str | None = None  # the hand's root link, as the wrist TF names it
        self._urdf: str | None = None
        self._collision_links: frozenset[str] = frozenset()
        self._shapes: list | None = None
        self._emg: list[tuple[int, EmgChunk]] = []
        self._intents: list[tuple[int, GraspIntent]] = []
        self._joints: list[tuple[int, JointState]] = []
        self._last_decision: str | None = None
        self.counts: dict[str, int] = defaultdict(int)
        self.rec.log(WORLD_FRAME, self.rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)

    # --- the TF tree as entity paths ------------------------------------------------------

    def _path(self, frame: str, final: bool = False) -> str | None:
        """Entity path of a TF frame, its ancestors' frames from world; None while the chain
        stops at a frame of unknown parent (with ``final``, that frame hangs under world)."""
        if frame in self._paths:
            return self._paths[frame]
        chain = [frame]
        while chain[-1] in self._parent_frame and len(chain) <= len(self._parent_frame):
            chain.append(self._parent_frame[chain[-1]])
            if chain[-1] in self._paths:
                path = "/".join([self._paths[chain[-1]], *reversed(chain[:-1])])
                self._paths[frame] = path
                return path
        return "/".join([WORLD_FRAME, *reversed(chain)]) if final else None

    def _frame_path(self, frame: str) -> str:
        """Where things seen in ``frame`` go now (under world while its place is unknown)."""
        return self._path(frame, final=True)

    def _transform(self, t: TransformStamped, stamp_ns: int | None = None) -> None:
        """A TF transform: static (``stamp_ns`` None) or at ``stamp_ns``; placed by ``_place``."""
        child = t.child_frame_id
        self._parent_frame.setdefault(child, t.header.frame_id)
        p = t.transform
        if stamp_ns is None:
            self._static[child] = self.rr.Transform3D(translation=p.position, quaternion=p.orientation)
        else:
            self._tf[child].append((stamp_ns, p))

    def _place(self, final: bool = False) -> None:
        """Log what waits for its frame's place in the tree: static transforms, transform columns
        and the hand links' meshes; with ``final``, frames of unknown parent hang under world."""
        rr = self.rr
        for child in list(self._static):
            if (path := self._path(child, final)) is not None:
                self.rec.log(path, self._static.pop(child), static=True)
        for child, poses in self._tf.items():
            if poses and (path := self._path(child, final)) is not None:
                self.rec.send_columns(path, indexes=[_times(rr, [t for t, _ in poses])],
                                      columns=rr.Transform3D.columns(
                                          translation=np.array([p.position for _, p in poses]),
                                          quaternion=np.array([p.orientation for _, p in poses])))
                poses.clear()
        for frame in self._parent_frame.keys() - self._drawn:
            if (path := self._path(frame, final)) is not None:
                self._drawn.add(frame)
                mesh = _link_mesh(frame, self._link_shapes(frame))
                if mesh is not None:
                    v, f, n = mesh
                    self.rec.log(path, rr.Mesh3D(vertex_positions=v, triangle_indices=f, vertex_normals=n,
                                                 albedo_factor=HAND_RGBA), static=True)

    def _describe(self, urdf: str) -> None:
        """The hand's URDF (``robot_description``): which links have collision shapes."""
        self._urdf = urdf
        self._collision_links = frozenset(link.get("name") for link in ET.fromstring(urdf).findall("link")
                                          if link.find("collision") is not None)

    def _link_shapes(self, link: str) -> list:
        """Collision shapes of ``link`` from the URDF; parsed (with ``hand.kinematics``, which
        imports torch) only for a link that has some and no visual mesh."""
        from ..hand.meshes import LINK_MESHES

        if link in LINK_MESHES or link not in self._collision_links:
            return []
        if self._shapes is None:
            from ..hand.kinematics import parse_collisions

            self._shapes = parse_collisions(self._urdf)
        return [s for s in self._shapes if s.link == link]

    def _hand_from_joint_states(self) -> None:
        """Without robot_state's TF (an older bag): every link placed by the project's kinematics
        (``HandKinematics.joint_transforms``) at every joint-state time, once per distinct state."""
        from ..hand.kinematics import HandKinematics
        from ..hand.model import urdf_path

        variant = ROOT_VARIANTS[self._wrist_child if self._wrist_child in ROOT_VARIANTS else self.root_link]
        fk = HandKinematics.load(variant)
        if self._urdf is None:
            self._describe(urdf_path(variant).read_text())
        t = [s for s, _ in self._joints]
        q = np.zeros((len(self._joints), fk.n_joints))
        col = {n: i for i, n in enumerate(fk.joint_names)}
        for row, (_, state) in enumerate(self._joints):
            for name, value in zip(state.name, state.position):
                if name in col:
                    q[row, col[name]] = value
        distinct, at = np.unique(q, axis=0, return_inverse=True)
        rel = fk.joint_transforms(distinct).numpy()[at.reshape(-1)]  # (T, L, 4, 4) parent <- link
        for i, (link, parent, moving) in enumerate(zip(fk.link_names, fk.parent_names, fk.moving_links)):
            if not i:
                continue
            self._parent_frame.setdefault(link, parent)
            if moving:
                self.rec.send_columns(self._frame_path(link), indexes=[_times(self.rr, t)],
                                      columns=self.rr.Transform3D.columns(translation=rel[:, i, :3, 3],
                                                                          mat3x3=rel[:, i, :3, :3]))
            else:
                self._static[link] = self.rr.Transform3D(translation=rel[0, i, :3, 3], mat3x3=rel[0, i, :3, :3])
        self._joints = []

    # --- messages ------------------------------------------------------------------------

    def log(self, topic: str, obj, stamp_ns: int) -> None:
        """Log one message received at ``stamp_ns``."""
        rr = self.rr
        self.counts[topic] += 1
        if isinstance(obj, EmgChunk):
            self._emg.append((stamp_ns, obj))
            return
        if isinstance(obj, GraspIntent):
            self._intents.append((stamp_ns, obj))
            return
        if isinstance(obj, JointState):
            if not self.link_tf:  # kept for the kinematics while no TF of the hand links came
                self._joints.append((stamp_ns, obj))
            return
        if isinstance(obj, TfMessage):
            static = topic == TF_STATIC
            for t in obj.transforms:
                self._transform(t, None if static else stamp_ns)
            if static:
                self._place()
            else:
                self.link_tf, self._joints, self.last_tf = True, [], obj
            return
        if isinstance(obj, TransformStamped):  # the wrist TF
            self._wrist_child = obj.child_frame_id
            self._transform(obj, stamp_ns)
            return
        if isinstance(obj, Text):
            if topic == ROBOT_DESCRIPTION:
                self._describe(obj.data)
            return
        self.rec.set_time(TIMELINE, timestamp=np.datetime64(int(stamp_ns), "ns"))
        if isinstance(obj, PointCloud):
            self._cloud(obj)
        elif isinstance(obj, Marker):
            self._marker(obj)
        elif isinstance(obj, PoseArray):  # one arrow along each wrist pose's x axis
            self.rec.log(f"{self._frame_path(obj.header.frame_id)}/candidates",
                         rr.InstancePoses3D(translations=np.array([p.position for p in obj.poses]).reshape(-1, 3),
                                            quaternions=np.array([p.orientation for p in obj.poses]).reshape(-1, 4)),
                         rr.Arrows3D(origins=[[0.0, 0.0, 0.0]], vectors=[[0.04, 0.0, 0.0]], colors=CANDIDATE_RGBA))
        elif isinstance(obj, HandGrasp):
            p = obj.wrist_pose
            path = f"{self._frame_path(obj.header.frame_id)}/selected_grasp"
            self.rec.log(path, rr.Transform3D(translation=p.position, quaternion=p.orientation),
                         rr.TransformAxes3D(0.05))
            self.rec.log(GRASP_SELECTED, rr.TextLog(
                f"{obj.grasp_type}: score {obj.score:.3f}, penetration {1e3 * obj.penetration_depth:.1f} mm"))

    def _cloud(self, cloud: PointCloud) -> None:
        pts = np.asarray(cloud.points, dtype=np.float32).reshape(-1, 3)
        pts = pts[np.isfinite(pts).all(axis=1)]
        pts = pts[:: -(-len(pts) // MAX_VIEW_POINTS) or 1]
        depth = pts[:, 2] if len(pts) else pts[:, :0]
        lo, hi = (float(depth.min()), float(depth.max())) if len(pts) else (0.0, 1.0)
        shade = (depth - lo) / max(hi - lo, 1e-6)
        colors = np.stack([255 * shade, 80 + 100 * (1 - shade), 255 * (1 - shade)], axis=1).astype(np.uint8)
        self.rec.log(f"{self._frame_path(cloud.header.frame_id)}/cloud",
                     self.rr.Points3D(pts, colors=colors, radii=0.0015))

    def _marker(self, marker: Marker) -> None:
        path = f"{self._frame_path(marker.header.frame_id)}/field/{'voxels' if marker.id == 0 else 'box'}"
        if marker.action == Marker.DELETE:
            self.rec.log(path, self.rr.Clear(recursive=False))
        elif marker.type == Marker.LINE_LIST:
            self.rec.log(path, self.rr.LineStrips3D(marker.points.reshape(-1, 2, 3), radii=0.001,
                                                    colors=(230, 230, 230, 160)))
        else:
            self.rec.log(path, self.rr.Points3D(marker.points, radii=0.5 * float(marker.scale[0]), colors=VOXEL_RGBA))

    # --- columns ---------------------------------------------------------------------------

    def flush(self, final: bool = False) -> None:
        """Send the buffered sEMG, intents and transforms as columns. A frame waits for its
        ancestors' TF (its place in the tree); with ``final`` it hangs under ``world`` without."""
        rr = self.rr
        if self._emg:
            chunks = [c for _, c in self._emg]
            data = np.concatenate([c.data for c in chunks])
            t = np.concatenate([c.header.stamp_ns + np.round(np.arange(c.sample_count) * 1e9 / c.sample_rate)
                                for c in chunks]).astype(np.int64)
            for k, name in enumerate(chunks[0].channel_names):
                self.rec.send_columns(f"emg/{name}", indexes=[_times(rr, t)],
                                      columns=rr.Scalars.columns(scalars=data[:, k]))
            self._emg = []
        if self._intents:
            t = [s for s, _ in self._intents]
            probs = np.array([i.probabilities for _, i in self._intents], dtype=np.float64)
            names = self._intents[0][1].class_names or GRASP_TYPES
            for k, name in enumerate(names):
                self.rec.send_columns(f"intent/probability/{name}", indexes=[_times(rr, t)],
                                      columns=rr.Scalars.columns(scalars=probs[:, k]))
            self.rec.send_columns("intent/confidence", indexes=[_times(rr, t)],
                                  columns=rr.Scalars.columns(scalars=[i.confidence for _, i in self._intents]))
            for stamp, intent in self._intents:
                if intent.grasp_type != self._last_decision:
                    self._last_decision = intent.grasp_type
                    self.rec.set_time(TIMELINE, timestamp=np.datetime64(int(stamp), "ns"))
                    self.rec.log("intent/decision", rr.TextLog(f"{intent.grasp_type} ({intent.confidence:.2f})"))
            self._intents = []
        if final and self._joints:
            self._hand_from_joint_states()
        self._place(final)


#: the topics a view draws (a bag's others, e.g. the 50^3 fields, are not read)
VIEW_TOPICS = (EMG_CHUNKS, GRASP_INTENT, OBJECT_POINTS, OBJECT_MARKER, CANDIDATE_POSES,
               GRASP_SELECTED, JOINT_STATES, TF, TF_STATIC, ROBOT_DESCRIPTION)


class _Undecoded:
    """Which messages of a bag ``view_bag`` need not decode (decoding is most of its cost):
    joint states once robot_state's TF places the hand links, and a TF message of several
    transforms that repeats the previous one but for its stamps (a hand at rest), logged as
    that one again at its own time."""

    def __init__(self, view: SessionView):
        self.view, self._previous = view, None

    def __call__(self, topic: str, stamp_ns: int, raw: bytes) -> bool:
        if topic == JOINT_STATES:
            return not self.view.link_tf
        if topic != TF or _cdr_sequence_length(raw) < 2:
            return True
        # the transforms' header stamps, all the first one's (bytes 8-16: int32 sec, uint32 nanosec), left out
        body = raw.replace(raw[8:16], b"")
        repeat = body == self._previous and self.view.last_tf is not None
        self._previous = body
        if repeat:
            self.view.log(TF, self.view.last_tf, stamp_ns)
        return not repeat


def _cdr_sequence_length(raw: bytes) -> int:
    """Length of the leading sequence of a serialized message (``tf2_msgs/TFMessage.transforms``):
    the uint32 after the 4-byte CDR encapsulation header, in its byte order (byte 1: 0 big, 1 little)."""
    return int.from_bytes(raw[4:8], "little" if raw[1] & 1 else "big")


def view_bag(path: str | Path, recording) -> SessionView:
    """Log the messages of a session bag (``VIEW_TOPICS``) into ``recording``; returns the view."""
    from .bag import read_bag

    view = SessionView(recording)
    for topic, stamp, obj in read_bag(path, VIEW_TOPICS, missing_ok=True, keep=_Undecoded(view)):
        view.log(topic, obj, stamp)
    view.flush(final=True)
    return view


def live_view(root_link: str = "rh_palm", bind: str = "127.0.0.1", web: bool | None = None):
    """A viewer started for a live session and a ``SessionView`` streaming to it.

    Returns:
        (view, viewer process, web URL or None).
    """
    rr = import_rerun()
    process, grpc, web_url = start_viewer(bind=bind, web=web)
    rec = rr.RecordingStream(APPLICATION_ID)
    rec.connect_grpc(grpc, default_blueprint=blueprint())
    return SessionView(rec, root_link), process, web_url
