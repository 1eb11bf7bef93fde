"""What a user gets from a session: each grasp the hand controller executes, whether it closed,
and per performed grasp whether the first grasp closed was of the performed type and held.

A grasp is *closed* when the hand controller's trajectory for a generated grasp runs to its end
without being replaced (by a newly decided type's pre-shape or another generated grasp). A
performed grasp's response window runs from its cue to ``RESPONSE_TAIL_S`` after its end.

The trajectory's end is when the hand would hold the grasp with the close phase run on the
clock; with proportional closing the commanded hand follows the contraction level instead and
reaches the grasp posture only when the user contracts enough. So each execution also records
when the commanded joints (``joint_states``) first came within ``REACHED_TOLERANCE`` of the
grasp posture, if they did while it was executed (``reached_s``). A first try succeeds only when
the hand reached the grasp posture: a hand that stops short of it holds nothing, whatever the
grasp would have done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..hand.convert import hand_grasp_to_arrays
from ..hand.model import FINGER_JOINTS, couple
from ..topics import GRASP_POSE, GRASP_SELECTED, HAND_TRAJECTORY, JOINT_STATES
from ..types import HandGrasp, JointState, JointTrajectory, PoseStamped

#: what limits a first try that failed: a wrong type or none, a right type the hand never reached
#: (proportional closing), a right type reached that did not hold.
LIMITS = ("intent", "closing", "grasp")
#: seconds after a performed grasp's end that still count as its response.
RESPONSE_TAIL_S = 0.5
#: commanded joints within this of the grasp posture, every joint (rad): the hand reached the grasp.
REACHED_TOLERANCE = 0.05


@dataclass
class Execution:
    """One grasp trajectory the hand controller started.

    Attributes:
        start_s, end_s: session seconds when the trajectory starts and reaches the grasp.
        grasp_type: the executed grasp's type.
        grasp: the ``HandGrasp`` executed.
        closed: it ran to its end without being replaced by another trajectory.
        holds: physics verdict against the object in front of the camera (None = not checked).
        details: the physics result as a dict.
        replaced_by: what replaced it before it closed: ``preshape`` (a finger motion: a newly
            decided type's pre-shape, or the rest posture once the user rests),
            ``same_type`` or ``other_type`` (another generated grasp); None when it closed.
        reached_s: session seconds when the commanded joints first reached the grasp posture
            while it was executed; None if they did not (or no joint states were watched).
    """

    start_s: float
    end_s: float
    grasp_type: str
    grasp: HandGrasp
    closed: bool = True
    holds: bool | None = None
    details: dict = field(default_factory=dict)
    replaced_by: str | None = None
    reached_s: float | None = None


@dataclass(frozen=True)
class PerformedGrasp:
    """A performed grasp of the session: its type, cue, onset and end (session seconds)."""

    grasp_type: str
    cue_s: float
    onset_s: float
    end_s: float
    object: str = ""


def score(performed: Sequence[PerformedGrasp], executions: Sequence[Execution], session_s: float) -> dict:
    """Per performed grasp and overall: first-try success, its limiting stage, onset to closed,
    grasps closed per performed grasp and during rest.

    Args:
        performed: the session's performed grasps in time order.
        executions: every grasp trajectory the controller started, with ``closed`` and ``holds`` set.
        session_s: session length, seconds (for the rest time).

    Returns:
        {"per_grasp": [...], "overall": {...}} (JSON-ready; rates in [0, 1]).
    """
    closed = [e for e in executions if e.closed]
    rows, used = [], set()
    for p in performed:
        inside = [k for k, e in enumerate(closed) if p.cue_s <= e.start_s < p.end_s + RESPONSE_TAIL_S]
        used.update(inside)
        first = closed[inside[0]] if inside else None
        type_ok = first is not None and first.grasp_type == p.grasp_type
        reached = first is not None and first.reached_s is not None
        ok = bool(type_ok and reached and first.holds)
        rows.append({
            "grasp_type": p.grasp_type, "object": p.object, "success": ok,
            "first_closed_type": first.grasp_type if first else None,
            "first_closed_holds": None if first is None else first.holds,
            "onset_to_closed_s": round(first.end_s - p.onset_s, 3) if first else None,
            "onset_to_executed_s": round(first.start_s - p.onset_s, 3) if first else None,
            "onset_to_reached_s": (round(first.reached_s - p.onset_s, 3)
                                   if first is not None and first.reached_s is not None else None),
            "closed": len(inside),
            "limited_by": None if ok else ("intent" if not type_ok else "closing" if not reached else "grasp"),
        })
    rest_closed = len(closed) - len(used)
    rest_s = session_s - sum(p.end_s + RESPONSE_TAIL_S - p.cue_s for p in performed)
    return {"per_grasp": rows, "overall": summary(rows, rest_closed, rest_s)}


def summary(rows: Sequence[dict], rest_closed: int, rest_s: float) -> dict:
    """Overall figures of ``score``'s per-grasp rows, with the grasps closed during ``rest_s`` of rest."""
    n = len(rows)
    times = [r["onset_to_closed_s"] for r in rows if r["success"]]
    right = [r for r in rows if r["first_closed_type"] == r["grasp_type"]]
    return {
        "performed": n,
        "success_rate": sum(r["success"] for r in rows) / n if n else None,
        **{f"{stage}_limited_rate": sum(r["limited_by"] == stage for r in rows) / n if n else None for stage in LIMITS},
        "first_closed_type_correct_rate": sum(r["first_closed_type"] == r["grasp_type"] for r in rows) / n if n else None,
        "holds_given_right_type_rate": _ratio(sum(r["success"] for r in rows),
                                              sum(r["first_closed_type"] == r["grasp_type"] for r in rows)),
        "median_onset_to_holding_grasp_s": median_or_none(times),
        "median_onset_to_right_type_closed_s": median_or_none([r["onset_to_closed_s"] for r in right]),
        "median_onset_to_right_type_executed_s": median_or_none([r["onset_to_executed_s"] for r in right]),
        "right_type_reached_rate": _ratio(sum(r["onset_to_reached_s"] is not None for r in right), len(right)),
        "median_onset_to_right_type_reached_s": median_or_none(
            [r["onset_to_reached_s"] for r in right if r["onset_to_reached_s"] is not None]),
        "closed_per_performed_grasp": sum(r["closed"] for r in rows) / n if n else None,
        "closed_during_rest": rest_closed,
        "rest_s": round(rest_s, 2),
    }


def median_or_none(values: Sequence[float]) -> float | None:
    """The median of ``values``, None when there are none."""
    return float(np.median(values)) if values else None


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def group(rows: Sequence[dict], key: str) -> dict:
    """Success and limiting stage per value of ``key`` (``grasp_type``, ``object``, ``subject``)."""
    out = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return {k: {"performed": len(v), "success_rate": sum(r["success"] for r in v) / len(v),
                **{f"{stage}_limited_rate": sum(r["limited_by"] == stage for r in v) / len(v) for stage in LIMITS}}
            for k, v in sorted(out.items())}


class ExecutionMonitor:
    """Watches the hand controller's outputs and records each grasp execution.

    Subscribe the handlers of :meth:`subscriptions` (``grasp/selected``,
    ``hand/joint_trajectory``, ``grasp/pose``, ``joint_states``): the controller publishes a
    grasp's trajectory followed by its wrist target, a pre-shape's trajectory alone, and its
    commanded joints at its rate.
    """

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._selected: HandGrasp | None = None
        self._trajectory: JointTrajectory | None = None
        self._replaced: list[Execution] = []
        self._current: tuple[Execution, np.ndarray] | None = None  # the grasp being executed, its joints
        self._joint_index: tuple[tuple[str, ...], np.ndarray] | None = None
        self.executions: list[Execution] = []

    def subscriptions(self) -> list[tuple[str, Callable]]:
        """(topic, handler) pairs to subscribe."""
        return [(GRASP_SELECTED, self.on_selected), (HAND_TRAJECTORY, self.on_trajectory), (GRASP_POSE, self.on_pose),
                (JOINT_STATES, self.on_joint_state)]

    def on_selected(self, grasp: HandGrasp) -> None:
        self._selected = grasp

    def on_trajectory(self, trajectory: JointTrajectory) -> None:
        now = self._clock()
        self._replaced = [e for e in self.executions if e.closed and e.end_s > now]
        for e in self._replaced:  # anything still running is replaced (by a pre-shape unless a pose follows)
            e.closed, e.replaced_by = False, "preshape"
        self._trajectory = trajectory
        self._current = None  # the hand now moves elsewhere

    def on_pose(self, pose: PoseStamped) -> None:
        if self._selected is None or self._trajectory is None:
            return
        now = self._clock()
        points = self._trajectory.points
        duration = points[-1].time_from_start_ns * 1e-9 if points else 0.0
        for e in self._replaced:
            e.replaced_by = "same_type" if e.grasp_type == self._selected.grasp_type else "other_type"
        self._replaced = []
        e = Execution(now, now + duration, self._selected.grasp_type, self._selected)
        self.executions.append(e)
        self._current = (e, couple(hand_grasp_to_arrays(self._selected)[0]))

    def on_joint_state(self, state: JointState) -> None:
        """Record when the commanded joints first reach the executed grasp's posture."""
        if self._current is None or self._current[0].reached_s is not None:
            return
        names = tuple(state.name)
        if self._joint_index is None or self._joint_index[0] != names:
            if not set(FINGER_JOINTS) <= set(names):
                return
            self._joint_index = (names, np.array([names.index(n) for n in FINGER_JOINTS]))
        q = np.asarray(state.position, dtype=np.float64)[self._joint_index[1]]
        e, target = self._current
        if np.max(np.abs(q - target)) <= REACHED_TOLERANCE:
            e.reached_s = self._clock()

    def finish(self, session_s: float) -> None:
        """Executions still running at the session's end did not close."""
        for e in self.executions:
            if e.end_s > session_s:
                e.closed = False


def physics_check(protocol: str = "standard") -> Callable:
    """``check(pieces, grasp) -> (holds, details)``: the physics check's ``protocol`` on a
    ``HandGrasp`` as the hand executes it (its pregrasp, grasp and squeeze postures; the missing
    ones derived by the protocol's rule), its pose and the pieces in the same frame. One simulator
    per object, reused."""
    from ..grasp.physics import GraspSimulator, preset
    from ..grasp.posture import GraspPostures, HandPosture
    from ..hand.convert import hand_grasp_postures, hand_grasp_to_arrays

    config = preset(protocol)
    cache: dict[int, GraspSimulator] = {}

    def check(pieces, grasp):
        key = hash(tuple(np.asarray(v, np.float64).tobytes() for v, _ in pieces))
        if key not in cache:
            cache.clear()
            cache[key] = GraspSimulator(pieces, config)
        joints, rot, trans = hand_grasp_to_arrays(grasp)
        pre, squeeze = hand_grasp_postures(grasp)
        postures = GraspPostures(HandPosture(joints, rot, trans),
                                 None if pre is None or squeeze is None else HandPosture(pre, rot, trans),
                                 None if pre is None or squeeze is None else HandPosture(squeeze, rot, trans))
        result = cache[key].evaluate(postures)
        return bool(result.success), result.to_dict()

    return check


def performed_grasps(labels: np.ndarray, rate: float, class_names: Sequence[str], start_s: float = 0.0) -> list[PerformedGrasp]:
    """The performed grasps of a labelled stream: each run of a class label (>= 0) from its first
    to its last sample (-1 rest, -2 unknown); the onset is taken at the run's start.

    Args:
        labels: (n,) int per sample; rate: Hz; class_names: label -> type; start_s: time of sample 0.
    """
    labels = np.asarray(labels)
    edges = np.flatnonzero(np.diff(np.r_[-3, labels, -3]) != 0)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        if labels[a] >= 0:
            cue = start_s + a / rate
            out.append(PerformedGrasp(class_names[labels[a]], cue, cue, start_s + b / rate))
    return out
