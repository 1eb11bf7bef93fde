"""semg_grasp_ros: forearm sEMG -> grasp type -> ShadowHand grasp, as ROS 2 nodes or in one process."""

import os

# MuJoCo picks its OpenGL back-end when it is first imported: offscreen EGL unless the user chose
# one, set before any module (ours or a caller's) imports mujoco after importing this package.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"

#: The six grasp types of the Sapsanis set, in the package-wide class order.
GRASP_TYPES: tuple[str, ...] = ("spherical", "cylindrical", "hook", "palmar", "tip", "lateral")
#: Name used when no grasp is intended (rest or a rejected decision).
REST = "rest"
