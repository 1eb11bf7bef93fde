"""The ShadowHand (right hand) model.

* ``model``: joint table parsed from ``urdf/`` (variants ``"free"``: palm-rooted, 22 finger
  joints in DexGraspNet's geometry, the grasp convention; ``"fixed"``: E3M5 on its forearm, 24
  joints), names in Shadow's and DexGraspNet's conventions, limits, coupling of J1/J2.
* ``kinematics``: batched, differentiable torch forward kinematics (``HandKinematics``).
* ``proxies``: collision spheres and contact candidates for penetration / contact energies.
* ``convert``: DexGraspNet ``qpos`` <-> Shadow arrays (rotations: ``semg_grasp_ros.geometry``),
  normalised 28-D / 31-D grasp vectors (``GraspNormalizer``), ``HandGrasp`` messages.
* ``trajectory``: pregrasp -> approach along the palm normal -> close -> squeeze, within velocity limits.
"""
