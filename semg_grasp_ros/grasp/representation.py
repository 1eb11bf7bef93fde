"""The six grasp types, written down: which fingers, which contacts, which pre-shape.

The types are those of the Sapsanis set (Schlesinger's taxonomy), in the package order
``GRASP_TYPES``. Each :class:`GraspTypeSpec` says

* which hand patches must touch the object (``contacts``: a link and the side of it that
  touches, e.g. the pad of the index distal phalanx) and which must stay clear of it
  (``clear``: e.g. the thumb in a hook grasp);
* the pre-shape (finger joint angles, Shadow convention) the synthesis starts from and is
  pulled towards (the type prior), with per-joint prior weights;
* how the hand approaches (``approach``: ``"palm"`` = the palm faces the surface point,
  ``"pinch"`` = the thumb/finger opposition axis runs through the object);
* the objects it suits (``width``: range of the object's size across the grasp, metres);
* the hand-pose descriptor ranges that define the type (used by ``grasp.data.labels`` to
  label any grasp, and by the synthesis to keep only grasps of the requested type).

Definitions (Schlesinger 1919; Sapsanis et al. 2013; Feix et al. 2016 GRASP taxonomy):

spherical
    Power grasp of a round object: all five digits spread around it, the thumb opposed,
    fingertips and distal pads on the surface, the palm close to it.
cylindrical
    Power grasp of a long object: the four fingers adducted and wrapped around its axis,
    proximal to distal phalanges in contact, the thumb opposed wrapping the other way, the
    palm on the object.
hook
    The four fingers flexed at the middle and distal joints (little flexion at the
    knuckles) hang the object on their phalanges (the bar enclosed by proximal, middle and
    distal pads); the thumb is not
    opposed and does not touch; the palm does not press on it.
palmar
    Pad-to-pad grasp with the palm facing the object: pads of the index and middle
    (optionally ring) fingers, nearly straight at the middle/distal joints, opposed by the
    thumb pad on the other side; the palm does not touch.
tip
    Precision pinch of a small object between the tips of the thumb and the index finger
    (the middle finger may help); the other fingers are flexed out of the way.
lateral
    The thumb pad presses a thin, flat object against the radial (thumb-side) face of the
    flexed index finger's middle phalanx, the other fingers flexed (key pinch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import GRASP_TYPES
from ..errors import DataError
from ..hand.model import FINGER_JOINTS, coupling_error

#: Local side directions of the links (unit vectors in the link frame). Finger phalanges flex
#: about +x, their pads face -y; the radial side (towards the thumb) of the index is +x; the
#: thumb middle phalanx pad faces -x, the distal one -y (its frame is turned by -90 deg about z).
PAD = {
    **{f"rh_{f}{p}": (0.0, -1.0, 0.0) for f in ("ff", "mf", "rf", "lf") for p in ("proximal", "middle", "distal")},
    "rh_thmiddle": (-1.0, 0.0, 0.0),
    "rh_thdistal": (0.0, -1.0, 0.0),
    "rh_thproximal": (0.0, -1.0, 0.0),
}
RADIAL = (1.0, 0.0, 0.0)
#: Pre-shape prior weight of a joint a type does not name.
DEFAULT_PRIOR_WEIGHT = 0.2


@dataclass(frozen=True)
class Patch:
    """A region of a hand link, as points on its collision capsule (or the palm face).

    Attributes:
        link: URDF link name.
        side: unit direction in the link frame the patch faces (its outward normal).
        fractions: positions along the phalanx (0 = proximal joint, 1 = distal end of the
            capsule's straight part); >1 reaches onto the rounded tip.
        tip: also put a point on the rounded end between ``side`` and the phalanx axis
            (the fingertip pulp).
    """

    link: str
    side: tuple[float, float, float]
    fractions: tuple[float, ...] = (0.3, 0.6, 0.9)
    tip: bool = False


def pad(link: str, fractions=(0.3, 0.6, 0.9), tip: bool = False) -> Patch:
    """The grasping side of a phalanx (see ``PAD``)."""
    return Patch(link, PAD[link], tuple(fractions), tip)


PALM = Patch("rh_palm", (0.0, -1.0, 0.0), (0.25, 0.5, 0.75))


@dataclass(frozen=True)
class DescriptorRange:
    """A range a hand-pose descriptor (see ``grasp.data.labels.DESCRIPTORS``) must lie in.

    ``scale`` converts a miss into a score: a value ``scale`` beyond the range costs 1.
    """

    feature: str
    lo: float = -np.inf
    hi: float = np.inf
    scale: float = 0.1


@dataclass(frozen=True)
class GraspTypeSpec:
    """The definition of one grasp type (see the module docstring).

    Attributes:
        name: one of ``GRASP_TYPES``.
        fingers: digits taking part (``th``, ``ff``, ``mf``, ``rf``, ``lf``).
        contacts: patches that must touch the object (each is one contact of the energy).
        clear: patches that must keep at least ``clearance`` metres from the object.
        clearance: metres.
        force_closure: weight of the force-closure term for this type (0 for a hook, which holds
            by enclosure rather than by opposing forces; low for power grasps, whose many
            contacts need not push equally hard).
        contact_depth: metres the contact patches press into the surface (a pinch's preload).
        centre_pinch: pull the thumb-finger pinch line through the object's centre (a two-point
            pinch cannot resist torques about that line).
        palm_contact: whether the palm touches the object.
        preshape: {Shadow joint name: rad}; joints not named are 0.
        prior_weight: {joint name: weight} of the pre-shape prior (``DEFAULT_PRIOR_WEIGHT`` for
            the others).
        approach: ``"palm"`` or ``"pinch"`` (how initial wrist poses face the object).
        width: (min, max) object size across the grasp, metres.
        descriptor: ranges of the hand-pose descriptors that define the type.
    """

    name: str
    fingers: tuple[str, ...]
    contacts: tuple[Patch, ...]
    clear: tuple[Patch, ...]
    palm_contact: bool
    preshape: dict[str, float]
    approach: str
    width: tuple[float, float]
    descriptor: tuple[DescriptorRange, ...]
    prior_weight: dict[str, float] = field(default_factory=dict)
    clearance: float = 0.01
    force_closure: float = 1.0
    centre_pinch: bool = False
    contact_depth: float = 0.0

    def preshape_vector(self) -> np.ndarray:
        """(22,) pre-shape in ``FINGER_JOINTS`` order, rad."""
        q = np.zeros(len(FINGER_JOINTS))
        for name, value in self.preshape.items():
            q[FINGER_JOINTS.index(name)] = value
        return q

    def prior_weights(self) -> np.ndarray:
        """(22,) weights of the pre-shape prior (``DEFAULT_PRIOR_WEIGHT`` where not named: the
        flexions that must adapt to the object are held loosely, the joints that define the type
        firmly)."""
        w = np.full(len(FINGER_JOINTS), DEFAULT_PRIOR_WEIGHT)
        for name, value in self.prior_weight.items():
            w[FINGER_JOINTS.index(name)] = value
        return w


def _joints(spec: dict[str, float]) -> dict[str, float]:
    """Expand ``{"FFJ3|MFJ3": v}`` into Shadow names ``{"rh_FFJ3": v, "rh_MFJ3": v}``."""
    out = {}
    for key, value in spec.items():
        for name in key.split("|"):
            full = f"rh_{name}"
            if full not in FINGER_JOINTS:
                raise DataError(f"pre-shape names unknown joint {full!r}")
            out[full] = float(value)
    return out


_LONG = ("ff", "mf", "rf", "lf")
_CURLED = {"MFJ3|RFJ3|LFJ3": 1.35, "MFJ2|RFJ2|LFJ2|MFJ1|RFJ1|LFJ1": 1.225}

SPECS: dict[str, GraspTypeSpec] = {
    "spherical": GraspTypeSpec(
        name="spherical",
        fingers=("th",) + _LONG,
        contacts=tuple(pad(f"rh_{f}distal", (0.5, 1.0), tip=True) for f in _LONG)
        + (pad("rh_thdistal", (0.5, 1.0), tip=True), PALM),
        clear=(),
        palm_contact=True,
        preshape=_joints({"FFJ4": -0.25, "RFJ4": -0.2, "LFJ4": -0.3, "LFJ5": 0.3,
                          "FFJ3|MFJ3|RFJ3|LFJ3": 0.45, "FFJ2|MFJ2|RFJ2|LFJ2|FFJ1|MFJ1|RFJ1|LFJ1": 0.4,
                          "THJ5": 0.7, "THJ4": 1.0, "THJ2": 0.2, "THJ1": 0.3}),
        prior_weight=_joints({"FFJ4|MFJ4|RFJ4|LFJ4": 10.0, "THJ4": 5.0, "THJ5": 2.0}),
        approach="palm",
        width=(0.045, 0.11),
        force_closure=0.2,
        descriptor=(
            DescriptorRange("thumb_opposition", lo=0.5, scale=0.2),
            DescriptorRange("spread", lo=0.1, scale=0.08),
            DescriptorRange("fingers_flexed", lo=4, scale=1.0),
            DescriptorRange("curled_others", hi=1, scale=1.0),
            DescriptorRange("thumb_contact", lo=1, scale=1.0),
            DescriptorRange("fingers_touching", lo=3, scale=1.0),
        ),
    ),
    "cylindrical": GraspTypeSpec(
        name="cylindrical",
        fingers=("th",) + _LONG,
        contacts=tuple(pad(f"rh_{f}middle", (0.2, 0.5, 0.8)) for f in _LONG) + (pad("rh_thdistal", (0.5, 1.0)), PALM),
        clear=(),
        palm_contact=True,
        preshape=_joints({"FFJ3|MFJ3|RFJ3|LFJ3": 0.6, "FFJ2|MFJ2|RFJ2|LFJ2|FFJ1|MFJ1|RFJ1|LFJ1": 0.65,
                          "LFJ5": 0.2, "THJ5": 0.3, "THJ4": 1.1, "THJ2": 0.3, "THJ1": 0.4}),
        prior_weight=_joints({"FFJ4|MFJ4|RFJ4|LFJ4": 10.0, "THJ4": 5.0}),
        approach="palm",
        width=(0.02, 0.075),
        force_closure=0.2,
        descriptor=(
            DescriptorRange("thumb_opposition", lo=0.5, scale=0.2),
            DescriptorRange("spread", hi=0.1, scale=0.08),
            DescriptorRange("mcp_flexion", lo=0.2, scale=0.2),
            DescriptorRange("pipdip_flexion", lo=0.85, scale=0.2),
            DescriptorRange("fingers_flexed", lo=3, scale=1.0),
            DescriptorRange("index_vs_others", hi=1.2, scale=0.3),
            DescriptorRange("thumb_contact", lo=1, scale=1.0),
            DescriptorRange("fingers_touching", lo=3, scale=1.0),
        ),
    ),
    "hook": GraspTypeSpec(
        name="hook",
        fingers=_LONG,
        contacts=tuple(pad(f"rh_{f}{p}", (0.5,)) for f in _LONG for p in ("proximal", "middle", "distal")),
        clear=(pad("rh_thdistal", (0.5, 1.0)), pad("rh_thmiddle", (0.5,)), PALM),
        palm_contact=False,
        preshape=_joints({"FFJ3|MFJ3|RFJ3|LFJ3": 0.2, "FFJ2|MFJ2|RFJ2|LFJ2|FFJ1|MFJ1|RFJ1|LFJ1": 1.25,
                          "THJ5": -0.3, "THJ4": 0.15}),
        prior_weight=_joints({"THJ4|THJ5": 10.0, "FFJ3|MFJ3|RFJ3|LFJ3": 5.0}),
        approach="palm",
        width=(0.01, 0.035),
        clearance=0.008,
        force_closure=0.0,
        descriptor=(
            DescriptorRange("thumb_opposition", hi=0.45, scale=0.2),
            DescriptorRange("pipdip_flexion", lo=1.5, scale=0.3),
            DescriptorRange("mcp_flexion", hi=0.8, scale=0.2),
            DescriptorRange("thumb_to_index_side", lo=0.03, scale=0.01),
            DescriptorRange("thumb_contact", hi=0, scale=1.0),
            DescriptorRange("fingers_touching", lo=3, scale=1.0),
        ),
    ),
    "palmar": GraspTypeSpec(
        name="palmar",
        fingers=("th", "ff", "mf"),
        contacts=(pad("rh_ffdistal", (0.5, 0.9)), pad("rh_mfdistal", (0.5, 0.9)), pad("rh_thdistal", (0.5, 0.9))),
        clear=(PALM,),
        palm_contact=False,
        preshape=_joints({"FFJ3|MFJ3": 0.7, "FFJ2|MFJ2|FFJ1|MFJ1": 0.2,
                          "RFJ3|LFJ3": 0.8, "RFJ2|LFJ2|RFJ1|LFJ1": 0.25,
                          "THJ5": 0.6, "THJ4": 1.1, "THJ2": 0.1, "THJ1": 0.1}),
        prior_weight=_joints({"FFJ2|FFJ1|MFJ2|MFJ1": 5.0, "THJ4": 5.0, "FFJ4|MFJ4|RFJ4|LFJ4": 5.0,
                              "RFJ3|RFJ2|LFJ3|LFJ2": 1.0}),
        approach="pinch",
        width=(0.02, 0.08),
        clearance=0.005,
        contact_depth=0.001,
        descriptor=(
            DescriptorRange("thumb_opposition", lo=0.5, scale=0.2),
            DescriptorRange("spread", hi=0.1, scale=0.08),
            DescriptorRange("pipdip_flexion", hi=0.85, scale=0.2),
            DescriptorRange("index_pipdip", hi=1.0, scale=0.3),
            DescriptorRange("aperture", lo=0.02, scale=0.015),
            DescriptorRange("thumb_contact", lo=1, scale=1.0),
            DescriptorRange("curled_others", hi=1, scale=1.0),
        ),
    ),
    "tip": GraspTypeSpec(
        name="tip",
        fingers=("th", "ff"),
        contacts=(Patch("rh_ffdistal", PAD["rh_ffdistal"], (0.9,), tip=True),
                  Patch("rh_thdistal", PAD["rh_thdistal"], (0.9,), tip=True)),
        clear=(PALM,),
        palm_contact=False,
        preshape=_joints({"FFJ3": 0.95, "FFJ2|FFJ1": 0.725, **_CURLED,
                          "THJ5": 0.56, "THJ4": 1.03, "THJ3": 0.05, "THJ2": 0.05, "THJ1": 0.04}),
        prior_weight=_joints({"MFJ3|RFJ3|LFJ3|MFJ2|RFJ2|LFJ2": 5.0, "THJ4": 3.0}),
        approach="pinch",
        width=(0.005, 0.045),
        clearance=0.01,
        centre_pinch=True,
        contact_depth=0.001,
        descriptor=(
            DescriptorRange("thumb_opposition", lo=0.5, scale=0.2),
            DescriptorRange("aperture", hi=0.05, scale=0.015),
            DescriptorRange("curled_others", lo=2, scale=1.0),
            DescriptorRange("index_vs_others", lo=0.3, scale=0.3),
            DescriptorRange("thumb_contact", lo=1, scale=1.0),
        ),
    ),
    "lateral": GraspTypeSpec(
        name="lateral",
        fingers=("th", "ff"),
        contacts=(Patch("rh_ffmiddle", RADIAL, (0.4, 0.7)), pad("rh_thdistal", (0.5, 0.9))),
        clear=(PALM,),
        palm_contact=False,
        preshape=_joints({"FFJ3": 1.1, "FFJ2|FFJ1": 1.05, "MFJ3|RFJ3|LFJ3": 1.3,
                          "MFJ2|RFJ2|LFJ2|MFJ1|RFJ1|LFJ1": 1.15, "THJ5": -0.2, "THJ4": 0.4, "THJ1": 0.3}),
        prior_weight=_joints({"MFJ3|RFJ3|LFJ3|MFJ2|RFJ2|LFJ2": 5.0, "FFJ3|FFJ2": 3.0}),
        approach="pinch",
        width=(0.001, 0.02),
        clearance=0.005,
        centre_pinch=True,
        contact_depth=0.0015,
        descriptor=(
            DescriptorRange("thumb_to_index_side", hi=0.03, scale=0.01),
            DescriptorRange("index_flexion", lo=2.0, scale=0.3),
            DescriptorRange("curled_others", lo=2, scale=1.0),
            DescriptorRange("thumb_contact", lo=1, scale=1.0),
        ),
    ),
}

if tuple(SPECS) != GRASP_TYPES:  # the package's class order is the single source of truth
    raise DataError(f"grasp type specs {tuple(SPECS)} differ from GRASP_TYPES {GRASP_TYPES}")
for _s in SPECS.values():  # a pre-shape the hand can take: J1 = J2 (one tendon each, hand.model)
    if coupling_error(_s.preshape_vector()) > 0:
        raise DataError(f"{_s.name}: pre-shape differs between the coupled joints J1 and J2")


def spec(grasp_type: str) -> GraspTypeSpec:
    """The definition of ``grasp_type``.

    Raises:
        DataError: unknown type (the message lists the six).
    """
    if grasp_type not in SPECS:
        raise DataError(f"unknown grasp type {grasp_type!r}; expected one of {GRASP_TYPES}")
    return SPECS[grasp_type]


def type_index(grasp_type: str) -> int:
    """Index of ``grasp_type`` in ``GRASP_TYPES`` (the label stored in datasets)."""
    spec(grasp_type)
    return GRASP_TYPES.index(grasp_type)
