"""Draw a recorded pipeline scene the way RViz shows it with ``config/pipeline.rviz``.

The hand at the selected grasp (RobotModel), the camera's cloud (PointCloud2, coloured by
depth as the AxisColor transformer does), the distance-field marker (``object/marker``: the
near-surface voxels and the object's box), the candidates' wrist poses (PoseArray arrows
along each pose's x axis) and the selected wrist pose (``grasp/pose`` axes), on RViz's grey
background. Drawn with MuJoCo like ``semg_grasp_ros.grasp.render``; no ROS needed.

    semg-grasp demo --out runs/scene --script rest:3,cylindrical:4,rest:1 --no-physics --no-render
    python docs/rviz_scene.py runs/scene/session docs/rviz_scene.png
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from semg_grasp_ros.config import load_config  # noqa: E402
from semg_grasp_ros.geometry import quat_xyzw_to_matrix  # noqa: E402
from semg_grasp_ros.grasp.render import posed_scene  # noqa: E402
from semg_grasp_ros.hand.convert import hand_grasp_to_arrays
from semg_grasp_ros.pipeline.bag import read_bag  # noqa: E402
from semg_grasp_ros.pipeline.depth_camera import DepthCameraSim, DepthCameraSimConfig  # noqa: E402

RVIZ_BACKGROUND = (48, 48, 48)
POSE_ARRAY_RGBA = (1.0, 0.1, 0.0, 1.0)  # RViz PoseArray default colour
MAX_CLOUD_POINTS = 6000


def last_messages(bag: str) -> dict:
    """The last message of each scene topic; both markers of ``object/marker`` by id."""
    last: dict = {"markers": {}}
    topics = ["/object/points", "/object/marker", "/grasp/candidates", "/grasp/selected"]
    for topic, _, obj in read_bag(bag, topics):
        if topic == "object/marker":
            last["markers"][obj.id] = obj
        else:
            last[topic] = obj
    return last


def _add(scene, mujoco, kind, size, pos, mat, rgba):
    if scene.ngeom >= scene.maxgeom:
        return
    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], kind, np.asarray(size, float), np.asarray(pos, float),
                        np.asarray(mat, float).ravel(), np.asarray(rgba, np.float32))
    scene.ngeom += 1


def _line(scene, mujoco, a, b, width, rgba):
    if scene.ngeom >= scene.maxgeom:
        return
    g = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), np.eye(3).ravel(),
                        np.asarray(rgba, np.float32))
    mujoco.mjv_connector(g, mujoco.mjtGeom.mjGEOM_CAPSULE, width, np.asarray(a, float), np.asarray(b, float))
    scene.ngeom += 1


def render_scene(last: dict, camera: DepthCameraSim, turn_deg: float = -30.0, width: int = 960,
                 height: int = 720) -> np.ndarray:
    """(height, width, 3) uint8 picture of the scene (see the module docstring), seen from the real
    camera's side turned by ``turn_deg`` about the table's vertical."""
    import mujoco

    selected = last["grasp/selected"]
    joints, rot, trans = hand_grasp_to_arrays(selected)
    mesh = camera.camera.object_mesh_in_camera()
    pieces = [(np.asarray(p.vertices, float), np.asarray(p.faces)) for p in mesh.split(only_watertight=False)]
    # RobotModel grey; the true object is not drawn (RViz sees only the cloud)
    sim = posed_scene(joints, rot, trans, pieces, hand_rgba=(0.75, 0.75, 0.78, 1.0), object_rgba=(0, 0, 0, 0))
    m, d = sim.model, sim.data

    def to_palm(p):  # camera optical frame -> palm frame (the MuJoCo world here)
        return (np.asarray(p, float) - trans) @ rot

    cloud = last["object/points"].points.reshape(-1, 3)
    cloud = cloud[np.all(np.isfinite(cloud), axis=1)]
    cloud = cloud[:: max(1, len(cloud) // MAX_CLOUD_POINTS)]
    depth = cloud[:, 2]
    colours = matplotlib.colormaps["rainbow"]((depth - depth.min()) / max(np.ptp(depth), 1e-6))
    up = to_palm(trans + camera.camera.pose[:3, :3].T @ np.array([0.0, 0.0, 1.0])) - to_palm(trans)
    centre = to_palm(mesh.bounds.mean(axis=0))
    eye_dir = to_palm(np.zeros(3)) - centre  # towards the real camera ...
    eye_dir = eye_dir - up * (eye_dir @ up) * 0.35  # ... a little lower, and turned about the vertical
    turn = np.radians(turn_deg)
    k = up / np.linalg.norm(up)
    eye_dir = (eye_dir * np.cos(turn) + np.cross(k, eye_dir) * np.sin(turn) + k * (k @ eye_dir) * (1 - np.cos(turn)))
    eye = centre + 0.5 * eye_dir / np.linalg.norm(eye_dir)

    m.vis.global_.offwidth = max(m.vis.global_.offwidth, width)
    m.vis.global_.offheight = max(m.vis.global_.offheight, height)
    m.vis.headlight.ambient[:] = 0.4
    m.vis.headlight.diffuse[:] = 0.6
    box = mujoco.mjtGeom.mjGEOM_BOX
    with mujoco.Renderer(m, height, width, max_geom=20000) as renderer:
        def draw(segmentation: bool):
            renderer.update_scene(d)
            scene = renderer.scene
            for p, c in zip(to_palm(cloud), colours):
                _add(scene, mujoco, box, [0.0012] * 3, p, np.eye(3), c)
            for marker in last["markers"].values():
                pts = to_palm(marker.points)
                if marker.type == 8:  # POINTS: the near-surface voxels
                    for p in pts:
                        _add(scene, mujoco, box, [marker.scale[0] / 2] * 3, p, np.eye(3), marker.color)
                elif marker.type == 5:  # LINE_LIST: the object's box
                    for a, b in zip(pts[0::2], pts[1::2]):
                        _line(scene, mujoco, a, b, max(marker.scale[0] / 2, 0.0005), marker.color)
            for g in last["grasp/candidates"].grasps:  # PoseArray: an arrow along each pose's x axis
                p = to_palm(g.wrist_pose.position)
                x_axis = rot.T @ quat_xyzw_to_matrix(g.wrist_pose.orientation)[:, 0]
                _line(scene, mujoco, p, p + 0.04 * x_axis, 0.0015, POSE_ARRAY_RGBA)
            for axis, rgba in zip(np.eye(3), ((1, 0, 0, 1), (0, 1, 0, 1), (0, 0, 1, 1))):  # grasp/pose axes
                _line(scene, mujoco, np.zeros(3), 0.08 * axis, 0.005, rgba)
            forward = (centre - eye) / np.linalg.norm(centre - eye)
            cam_up = np.cross(np.cross(forward, up), forward)
            for cam in scene.camera:
                cam.pos[:] = eye
                cam.forward[:] = forward
                cam.up[:] = cam_up / np.linalg.norm(cam_up)
            if segmentation:
                renderer.enable_segmentation_rendering()
            img = renderer.render().copy()
            renderer.disable_segmentation_rendering()
            return img

        rgb = draw(False)
        background = draw(True)[..., 0] < 0
    rgb[background] = RVIZ_BACKGROUND
    return rgb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", help="session bag of `semg-grasp demo` (or `ros2 bag record` of the pipeline)")
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--object", default=DepthCameraSimConfig().object, help="the simulated camera's object")
    parser.add_argument("--turn", type=float, default=-30.0, help="view turned about the vertical, degrees")
    args = parser.parse_args(argv)
    camera = DepthCameraSim(load_config(DepthCameraSimConfig, "depth_camera_sim", object=args.object))
    img = render_scene(last_messages(args.bag), camera, args.turn)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.imsave(args.out, img)
    print(f"wrote {args.out} ({img.shape[1]}x{img.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
