"""Pictures of a grasp (hand + object) without a display, in the physics check's MuJoCo scene
(``grasp.physics``: one scene builder for both).

The MuJoCo renderer is used with an offscreen OpenGL context (``MUJOCO_GL``: ``egl`` by default,
``osmesa`` where Mesa's software library is installed); when no context can be made, the picture
is drawn with matplotlib (Agg): the object's triangles and the hand's collision spheres.

Example::

    img = render_grasp(joints, rot, trans, pieces, "grasp.png")   # (H, W, 3) uint8, PNG written
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError

log = logging.getLogger(__name__)

HAND_RGBA = (0.72, 0.74, 0.8, 1.0)
OBJECT_RGBA = (0.95, 0.55, 0.2, 1.0)
BACKGROUND = (235, 238, 242)
#: (azimuth, elevation) in degrees of the default views, side by side.
DEFAULT_VIEWS = ((135.0, -25.0), (45.0, -60.0))


def _check(joints, rot, trans, pieces):
    joints = np.asarray(joints, dtype=np.float64)
    rot = np.asarray(rot, dtype=np.float64)
    trans = np.asarray(trans, dtype=np.float64)
    if joints.shape != (22,) or rot.shape != (3, 3) or trans.shape != (3,):
        raise DataError(f"render needs joints (22,), rot (3, 3), trans (3,); got {joints.shape}, {rot.shape}, {trans.shape}")
    if not (np.all(np.isfinite(joints)) and np.all(np.isfinite(rot)) and np.all(np.isfinite(trans))):
        raise DataError("render: grasp contains NaN or inf")
    if not pieces:
        raise DataError("render: the object has no pieces")
    return joints, rot, trans


def posed_scene(joints, rot, trans, pieces, hand_rgba=HAND_RGBA, object_rgba=OBJECT_RGBA):
    """A MuJoCo scene of the hand holding the grasp, in the palm frame (the world).

    Args:
        joints: (22,) rad; rot (3, 3), trans (3,) m: the palm pose in the object's frame.
        pieces: [(vertices (V, 3) m, faces (F, 3))] of the object in that frame.
        hand_rgba, object_rgba: geometry colours (alpha 0 hides).

    Returns:
        The ``GraspSimulator`` with its data forwarded (joints clamped to the limits, the
        object at the inverse of the palm pose).
    """
    from .physics import GraspSimulator, PhysicsConfig

    sim = GraspSimulator(pieces, PhysicsConfig(hand="urdf"))  # the project's own hand shapes
    m = sim.model
    for g in range(m.ngeom):
        m.geom_rgba[g] = hand_rgba if sim.hand_geoms[g] else object_rgba
    sim.pose(np.clip(joints, sim.lower, sim.upper), rot, trans)
    return sim


def _render_mujoco(joints, rot, trans, pieces, views, width, height) -> np.ndarray:
    import mujoco

    sim = posed_scene(joints, rot, trans, pieces)
    m, d = sim.model, sim.data
    m.vis.global_.offwidth = max(m.vis.global_.offwidth, width)
    m.vis.global_.offheight = max(m.vis.global_.offheight, height)
    centre = 0.5 * (d.xipos[sim.obj_body] + np.array([0.0, -0.03, 0.08]))  # between object and palm
    extent = max(float(np.ptp(np.vstack([v for v, _ in pieces]), axis=0).max()), 0.15)
    m.vis.headlight.ambient[:] = 0.35
    m.vis.headlight.diffuse[:] = 0.6
    images = []
    with mujoco.Renderer(m, height, width) as renderer:
        for azimuth, elevation in views:
            cam = mujoco.MjvCamera()
            cam.lookat[:] = centre
            cam.distance = 1.4 * extent + 0.12
            cam.azimuth, cam.elevation = azimuth, elevation
            renderer.update_scene(d, camera=cam)
            rgb = renderer.render().copy()
            renderer.enable_segmentation_rendering()
            renderer.update_scene(d, camera=cam)
            background = renderer.render()[..., 0] < 0
            renderer.disable_segmentation_rendering()
            rgb[background] = BACKGROUND
            images.append(rgb)
    return np.concatenate(images, axis=1)


def _render_matplotlib(joints, rot, trans, pieces, views, width, height) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    from ..hand.kinematics import HandKinematics
    from ..hand.proxies import build_proxies

    fk = HandKinematics.load("free")
    prox = build_proxies(fk)
    centres, radii = prox.spheres_world(
        fk, torch.tensor(joints[None]), torch.tensor(rot[None]), torch.tensor(trans[None])
    )
    centres, radii = centres[0].numpy(), radii.numpy()
    dpi = 100
    fig = plt.figure(figsize=(width * len(views) / dpi, height / dpi), dpi=dpi)
    allpts = np.vstack([centres] + [v for v, _ in pieces])
    mid, half = allpts.mean(0), np.ptp(allpts, axis=0).max() / 2
    for k, (azimuth, elevation) in enumerate(views):
        ax = fig.add_subplot(1, len(views), k + 1, projection="3d")
        for v, f in pieces:
            ax.add_collection3d(Poly3DCollection(v[f], facecolor=OBJECT_RGBA, edgecolor=(0.6, 0.3, 0.1, 0.3), linewidth=0.2))
        px_per_m = 0.35 * min(width, height) / (2 * half)  # the 3-D box of side 2 * half, as drawn by mplot3d
        size_pt2 = (2 * radii * px_per_m * 72 / dpi) ** 2
        ax.scatter(*centres.T, s=size_pt2, c=[HAND_RGBA], edgecolors="0.45", linewidths=0.3, depthshade=True)
        for a, setter in zip(range(3), (ax.set_xlim, ax.set_ylim, ax.set_zlim)):
            setter(mid[a] - half, mid[a] + half)
        ax.view_init(elev=-elevation, azim=azimuth)
        ax.set_axis_off()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return img


def render_grasp(
    joints,
    rot,
    trans,
    pieces: Sequence[tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike | None = None,
    width: int = 480,
    height: int = 400,
    views: Sequence[tuple[float, float]] = DEFAULT_VIEWS,
    backend: str = "auto",
) -> np.ndarray:
    """Render a grasp: the free hand at ``(rot, trans)`` in the object frame, the object's pieces.

    Args:
        joints: (22,) Shadow finger joints, rad (clamped to the limits for the picture).
        rot, trans: (3, 3), (3,) palm pose in the object frame, m.
        pieces: convex pieces [(vertices (V, 3) m, faces (F, 3))].
        path: PNG to write (optional).
        width, height: pixels of each view.
        views: (azimuth, elevation) degrees per view, placed side by side.
        backend: "auto" (MuJoCo, else matplotlib), "mujoco" or "matplotlib".

    Returns:
        (height, width * len(views), 3) uint8 image.
    """
    joints, rot, trans = _check(joints, rot, trans, pieces)
    if backend not in ("auto", "mujoco", "matplotlib"):
        raise DataError(f"render backend {backend!r} unknown; expected auto, mujoco or matplotlib")
    img = None
    if backend in ("auto", "mujoco"):
        try:
            with warnings.catch_warnings():  # a failing GL back-end warns before it raises
                warnings.simplefilter("ignore")
                img = _render_mujoco(joints, rot, trans, pieces, views, width, height)
        except Exception as exc:  # no OpenGL context on this machine: any GL/driver error ends here
            if backend == "mujoco":
                raise DataError(f"MuJoCo rendering failed (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}") from exc
            log.info("MuJoCo rendering unavailable (%s); drawing with matplotlib", exc)
    if img is None:
        img = _render_matplotlib(joints, rot, trans, pieces, views, width, height)
    if path is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(str(path), img)
    return img


# --- captioned pictures and animations over the table ---------------------------------------------

PICTURE_SIZE = (1280, 720)
CAPTION_HEIGHT = 80
ANIMATION_SIZE = (480, 360)
TABLE_RGBA = (0.62, 0.56, 0.5, 1.0)
#: the camera looks at the grasp from the side: this many degrees around the table's vertical
#: from the direction of the palm, and from above
SIDE_AZIMUTH_DEG, ELEVATION_DEG = -70.0, -22.0


def _in_world(rot, trans, pieces, frame_to_world):
    """The grasp and the object in the world (z up, table top at z = 0) from their frame."""
    if frame_to_world is None:
        return rot, trans, pieces
    r, t = np.asarray(frame_to_world)[:3, :3], np.asarray(frame_to_world)[:3, 3]
    return r @ rot, r @ trans + t, [(np.asarray(v) @ r.T + t, f) for v, f in pieces]


class TableStage:
    """The MuJoCo scene of ``grasp.physics`` (the table-top setting: the hand, the object, the
    table under it) posed and drawn from a fixed side camera, offscreen.

    Args:
        pieces: the object's convex pieces [(vertices (V, 3) m, faces (F, 3))] in the world (z up).
        palm: (3,) the grasp's palm position in the world (the camera looks at it from the side).
        reach: metres the scene spans beyond the object (the approach distance).
        size: (width, height) pixels.
    """

    def __init__(self, pieces, palm, reach: float = 0.1, size=ANIMATION_SIZE):
        import mujoco

        from .physics import GraspSimulator, PhysicsConfig

        self._mj = mujoco
        self.sim = GraspSimulator(pieces, PhysicsConfig(hand="urdf", setting="tabletop"))
        m = self.sim.model
        for g in range(m.ngeom):
            m.geom_rgba[g] = HAND_RGBA if self.sim.hand_geoms[g] else (
                OBJECT_RGBA if self.sim.object_geoms[g] else TABLE_RGBA)
        self.width, self.height = size
        m.vis.global_.offwidth = max(m.vis.global_.offwidth, self.width)
        m.vis.global_.offheight = max(m.vis.global_.offheight, self.height)
        m.vis.headlight.ambient[:] = 0.35
        m.vis.headlight.diffuse[:] = 0.6
        verts = np.vstack([v for v, _ in pieces])
        centre = 0.5 * (verts.min(0) + verts.max(0))
        side = np.asarray(palm, float)[:2] - centre[:2]
        self.camera = mujoco.MjvCamera()
        self.camera.lookat[:] = 0.5 * (centre + np.asarray(palm, float))
        self.camera.distance = float(np.ptp(verts, axis=0).max()) + 1.2 * reach + 0.12
        self.camera.azimuth = float(np.degrees(np.arctan2(side[1], side[0]))) + SIDE_AZIMUTH_DEG
        self.camera.elevation = ELEVATION_DEG
        self._renderer = mujoco.Renderer(m, self.height, self.width)

    def render(self, joints, rot, trans) -> np.ndarray:
        """(height, width, 3) uint8: the hand at ``joints`` with its palm at ``(rot, trans)`` (world)."""
        self.sim.pose(np.clip(joints, self.sim.lower, self.sim.upper), rot, trans, object_frame=True)
        r = self._renderer
        r.update_scene(self.sim.data, camera=self.camera)
        rgb = r.render().copy()
        r.enable_segmentation_rendering()
        r.update_scene(self.sim.data, camera=self.camera)
        rgb[r.render()[..., 0] < 0] = BACKGROUND
        r.disable_segmentation_rendering()
        return rgb

    def close(self) -> None:
        self._renderer.close()


def verdict(details: dict) -> str:
    """One caption line of a physics check (``PhysicsResult.to_dict()``): held / slipped / rejected,
    and the penetration at the grasp."""
    word = "rejected (pregrasp penetrates)" if details["rejected"] else "held" if details["success"] else "slipped"
    pen = details.get("penetration_mm")
    return f"{word}, penetration {'n/a' if pen is None else f'{pen:.1f} mm'}"


def _caption(img: np.ndarray, text: str, height: int) -> np.ndarray:
    """``img`` with a band of ``height`` pixels below it holding ``text`` (lines split by newlines)."""
    from PIL import Image, ImageDraw, ImageFont

    h, w, _ = img.shape
    canvas = Image.new("RGB", (w, h + height), (250, 250, 250))
    canvas.paste(Image.fromarray(img), (0, 0))
    lines = text.splitlines() or [""]
    size = max(10, min(24, int(0.7 * height / len(lines))))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(canvas)
    for k, line in enumerate(lines):
        draw.text((24, h + (k + 0.5) * height / len(lines)), line, fill=(30, 30, 30), font=font, anchor="lm")
    return np.asarray(canvas)


def grasp_picture(joints, rot, trans, pieces, caption: str, path=None, frame_to_world=None,
                  size=PICTURE_SIZE) -> np.ndarray:
    """A ``size`` picture (1280x720) of a grasp over the table with ``caption`` below it.

    Args:
        joints: (22,) rad; rot (3, 3), trans (3,) m: palm pose in the pieces' frame.
        pieces: the object's convex pieces in that frame.
        caption: one or two lines (type, object, physics verdict, penetration).
        path: PNG to write (optional).
        frame_to_world: (4, 4) T_world_frame when the frame is not z-up over a table at z = 0
            (a camera's optical frame).

    Returns:
        (height, width, 3) uint8. Without an OpenGL context the scene is drawn with matplotlib (no table).
    """
    joints, rot, trans = _check(joints, rot, trans, pieces)
    rot, trans, pieces = _in_world(rot, trans, pieces, frame_to_world)
    width, height = size
    scene_size = (width, height - CAPTION_HEIGHT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stage = TableStage(pieces, trans, size=scene_size)
            try:
                img = stage.render(joints, rot, trans)
            finally:
                stage.close()
    except Exception as exc:  # no OpenGL context on this machine: any GL/driver error ends here
        log.info("MuJoCo rendering unavailable (%s); drawing with matplotlib", exc)
        img = _render_matplotlib(joints, rot, trans, pieces, ((SIDE_AZIMUTH_DEG, ELEVATION_DEG),), *scene_size)
    img = _caption(img, caption, CAPTION_HEIGHT)
    if path is not None:
        from PIL import Image

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
    return img


def grasp_animation(trajectory, pieces, path, frame_to_world=None, frames: int = 16, size=ANIMATION_SIZE,
                    fps: float = 8.0) -> int:
    """A GIF of a grasp trajectory (pre-shape, approach, close) over the table.

    Args:
        trajectory: a ``hand.trajectory.HandTrajectory`` (wrist positions in the pieces' frame).
        pieces: the object's convex pieces in that frame.
        path: the GIF to write.
        frame_to_world: as in ``grasp_picture``.
        frames: pictures sampled evenly over the trajectory (the last one held twice as long).
        size: (width, height) pixels; fps: frames per second.

    Returns:
        the number of frames written (0 without an OpenGL context: no file is written).
    """
    rot, final, world = _in_world(trajectory.wrist_rotation, trajectory.wrist_position[-1], pieces, frame_to_world)
    to_world = np.eye(4) if frame_to_world is None else np.asarray(frame_to_world)
    reach = float(np.linalg.norm(trajectory.wrist_position[0] - trajectory.wrist_position[-1]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stage = TableStage(world, final, reach=reach, size=size)
    except Exception as exc:
        log.info("MuJoCo rendering unavailable (%s); no animation", exc)
        return 0
    images = []
    try:
        for t in np.linspace(0.0, trajectory.duration, max(2, frames)):
            q, p, _ = trajectory.sample(t)
            images.append(stage.render(q, rot, to_world[:3, :3] @ p + to_world[:3, 3]))
    finally:
        stage.close()
    from PIL import Image

    pictures = [Image.fromarray(i) for i in images]
    ms = int(round(1000 / fps))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=[ms] * (len(pictures) - 1) + [4 * ms],
                     loop=0)
    return len(pictures)


def picture_sample(grasps, folder, n: int) -> list[Path]:
    """Captioned pictures of ``n`` of ``grasps``, evenly spread over them (the first and the last included).

    Args:
        grasps: sequence of (name, joints (22,), rot (3, 3), trans (3,), pieces, caption), poses in the
            pieces' frame (an object frame; the table goes under its lowest point).
        folder: where ``<name>.png`` are written (created).
        n: how many (0: none; more than there are: all).

    Returns:
        the pictures written.
    """
    if n <= 0 or not len(grasps):
        return []
    folder = Path(folder)
    picks = sorted(set(np.linspace(0, len(grasps) - 1, min(n, len(grasps))).round().astype(int).tolist()))
    paths = []
    for k in picks:
        name, joints, rot, trans, pieces, caption = grasps[k]
        paths.append(folder / f"{name}.png")
        grasp_picture(joints, rot, trans, pieces, caption, paths[-1])
    return paths
