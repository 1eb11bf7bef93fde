"""The grasp generator component: the latest intent and object in, ranked grasps out.

``grasp/intent`` (``GraspIntent``) + ``object/sdf`` (``ObjectSdf``) -> a diffusion model
samples ``num_candidates`` grasps of the intended type for the object, refines and ranks
them against its distance field (``grasp.diffusion.sampler``, ``grasp.refine``) ->
``grasp/candidates`` (``HandGraspArray``, best first) and ``grasp/selected`` (``HandGrasp``,
the best), in the field's frame.

Policy:

* One set per intent: a set is generated when a new intent begins (a type other than the one
  intended, or a type intended again after rest) and an object is known, as soon as both are.
  While the same intent is held, nothing regenerates: the hand is closing or holding the grasp
  made for it, and a new one would open it again; a new camera frame or a changed field (one
  whose centroid or extent moved by more than ``object_change`` metres, or whose grid changed)
  only becomes the object the next intent is grasped on. An intent that began before any
  usable field is grasped on the first one.
* Commit: a type is grasped once it has been intended for ``commit_s`` (message time, from its
  first intent to the latest). The default 0 grasps on the first intent: the onset decoder names
  a contraction's type once and holds it; with a decoder that corrects an onset's type (the vote
  decoder's ``correction_ms``), the corrected type's pre-shape and grasp replace the first one
  before it closes.
* A field is stale when no field (changed or not) has arrived for ``object_timeout_s``
  before an intent (the object was removed or the camera stopped): the intent is logged and
  skipped, never grasped against the old field; the next field serves it.
* Rest, a rejected decision (class index -1) or a confidence below ``min_confidence``
  never triggers a grasp; the last published grasp stays (the topics are latched) and the
  hand controller decides what the hand does. A rest ends the intent only at
  ``min_confidence`` (``IntentGate``): a rejected decision (confidence 0) in the middle of a
  contraction does not make the next intent a new one.
* Bad input: a field of the wrong size, with NaN/inf, or a non-positive voxel size drops
  the current object (no grasp is built from it) and is logged (throttled) and counted in
  ``failures``; an intent of a type the model does not know is logged and ignored.
  Missing or corrupt weights raise ``ModelError`` at construction (start-up).

Grids may be rotated relative to their frame: sampling runs in the grid's frame and the
grasps are expressed in the header frame. Deterministic: request k (counted from 0) uses
the noise seed ``seed + k``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .. import REST
from ..config import param
from ..errors import ConfigError, DataError
from ..geometry import quat_xyzw_to_matrix
from ..grasp.diffusion.checkpoint import model_folder
from ..grasp.diffusion.sampler import GraspCandidates, GraspSampler, ObjectCondition
from ..grasp.refine import GraspRefiner, RefineConfig
from ..grasp.verify import GraspVerifier, VerifyConfig
from ..hand.convert import arrays_to_hand_grasp
from ..perception.sdf import DistanceField
from ..throttle import Throttle
from ..topics import GRASP_CANDIDATES, GRASP_INTENT, GRASP_SELECTED, OBJECT_SDF
from ..types import GraspIntent, HandGrasp, HandGraspArray, Header, ObjectSdf
from .component import Ports
from .intent_gate import IntentGate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraspDiffusionConfig:
    """Parameters of :class:`GraspDiffusionComponent` (metres unless named otherwise)."""

    model: str = param("grasp_improved", "model folder: a path, or a folder name under the package's models/")
    num_candidates: int = param(0, "grasps sampled per request; 0: the model's stored setting", (0, 256), live=True)
    steps: int = param(-1, "reverse diffusion steps; -1: the model's stored setting, 0: every training step",
                    (-1, 1000), live=True)
    guidance_scale: float = param(-1.0, "classifier-free guidance weight; < 0: the model's stored setting",
                               (-1.0, 20.0), live=True)
    refine_steps: int = param(RefineConfig.steps,
                              "refinement (Gauss-Newton) steps per request (0: evaluate and rank only)", (0, 200),
                              live=True)
    verify_budget_s: float = param(VerifyConfig.budget_s,
                                   "seconds per request for trying the ranked grasps in simulation against the "
                                   "field's object; the first that holds is executed (0: off)", (0.0, 60.0))
    min_confidence: float = param(0.6, "intents below this confidence never trigger a grasp", (0.0, 1.0), live=True)
    commit_s: float = param(0.0, "a type is grasped once intended this long (seconds of message time from its "
                                 "first intent): 0 = on its first intent", (0.0, 60.0), live=True)
    object_change: float = param(0.01, "centroid or extent change that makes a new field a new object, metres",
                              (0.0, 1.0))
    object_timeout_s: float = param(3.0, "an intent more than this many seconds after the latest field is not "
                                    "grasped against it (0: fields never go stale, e.g. one latched field)",
                                    (0.0, 3600.0), live=True)
    seed: int = param(0, "sampling noise seed (request k uses seed + k)", (0, 2**31 - 1))
    torch_threads: int = param(1, "CPU threads for torch in this process (0: leave torch's setting)", (0, 256))
    log_throttle_s: float = param(1.0, "same failure reason logged at most once per this many seconds", (0.0, 3600.0))

    def __post_init__(self):
        if self.num_candidates < 0 or self.refine_steps < 0 or self.steps < -1 or self.torch_threads < 0:
            raise ConfigError("num_candidates, refine_steps and torch_threads must be >= 0, steps >= -1")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must lie in [0, 1], got {self.min_confidence}")
        if self.object_change < 0 or self.log_throttle_s < 0 or self.object_timeout_s < 0:
            raise ConfigError("object_change, object_timeout_s and log_throttle_s must be >= 0")

    def model_path(self) -> Path:
        """The model folder (``model`` as a path, else ``models/<model>``).

        Raises:
            ModelError: not found.
        """
        return model_folder(self.model)


@dataclass(frozen=True, eq=False)
class _Object:
    """The current object: its message, the grid pose in the header frame and the encoding."""

    sdf: ObjectSdf
    rotation: np.ndarray  # (3, 3) grid axes in the header frame
    condition: ObjectCondition


class GraspDiffusionComponent:
    """Intent + object -> ranked grasps (see the module docstring)."""

    name = "grasp_diffusion"

    def __init__(self, config: GraspDiffusionConfig = GraspDiffusionConfig(), sampler: GraspSampler | None = None):
        self.config = config
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        if sampler is None:
            sampler = GraspSampler.from_pretrained(config.model_path())
        self._stored = sampler  # the model with its stored sampler settings
        self.sampler = self._sampler(config)
        self._object: _Object | None = None
        self._gate = IntentGate(config.min_confidence, round(config.commit_s * 1e9))  # stamps in ns
        self._done: tuple[str, int] | None = None  # (type, first stamp) of the intent last grasped
        self._stamp_ns = 0
        self._field_ns = 0  # stamp of the latest valid field, changed or not
        self._throttle = Throttle(config.log_throttle_s * 1e9)
        #: failure reason -> count (bad fields, unknown types, failed generations).
        self.failures: Counter[str] = Counter()
        #: requests served, and wall seconds of the latest one.
        self.requests = 0
        self.last_seconds = float("nan")

    def _sampler(self, config: GraspDiffusionConfig) -> GraspSampler:
        overrides = {}  # the model's stored sampler settings, unless the config gives one
        if config.num_candidates > 0:
            overrides["num_candidates"] = config.num_candidates
        if config.steps >= 0:
            overrides["steps"] = config.steps
        if config.guidance_scale >= 0:
            overrides["guidance_scale"] = config.guidance_scale
        return GraspSampler(self._stored.model, replace(self._stored.config, **overrides),
                            GraspRefiner(RefineConfig(steps=config.refine_steps)),
                            GraspVerifier(VerifyConfig(budget_s=config.verify_budget_s)))

    def reconfigure(self, config: GraspDiffusionConfig) -> None:
        """Apply new ``live`` parameters (candidates, steps, guidance, refinement, gating) from
        the next request on.

        Raises:
            ConfigError: the sampler refuses the settings (e.g. guidance on a paper model).
        """
        self.sampler = self._sampler(config)
        self.config = config
        self._gate.min_confidence = config.min_confidence
        self._gate.commit = round(config.commit_s * 1e9)

    def ports(self) -> Ports:
        return Ports(inputs={GRASP_INTENT: self.on_intent, OBJECT_SDF: self.on_sdf},
                     outputs={HandGraspArray: GRASP_CANDIDATES, HandGrasp: GRASP_SELECTED})

    # ------------------------------------------------------------------ inputs

    def on_intent(self, intent: GraspIntent) -> list:
        """Record the intended type; generate when a new intent begins and an object is known."""
        stamp = int(intent.header.stamp_ns)
        if intent.is_rest or intent.grasp_type == REST:
            # No grasp is intended any more (a rest that counts: IntentGate): the next intent is new.
            self._gate.update(None, intent.confidence, stamp)
            return []
        if not self._gate.counts(intent.confidence):
            log.debug("intent %s at confidence %.2f below %.2f: ignored", intent.grasp_type, intent.confidence,
                      self.config.min_confidence)
            return []
        if intent.grasp_type not in self.sampler.model.grasp_types:
            return self._fail(f"intent type {intent.grasp_type!r} unknown to the model "
                              f"(knows {list(self.sampler.model.grasp_types)})", stamp)
        self._gate.update(intent.grasp_type, intent.confidence, stamp)
        self._stamp_ns = max(self._stamp_ns, stamp)
        timeout = self.config.object_timeout_s
        if self._object is not None and timeout > 0 and stamp - self._field_ns > timeout * 1e9:
            return self._fail(f"object field stale: the latest is {(stamp - self._field_ns) * 1e-9:.1f} s older than "
                              f"the intent (object_timeout_s {timeout:g}); waiting for a fresh field", stamp)
        return self._maybe_generate()

    def on_sdf(self, sdf: ObjectSdf) -> list:
        """Take a new field (the object the next intent is grasped on); generate when an intent
        waits for a usable field."""
        stamp = int(sdf.header.stamp_ns)
        if self._object is not None and not self._changed(self._object.sdf, sdf):
            if stamp > self._field_ns:  # the same object, seen again: fresh; serves an intent a stale field held
                self._field_ns = stamp
                self._stamp_ns = max(self._stamp_ns, stamp)
                return self._maybe_generate()
            return []
        try:
            self._object = self._prepare(sdf)
            self._field_ns = stamp
        except DataError as exc:
            self._object = None
            return self._fail(f"object field rejected: {exc}", stamp)
        self._stamp_ns = max(self._stamp_ns, stamp)
        return self._maybe_generate()

    # ------------------------------------------------------------------ work

    def _changed(self, old: ObjectSdf, new: ObjectSdf) -> bool:
        thr = self.config.object_change
        return (old.header.frame_id != new.header.frame_id or old.shape != new.shape
                # the grid's span, not its voxel size: an object-sized grid breathes with sensor noise
                or abs(new.voxel_size - old.voxel_size) * max(new.shape) > thr
                or np.linalg.norm(np.asarray(new.centroid) - np.asarray(old.centroid)) > thr
                or np.abs(np.asarray(new.extent) - np.asarray(old.extent)).max(initial=0.0) > thr
                or np.linalg.norm(new.origin.position - old.origin.position) > thr
                or not np.allclose(new.origin.orientation, old.origin.orientation, atol=1e-6))

    def _prepare(self, sdf: ObjectSdf) -> _Object:
        """Check and encode a field in its grid frame (origin at the corner voxel, grid axes)."""
        if not isinstance(sdf, ObjectSdf):
            raise DataError(f"expected an ObjectSdf, got {type(sdf).__name__}")
        rot = quat_xyzw_to_matrix(sdf.origin.orientation)
        local = DistanceField(np.asarray(sdf.distances, dtype=np.float32), np.zeros(3), float(sdf.voxel_size),
                              bool(sdf.is_signed), rot.T @ (np.asarray(sdf.centroid) - sdf.origin.position),
                              np.asarray(sdf.extent))
        return _Object(sdf, rot, self.sampler.prepare(local))

    def _maybe_generate(self) -> list:
        if self._object is None or not self._gate.committed:
            return []
        key = (self._gate.type, self._gate.since)  # the intent: one set each
        if key == self._done:
            return []
        self._done = key
        return self.generate(self._gate.type)

    def generate(self, grasp_type: str) -> list:
        """Sample, refine and rank grasps of ``grasp_type`` for the current object.

        Returns:
            [HandGraspArray (ranked), HandGrasp (the best)], or [] without an object or on failure.
        """
        obj = self._object
        if obj is None:
            return []
        gen = torch.Generator().manual_seed(self.config.seed + self.requests)
        self.requests += 1
        try:
            cands = self.sampler.generate(obj.condition, grasp_type, generator=gen)
        except DataError as exc:
            return self._fail(f"generation failed: {exc}", self._stamp_ns)
        self.last_seconds = cands.seconds
        header = Header(self._stamp_ns, obj.sdf.header.frame_id)
        grasps = self._to_messages(cands, obj, header)
        log.info("%d %s grasps in %.0f ms (best energy %.3f)", len(grasps), grasp_type, 1e3 * cands.seconds,
                 cands.energy[0])
        return [HandGraspArray(header, tuple(grasps)), grasps[0]]

    @staticmethod
    def _to_messages(cands: GraspCandidates, obj: _Object, header: Header) -> list[HandGrasp]:
        R0, p0 = obj.rotation, obj.sdf.origin.position
        out = []
        score = cands.energy if cands.score is None else cands.score  # the ranking score, lower is better
        for i in range(len(cands)):
            rot, trans = R0 @ cands.rot[i], R0 @ cands.trans[i] + p0
            out.append(arrays_to_hand_grasp(
                cands.joints[i], rot, trans, header, cands.grasp_type, score=float(-score[i]),
                penetration_depth=float(cands.penetration_depth[i]), contact_distance=float(cands.contact_distance[i]),
                finger_penetration_depth=float(cands.finger_penetration[i]),
                pregrasp_positions=cands.pregrasp[i], squeeze_positions=cands.squeeze[i]))
        return out

    def _fail(self, reason: str, stamp_ns: int) -> list:
        key = reason.split(":")[0]
        self.failures[key] += 1
        if self._throttle(key, stamp_ns):
            log.warning("%s", reason)
        return []
