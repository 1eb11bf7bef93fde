"""The physics check over many grasps (``grasp.physics``), in parallel worker processes, and
rates and means over the results.

Each worker compiles an object's model once and keeps it while its grasps run (keyed by the
pieces' content), so chunks of one object reuse it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing as mp
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from ..errors import DataError
from .physics import DIRECTION_NAMES, GraspSimulator, PhysicsConfig, PhysicsResult
from .posture import GraspPostures
from .physics_scene import Piece, resolve_hand

log = logging.getLogger(__name__)

_WORKER_CACHE: dict = {}


def _fingerprint(pieces: Sequence[Piece]) -> str:
    """Content hash of an object's pieces: the key of a worker's compiled model, so a model is
    reused only for the same geometry, whatever the call and the object's index in it."""
    h = hashlib.sha1()
    for vertices, faces in pieces:
        h.update(np.ascontiguousarray(vertices, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(faces, dtype=np.int64).tobytes())
    return h.hexdigest()


def _run_chunk(args):
    key, pieces, config, items = args
    sim = _WORKER_CACHE.get((key, config))
    if sim is None:
        _WORKER_CACHE.clear()  # one object model at a time per worker
        sim = GraspSimulator(pieces, config)
        _WORKER_CACHE[(key, config)] = sim
    out = []
    for idx, grasp in items:
        try:
            out.append((idx, sim.evaluate(grasp)))
        except DataError as exc:
            log.warning("grasp %d skipped: %s", idx, exc)
            out.append((idx, None))
    return out


def evaluate_postures(
    grasps: Sequence[GraspPostures | None],
    objects: Sequence[Sequence[Piece]],
    object_index=None,
    config: PhysicsConfig = PhysicsConfig(),
    workers: int = 2,
    chunk_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[PhysicsResult | None]:
    """Run the protocol on many grasps, in parallel over ``workers`` processes.

    Args:
        grasps: one ``GraspPostures`` per grasp (None: an invalid grasp, reported as None).
        objects: the distinct objects, each a list of convex pieces in metres (already scaled).
        object_index: (N,) index into ``objects`` of each grasp's object (default: all 0).
        workers: processes (1 = run here, no subprocess).
        chunk_size: grasps per task.
        progress: called with the number of grasps finished after each task.

    Returns:
        one ``PhysicsResult`` per grasp, in input order (None for a grasp rejected as invalid, logged).
    """
    n = len(grasps)
    object_index = np.zeros(n, dtype=int) if object_index is None else np.asarray(object_index, dtype=int)
    if object_index.shape != (n,) or (n and (object_index.min() < 0 or object_index.max() >= len(objects))):
        raise DataError(f"object_index must be (N,) indices into {len(objects)} objects")
    if config.hand == "auto":  # resolved once here, so every worker uses the same hand
        config = replace(config, hand=resolve_hand(config.hand))
    tasks = []
    for k in range(len(objects)):
        idx = [int(i) for i in np.nonzero(object_index == k)[0] if grasps[i] is not None]
        key = _fingerprint(objects[k]) if idx else None
        for s in range(0, len(idx), chunk_size):
            tasks.append((key, objects[k], config, [(i, grasps[i]) for i in idx[s : s + chunk_size]]))
    results: list[PhysicsResult | None] = [None] * n
    if workers <= 1 or len(tasks) <= 1:
        chunks = map(_run_chunk, tasks)
        pool = None
    else:
        pool = mp.get_context("spawn").Pool(workers)
        chunks = pool.imap_unordered(_run_chunk, tasks)
    try:
        for chunk in chunks:
            for i, r in chunk:
                results[i] = r
            if progress is not None:
                progress(len(chunk))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


def evaluate_grasps(joints, rot, trans, objects: Sequence[Sequence[Piece]], object_index=None,
                    config: PhysicsConfig = PhysicsConfig(), workers: int = 2, chunk_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list[PhysicsResult | None]:
    """``evaluate_postures`` for grasps given as one posture each (pregrasp and squeeze derived).

    Args:
        joints: (N, 22) Shadow finger joints, rad.
        rot: (N, 3, 3) palm rotations in the object frames.
        trans: (N, 3) palm positions, m.
        (the rest as ``evaluate_postures``; a grasp with NaN or inf is invalid: None, logged.)
    """
    joints = np.asarray(joints, dtype=np.float64).reshape(-1, 22)
    n = len(joints)
    rot = np.asarray(rot, dtype=np.float64).reshape(n, 3, 3)
    trans = np.asarray(trans, dtype=np.float64).reshape(n, 3)
    grasps: list[GraspPostures | None] = []
    for i in range(n):
        try:
            grasps.append(GraspPostures.single(joints[i], rot[i], trans[i]))
        except DataError as exc:
            log.warning("grasp %d skipped: %s", i, exc)
            grasps.append(None)
    return evaluate_postures(grasps, objects, object_index, config, workers, chunk_size, progress)


def summarize(results: Sequence[PhysicsResult | None], config: PhysicsConfig = PhysicsConfig()) -> dict:
    """Rates and means over results (invalid grasps count as failures).

    Returns:
        dict with n, n_invalid, success_rate, success_any_rate (None unless every push ran),
        rejected_rate (pregrasp penetrating by more than ``max_penetration``),
        mean/max_penetration_mm, mean/max_finger_penetration_mm, mean_pregrasp_penetration_mm,
        mean_contact_count, median_settle_shift_mm, limit_violation_rate (share of grasps beyond a
        limit by > 0.01 rad), direction_success_rate (per direction, fc; None where pushes were
        left out); rates are 0 and means NaN for no results.
    """
    valid = [r for r in results if r is not None]
    n = len(results)
    denom = max(n, 1)

    def mean(key, fn=np.mean):
        x = np.array([getattr(r, key) for r in valid], dtype=float)
        x = x[np.isfinite(x)]
        return float(fn(x)) if x.size else math.nan

    out = {
        "n": n,
        "n_invalid": n - len(valid),
        "success_rate": sum(r.success for r in valid) / denom,
        "success_any_rate": (sum(r.success_any for r in valid) / denom
                             if valid and all(r.success_any is not None for r in valid) else None),
        "rejected_rate": sum(r.rejected for r in valid) / denom,
        "mean_penetration_mm": mean("penetration_mm"),
        "max_penetration_mm": mean("penetration_mm", np.max),
        "mean_finger_penetration_mm": mean("finger_penetration_mm"),
        "max_finger_penetration_mm": mean("finger_penetration_mm", np.max),
        "mean_pregrasp_penetration_mm": mean("pregrasp_penetration_mm"),
        "mean_contact_count": mean("contact_count"),
        "median_settle_shift_mm": mean("settle_shift", np.median) * 1000,
        "limit_violation_rate": sum(r.limit_violation > 0.01 for r in valid) / denom,
    }
    pushes = [r for r in valid if len(r.displacement) == 6 and not r.rejected]
    if pushes and all(np.all(np.isfinite(r.displacement)) for r in pushes):
        held = np.array([(r.displacement < config.max_translation) & (r.rotation_deg < config.max_rotation_deg)
                         for r in pushes])
        out["direction_success_rate"] = dict(zip(DIRECTION_NAMES, (held.sum(0) / denom).tolist()))
    else:
        out["direction_success_rate"] = None
    return out
