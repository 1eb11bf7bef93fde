"""The standalone session: the whole pipeline on any sEMG source, an object seen by a simulated camera.

All nodes of ``pipeline.launch.py`` run as components of one ``Graph``, each configured by
its ``config/<node>.yaml`` with the session's overrides: sEMG acquisition (any source of
``EmgAcquisitionConfig``: the demo's simulated user fitted to a Sapsanis subject, a dataset
file, a bag, a live LSL or BrainFlow device) -> grasp classifier; simulated depth camera ->
object distance field; diffusion grasp generator; hand controller; and what a ROS launch adds
for viewers (robot_state_publisher's TF of every hand link, the URDF, the static scene frames).
Files, bags and the simulated user run as fast as possible (or paced with ``realtime``); live
devices are paced by the wall clock, and falling behind it is measured and reported. Stamps
are on a real clock: the wall clock at the start, or ``start_time_ns``. Every message is
recorded to a ROS 2 bag. Each selected grasp is checked in MuJoCo against the true object
(the mesh the camera renders) and drawn (in a paced session once it has ended: the checks take
seconds and must not hold the pipeline up); the EMG with the decoded intents is plotted; a JSON summary holds the timeline, the physics results, decoding agreement with the
simulated user's ground truth (when the source knows it), and per-component latencies. Ctrl-C
ends a session cleanly: the bag is closed and everything is written.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import REST, provenance
from ..config import load_config
from ..errors import ConfigError
from ..grasp.diffusion.checkpoint import model_files
from ..intent import checkpoint as intent_checkpoint
from ..topics import (
    CANDIDATE_POSES,
    EMG_CHUNKS,
    GRASP_CANDIDATES,
    GRASP_INTENT,
    GRASP_SELECTED,
    ROBOT_DESCRIPTION,
    TF_STATIC,
)
from ..types import EmgChunk, GraspIntent, HandGrasp, HandGraspArray, PoseArray
from .bag import BagWriter
from .depth_camera import DepthCameraSim, DepthCameraSimConfig
from .emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
from .graph import Graph
from .grasp_classifier import GraspClassifier, GraspClassifierConfig
from .grasp_diffusion import GraspDiffusionComponent, GraspDiffusionConfig
from .hand_controller import HandController, HandControllerConfig
from .object_sdf import ObjectSdfComponent, ObjectSdfConfig
from .outcome import ExecutionMonitor, performed_grasps, physics_check, score
from .robot_state import TABLE_FRAME, RobotStatePublisher
from .session import record

log = logging.getLogger(__name__)

DEFAULT_SCRIPT = "rest:3,cylindrical:4,rest:3,spherical:4,rest:3,tip:4,rest:3"
#: a real-time session more than this many seconds behind the clock is reported (throttled)
LAG_WARNING_S = 0.25
#: home of the wrist before the first grasp: palm this high over the object, facing the table
HOME_HEIGHT = 0.3


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Attributes:
        object: what the camera sees: a primitive (``cylinder:R,H``), a mesh file or a
            DexGraspNet sample code (part of one is enough, e.g. ``bottle``).
        scale: mesh units -> metres for mesh files and DexGraspNet objects.
        script: the simulated user's session, ``name:seconds,...``.
        subject: the Sapsanis subject whose fitted simulator model plays the user.
        emg_file: a Sapsanis ``.mat`` to replay instead of the simulator ('' = simulator).
        duration: seconds of session to run (0 = the script's length; 60 s for a file).
        realtime: pace by the wall clock instead of running as fast as possible.
        intent_model, grasp_model: model folders (names under ``models/`` or paths).
        camera_rate_hz: simulated camera frames per second.
        seed: seed of the simulated user, camera noise and grasp sampling.
        physics: check each selected grasp in MuJoCo.
        render: draw each selected grasp to a PNG.
        storage: bag storage, ``mcap`` or ``sqlite3``.
        source: the sEMG source (any of ``EmgAcquisitionConfig``); None = the simulated user
            (``subject``, ``script``) or ``emg_file``.
        start_time_ns: clock of the first stamp, ns since the Unix epoch (None = the wall clock
            when the pipeline is built).
    """

    object: str = DepthCameraSimConfig.object
    scale: float = 0.1
    script: str = DEFAULT_SCRIPT
    subject: str = EmgAcquisitionConfig.simulator_model
    emg_file: str = ""
    duration: float = 0.0
    realtime: bool = False
    intent_model: str = GraspClassifierConfig.model
    grasp_model: str = GraspDiffusionConfig.model
    camera_rate_hz: float = 1.0
    seed: int = 0
    physics: bool = True
    render: bool = True
    storage: str = "mcap"
    source: EmgAcquisitionConfig | None = None
    start_time_ns: int | None = None

    def session_length(self) -> float:
        """Seconds of session to run (``inf``: until the source ends or Ctrl-C)."""
        if self.duration > 0:
            return self.duration
        if self.source is not None:
            return math.inf
        if self.emg_file:
            return 60.0
        try:
            return sum(float(part.split(":")[1]) for part in self.script.split(","))
        except (IndexError, ValueError) as exc:
            raise ConfigError(f"script {self.script!r} is not 'name:seconds,...'") from exc


#: Smallest side of an object's bounding box the hand can close around, metres: the ShadowHand's
#: widest opening, thumb tip to fingertips with the fingers extended, is about 0.2 m.
MAX_GRASP_WIDTH_M = 0.2
#: Largest side below which an object is too small for any of the six grasps (a 5 mm bead), metres.
MIN_OBJECT_SIZE_M = 0.005


def check_graspable(spec: str, scale: float) -> None:
    """Refuse an object the pipeline cannot grasp, before the session is built.

    Raises:
        ConfigError: too wide for the hand, too small, or larger than the distance field
            covers (``object_sdf``'s ``max_object_size`` bounding-box diagonal); the message
            gives the object's size and the valid range. DataError / DatasetError: unknown object.
    """
    from ..perception.objects import resolve_object

    extents = resolve_object(spec, scale).extents
    size = "x".join(f"{e:.3g}" for e in extents)
    diagonal = float((extents ** 2).sum() ** 0.5)
    max_diagonal = load_config(ObjectSdfConfig, "object_sdf").segmentation.max_object_size
    if min(extents) > MAX_GRASP_WIDTH_M or diagonal > max_diagonal:
        raise ConfigError(f"object {spec} (scale {scale:g}) is {size} m: the hand closes around objects whose "
                          f"narrowest side is at most {MAX_GRASP_WIDTH_M} m and whose diagonal is at most "
                          f"{max_diagonal:g} m (the distance field's reach); use a smaller --scale or object")
    if max(extents) < MIN_OBJECT_SIZE_M:
        raise ConfigError(f"object {spec} (scale {scale:g}) is {size} m: too small to grasp (largest side below "
                          f"{MIN_OBJECT_SIZE_M} m); use a larger --scale")


def processing_components(intent_model: str, grasp_model: str, seed: int = 0, hand: dict | None = None,
                          generator: dict | None = None) -> tuple:
    """The components downstream of the sensors, each from its ``config/<node>.yaml``:
    (classifier, distance field, hand controller, grasp generator); ``hand`` and ``generator``
    override hand controller and grasp generator parameters.

    Added to a graph in this order, the hand controller receives each intent before the
    generator does, so its pre-shape is not held up by grasp generation (as with separate
    nodes, where neither waits for the other)."""
    return (
        GraspClassifier(load_config(GraspClassifierConfig, "grasp_classifier", model=intent_model)),
        ObjectSdfComponent(load_config(ObjectSdfConfig, "object_sdf")),
        HandController(load_config(HandControllerConfig, "hand_controller", **(hand or {}))),
        GraspDiffusionComponent(load_config(GraspDiffusionConfig, "grasp_diffusion", model=grasp_model, seed=seed,
                                            **(generator or {}))),
    )


class Demo:
    """Builds the pipeline for ``config`` and runs it, writing into ``out_dir``.

    Raises (at construction):
        ConfigError, ModelError, DatasetError, BagError: a bad option, missing weights or
        data, or an existing output folder.
    """

    def __init__(self, config: DemoConfig, out_dir: str | Path):
        self.config = config
        self.out = Path(out_dir)
        if self.out.exists():
            raise ConfigError(f"output folder {self.out} already exists; choose a new one (nothing was overwritten)")
        c = config
        emg = dict(seed=c.seed, simulator_model=c.subject, script=c.script)
        if c.emg_file:
            emg = dict(source="sapsanis", file=c.emg_file, seed=c.seed)
        self.camera = DepthCameraSim(load_config(DepthCameraSimConfig, "depth_camera_sim", object=c.object,
                                                 scale=c.scale, rate_hz=c.camera_rate_hz, seed=c.seed))
        camera = self.camera.camera
        self.classifier, self.sdf, self.hand, self.generator = processing_components(
            c.intent_model, c.grasp_model, c.seed,
            hand=dict(home_frame=camera.config.frame_id, home_pose=_home_pose(camera.pose, camera.scene.object_pose())))
        self.robot_state = RobotStatePublisher(self.hand.config.root_link)
        mesh = camera.object_mesh_in_camera()
        self._pieces = [(np.asarray(p.vertices, float), np.asarray(p.faces)) for p in mesh.split(only_watertight=False)]
        # the source last: a live stream connected now is not left waiting while the models load
        self.acquisition = EmgAcquisition(c.source or load_config(EmgAcquisitionConfig, "emg_acquisition", **emg))
        #: live sources are paced by the wall clock, whatever ``realtime`` says
        self.live = bool(self.acquisition.source.live)
        self.start_ns = c.start_time_ns if c.start_time_ns is not None else time.time_ns()
        self.graph = Graph(realtime=c.realtime or self.live, start_ns=self.start_ns)
        for component in (self.acquisition, self.classifier, self.camera, self.sdf, self.hand, self.generator,
                          self.robot_state):
            self.graph.add(component)
        self._scene = {camera.config.frame_id: camera.pose, TABLE_FRAME: np.eye(4)}
        self._simulator = None
        self.timeline: list[dict] = []
        self.grasps: list[dict] = []
        self._emg: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._intents: list[tuple[float, int, float]] = []
        self._last_intent = None
        self._t0_ns: int | None = None
        self._rate = 0.0
        #: the session was ended by Ctrl-C
        self.interrupted = False
        self.lag_warnings: list[dict] = []
        self._pending: list[tuple] = []  # executed grasps of a paced session, judged after it
        #: every grasp the hand controller executes, and whether it closed (the first-try figure)
        self.outcome = ExecutionMonitor(lambda: self._time(self.graph.now_ns))
        self._verdicts: dict[int, tuple[bool, dict]] = {}  # id(HandGrasp) -> physics verdict
        for topic, handler in ((EMG_CHUNKS, self._on_emg), (GRASP_INTENT, self._on_intent),
                               (GRASP_SELECTED, self._on_grasp), (GRASP_CANDIDATES, self._on_candidates),
                               *self.outcome.subscriptions()):
            self.graph.subscribe(topic, handler)

    # --- monitors -------------------------------------------------------------------------

    def _time(self, stamp_ns: int) -> float:
        return (stamp_ns - (self._t0_ns or 0)) * 1e-9

    def _on_emg(self, chunk: EmgChunk) -> None:
        if self._t0_ns is None:
            self._t0_ns = chunk.header.stamp_ns
        self._emg.append(chunk.data)
        labels = self.acquisition.last_labels
        self._labels.append(np.full(chunk.sample_count, -2) if labels is None else np.asarray(labels))
        self._rate = chunk.sample_rate

    def _on_intent(self, intent: GraspIntent) -> None:
        t = self._time(intent.header.stamp_ns)
        self._intents.append((t, intent.class_index, intent.confidence))
        if intent.grasp_type != self._last_intent:
            self._last_intent = intent.grasp_type
            self.timeline.append({"t": round(t, 3), "event": "intent", "grasp_type": intent.grasp_type,
                                  "confidence": round(float(intent.confidence), 3)})

    def _on_candidates(self, candidates: HandGraspArray) -> None:
        self.graph.publish(CANDIDATE_POSES, PoseArray.of_candidates(candidates))  # as the ROS node does

    def _on_grasp(self, grasp: HandGrasp) -> None:
        t = self._time(self.graph.now_ns)
        entry = {"t": round(t, 3), "event": "grasp", "grasp_type": grasp.grasp_type,
                 "score": round(float(grasp.score), 4), "penetration_mm": round(1e3 * grasp.penetration_depth, 2),
                 "contact_distance_mm": round(1e3 * grasp.contact_distance, 2)}
        job = (grasp, entry, len(self.grasps))
        self.grasps.append(entry)
        self.timeline.append(entry)
        if self.graph.realtime:  # a paced session is not held up: checked and drawn once it ends
            self._pending.append(job)
        else:
            self._judge(*job)

    def _judge(self, grasp: HandGrasp, entry: dict, index: int) -> None:
        """The physics check and the pictures of executed grasp number ``index`` (into ``entry``)."""
        verdict = "not checked"
        if self.config.physics:
            holds, result = self._verdict(grasp)
            entry["physics_success"] = holds
            entry["physics_rejected"] = bool(result["rejected"])
            entry["physics_penetration_mm"] = result["penetration_mm"]
            from ..grasp.render import verdict as describe

            verdict = describe(result)
        if self.config.render:
            self._draw(grasp, entry, verdict, index)

    def _verdict(self, grasp: HandGrasp) -> tuple[bool, dict]:
        """The physics check of ``grasp`` as the hand executes it (its postures), against the true object."""
        if id(grasp) not in self._verdicts:
            if self._simulator is None:
                self._simulator = physics_check()
            self._verdicts[id(grasp)] = self._simulator(self._pieces, grasp)
        return self._verdicts[id(grasp)]

    def _draw(self, grasp: HandGrasp, entry: dict, verdict: str, index: int) -> None:
        """A 1280x720 captioned picture and a GIF (pre-shape, approach, close) of the grasp over the table."""
        from ..hand.convert import hand_grasp_postures, hand_grasp_to_arrays
        from ..grasp.render import grasp_animation, grasp_picture
        from ..hand.trajectory import plan_grasp

        joints, rot, trans = hand_grasp_to_arrays(grasp)
        stem = self.out / f"grasp_{index:02d}_{grasp.grasp_type}"
        to_world = self.camera.camera.pose
        caption = (f"{grasp.grasp_type} grasp of {self.config.object} (score {grasp.score:.3f}, generator "
                   f"penetration {1e3 * grasp.penetration_depth:.1f} mm)\nphysics: {verdict}")
        grasp_picture(joints, rot, trans, self._pieces, caption, stem.with_suffix(".png"), to_world)
        entry["picture"] = stem.with_suffix(".png").name
        h = self.hand
        q_pregrasp, q_squeeze = hand_grasp_postures(grasp)
        trajectory = plan_grasp(h.q_open, joints, rot, trans, h.lower, h.upper, h.velocity_limits, h.q_open,
                                h.config.trajectory, q_pregrasp, q_squeeze)
        if grasp_animation(trajectory, self._pieces, stem.with_suffix(".gif"), to_world):
            entry["animation"] = stem.with_suffix(".gif").name

    def _physics(self):
        if self._simulator is None:
            from ..grasp.physics import GraspSimulator

    def _first_try(self, session_s: float) -> dict | None:
        """Per performed grasp of a labelled session (the simulated user's script, a labelled file):
        was the first grasp the hand closed of its type, and did it hold (``pipeline.outcome``)."""
        labels = np.concatenate(self._labels) if self._labels else np.zeros(0, int)
        if not self.config.physics or not np.any(labels >= 0):
            return None
        self.outcome.finish(session_s)
        for e in self.outcome.executions:
            if e.closed:
                e.holds = self._verdict(e.grasp)[0]
        names = list(self.classifier.model.class_names)
        return score(performed_grasps(labels, self._rate, names), self.outcome.executions, session_s)["overall"]

    # --- running ----------------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None = None, step: float = 0.5) -> dict:
        """Run the session; ``progress(seconds_done)`` is called every ``step`` seconds of session.

        Returns:
            the summary written to ``summary.json``.
        """
        self.out.mkdir(parents=True)
        length = self.config.session_length()
        wall0 = time.perf_counter()
        done = 0.0
        try:
            with BagWriter(self.out / "session", storage=self.config.storage,
                           custom_data=provenance.custom_data(self.provenance())) as bag:
                record(self.graph, bag)
                for topic, message in zip((ROBOT_DESCRIPTION, TF_STATIC),
                                          self.robot_state.static_messages(self.graph.now_ns, self._scene)):
                    self.graph.publish(topic, message)
                try:
                    while done < length and not self.acquisition.finished:
                        dt = min(step, length - done)
                        self.graph.run(duration=dt)
                        bag.flush()
                        done += dt
                        self._check_lag(done)
                        if progress:
                            progress(done)
                except KeyboardInterrupt:
                    self.interrupted = True
                    log.warning("stopped by Ctrl-C after %.1f s of session; closing the bag", done)
                counts = dict(bag.counts)
        finally:
            self.acquisition.close()
        wall = time.perf_counter() - wall0
        for job in self._pending:
            self._judge(*job)
        summary = self._summary(done, wall, counts)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        self._plot()
        return summary

    def _check_lag(self, done: float) -> None:
        """Report (throttled: once per 5 s of session) a real-time session behind the clock."""
        lag = self.graph.lag_s
        if not self.graph.realtime or lag <= LAG_WARNING_S:
            return
        if self.lag_warnings and done - self.lag_warnings[-1]["t"] < 5.0:
            return
        self.lag_warnings.append({"t": round(done, 3), "lag_s": round(lag, 3)})
        log.warning("the pipeline is %.2f s behind the clock at %.1f s of session (it cannot keep up with "
                    "real time on this machine)", lag, done)

    def provenance(self) -> dict:
        """Versions, models with their SHA-256, seeds and every component's configuration."""
        from ..emg.simulator.model import shipped_subjects

        c = self.config
        models = {"intent": provenance.model_entry(c.intent_model, intent_checkpoint.files(c.intent_model)),
                  "grasp": provenance.model_entry(c.grasp_model, model_files(c.grasp_model))}
        emg = self.acquisition.config
        if emg.source == "simulated" and emg.simulator_model in shipped_subjects():
            models["emg_simulator"] = provenance.model_entry(emg.simulator_model, [shipped_subjects()[emg.simulator_model]])
        components = {type(x).__name__: asdict(x.config) for x in
                      (self.acquisition, self.classifier, self.camera, self.sdf, self.hand, self.generator)}
        return provenance.provenance({"demo": asdict(c), "components": components}, models, {"seed": c.seed})

    def _agreement(self) -> dict:
        """Decisions whose type matches the simulated user's ground truth at their stamp."""
        if not self._intents or not self._emg:
            return {}
        labels = np.concatenate(self._labels)
        if np.all(labels == -2):
            return {}
        n = len(labels)
        idx = np.clip((np.array([t for t, _, _ in self._intents]) * self._rate).astype(int) - 1, 0, n - 1)
        truth, decided = labels[idx], np.array([c for _, c, _ in self._intents])
        active = truth >= 0
        return {
            "decisions": int(len(idx)),
            "active_decisions": int(active.sum()),
            "active_accuracy": float(np.mean(decided[active] == truth[active])) if active.any() else None,
            "active_rejected": float(np.mean(decided[active] < 0)) if active.any() else None,
            "rest_false_grasp_rate": float(np.mean(decided[~active] >= 0)) if (~active).any() else None,
        }

    def _summary(self, session_s: float, wall_s: float, counts: dict) -> dict:
        latency = {name: {"p50_ms": round(1e3 * float(np.percentile(t, 50)), 3),
                          "p95_ms": round(1e3 * float(np.percentile(t, 95)), 3), "calls": len(t)}
                   for name, t in self.graph.timings.items() if len(t)}
        ok = [g["physics_success"] for g in self.grasps if "physics_success" in g]
        busy_s = wall_s - self.graph.idle_s  # wall time not spent waiting for the clock
        return {
            "config": asdict(self.config),
            "source": self.acquisition.config.source,
            "start_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.start_ns * 1e-9))
                          + f".{self.start_ns % 1_000_000_000 // 1_000_000:03d}Z",
            "session_s": round(session_s, 3),
            "wall_s": round(wall_s, 3),
            "realtime_factor": round(session_s / busy_s, 2) if busy_s > 0 else None,
            "paced": self.graph.realtime,
            "max_lag_s": round(self.graph.max_lag_s, 3) if self.graph.realtime else None,
            "lag_warnings": self.lag_warnings,
            "interrupted": self.interrupted,
            "emg": {k: int(v) for k, v in self.acquisition.stats.items()},
            "messages": counts,
            "errors": dict(self.graph.errors),
            "decoding": self._agreement(),
            "grasps": len(self.grasps),
            "physics_success_rate": float(np.mean(ok)) if ok else None,
            "first_try": self._first_try(session_s),
            "timeline": self.timeline,
            "latency": latency,
            "bag": "session",
        }

    def _plot(self) -> None:
        if not self._emg:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data, labels = np.concatenate(self._emg), np.concatenate(self._labels)
        t = np.arange(len(data)) / self._rate
        names = list(self.classifier.model.class_names)
        fig, (ax_emg, ax_int) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, height_ratios=(2, 1))
        spread = 4 * float(np.std(data)) or 1.0
        for k in range(data.shape[1]):
            ax_emg.plot(t, data[:, k] - data[:, k].mean() + k * spread, lw=0.4, label=f"channel {k + 1}")
        ax_emg.set_ylabel("sEMG (V, offset)")
        ax_emg.legend(loc="upper right", fontsize=8)
        ax_emg.set_title(f"Session: {self.config.object} — decoded grasp intents vs the simulated user")
        if not np.all(labels == -2):
            ax_int.step(t, labels, where="post", color="0.6", lw=3, label="performed")
        if self._intents:
            ti, ci, _ = zip(*self._intents)
            ax_int.step(ti, ci, where="post", color="C3", lw=1.2, label="decoded")
        for g in self.grasps:
            ax_int.axvline(g["t"], color="C2", ls=":", lw=1)
        ax_int.set_yticks(range(-1, len(names)), [REST] + names)
        ax_int.set_xlabel("time (s)")
        ax_int.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.savefig(self.out / "emg_intents.png", dpi=110)
        plt.close(fig)



def _home_pose(t_world_camera: np.ndarray, t_world_object: np.ndarray) -> tuple[float, ...]:
    """The wrist's home in the camera frame: palm ``HOME_HEIGHT`` over the object, facing down,
    fingers along world x; (x, y, z, qx, qy, qz, qw)."""
    from ..geometry import matrix_to_quat_xyzw

    home = np.eye(4)
    home[:3, :3] = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # palm -y = world -z
    home[:3, 3] = (t_world_object[0, 3], t_world_object[1, 3], HOME_HEIGHT)
    in_camera = np.linalg.inv(t_world_camera) @ home
    return tuple(float(v) for v in (*in_camera[:3, 3], *matrix_to_quat_xyzw(in_camera[:3, :3])))
