"""Where grasp synthesis runs: work units, and executors that run them here or on a Ray cluster.

A synthesis run is cut into *work units*: groups of up to ``batch_objects`` objects whose
(object, type) tasks are optimised together in one batch (``synthesis.optimise``; batching
several objects makes the optimiser about 1.8x faster on a CPU). A unit's grasps depend only
on its objects, its seed and the settings, never on when or where it runs:

* the units are fixed by the object order (:func:`plan_units`: consecutive groups of the
  ordered set; a resumed run cuts the same groups and leaves out the objects already done);
* a unit is seeded by its object ids (:meth:`WorkUnit.seed`), with one object per unit it is
  seeded per object;
* every process sets the same torch thread count before it runs a unit, and each unit builds
  its own energy (one reused across units carries state that changes the last bits).

Units are not merged or split differently on a cluster, because batched float operations
round differently with the batch's composition (the joints of an object optimised next to
another move by about 1e-6 rad, and the optimisation amplifies that). So a local run and a
Ray run of the same settings write the same datasets bit for bit, and so does a run resumed
after its driver died.

Executors yield ``(unit, outcomes)`` as units finish. The caller (``semg-grasp data synth``)
writes a unit's objects and the index before it takes the next one, so a driver that dies
loses only the units in flight. On Ray a unit whose worker dies is run again
(``max_retries``), so a dead worker loses nothing; the cluster runs as many units at once as
it has CPUs for (``threads`` CPUs each, or one GPU each on ``cuda``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ... import GRASP_TYPES
from ...errors import ConfigError, DataError
from .energy import GraspEnergy
from .objects import GraspObject
from .synthesis import SynthesisConfig, accepted, optimise, physics_check, prepare_object

log = logging.getLogger(__name__)

#: Default retries of a Ray unit whose worker died (Ray's own default for tasks).
RAY_MAX_RETRIES = 3


@dataclass(frozen=True)
class SynthesisSettings:
    """What every unit of a run shares.

    Attributes:
        config: the synthesis settings.
        types: grasp types to synthesise.
        repeats: task repeats per type (types missing from it get one).
        seed: the run's seed (object surface samples and, with the object ids, each unit's seed).
        device: torch device of the optimiser (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
        threads: torch CPU threads per unit.
        physics_workers: processes of the physics check per unit.
    """

    config: SynthesisConfig = field(default_factory=SynthesisConfig)
    types: tuple[str, ...] = GRASP_TYPES
    repeats: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    threads: int = 1
    physics_workers: int = 1

    def __post_init__(self):
        unknown = set(self.types) - set(GRASP_TYPES)
        if not self.types or unknown:
            raise ConfigError(f"types must be a non-empty subset of {list(GRASP_TYPES)}, got {list(self.types)}")
        if self.threads < 1 or self.physics_workers < 1:
            raise ConfigError(f"threads and physics_workers must be positive, got {self.threads}, "
                              f"{self.physics_workers}")


@dataclass(frozen=True, eq=False)
class WorkUnit:
    """Objects optimised together in one batch."""

    objects: tuple[GraspObject, ...]

    @property
    def object_ids(self) -> list[str]:
        return [o.object_id for o in self.objects]

    def seed(self, run_seed: int) -> int:
        """The unit's seed: a hash of the run's seed and the unit's object ids (32 bits)."""
        return int(hashlib.sha1(f"{run_seed}:{self.object_ids}".encode()).hexdigest()[:8], 16)


@dataclass(frozen=True, eq=False)
class ObjectOutcome:
    """What a unit found for one of its objects (K accepted grasps).

    Attributes:
        obj: the object.
        skipped: why the object was skipped (its mesh is degenerate), else None.
        sdf: its 50³ distance field (``perception.sdf.DistanceField``; None when skipped).
        joints (K, 22) rad, rot (K, 3, 3), trans (K, 3) m: the accepted grasps, object frame.
        types: (K,) requested types (indices into ``GRASP_TYPES``).
        metrics: per-grasp arrays (physics check and synthesis diagnostics), each (K, ...).
        stats: per type: candidates, pre_accepted, physics_success, accepted.
        seconds: the unit's wall time shared out over its objects.
    """

    obj: GraspObject
    skipped: str | None = None
    sdf: object = None
    joints: np.ndarray = field(default_factory=lambda: np.zeros((0, 22)))
    rot: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    trans: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    types: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    metrics: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0


def plan_units(ordered: Sequence[GraspObject], done: Iterable[str], batch_objects: int,
               limit: int | None = None) -> list[WorkUnit]:
    """The units still to run: consecutive groups of ``batch_objects`` of ``ordered``, less the
    objects in ``done``, at most ``limit`` objects in all (the last unit cut short).

    Raises:
        ConfigError: ``batch_objects`` < 1 or ``limit`` < 0.
    """
    if batch_objects < 1 or (limit is not None and limit < 0):
        raise ConfigError(f"batch_objects must be >= 1 and limit >= 0, got {batch_objects}, {limit}")
    done = set(done)
    units, count = [], 0
    for start in range(0, len(ordered), batch_objects):
        todo = [o for o in ordered[start : start + batch_objects] if o.object_id not in done]
        if limit is not None:
            todo = todo[: limit - count]
        if todo:
            units.append(WorkUnit(tuple(todo)))
            count += len(todo)
        if limit is not None and count >= limit:
            break
    return units


def synthesise_unit(unit: WorkUnit, settings: SynthesisSettings) -> list[ObjectOutcome]:
    """Prepare, optimise and physics-check one unit; one outcome per object, in unit order.

    Pure computation (no files): the same unit and settings give the same outcomes bit for bit
    on the same kind of device and torch build.
    """
    import torch

    torch.set_num_threads(settings.threads)
    cfg = settings.config
    t0 = time.time()
    preps, outcomes = [], {}
    for o in unit.objects:
        try:
            preps.append(prepare_object(o, cfg, seed=settings.seed))
        except DataError as exc:
            outcomes[o.object_id] = ObjectOutcome(o, skipped=str(exc))
            log.warning("skipping %s: %s", o.object_id, exc)
    tasks = [(p, t) for p in preps for t in p.obj.types if t in settings.types
             for _ in range(settings.repeats.get(t, 1))]
    if tasks:
        # a new energy per unit: one that optimised other units before gives other bits
        cands = optimise(tasks, cfg, GraspEnergy(weights=cfg.weights), seed=unit.seed(settings.seed),
                         device=settings.device)
        results = dict(physics_check(cands, tasks, workers=settings.physics_workers))
    seconds = round((time.time() - t0) / max(len(preps), 1), 1)
    for p in preps:
        if not tasks:
            outcomes[p.obj.object_id] = ObjectOutcome(p.obj, sdf=p.field50, seconds=seconds)
            continue
        mine = np.nonzero([tasks[k][0] is p for k in cands.task])[0]
        keep = [i for i in mine if accepted(results.get(i), cfg)]
        stats = {}
        for t in sorted({GRASP_TYPES[cands.type_index[i]] for i in mine}):
            m = [i for i in mine if GRASP_TYPES[cands.type_index[i]] == t]
            stats[t] = {"candidates": len(m), "pre_accepted": int(cands.pre_accepted[m].sum()),
                        "physics_success": int(sum(results.get(i) is not None and results[i].success for i in m)),
                        "accepted": int(sum(i in keep for i in m))}
        res = [results[i] for i in keep]
        keep = np.array(keep, dtype=int)
        metrics = {"penetration_mm": np.array([r.penetration_mm for r in res]),
                   "contact_distance_mm": np.array([r.contact_distance_mm for r in res]),
                   "physics_success": np.array([r.success for r in res], dtype=bool),
                   "physics_displacement": np.array([r.displacement for r in res]).reshape(-1, 6),
                   "energy": cands.energy[keep],
                   "synth_penetration_mm": cands.max_penetration_mm[keep],
                   "synth_contact_mm": cands.mean_contact_mm[keep]}
        outcomes[p.obj.object_id] = ObjectOutcome(
            p.obj, sdf=p.field50, joints=cands.joints[keep], rot=cands.rot[keep], trans=cands.trans[keep],
            types=cands.type_index[keep], metrics=metrics, stats=stats, seconds=seconds)
    return [outcomes[o.object_id] for o in unit.objects]


class LocalExecutor:
    """Runs the units one after the other in this process (the default)."""

    name = "local"

    def run(self, units: Sequence[WorkUnit], settings: SynthesisSettings
            ) -> Iterator[tuple[WorkUnit, list[ObjectOutcome]]]:
        for unit in units:
            yield unit, synthesise_unit(unit, settings)


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("running on a Ray cluster needs ray: pip install 'semg_grasp_ros[cluster]'") from exc
    return ray


class RayExecutor:
    """Runs the units as Ray tasks, as many at once as the cluster has resources for.

    Args:
        address: the cluster to join when Ray is not initialised in this process yet: ``"auto"``
            (the cluster this machine belongs to, ``ray start``), ``"local"`` (start one on this
            machine), or the head's address (``"ray://head:10001"``, ``"head:6379"``). An
            initialised Ray (``ray.init`` called before) is used as it is.
        max_retries: runs of a unit whose worker died, after the first.
        in_flight: units submitted at once (default: twice the units the cluster runs at once,
            so no worker waits for the driver). A dying driver loses at most these.
    """

    name = "ray"

    def __init__(self, address: str | None = "auto", max_retries: int = RAY_MAX_RETRIES, in_flight: int | None = None):
        if max_retries < 0 or (in_flight is not None and in_flight < 1):
            raise ConfigError(f"max_retries must be >= 0 and in_flight >= 1, got {max_retries}, {in_flight}")
        self.address, self.max_retries, self.in_flight = address, max_retries, in_flight

    def run(self, units: Sequence[WorkUnit], settings: SynthesisSettings
            ) -> Iterator[tuple[WorkUnit, list[ObjectOutcome]]]:
        ray = _import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address)
            except ConnectionError as exc:
                raise ConfigError(f"no Ray cluster at {self.address!r} ({exc}); start one ('ray start --head') "
                                  "or give 'local' to start one on this machine") from exc
        gpu = settings.device.startswith("cuda")
        need = {"num_gpus": 1, "num_cpus": 1} if gpu else {"num_cpus": max(settings.threads, settings.physics_workers)}
        remote = ray.remote(synthesise_unit).options(max_retries=self.max_retries, retry_exceptions=False,
                                                     name="synthesise_unit", **need)
        available = ray.cluster_resources()
        slots = available.get("GPU", 0) if gpu else available.get("CPU", 1) // need["num_cpus"]
        if slots < 1:
            raise ConfigError(f"the Ray cluster has no room for a unit needing {need} (it has {available})")
        limit = self.in_flight or int(2 * slots)
        settings_ref = ray.put(settings)
        queue, pending = iter(units), {}

        def submit():
            for unit in queue:
                pending[remote.remote(unit, settings_ref)] = unit
                if len(pending) >= limit:
                    return

        submit()
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(ready[0])
                outcomes = ray.get(ready[0])
                submit()
                yield unit, outcomes
        finally:
            for ref in pending:
                ray.cancel(ref)


def make_executor(ray_address: str | None = None, **ray_options) -> LocalExecutor | RayExecutor:
    """The local executor, or a Ray one joining ``ray_address`` (see :class:`RayExecutor`)."""
    return LocalExecutor() if ray_address is None else RayExecutor(ray_address, **ray_options)
