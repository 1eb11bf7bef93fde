"""Closed-loop evaluation: does the first grasp the hand closes have the intended type and hold?

For each subject, the classifier's model is calibrated on that subject's first
``calibration_repetitions`` repetitions of every grasp (the shipped recipe trained on them),
and the remaining trials stream through the whole standalone pipeline (acquisition ->
classifier -> generator -> hand controller; simulated depth camera -> distance field) with
``rest_s`` of the subject's own simulated rest before each trial. Each performed grasp is aimed
at an object standing on the table, drawn from an object set (several objects and yaw poses),
seen by one simulated depth view; the camera shows the trial's object from 0.5 s into the
rest before it.

A grasp is *closed* when the hand controller's trajectory for a generated grasp runs to its end
without being replaced. Per performed grasp (from its cue to 0.5 s after its end):

success
    the first grasp closed in it is of the performed type and holds under the physics check
    (default: the standard protocol) against the true object (its convex pieces, not the view).
onset_to_closed_s
    from the contraction onset (the trial's detected onset) to that grasp closed;
    ``onset_to_executed_s`` to the start of its trajectory (the decision, the commit and the
    generation), the rest being the hand's motion. Overall: their medians over the performed
    grasps whose first grasp closed was of the right type (holding or not), beside the median
    over successes. ``onset_to_reached_s``: to the commanded joints reaching the grasp posture
    (``outcome.REACHED_TOLERANCE``; with proportional closing only when the user contracts
    enough), None if they did not.

The simulated clock stands still while a component works: ``overall.generation_wall_s`` gives
the wall time of the grasp generations (median, p95) on this machine, the delay a live session
adds before each grasp starts.
closed
    grasps closed in it; grasps closed during rest are counted separately.
limited_by
    ``intent`` when no grasp of the performed type closed first (wrong type or none),
    ``closing`` when it was of the right type but the hand never reached its grasp posture
    (proportional closing: the contraction stayed below ``grasp_level``),
    ``grasp`` when it was of the right type, reached and did not hold, ``None`` on success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import topics
from ..config import load_config, override
from ..errors import ConfigError, DatasetError
from ..types import PointCloud
from .component import Ports, Timer
from .depth_camera import DepthCameraSimConfig
from .emg_acquisition import EmgAcquisition, EmgAcquisitionConfig
from .graph import Graph
from .grasp_classifier import GraspClassifierConfig
from .grasp_diffusion import GraspDiffusionConfig
from .hand_controller import HandControllerConfig
from .outcome import RESPONSE_TAIL_S, ExecutionMonitor, PerformedGrasp, median_or_none, group, physics_check, score, summary

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ClosedLoopConfig:
    """What the closed-loop evaluation runs.

    Attributes:
        calibration_repetitions: the first repetitions of every grasp that train the subject's
            model; the rest are streamed.
        max_trials: streamed trials per subject (0 = all remaining), spread over the grasps.
        rest_s: seconds of the subject's simulated rest before each trial.
        poses: yaw poses per object (evenly spread, seeded offset).
        intent_model: the shipped model whose recipe (preset, window) is retrained per subject.
        grasp_model: the grasp generator's model.
        camera_rate_hz: simulated camera frames per second.
        physics: ``standard`` or ``lenient`` protocol of the physics check.
        proportional_closing: the hand controller's setting (default the node's): the hand closes
            as far as the contraction level says, full closure at the subject's usual calibration
            hold (:func:`subject_usual_hold`); False closes every generated grasp fully.
        verify_budget_s: the generator's time for trying its ranked grasps in simulation (default
            the node's); the largest value tries every candidate, whatever the machine's load.
        seed: trial order, object poses, camera noise and grasp sampling.
    """

    calibration_repetitions: int = 24
    max_trials: int = 0
    rest_s: float = 2.5
    poses: int = 2
    intent_model: str = GraspClassifierConfig.model
    grasp_model: str = GraspDiffusionConfig.model
    camera_rate_hz: float = 2.0
    physics: str = "standard"
    proportional_closing: bool = HandControllerConfig.proportional_closing
    verify_budget_s: float = GraspDiffusionConfig.verify_budget_s
    seed: int = 0

    def __post_init__(self):
        if self.calibration_repetitions < 1:
            raise ConfigError(f"calibration_repetitions must be >= 1, got {self.calibration_repetitions}")
        if self.max_trials < 0:
            raise ConfigError(f"max_trials must be >= 0 (0 = all), got {self.max_trials}")
        if not self.rest_s >= 1.0:
            raise ConfigError(f"rest_s must be at least 1 s (the camera must see the next object), got {self.rest_s}")
        if self.poses < 1:
            raise ConfigError(f"poses must be >= 1, got {self.poses}")
        if not self.camera_rate_hz > 0:
            raise ConfigError(f"camera_rate_hz must be positive, got {self.camera_rate_hz}")


@dataclass(frozen=True, eq=False)
class TableObject:
    """An object of an object set: its name, its collision shape as convex pieces and a visual mesh.

    Attributes:
        name: folder or file stem.
        pieces: list of (vertices (V, 3) m, faces (F, 3)) convex pieces in the object's frame.
        mesh: ``trimesh.Trimesh`` the camera renders (metres, same frame).
    """

    name: str
    pieces: list
    mesh: object


class SceneCamera:
    """The simulated depth camera of the demo, looking at one of several table scenes chosen by
    a schedule (session seconds -> scene index); frames as ``pipeline.depth_camera``."""

    name = "depth_camera_sim"

    def __init__(self, config: DepthCameraSimConfig, scenes: Sequence, schedule: Callable[[float], int]):
        from ..perception.camera import DepthCamera

        self.config = config
        self._make = lambda scene: DepthCamera(scene, config.camera())
        self._scenes = list(scenes)
        self._cameras: dict[int, object] = {}
        self._schedule = schedule
        self.frames = 0

    def camera(self, index: int):
        if index not in self._cameras:
            self._cameras.clear()  # one ray-casting scene at a time
            self._cameras[index] = self._make(self._scenes[index])
        return self._cameras[index]

    def ports(self) -> Ports:
        return Ports(outputs={PointCloud: topics.OBJECT_POINTS}, timers=[Timer(1.0 / self.config.rate_hz, self.on_timer)])

    def on_timer(self, now_ns: int) -> list[PointCloud]:
        from ..types import Header

        view = self.camera(self._schedule(now_ns * 1e-9)).render(np.random.default_rng((self.config.seed, self.frames)))
        self.frames += 1
        h, w, _ = view.points.shape
        return [PointCloud(Header(int(now_ns), self.config.frame_id), view.points.reshape(-1, 3), height=h, width=w)]


# ----------------------------------------------------------------------------- objects


def load_object_set(folder: str | Path) -> list[TableObject]:
    """Every object of ``folder``: a subfolder per object (``model.urdf`` naming its collision
    mesh, or a ``collision*.obj`` / single mesh file) or a mesh file per object, loaded by
    ``grasp.data.objects.mesh_pieces`` (closed convex pieces for the physics check, and the
    closed mesh the camera sees).

    Raises:
        DatasetError: the folder is missing or holds no loadable object.
    """
    from ..grasp.data.objects import mesh_pieces

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"object folder {folder} does not exist")
    out = []
    for entry in sorted(folder.iterdir()):
        path = _collision_file(entry)
        if path is None:
            continue
        pieces, mesh = mesh_pieces(path)
        out.append(TableObject(entry.stem if entry.is_file() else entry.name, pieces, mesh))
    if not out:
        raise DatasetError(f"object folder {folder} holds no mesh files or object folders")
    return out


_MESH_SUFFIXES = (".obj", ".stl", ".ply", ".off", ".glb")


def _collision_file(entry: Path) -> Path | None:
    if entry.is_file():
        return entry if entry.suffix.lower() in _MESH_SUFFIXES else None
    if not entry.is_dir():
        return None
    urdf = entry / "model.urdf"
    if urdf.is_file():
        import xml.etree.ElementTree as ET

        mesh = ET.parse(urdf).find(".//collision/geometry/mesh")
        if mesh is not None and (entry / mesh.get("filename", "")).is_file():
            return entry / mesh.get("filename")
    candidates = sorted(entry.glob("collision*")) + sorted(p for p in entry.iterdir() if p.suffix.lower() in _MESH_SUFFIXES)
    return candidates[0] if candidates else None


# ----------------------------------------------------------------------------- the evaluation


def calibrated_model(trials, repetitions: int, recipe: str, seed: int = 0, cache_dir: str | Path | None = None):
    """The training recipe of the shipped model ``recipe`` (``TrainRecipe.of``) applied to the first
    ``repetitions`` repetitions of every grasp of ``trials`` (a ``TrialSet``) only.

    With ``cache_dir``, the model is saved there under a key of the data, recipe, repetitions and
    seed, and loaded from there next time (training takes minutes on a busy CPU).
    """
    import hashlib

    from ..intent.models import TrainRecipe, load_model
    from .decoder_evaluation import train_on

    shipped = load_model(recipe)
    training = TrainRecipe.of(shipped)
    key = hashlib.sha256(np.ascontiguousarray(trials.data).tobytes() + trials.labels.tobytes()
                         + trials.repetitions.tobytes()
                         + f"{recipe}|{training}|{repetitions}|{seed}".encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"{trials.subject}_{key}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return load_model(cached)
    model = train_on(training, trials, np.flatnonzero(trials.repetitions < repetitions), seed, shipped.spec.filter)
    if cached is not None:
        model.save(cached)
    return model


def test_indices(trials, config: ClosedLoopConfig) -> np.ndarray:
    """Trials after the calibration repetitions, at most ``max_trials`` spread over the grasps
    (repetition-major, so every grasp is represented)."""
    idx = np.flatnonzero(trials.repetitions >= config.calibration_repetitions)
    if idx.size == 0:
        raise DatasetError(f"{trials.subject}: no trial after the first {config.calibration_repetitions} repetitions")
    idx = idx[np.lexsort((trials.labels[idx], trials.repetitions[idx]))]
    return idx[: config.max_trials] if config.max_trials else idx


def subject_usual_hold(trials, repetitions: int, sos: np.ndarray, skip_s: float = 0.5) -> np.ndarray:
    """The subject's usual hold (``intent.level.usual_hold_rms``): per channel, the median over
    the calibration trials (the first ``repetitions`` of every grasp) of the RMS of each trial's
    active part after its first ``skip_s``, filtered as the classifier filters (``sos``).

    Taken as the contraction that closes the hand fully (the classifier's
    ``decoder.level.max_rms``): the recorded users held each grasp at their usual effort without seeing a hand, so the level of
    proportional closing is measured against that effort, not against their strongest burst.

    Returns:
        (n_channels,) RMS in the signal's units.
    """
    from ..emg.datasets import active_bounds
    from ..emg.filters import filter_trials
    from ..intent.level import usual_hold_rms

    cal = np.flatnonzero(trials.repetitions < repetitions)
    filtered = filter_trials(trials.data[cal], sos)
    skip = int(round(skip_s * trials.sample_rate))
    holds = [x[a + skip : b] for x, (a, b) in zip(filtered, active_bounds(trials)[cal]) if b - a > skip]
    if not holds:
        raise DatasetError(f"{trials.subject}: no calibration trial holds a grasp longer than {skip_s} s")
    return usual_hold_rms(holds)


def run_subject(trials, objects: Sequence[TableObject], config: ClosedLoopConfig,
                check: Callable | None = None, model=None) -> dict:
    """Stream one subject's test trials through the pipeline against ``objects``.

    Args:
        trials: the subject's ``TrialSet``.
        objects: the object set.
        check: ``check(pieces, grasp) -> (holds, details)`` for a ``HandGrasp`` and the object's
            pieces in its frame; default :func:`physics_check` with ``config.physics``.
        model: the calibrated intent model (default: :func:`calibrated_model`).

    Returns:
        {"per_grasp": [...], "overall": {...}, "executions": [...], "generation_wall_s": [...]} for
        this subject (the wall seconds of each generation: the simulated clock stands still while
        the generator works, so a live hand would start each grasp that much later).
    """
    from ..emg.datasets import TrialSet, active_bounds
    from ..emg.sources import recording_source, subject_rest_model, trials_recording
    from ..perception.camera import TableScene
    from .demo import processing_components

    rng = np.random.default_rng(config.seed)
    model = model if model is not None else calibrated_model(trials, config.calibration_repetitions,
                                                             config.intent_model, config.seed)
    idx = test_indices(trials, config)
    test = TrialSet(trials.data[idx], trials.labels[idx], trials.repetitions[idx], trials.class_names,
                    trials.channel_names, trials.sample_rate, trials.subject, trials.units)
    rest_model = subject_rest_model(trials)
    rec = trials_recording(test, "sequential", config.rest_s, config.seed, rest_model)
    rate = rec.sample_rate
    onsets = active_bounds(test)[:, 0]
    n_trial = test.data.shape[1]
    starts = [s for s in np.flatnonzero(np.diff(np.r_[-1, rec.labels]) != 0) if rec.labels[s] >= 0]
    if len(starts) != len(idx):
        raise DatasetError(f"{trials.subject}: expected {len(idx)} trials in the stream, found {len(starts)}")
    # one scene per (object, pose); trial k shows scene k mod n, from the start of its rest
    yaw0 = rng.uniform(0, 2 * np.pi)
    scenes, owner = [], []  # owner: index into objects of each scene
    for i, obj in enumerate(objects):
        for p in range(config.poses):
            scenes.append(TableScene(obj.mesh, yaw=yaw0 + 2 * np.pi * p / config.poses))
            owner.append(i)
    order = rng.permutation(len(idx)) % len(scenes)
    cues = np.array(starts) / rate
    # the next object appears once the previous grasp's response window (its end + RESPONSE_TAIL_S)
    # is over, so a grasp closed in that window is checked against the object it was made for
    switch = cues - config.rest_s + RESPONSE_TAIL_S

    def schedule(t: float) -> int:
        k = max(0, int(np.searchsorted(switch, t, side="right")) - 1)
        return int(order[k])

    performed = [PerformedGrasp(test.class_names[test.labels[k]], float(cues[k]), float(cues[k] + onsets[k] / rate),
                                float(cues[k] + n_trial / rate), objects[owner[order[k]]].name) for k in range(len(idx))]

    cam_cfg = load_config(DepthCameraSimConfig, "depth_camera_sim", rate_hz=config.camera_rate_hz, seed=config.seed)
    camera = SceneCamera(cam_cfg, scenes, schedule)
    acquisition = EmgAcquisition(EmgAcquisitionConfig(), source=recording_source(rec))
    classifier, sdf, hand, generator = processing_components(
        config.intent_model, config.grasp_model, config.seed, {"proportional_closing": config.proportional_closing},
        {"verify_budget_s": config.verify_budget_s})
    usual = tuple(subject_usual_hold(trials, config.calibration_repetitions, model.spec.sos()))
    classifier = type(classifier)(override(classifier.config, {"decoder.level.max_rms": usual}), model=model)
    graph = Graph()
    for component in (acquisition, classifier, camera, sdf, hand, generator):
        graph.add(component)
    monitor = ExecutionMonitor(lambda: graph.now_ns * 1e-9)
    for topic, handler in monitor.subscriptions():
        graph.subscribe(topic, handler)
    generation = []  # wall seconds of each generation (the simulated clock does not advance during it)
    graph.trace(lambda name, _, outputs, w0, w1: generation.append(w1 - w0) if name == generator.name and outputs else None)
    session_s = rec.n_samples / rate
    graph.run(duration=session_s + 0.1)
    acquisition.close()
    monitor.finish(session_s)

    check = check or physics_check(config.physics)
    camera_from_world = np.linalg.inv(cam_cfg.camera().pose())
    for e in monitor.executions:
        if not e.closed:
            continue
        k = schedule(e.start_s)
        pose = camera_from_world @ scenes[k].object_pose()
        pieces = [(v @ pose[:3, :3].T + pose[:3, 3], f) for v, f in objects[owner[k]].pieces]
        e.holds, e.details = check(pieces, e.grasp)
    result = score(performed, monitor.executions, session_s)
    for row in result["per_grasp"]:
        row["subject"] = trials.subject
    result["executions"] = [{"start_s": round(e.start_s, 3), "end_s": round(e.end_s, 3), "grasp_type": e.grasp_type,
                             "closed": e.closed, "replaced_by": e.replaced_by, "holds": e.holds,
                             "reached_s": None if e.reached_s is None else round(e.reached_s, 3)}
                            for e in monitor.executions]
    result["generation_wall_s"] = [round(t, 4) for t in generation]
    result["session_s"] = round(session_s, 2)
    return result


def evaluate(subjects: Sequence, objects: Sequence[TableObject], config: ClosedLoopConfig,
             cache_dir: str | Path | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Run :func:`run_subject` for every subject (``TrialSet``s) and aggregate.

    Returns:
        {"overall", "per_subject", "per_type", "per_object", "subjects": {name: run_subject result}}.
    """
    runs, rows = {}, []
    rest_closed, rest_s = 0, 0.0
    for trials in subjects:
        model = calibrated_model(trials, config.calibration_repetitions, config.intent_model, config.seed, cache_dir)
        result = run_subject(trials, objects, config, model=model)
        runs[trials.subject] = result
        rows += result["per_grasp"]
        rest_closed += result["overall"]["closed_during_rest"]
        rest_s += result["overall"]["rest_s"]
        if progress:
            o = result["overall"]
            progress(f"{trials.subject}: success {o['success_rate']:.1%} of {o['performed']} performed grasps "
                     f"(intent-limited {o['intent_limited_rate']:.1%}, closing-limited {o['closing_limited_rate']:.1%}, "
                     f"grasp-limited {o['grasp_limited_rate']:.1%})")
    walls = [t for r in runs.values() for t in r["generation_wall_s"]]
    return {
        "overall": {**summary(rows, rest_closed, rest_s),
                    "generation_wall_s": {"median": median_or_none(walls), "p95": float(np.percentile(walls, 95)) if walls else None,
                                          "requests": len(walls)}},
        "per_subject": {s: r["overall"] for s, r in runs.items()},
        "per_type": group(rows, "grasp_type"),
        "per_object": group(rows, "object"),
        "subjects": runs,
    }


def plot(result: dict, path: str | Path) -> None:
    """Stacked bars per subject, grasp type and object: success, intent-limited, grasp-limited."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("subject", {s: _rates(o) for s, o in result["per_subject"].items()}),
              ("grasp type", result["per_type"]), ("object", result["per_object"])]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [max(len(p[1]), 2) for p in panels]})
    for ax, (title, table) in zip(axes, panels):
        names = list(table)
        bottom = np.zeros(len(names))
        for key, colour, label in (("success_rate", "C2", "holds, right type"), ("grasp_limited_rate", "C1", "right type, does not hold"),
                                   ("closing_limited_rate", "C0", "right type, hand stopped short"),
                                   ("intent_limited_rate", "C3", "wrong type or none")):
            values = np.array([table[n][key] for n in names])
            ax.bar(names, values, bottom=bottom, color=colour, label=label)
            bottom += values
        ax.set_ylim(0, 1)
        ax.set_title(f"per {title}")
        ax.tick_params(axis="x", rotation=45)
    axes[0].set_ylabel("share of performed grasps (first grasp closed)")
    axes[-1].legend(loc="upper right", fontsize=8)
    o = result["overall"]
    fig.suptitle(f"First-try success {o['success_rate']:.1%} of {o['performed']} performed grasps; "
                 f"{o['closed_during_rest']} grasps closed during rest")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _rates(overall: dict) -> dict:
    return {k: overall[k] for k in ("success_rate", "grasp_limited_rate", "closing_limited_rate", "intent_limited_rate")}
