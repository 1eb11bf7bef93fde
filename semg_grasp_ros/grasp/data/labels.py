"""Grasp-type labels for any ShadowHand grasp.

Two labellers:

* :class:`ReferenceLabeller`, the original work's method: one hand-picked reference grasp per
  type; a grasp takes the type of the nearest reference when its Euclidean distance over the
  28 DexGraspNet parameters (22 joints, 3 Euler angles, 3 translations) is below a threshold,
  else it stays unlabelled (-1). Optionally over the 22 joints only (``joints_only``), since the
  wrist pose in the object frame says nothing about the hand shape.
* :func:`classify`, the hand-pose descriptor: wrist-independent features of the hand shape
  (thumb opposition, aperture, finger flexion at the knuckles and at the middle/distal joints,
  abduction spread, which fingers curl away, thumb against the index side) and, when the
  object's distance field is given, of the contacts (palm contact, thumb contact, how many
  fingers touch, how far the surface normals at the finger contacts turn: a wrap around a
  curved object versus pads on a flat face), scored against the ranges that define each type
  in ``grasp.representation``. The type with the highest score wins; a grasp far from every definition
  is unlabelled (-1).

:func:`confusion` compares either with hand labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ... import GRASP_TYPES
from ...errors import DataError
from ...hand.kinematics import HandKinematics
from ...hand.model import FINGER_JOINTS
from ..representation import SPECS

#: Descriptor names, in the column order of :func:`descriptors`.
DESCRIPTORS = ("thumb_opposition", "spread", "aperture", "fingers_flexed", "mcp_flexion", "pipdip_flexion",
               "index_pipdip", "index_flexion", "curled_others", "thumb_to_index_side", "index_vs_others",
               "palm_contact", "thumb_contact", "fingers_touching", "normal_spread")
#: The descriptors that need the object (NaN without a distance field; their ranges are then skipped).
CONTACT_DESCRIPTORS = DESCRIPTORS[-4:]
#: A hand link touches the object when its collision spheres come this close (m).
CONTACT_DISTANCE = 0.005
#: A finger counts as flexed around an object beyond this total flexion (J3 + J2 + J1, rad),
#: and as curled out of the way beyond ``CURLED``.
FLEXED = 0.8
CURLED = 2.2
#: Best score below which a grasp stays unlabelled (one ``scale`` unit of misses in all).
UNLABELLED_SCORE = -1.0

_J = {n: i for i, n in enumerate(FINGER_JOINTS)}


@lru_cache(maxsize=1)
def _fk() -> HandKinematics:
    return HandKinematics.load("free")


@lru_cache(maxsize=1)
def _proxies():
    from ...hand.proxies import build_proxies

    fk = _fk()
    prox = build_proxies(fk)
    names = np.array([fk.link_names[i] for i in prox.sphere_link])
    groups = {"palm": names == "rh_palm", "thumb": np.isin(names, ["rh_thmiddle", "rh_thdistal"])}
    for f in ("ff", "mf", "rf", "lf"):
        groups[f] = np.isin(names, [f"rh_{f}proximal", f"rh_{f}middle", f"rh_{f}distal"])
    return prox, groups


def contact_descriptors(joints, rot, trans, field) -> np.ndarray:
    """Contact descriptors of grasps on one object.

    Args:
        joints: (N, 22) Shadow joints, rad; rot (N, 3, 3), trans (N, 3) m: palm pose in the
            field's frame.
        field: the object's signed distance field (``perception.sdf.DistanceField``).

    Returns:
        (N, 4): palm contact (0/1), thumb contact (0/1, middle or distal phalanx), fingers
        touching (0-4), normal spread (deg: largest angle between the surface normals at the
        finger contacts; 0 with fewer than two).
    """
    q = np.asarray(joints, dtype=np.float64).reshape(-1, 22)
    n = len(q)
    prox, groups = _proxies()
    with torch.no_grad():
        rot_t = torch.tensor(np.asarray(rot, dtype=np.float64)).reshape(n, 3, 3)
        trans_t = torch.tensor(np.asarray(trans, dtype=np.float64)).reshape(n, 3)
        centres, radii = prox.spheres_world(_fk(), torch.as_tensor(q), rot_t, trans_t)
    c = centres.numpy()
    gap = field.sample(c) - radii.numpy()
    touch = gap <= CONTACT_DISTANCE
    h = 0.5 * field.voxel_size
    grad = np.stack([field.sample(c + h * e) - field.sample(c - h * e) for e in np.eye(3)], -1)
    normals = grad / np.linalg.norm(grad, axis=-1, keepdims=True).clip(1e-12)
    fingers = groups["ff"] | groups["mf"] | groups["rf"] | groups["lf"]
    spread = np.zeros(n)
    for i in range(n):
        nn = normals[i, touch[i] & fingers]
        if len(nn) >= 2:
            spread[i] = np.degrees(np.arccos(np.clip((nn @ nn.T).min(), -1, 1)))
    return np.stack([touch[:, groups["palm"]].any(1), touch[:, groups["thumb"]].any(1),
                     sum(touch[:, groups[f]].any(1) for f in ("ff", "mf", "rf", "lf")), spread], 1).astype(np.float64)


def descriptors(joints, rot=None, trans=None, field=None) -> np.ndarray:
    """Hand-pose descriptors of grasps (``DESCRIPTORS`` columns).

    The hand-shape descriptors come from the finger joints only (wrist-independent); the
    contact descriptors (``CONTACT_DESCRIPTORS``, see :func:`contact_descriptors`) need the
    palm pose and the object's distance field and are NaN without them.

    Args:
        joints: (N, 22) or (22,) Shadow finger joints, rad (``FINGER_JOINTS`` order).
        rot, trans, field: optional palm poses (N, 3, 3), (N, 3) m and the object's
            ``DistanceField`` in the same frame.

    Returns:
        (N, len(DESCRIPTORS)) float64: thumb opposition (``THJ4``, rad), spread (mean outward
        abduction of index, ring, little, rad), aperture (thumb tip to the nearer of the index and
        middle tips, m), fingers flexed (count of the four with flexion > ``FLEXED``), mean knuckle
        flexion (J3, rad), mean middle + distal flexion (J2 + J1, rad), index J2 + J1, index
        J3 + J2 + J1 (rad), fingers curled (count of middle, ring, little beyond ``CURLED``),
        thumb tip to the radial side of the index middle phalanx (m), mean flexion of middle,
        ring and little minus the index's (rad; large when the index alone pinches).
    """
    q = np.asarray(joints, dtype=np.float64).reshape(-1, 22)
    if not np.all(np.isfinite(q)):
        raise DataError("joint values must be finite to compute grasp descriptors")
    fk = _fk()
    with torch.no_grad():
        tq = torch.as_tensor(q)
        tips = fk.fingertips(tq).numpy()
        # radial side of the index middle phalanx: its mid point, 8 mm towards +x of the link
        mid = fk.points(tq, [fk.link_index["rh_ffmiddle"]], [[0.008, 0.0, 0.0125]]).numpy()[:, 0]
    fingers = ("FF", "MF", "RF", "LF")
    j3 = np.stack([q[:, _J[f"rh_{f}J3"]] for f in fingers], 1)
    j21 = np.stack([q[:, _J[f"rh_{f}J2"]] + q[:, _J[f"rh_{f}J1"]] for f in fingers], 1)
    flex = j3 + j21
    spread = (-q[:, _J["rh_FFJ4"]] - q[:, _J["rh_RFJ4"]] - q[:, _J["rh_LFJ4"]]) / 3
    aperture = np.minimum(np.linalg.norm(tips[:, 4] - tips[:, 0], axis=1), np.linalg.norm(tips[:, 4] - tips[:, 1], axis=1))
    shape = np.stack([
        q[:, _J["rh_THJ4"]], spread, aperture, (flex > FLEXED).sum(1), j3.mean(1), j21.mean(1), j21[:, 0],
        flex[:, 0], (flex[:, 1:] > CURLED).sum(1), np.linalg.norm(tips[:, 4] - mid, axis=1),
        flex[:, 1:].mean(1) - flex[:, 0],
    ], axis=1)
    if field is None or rot is None or trans is None:
        contact = np.full((len(q), len(CONTACT_DESCRIPTORS)), np.nan)
    else:
        contact = contact_descriptors(q, rot, trans, field)
    return np.concatenate([shape, contact], axis=1)


def type_scores(desc: np.ndarray) -> np.ndarray:
    """(N, 6) score of each type: minus the summed misses of its descriptor ranges, each miss
    in units of the range's ``scale`` (0 = every range met); NaN descriptors (no object) are
    skipped."""
    desc = np.asarray(desc, dtype=np.float64).reshape(-1, len(DESCRIPTORS))
    scores = np.zeros((desc.shape[0], len(GRASP_TYPES)))
    for t, s in enumerate(SPECS.values()):
        for r in s.descriptor:
            x = desc[:, DESCRIPTORS.index(r.feature)]
            miss = np.maximum(r.lo - x, 0) + np.maximum(x - r.hi, 0)
            scores[:, t] -= np.nan_to_num(miss / r.scale)
    return scores


def _soft_margin(desc: np.ndarray) -> np.ndarray:
    """(N, 6) how comfortably inside its ranges each grasp lies (tie-break among types met)."""
    out = np.zeros((desc.shape[0], len(GRASP_TYPES)))
    for t, s in enumerate(SPECS.values()):
        for r in s.descriptor:
            x = desc[:, DESCRIPTORS.index(r.feature)]
            inside = np.minimum(np.where(np.isfinite(r.lo), x - r.lo, np.inf), np.where(np.isfinite(r.hi), r.hi - x, np.inf))
            out[:, t] += np.nan_to_num(np.clip(inside / r.scale, -3, 3))
    return out


def classify(joints, rot=None, trans=None, field=None, return_scores: bool = False):
    """Grasp type of each grasp by the hand-pose descriptor.

    Args:
        joints: (N, 22) or (22,) Shadow finger joints, rad.
        rot, trans, field: optional palm poses (N, 3, 3), (N, 3) m and the object's
            ``perception.sdf.DistanceField``: adds the contact descriptors.
        return_scores: also return the (N, 6) type scores.

    Returns:
        (N,) int64 index into ``GRASP_TYPES``, -1 where no type scores above ``UNLABELLED_SCORE``
        (and the scores when asked). Among types whose ranges are all met, the one the grasp
        lies deepest inside wins.
    """
    desc = descriptors(joints, rot, trans, field)
    scores = type_scores(desc)
    ranked = scores + 1e-3 * _soft_margin(desc)
    labels = ranked.argmax(1)
    labels = np.where(scores.max(1) >= UNLABELLED_SCORE, labels, -1).astype(np.int64)
    return (labels, scores) if return_scores else labels


def type_consistency(joints, requested, rot=None, trans=None, field=None) -> float:
    """Share of grasps whose descriptor type equals the requested type.

    Args:
        joints: (N, 22) Shadow joints, rad.
        requested: a type name, or (N,) names or indices.
        rot, trans, field: optional poses and the object field (see :func:`classify`).
    """
    labels = classify(joints, rot, trans, field)
    if isinstance(requested, str):
        want = np.full(len(labels), GRASP_TYPES.index(requested))
    else:
        want = np.array([GRASP_TYPES.index(r) if isinstance(r, str) else int(r) for r in requested])
    return float(np.mean(labels == want)) if len(labels) else float("nan")


@dataclass(frozen=True, eq=False)
class ReferenceLabeller:
    """The original work's labelling: nearest reference grasp within a Euclidean threshold.

    Attributes:
        references: (R, 28) DexGraspNet vectors of the reference grasps.
        reference_types: (R,) type index of each reference.
        threshold: largest distance that still takes a label (radians and metres mixed, as in
            the original; over the 22 joints when ``joints_only``).
        joints_only: compare the 22 joints only (the wrist pose ignored).
    """

    references: np.ndarray
    reference_types: np.ndarray
    threshold: float
    joints_only: bool = False

    def __post_init__(self):
        refs = np.asarray(self.references, dtype=np.float64).reshape(-1, 28)
        types = np.asarray(self.reference_types, dtype=np.int64).reshape(-1)
        if len(refs) != len(types) or len(refs) == 0:
            raise DataError(f"need one type per reference grasp, got {len(refs)} grasps and {len(types)} types")
        if types.min() < 0 or types.max() >= len(GRASP_TYPES):
            raise DataError(f"reference types must index GRASP_TYPES, got {types.tolist()}")
        if not self.threshold > 0:
            raise DataError(f"threshold must be positive, got {self.threshold}")
        object.__setattr__(self, "references", refs)
        object.__setattr__(self, "reference_types", types)

    def distances(self, grasps) -> np.ndarray:
        """(N, R) Euclidean distances of (N, 28) DexGraspNet vectors to the references."""
        g = np.asarray(grasps, dtype=np.float64).reshape(-1, 28)
        cols = slice(0, 22) if self.joints_only else slice(0, 28)
        return np.linalg.norm(g[:, None, cols] - self.references[None, :, cols], axis=-1)

    def label(self, grasps) -> np.ndarray:
        """(N,) type index of the nearest reference, -1 beyond the threshold."""
        d = self.distances(grasps)
        nearest = d.argmin(1)
        return np.where(d[np.arange(len(d)), nearest] <= self.threshold, self.reference_types[nearest], -1)


def confusion(true, predicted) -> dict:
    """Confusion of predicted against true labels (indices, -1 = unlabelled).

    Returns:
        dict with ``matrix`` (7 x 7 counts, rows true, columns predicted; the last row/column is
        "unlabelled"), ``labels`` (the 6 types + "unlabelled"), ``accuracy`` over grasps whose
        true label is a type, ``coverage`` (share of those given any type) and ``n``.
    """
    t = np.asarray(true, dtype=np.int64).reshape(-1)
    p = np.asarray(predicted, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise DataError(f"true {t.shape} and predicted {p.shape} labels differ in length")
    k = len(GRASP_TYPES)
    m = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(m, (np.where(t < 0, k, t), np.where(p < 0, k, p)), 1)
    typed = t >= 0
    return {
        "labels": list(GRASP_TYPES) + ["unlabelled"],
        "matrix": m.tolist(),
        "accuracy": float(np.mean(p[typed] == t[typed])) if typed.any() else float("nan"),
        "coverage": float(np.mean(p[typed] >= 0)) if typed.any() else float("nan"),
        "n": int(len(t)),
    }
