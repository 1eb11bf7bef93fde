"""Trying grasps in simulation before the hand executes one.

The refiner's energy predicts holding only loosely (``bench/ranking.py``: AUC about 0.7 against
the standard protocol); at least one of the 16 candidates holds far more often than the
top-ranked one does. So the candidates are tried, best-ranked first, under the physics check
(``grasp.physics``, the standard protocol by default) against the object as its distance field
describes it, and the first that holds is executed. The field's object is its inside (negative
distances) cut into convex pieces: the inside voxels clustered by k-means, each piece the convex
hull of its voxels' corners (MuJoCo collides convex shapes). For a field from a full mesh this is
the object to a voxel; for one depth view it is the completed estimate (``perception.completion``)
and the verdicts are only as good as that estimate.

Example::

    verifier = GraspVerifier(VerifyConfig(budget_s=1.0))
    simulator = verifier.prepare(field)         # once per object
    cands = verifier.select(cands, simulator)   # cands.verified: 1 holds, 0 fails, NaN not tried
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy.cluster.vq import kmeans2

from ..errors import ConfigError, DataError
from ..perception.sdf import DistanceField
from .data.objects import close_pieces
from .physics import PRESETS, GraspSimulator, preset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyConfig:
    """Verification settings.

    Attributes:
        budget_s: wall time per request for trying candidates, seconds; 0 turns verification off.
            Candidates are tried in rank order until one holds or the budget is spent (a started
            check finishes).
        protocol: physics protocol (``grasp.physics.PRESETS``).
        max_pieces: most convex pieces the field's inside is cut into.
        voxels_per_piece: inside voxels per piece (fewer pieces for small objects).
        inset_voxels: the simulated object lies this many voxels inside the field's surface (chosen on
            the procedural validation objects from one view, ``bench/results/verify_inset.json``: a
            holding grasp executed for 28 % of requests without an inset, 25 % with 1 voxel, 27 %
            with 2, 25 % ranked alone).
    """

    budget_s: float = 1.0
    protocol: str = "standard"
    max_pieces: int = 8
    voxels_per_piece: int = 400
    inset_voxels: float = 0.0

    def __post_init__(self):
        if not self.budget_s >= 0:
            raise ConfigError(f"budget_s must be >= 0, got {self.budget_s}")
        if self.protocol not in PRESETS:
            raise ConfigError(f"protocol {self.protocol!r} unknown; expected one of {sorted(PRESETS)}")
        if self.max_pieces < 1 or self.voxels_per_piece < 1:
            raise ConfigError("max_pieces and voxels_per_piece must be >= 1")
        if not self.inset_voxels >= 0:
            raise ConfigError(f"inset_voxels must be >= 0, got {self.inset_voxels}")


def field_pieces(field: DistanceField, max_pieces: int = 8, voxels_per_piece: int = 400, inset_voxels: float = 0.0,
                 seed: int = 0) -> list:
    """The inside of a signed field as closed convex pieces.

    Args:
        field: a signed distance field (negative inside), metres.
        max_pieces, voxels_per_piece, inset_voxels: as in :class:`VerifyConfig`.
        seed: k-means initialisation.

    Returns:
        [(vertices (V, 3) float64 m, faces (F, 3) int64)] in the field's frame.

    Raises:
        DataError: an unsigned field, or one with fewer than 4 inside voxels.
    """
    if not field.is_signed:
        raise DataError("verification needs a signed field (an inside to simulate)")
    inside = np.asarray(field.distances) < -inset_voxels * field.voxel_size
    centres = field.layout.centres()[inside]
    if len(centres) < 4:
        raise DataError(f"the field has {len(centres)} inside voxels; nothing to simulate")
    k = int(np.clip(len(centres) // voxels_per_piece, 1, max_pieces))
    if k > 1:
        _, labels = kmeans2(centres, k, seed=seed, minit="++")
    else:
        labels = np.zeros(len(centres), dtype=int)
    h = 0.5 * field.voxel_size
    corners = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)])
    pieces = [((centres[labels == j][:, None] + corners[None]).reshape(-1, 3), None)
              for j in range(k) if np.any(labels == j)]
    return close_pieces(pieces, "field")


class GraspVerifier:
    """Tries ranked candidates in simulation and puts the first that holds in front."""

    def __init__(self, config: VerifyConfig = VerifyConfig()):
        self.config = config
        self._physics = preset(config.protocol)

    @property
    def enabled(self) -> bool:
        return self.config.budget_s > 0

    def prepare(self, field: DistanceField) -> GraspSimulator | None:
        """The simulator of ``field``'s object (None when off, or when the field cannot be simulated:
        unsigned or empty, logged)."""
        if not self.enabled:
            return None
        try:
            pieces = field_pieces(field, self.config.max_pieces, self.config.voxels_per_piece, self.config.inset_voxels)
            return GraspSimulator(pieces, self._physics)
        except (DataError, ValueError) as exc:
            log.warning("grasps are not verified on this object: %s", exc)
            return None

    def select(self, cands, simulator: GraspSimulator | None):
        """``cands`` (``GraspCandidates``, best first, field frame) with ``verified`` set and the first
        candidate that holds moved to the front (the others keep their order); unchanged without a
        simulator. When none holds, the order stays and the top is executed as ranked."""
        k = len(cands)
        verified = np.full(k, np.nan)
        if simulator is None or k == 0:
            return cands
        start = time.perf_counter()
        first = None
        for i in range(k):
            if time.perf_counter() - start > self.config.budget_s:
                break
            try:
                verified[i] = float(simulator.evaluate(cands.postures(i)).success)
            except (DataError, ValueError) as exc:  # a candidate the simulator refuses stays untried
                log.warning("candidate %d not verified: %s", i, exc)
                continue
            if verified[i]:
                first = i
                break
        order = np.arange(k) if first is None else np.r_[first, np.delete(np.arange(k), first)]
        return replace(cands.reordered(order), verified=verified[order],
                       seconds=cands.seconds + time.perf_counter() - start)
