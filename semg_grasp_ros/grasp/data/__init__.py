"""Grasp data: objects, type-labelled grasps, their synthesis and import.

* ``objects``: the object set (primitives, YCB, DexGraspNet samples) as ``GraspObject``.
* ``energy``: the synthesis energy (contact, penetration, joint limits, type prior).
* ``synthesis``: type-labelled grasps by energy optimisation and a physics check.
* ``labels``: grasp-type labels of a hand pose.
* ``dexgraspnet``: DexGraspNet grasp files (import).
* ``dataset``: the on-disk grasp dataset (index, objects, splits) and ``GraspDataset``.
"""
