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

os.environ.setdefault("MUJOCO_GL", "egl")  # before mujoco is imported anywhere in this process

import numpy as np  # noqa: E402

from ..errors import DataError  # noqa: E402

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
