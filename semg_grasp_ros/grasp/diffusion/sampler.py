"""Grasp sampling: a trained denoiser driven by a DDPM or DDIM scheduler, with
classifier-free guidance on the grasp type, then refinement and ranking.

Example::

    sampler = GraspSampler.from_pretrained("models/grasp_improved")
    obj = sampler.prepare(field)                      # DistanceField, encoded once
    gen = torch.Generator().manual_seed(0)
    cands = sampler.generate(obj, "cylindrical", generator=gen)
    cands.joints[0], cands.rot[0], cands.trans[0]     # the best grasp, in the field's frame
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from ... import GRASP_TYPES
from ...config import build_config
from ...errors import ConfigError, DataError, ModelError
from ...perception.sdf import DistanceField
from ..data.labels import classify
from ..posture import GraspPostures, HandPosture
from ..refine import GraspRefiner, RefineConfig
from ..verify import GraspVerifier
from .checkpoint import from_pretrained
from .networks import GraspDiffusion, ImprovedDenoiser
from .scheduler import SCHEDULERS, SPACINGS, make_scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplerConfig:
    """How to sample.

    Attributes:
        method: ``"ddim"`` (deterministic with eta = 0, few steps) or ``"ddpm"`` (ancestral).
        steps: reverse steps (0: every training timestep, the paper's 50-step DDPM).
        eta: DDIM noise (0 = deterministic, 1 = DDPM-like).
        spacing: timestep spacing, ``"trailing"``, ``"leading"`` or ``"linspace"``.
        guidance_scale: classifier-free guidance weight w (Ho & Salimans 2022):
            eps = eps_null + w (eps_type - eps_null); 1 = plain conditional sampling (the
            only value for models trained without a null type).
        num_candidates: grasps sampled per request.
    """

    method: str = "ddim"
    steps: int = 10
    eta: float = 0.0
    spacing: str = "trailing"
    guidance_scale: float = 1.0
    num_candidates: int = 16

    def __post_init__(self):
        if self.method not in SCHEDULERS:
            raise ConfigError(f"unknown sampling method {self.method!r}; expected one of {sorted(SCHEDULERS)}")
        if self.spacing not in SPACINGS:
            raise ConfigError(f"unknown spacing {self.spacing!r}; expected one of {list(SPACINGS)}")
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"steps must be an integer >= 0 (0 = all training steps), got {self.steps!r}")
        if not isinstance(self.num_candidates, int) or self.num_candidates < 1:
            raise ConfigError(f"num_candidates must be a positive integer, got {self.num_candidates!r}")
        if not 0.0 <= self.eta <= 1.0:
            raise ConfigError(f"eta must lie in [0, 1], got {self.eta}")
        if not self.guidance_scale >= 0:
            raise ConfigError(f"guidance_scale must be >= 0, got {self.guidance_scale}")


@dataclass(frozen=True, eq=False)
class ObjectCondition:
    """An object ready for sampling: its field and the denoiser's code of it.

    Attributes:
        sdf: (n, n, n) float32 distances, metres.
        origin: (3,) float32 centre of voxel (0, 0, 0) in the field's frame, metres.
        voxel_size: metres.
        centre: (3,) float32 centre of the grid, metres (grasp translations are relative to it).
        code: (1, cond_dim) object code.
        field: the field as given (for the hand-pose descriptor of the ranking).
        simulator: the field's object for verification (``grasp.verify``; None without).
    """

    sdf: torch.Tensor
    origin: torch.Tensor
    voxel_size: float
    centre: torch.Tensor
    code: torch.Tensor
    field: DistanceField
    simulator: object | None = None


@dataclass(frozen=True, eq=False)
class GraspCandidates:
    """Ranked grasps of one request, best first, in the field's frame.

    Attributes:
        grasp_type: the requested type.
        joints: (K, 22) float64 rad (``FINGER_JOINTS`` order), on the hand's coupled set (J1 = J2
            of FF, MF, RF, LF: ``hand.model.couple``).
        rot: (K, 3, 3) palm rotations.
        trans: (K, 3) palm positions, metres.
        energy: (K,) ranking energy (lower is better; NaN when not ranked).
        penetration_depth: (K,) metres (NaN when not evaluated).
        contact_distance: (K,) metres (NaN when not evaluated).
        seconds: wall time of the request (sampling + refinement + ranking).
        type_ok: (K,) bool, the hand-pose descriptor gives the requested type (None when
            not checked).
        finger_penetration: (K,) metres, deepest overlap between fingers of different digits
            (NaN when not evaluated).
        pregrasp, squeeze: (K, 22) rad, the postures the hand takes before and after ``joints``
            (pre-shape -> pregrasp -> grasp -> squeeze, ``GraspRefiner.postures``), at the same
            palm pose; on the coupled set.
        score: (K,) the ranking score (``GraspRefiner.score``: the energy less the contact normals'
            opposition bonus; lower is better; NaN when not ranked).
        verified: (K,) the physics check against the field's object (``grasp.verify``): 1 holds,
            0 fails, NaN not tried (None without verification).
    """

    grasp_type: str
    joints: np.ndarray
    rot: np.ndarray
    trans: np.ndarray
    energy: np.ndarray
    penetration_depth: np.ndarray
    contact_distance: np.ndarray
    seconds: float
    type_ok: np.ndarray | None = None
    finger_penetration: np.ndarray | None = None
    pregrasp: np.ndarray | None = None
    squeeze: np.ndarray | None = None
    score: np.ndarray | None = None
    verified: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    def postures(self, i: int) -> GraspPostures:
        """Candidate ``i`` as the hand executes it, in the field's frame (pregrasp and squeeze None
        when the sampler gave none: the physics check derives them)."""
        def at(q):
            return None if q is None else HandPosture(q[i], self.rot[i], self.trans[i])

        return GraspPostures(at(self.joints), at(self.pregrasp), at(self.squeeze))

    def reordered(self, order: np.ndarray) -> GraspCandidates:
        """The same candidates in ``order`` ((K,) indices): every per-candidate array taken in it."""
        k = len(self)
        return replace(self, **{f.name: getattr(self, f.name)[order] for f in fields(self)
                                if isinstance(getattr(self, f.name), np.ndarray) and len(getattr(self, f.name)) == k})


class GraspSampler:
    """Composes a ``GraspDiffusion`` model, a scheduler and an optional ``GraspRefiner``.

    Args:
        model: the trained model (put in eval mode here).
        config: sampling settings.
        refiner: refines and ranks the samples; None returns them as sampled.
        verifier: tries the ranked candidates in simulation and executes the first that holds
            (``grasp.verify``); None or a zero budget skips it.

    Raises:
        ConfigError: guidance on a model without a null type, or more steps than the
            model's training chain.
    """

    def __init__(self, model: GraspDiffusion, config: SamplerConfig = SamplerConfig(),
                 refiner: GraspRefiner | None = None, verifier: GraspVerifier | None = None):
        self.model = model.eval()
        self.config = config
        self.refiner = refiner
        self.verifier = verifier if verifier is not None and verifier.enabled else None
        # the hand's pregrasp and squeeze postures of every grasp, refined or not
        self._postures = refiner if refiner is not None else GraspRefiner(RefineConfig(steps=0))
        if config.guidance_scale != 1.0 and model.config.kind == "paper":
            raise ConfigError("guidance_scale != 1 needs a model with a null type (kind 'improved'); "
                              "the paper's model has none")
        self.scheduler = make_scheduler(config.method, model.config.scheduler, config.eta)
        steps = config.steps or self.scheduler.num_train_timesteps
        self.scheduler.set_timesteps(steps, config.spacing)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, config: SamplerConfig | None = None,
                        refiner: GraspRefiner | None = None, verifier: GraspVerifier | None = None) -> "GraspSampler":
        """A sampler for the model folder ``path`` (see ``checkpoint.from_pretrained``);
        ``config`` None takes the sampling settings stored with the model.

        Raises:
            ModelError: missing or corrupt model files, or invalid stored sampling settings.
        """
        model = from_pretrained(path)
        if config is None:
            try:
                config = build_config(SamplerConfig, dict(model.info.get("sampler") or {}))
            except ConfigError as exc:
                raise ModelError(f"{path}: stored sampler settings are invalid: {exc}") from exc
        return cls(model, config, refiner, verifier)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prepare(self, field: DistanceField) -> ObjectCondition:
        """Check a distance field and encode it once (reuse the result for every request).

        Raises:
            DataError: wrong grid size, non-finite distances, or a bad voxel size.
        """
        n = self.model.sdf_size
        d = np.asarray(field.distances)
        if d.shape != (n, n, n):
            raise DataError(f"distance field has shape {d.shape}; this model needs ({n}, {n}, {n})")
        if not np.isfinite(d).all():
            raise DataError(f"distance field has {int((~np.isfinite(d)).sum())} NaN/inf voxels")
        voxel = float(field.voxel_size)
        origin = np.asarray(field.origin, dtype=np.float64).reshape(3)
        if not (np.isfinite(voxel) and voxel > 0 and np.isfinite(origin).all()):
            raise DataError(f"distance field needs a positive voxel size and a finite origin, got {voxel}, {origin}")
        sdf = torch.tensor(d, dtype=torch.float32, device=self.device)
        origin_t = torch.as_tensor(origin, dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            code = self.model.encode(sdf.unsqueeze(0), torch.tensor([voxel], device=self.device))
        simulator = self.verifier.prepare(field) if self.verifier is not None else None
        return ObjectCondition(sdf, origin_t, voxel, origin_t + voxel * (n - 1) / 2, code.clone(), field, simulator)

    @torch.inference_mode()
    def sample(self, obj: ObjectCondition, grasp_type: str, num: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Run the reverse process for one type.

        Args:
            obj: from ``prepare``.
            grasp_type: one of the model's ``grasp_types``.
            num: samples (default ``config.num_candidates``).
            generator: CPU generator of the initial and per-step noise (reproducible runs).

        Returns:
            (num, grasp_dim) normalised grasp vectors.

        Raises:
            DataError: unknown grasp type.
        """
        num = num or self.config.num_candidates
        type_idx = self.model.type_index(grasp_type)
        dev = self.device
        D = self.model.grasp_dim
        w = self.config.guidance_scale
        guided = w != 1.0
        timesteps = self.scheduler.timesteps
        denoiser = self.model.denoiser
        films = None
        if isinstance(denoiser, ImprovedDenoiser):
            # The condition (object, type, time) is the same for every candidate: its FiLM
            # parameters for all steps and both types (requested, null) in one pass, (G, S, width).
            kinds = torch.tensor([type_idx, -1] if guided else [type_idx], device=dev)
            S, G = timesteps.numel(), kinds.numel()
            flat = denoiser.conditioning(timesteps.to(dev).repeat(G), obj.code.expand(G * S, -1),
                                         kinds.repeat_interleave(S))
            films = [(a.reshape(G, S, -1), b.reshape(G, S, -1)) for a, b in flat]
        else:
            types = torch.full((2 * num if guided else num,), type_idx, dtype=torch.long, device=dev)
            if guided:
                types[num:] = -1
            code = obj.code.expand(types.shape[0], -1)
        x = torch.randn(num, D, generator=generator).to(dev)
        for k, t in enumerate(timesteps.tolist()):
            if films is not None:  # (G, num, D): the candidates under each type's condition
                out = denoiser.denoise(x.expand(len(films[0][0]), num, D),
                                       [(a[:, k : k + 1], b[:, k : k + 1]) for a, b in films])
                out = out[0] if not guided else out[1] + w * (out[0] - out[1])
            else:
                tt = torch.full((types.shape[0],), t, dtype=torch.long, device=dev)
                out = self.model(torch.cat([x, x]) if guided else x, tt, code, types)
                if guided:
                    cond, null = out[:num], out[num:]
                    out = null + w * (cond - null)
            # Steps run on the CPU so a CPU generator drives the noise on any device.
            x = self.scheduler.step(out.cpu(), t, x.cpu(), generator=generator).prev_sample.to(dev)
        return x

    def generate(self, obj: ObjectCondition, grasp_type: str, num: int | None = None,
                 generator: torch.Generator | None = None) -> GraspCandidates:
        """Sample, decode, refine and rank grasps of ``grasp_type`` for ``obj``, with each grasp's
        pregrasp and squeeze postures; with a verifier, the first candidate that holds in
        simulation moves to the front.

        Returns:
            ``GraspCandidates`` best first (as sampled when there is no refiner).

        Raises:
            DataError: unknown grasp type, or a model producing non-finite grasps.
        """
        start = time.perf_counter()
        x = self.sample(obj, grasp_type, num, generator).clone()
        centre = obj.centre.to(x).expand(x.shape[0], 3)
        joints, rot, trans = self.model.decode_grasps(x, centre)
        if not (torch.isfinite(joints).all() and torch.isfinite(rot).all() and torch.isfinite(trans).all()):
            raise DataError("the model produced non-finite grasps; its weights are unusable")
        joints = self.model.normalizer.clamp_joints(joints).cpu()
        rot, trans = rot.cpu(), trans.cpu()
        nan = torch.full((x.shape[0],), float("nan"))
        type_ok = None
        if self.refiner is None:  # as sampled, unranked
            order = torch.arange(x.shape[0])
            energy = penetration = contact = finger = score = nan
        else:
            joints, rot, trans, terms = self.refiner.refine(joints, rot, trans, grasp_type, obj.sdf.cpu(),
                                                            obj.origin.cpu(), obj.voxel_size)
            if self.refiner.config.rank_by_type:
                labels = classify(joints.double().numpy(), rot.double().numpy(), trans.double().numpy(), obj.field)
                type_ok = torch.as_tensor(labels == GRASP_TYPES.index(grasp_type)) if grasp_type in GRASP_TYPES else None
            opposition = (self.refiner.opposition(joints, rot, trans, obj.sdf.cpu(), obj.origin.cpu(), obj.voxel_size)
                          if self.refiner.config.opposition_weight else None)
            score = self.refiner.score(terms, opposition)
            order = self.refiner.rank(terms, type_ok, score)
            energy, penetration, contact, finger = (terms.energy, terms.penetration_depth, terms.contact_distance,
                                                    terms.finger_penetration)
        pregrasp, squeeze = self._postures.postures(joints, rot, trans, obj.sdf.cpu(), obj.origin.cpu(),
                                                    obj.voxel_size)

        def ranked(t: torch.Tensor) -> np.ndarray:
            return t[order].double().cpu().numpy()

        cands = GraspCandidates(grasp_type, ranked(joints), ranked(rot), ranked(trans), ranked(energy),
                                ranked(penetration), ranked(contact), time.perf_counter() - start,
                                None if type_ok is None else type_ok[order].numpy(), ranked(finger),
                                ranked(pregrasp), ranked(squeeze), ranked(score))
        return cands if self.verifier is None else self.verifier.select(cands, obj.simulator)
