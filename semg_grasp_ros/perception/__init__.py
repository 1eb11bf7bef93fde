"""Object perception: point clouds in, the object's distance field out.

* ``pointcloud2``: ``sensor_msgs/PointCloud2`` byte layouts <-> numpy.
* ``segmentation``: range/crop, table removal (RANSAC), DBSCAN clustering, object choice.
* ``sdf``: distance fields on a grid from clouds and meshes; differentiable lookup.
* ``camera``: a simulated depth camera looking at an object on a table.
* ``objects``: mesh files, the DexGraspNet sample objects, analytic primitives.
* the ``semg-grasp sdf`` command: ``cli.sdf``.
"""
