"""Collision spheres stay inside and cover the URDF capsules; contact candidates lie on the pads."""

import numpy as np
import pytest
import torch

from semg_grasp_ros.hand.kinematics import HandKinematics
from semg_grasp_ros.hand.proxies import build_proxies


@pytest.fixture(scope="module")
def fk():
    return HandKinematics.load("free")


def _capsules(fk):
    caps = {}
    for c in fk.collisions:
        if c.kind == "cylinder":
            axis, half = c.origin[:3, 2], c.size[1] / 2
            caps[c.link] = (c.size[0], c.origin[:3, 3] - half * axis, c.origin[:3, 3] + half * axis)
    return caps


def _seg_dist(p, a, b):
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return np.linalg.norm(p - (a + t * (b - a)))


def test_spheres_inside_and_covering_capsules(fk):
    prox = build_proxies(fk)
    caps = _capsules(fk)
    assert len(caps) == 15  # 4 fingers x 3 phalanges + thumb proximal, middle, distal
    names = [fk.link_names[i] for i in prox.sphere_link]
    for link, (r, a, b) in caps.items():
        sel = [i for i, n in enumerate(names) if n == link]
        assert sel, link
        for i in sel:  # inside: centre distance to the axis + radius <= capsule radius
            assert _seg_dist(prox.sphere_centre[i], a, b) + prox.sphere_radius[i] <= r + 1e-9
        # coverage: every point of the capsule axis lies deep inside some sphere
        for t in np.linspace(0, 1, 25):
            p = a + t * (b - a)
            d = np.linalg.norm(prox.sphere_centre[sel] - p, axis=1) - prox.sphere_radius[sel]
            assert d.min() <= -0.75 * r + 1e-9  # spheres every r/2: at worst r/4 from a centre
    palm = [i for i, n in enumerate(names) if n == "rh_palm"]
    boxes = [c for c in fk.collisions if c.link == "rh_palm" and c.kind == "box"]
    assert len(palm) >= 10 and len(boxes) == 2
    for i in palm:  # each palm sphere fits inside one of the palm boxes
        inside = [
            np.all(np.abs(prox.sphere_centre[i] - b.origin[:3, 3]) + prox.sphere_radius[i] <= np.array(b.size) / 2 + 1e-9)
            for b in boxes
        ]
        assert any(inside)


def test_contact_candidates_on_pads(fk):
    prox = build_proxies(fk)
    caps = _capsules(fk)
    assert np.allclose(np.linalg.norm(prox.contact_normal, axis=1), 1.0)
    for p, n, link in zip(prox.contact_point, prox.contact_normal, prox.contact_names):
        if link == "rh_palm":
            assert p[1] == pytest.approx(-0.0111) and n[1] == pytest.approx(-1.0)
            continue
        r, a, b = caps[link]
        assert _seg_dist(p, a, b) == pytest.approx(r, abs=1e-9)
        assert _seg_dist(p + 1e-3 * n, a, b) > r  # outward
    # in the world, at a curled pose every finger pad faces the palm side (-y)
    q = torch.zeros(1, 22, dtype=torch.float64)
    pts, normals = prox.contacts_world(fk, q)
    fingers = [i for i, n in enumerate(prox.contact_names) if n.startswith(("rh_ff", "rh_mf", "rh_rf", "rh_lf"))]
    assert (normals[0, fingers, 1] < -0.5).all()
    c, r = prox.spheres_world(fk, q)
    assert c.shape == (1, len(prox.sphere_radius), 3) and r.shape == (len(prox.sphere_radius),)
