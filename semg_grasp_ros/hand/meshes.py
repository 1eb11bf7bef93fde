"""Visual meshes of the ShadowHand, generated from its kinematic facts (``urdf/meshes/*.stl``).

Each shell is a loft: rings of superellipse cross-section (``|x/a|^p + |y/b|^p = 1``) along the
link's z axis, closed by rounded caps. Phalanges run from their joint to the next one (45, 25,
26 mm on the fingers; 38, 32, 27.5 mm on the thumb: the joint offsets of the URDF), with the
radii of the collision capsules, slightly wider than deep and tapering towards the tip; the
distal ones end in a fingertip. The palm spans the knuckles (FF/MF/RF at x = 33, 11, -11 mm,
z = 95-99 mm) and the little finger's metacarpal gap; the forearm tapers from the motor housing
(60 mm radius) to the wrist (z = 213 mm). Link frames are those of ``urdf/shadow_hand.urdf``;
units metres. The URDFs, RViz and ``display.launch.py`` use these files as the links' visuals;
the collision geometry stays primitive.

Regenerate (the test checks the files are current)::

    python -m semg_grasp_ros.hand.meshes urdf/meshes
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

#: (start radius, end radius, length, tip) of each phalanx shell, metres, from the joint offsets
#: and capsule radii of the URDF; ``tip``: the end is a fingertip (longer, rounder cap).
PHALANGES = {
    "f_proximal": (0.0100, 0.0093, 0.045, False),
    "f_middle": (0.0085, 0.0078, 0.025, False),
    "f_distal": (0.0075, 0.0068, 0.019, True),
    "th_proximal": (0.0130, 0.0118, 0.038, False),
    "th_middle": (0.0112, 0.0102, 0.032, False),
    "th_distal": (0.0098, 0.0090, 0.0195, True),
}
#: link -> mesh file stem, for both URDFs
LINK_MESHES = {
    "rh_forearm": "forearm", "rh_palm": "palm", "rh_lfmetacarpal": "lf_metacarpal",
    **{f"rh_{f}{part}": f"f_{part}" for f in ("ff", "mf", "rf", "lf") for part in ("proximal", "middle", "distal")},
    **{f"rh_th{part}": f"th_{part}" for part in ("proximal", "middle", "distal")},
}
SEGMENTS = 32  # vertices per ring


def _ring(a: float, b: float, p: float, cx: float, cy: float, z: float, n: int = SEGMENTS) -> np.ndarray:
    """(n, 3) points of the superellipse |x/a|^p + |y/b|^p = 1 centred at (cx, cy), at height z."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = a * np.sign(c) * np.abs(c) ** (2 / p)
    y = b * np.sign(s) * np.abs(s) ** (2 / p)
    return np.column_stack([x + cx, y + cy, np.full(n, z)])


def loft(rings: Sequence[tuple[float, float, float, float, float, float]], n: int = SEGMENTS):
    """A closed shell through ``rings`` = [(z, a, b, p, cx, cy)] (z increasing), capped by one
    vertex at each end on the first and last ring's centre.

    Returns:
        (vertices (V, 3) float64, faces (F, 3) int64), outward-facing triangles.
    """
    pts = [_ring(a, b, p, cx, cy, z, n) for z, a, b, p, cx, cy in rings]
    v = np.concatenate([np.array([[rings[0][4], rings[0][5], rings[0][0]]]), *pts,
                        np.array([[rings[-1][4], rings[-1][5], rings[-1][0]]])])
    k = np.arange(n)
    faces = [np.column_stack([np.zeros(n, int), 1 + (k + 1) % n, 1 + k])]
    for r in range(len(pts) - 1):
        a0, b0 = 1 + r * n + k, 1 + r * n + (k + 1) % n
        a1, b1 = a0 + n, b0 + n
        faces += [np.column_stack([a0, b0, b1]), np.column_stack([a0, b1, a1])]
    last, top = 1 + (len(pts) - 1) * n, len(v) - 1
    faces.append(np.column_stack([np.full(n, top), last + k, last + (k + 1) % n]))
    return v, np.concatenate(faces)


def _cap(z0: float, a: float, b: float, p: float, depth: float, sign: float, steps: int = 6):
    """Rings of a rounded cap from the section (a, b) at z0 to a point ``depth`` beyond it."""
    phi = np.linspace(0.0, np.pi / 2, steps + 1)[1:-1]  # exclude the section itself and the apex
    rings = [(z0 + sign * depth * np.sin(f), a * np.cos(f), b * np.cos(f), p, 0.0, 0.0) for f in phi]
    return rings if sign > 0 else rings[::-1]


def phalanx(r0: float, r1: float, length: float, tip: bool):
    """Shell of one phalanx from its joint (z = 0) to the next joint (or the fingertip)."""
    width, depth_ratio, p = 1.12, 0.94, 2.3  # a little wider than deep, slightly squared
    body = []
    for t in np.linspace(0.0, 1.0, 9):
        r = (r0 + (r1 - r0) * t) * (1.0 + 0.05 * np.sin(np.pi * t))  # a slight belly between the joints
        body.append((t * length, width * r, depth_ratio * r, p, 0.0, 0.0))
    start = _cap(0.0, width * r0, depth_ratio * r0, p, 0.75 * r0, -1.0)
    end = _cap(length, width * r1, depth_ratio * r1, p, (1.0 if tip else 0.75) * r1, +1.0)
    rings = start + body + end
    apex = lambda z: (z, 1e-4, 1e-4, p, 0.0, 0.0)  # noqa: E731
    return loft([apex(-0.75 * r0)] + rings + [apex(length + (1.0 if tip else 0.75) * r1)])


def palm():
    """Palm shell: the full width (little-finger metacarpal side included) at the base, the
    three knuckles' span (x -21..43 mm) towards the fingers, 28 mm thick."""
    rings = []
    for z in np.linspace(-0.008, 0.092, 21):
        s = float(np.clip((z - 0.032) / 0.02, 0.0, 1.0))
        s = s * s * (3 - 2 * s)  # smooth step from the full palm to the knuckle span
        lo, hi = -0.044 + s * (0.044 - 0.022), 0.044
        half_depth = 0.014 - 0.002 * (z - 0.04) / 0.05
        rings.append((z, (hi - lo) / 2, half_depth, 4.0, (hi + lo) / 2, 0.0))
    first, last = rings[0], rings[-1]
    caps0 = [(first[0] - d, first[1] * f, first[2] * f, 4.0, first[4], 0.0) for d, f in ((0.004, 0.8), (0.002, 0.95))]
    caps1 = [(last[0] + d, last[1] * f, last[2] * f, 4.0, last[4], 0.0) for d, f in ((0.002, 0.95), (0.004, 0.8))]
    return loft(caps0 + rings + caps1)


def lf_metacarpal():
    """Shell of the little finger's metacarpal (its link frame: z along the bone, 66 mm)."""
    rings = [(z, 0.0115, 0.0135, 4.0, -0.0005, 0.0) for z in np.linspace(0.008, 0.058, 6)]
    return loft([(0.004, 0.009, 0.011, 4.0, -0.0005, 0.0)] + rings + [(0.062, 0.009, 0.011, 4.0, -0.0005, 0.0)])


def forearm():
    """Forearm shell: the motor housing (60 mm radius) tapering to the wrist (z 213 mm)."""
    rings = []
    for z in np.linspace(0.0, 0.205, 23):
        t = z / 0.205
        taper = 1.0 - 0.45 * (t * t * (3 - 2 * t))
        rings.append((z, 0.06 * taper, 0.055 * taper, 2.2, 0.0, -0.006 * t))
    return loft([(-0.002, 0.055, 0.05, 2.2, 0.0, 0.0)] + rings + [(0.209, 0.028, 0.025, 2.2, 0.0, -0.006)])


@lru_cache(maxsize=1)
def all_meshes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Mesh file stem -> (vertices (V, 3) m, faces (F, 3)); computed once (do not modify)."""
    out = {name: phalanx(*spec) for name, spec in PHALANGES.items()}
    out.update(palm=palm(), lf_metacarpal=lf_metacarpal(), forearm=forearm())
    return out


def posed_meshes(joints, rot=None, trans=None, variant: str = "free") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The hand's visual meshes at a posture, for pictures and viewers.

    Args:
        joints: (22,) finger joints, rad, ``FINGER_JOINTS`` order (``"fixed"``: (24,), wrist first).
        rot, trans: optional (3, 3) rotation and (3,) position of the root link in the world, m.
        variant: ``"free"`` (palm root) or ``"fixed"`` (forearm root).

    Returns:
        [(link name, vertices (V, 3) m in the world, faces (F, 3))] of every link with a mesh.
    """
    from .kinematics import HandKinematics

    fk = HandKinematics.load(variant)
    q = np.asarray(joints, dtype=np.float64).reshape(1, -1)
    poses = fk.link_poses(q, None if rot is None else np.asarray(rot)[None],
                          None if trans is None else np.asarray(trans)[None])[0].numpy()
    meshes = all_meshes()
    out = []
    for i, link in enumerate(fk.link_names):
        if link in LINK_MESHES:
            v, f = meshes[LINK_MESHES[link]]
            out.append((link, v @ poses[i, :3, :3].T + poses[i, :3, 3], f))
    return out


def write_meshes(folder: str | Path) -> list[Path]:
    """Write every mesh as ``<folder>/<stem>.stl`` (binary STL); returns the paths."""
    import trimesh

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (v, f) in all_meshes().items():
        path = folder / f"{name}.stl"
        trimesh.Trimesh(v, f, process=False).export(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the ShadowHand's visual meshes (STL)")
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[2] / "urdf" / "meshes"))
    for path in write_meshes(parser.parse_args(argv).folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
