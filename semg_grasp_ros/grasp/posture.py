"""A grasp as the hand executes it: hand postures (22 finger joints and the palm pose in the
object frame) for its pregrasp, grasp and squeeze (``grasp.physics`` checks them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError


@dataclass(frozen=True, eq=False)
class HandPosture:
    """One hand posture: 22 finger joints (``FINGER_JOINTS`` order, rad) and the palm pose in the
    object frame (``rot`` (3, 3), ``trans`` (3,) m)."""

    joints: np.ndarray
    rot: np.ndarray
    trans: np.ndarray

    def __post_init__(self):
        for name, shape in (("joints", (22,)), ("rot", (3, 3)), ("trans", (3,))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise DataError(f"HandPosture.{name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise DataError(f"HandPosture.{name} contains NaN or inf")
            object.__setattr__(self, name, value)


@dataclass(frozen=True, eq=False)
class GraspPostures:
    """A grasp as the hand executes it: pregrasp -> grasp -> squeeze.

    ``pregrasp`` and ``squeeze`` None: derived from the grasp by the simulator (module docstring,
    item 3), which needs the object.
    """

    grasp: HandPosture
    pregrasp: HandPosture | None = None
    squeeze: HandPosture | None = None

    @classmethod
    def single(cls, joints, rot, trans) -> GraspPostures:
        """The grasp posture alone (pregrasp and squeeze to be derived)."""
        return cls(HandPosture(joints, rot, trans))

    @property
    def complete(self) -> bool:
        return self.pregrasp is not None and self.squeeze is not None
