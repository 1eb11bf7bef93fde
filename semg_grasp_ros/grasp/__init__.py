"""Grasps: the representation, the data, the diffusion model and the checks.

* ``representation``: the six grasp types (contact patches, pre-shapes, descriptor ranges).
* ``data/``: objects, synthesis energy, synthesis, labels, DexGraspNet import, the dataset.
* ``diffusion/``: networks, noise schedulers, the sampler, training, checkpoints.
* ``refine``: refinement and ranking of sampled grasps against the object's distance field.
* ``physics``: the MuJoCo physics check; ``render``: pictures of a grasp in the same scene.
"""
