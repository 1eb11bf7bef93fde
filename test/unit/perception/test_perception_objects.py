"""Object meshes: primitives, the DexGraspNet samples, the object spec strings."""

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError, DataError, DatasetError
from semg_grasp_ros.perception.objects import (
    Primitive,
    dexgraspnet_objects,
    load_dexgraspnet_mesh,
    load_mesh,
    resolve_object,
)
from semg_grasp_ros.geometry import rotation_to_z


@pytest.mark.parametrize("prim", [Primitive("sphere", (0.05,)), Primitive("box", (0.08, 0.06, 0.12)),
                                  Primitive("cylinder", (0.035, 0.12))])
def test_primitive_surface_samples_and_distance(prim):
    pts = prim.sample_surface(2000, seed=1)
    assert np.abs(prim.sdf(pts)).max() < 1e-12
    # Points pushed outward along the direction from the centre are outside, inward inside.
    assert np.all(prim.sdf(pts * 1.05) > 0) and np.all(prim.sdf(pts * 0.95) < 0)
    mesh = prim.mesh()
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.extents, np.ptp(prim.sample_surface(20000, seed=2), axis=0), rtol=0.02)
    centre_depth = {"sphere": lambda d: d[0], "box": lambda d: min(d) / 2, "cylinder": lambda d: min(d[0], d[1] / 2)}
    assert prim.sdf(np.zeros(3)) == pytest.approx(-centre_depth[prim.kind](prim.dims))


def test_box_sdf_outside_a_corner():
    box = Primitive("box", (0.02, 0.04, 0.06))
    assert box.sdf(np.array([0.01 + 0.03, 0.02 + 0.04, 0.0])) == pytest.approx(0.05)


def test_rotation_to_z():
    for up in ([0, 1, 0], [0, 0, -1], [1, 2, 3], [0, 0, 1]):
        r = rotation_to_z(up)
        np.testing.assert_allclose(r @ (np.array(up) / np.linalg.norm(up)), [0, 0, 1], atol=1e-12)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)


def test_object_specs_and_errors(tmp_path):
    assert resolve_object("sphere:0.03").extents == pytest.approx([0.06] * 3, rel=0.01)
    path = tmp_path / "b.obj"
    Primitive("box", (1.0, 2.0, 3.0)).mesh().export(path)
    np.testing.assert_allclose(resolve_object(str(path), scale=0.01).extents, [0.01, 0.02, 0.03])
    with pytest.raises(ConfigError):
        resolve_object("box:1,2")
    with pytest.raises(ConfigError):
        resolve_object("sphere:big")
    with pytest.raises(DataError, match="does not exist"):
        load_mesh(tmp_path / "none.obj")
    (tmp_path / "bad.obj").write_text("this is not a mesh\n")
    with pytest.raises(DataError):
        load_mesh(tmp_path / "bad.obj")


def test_dexgraspnet_samples_in_metres_and_upright(data_root):
    codes = dexgraspnet_objects(data_root)
    if not codes:
        pytest.skip("no DexGraspNet sample meshes in the data folder")
    mug = next(c for c in codes if "mug" in c)
    # The names the CLI documents (mug, banana, plate, bottle) pick one sample each, in any case.
    for name in ("mug", "banana", "plate", "bottle", "BOTTLE"):
        assert len(resolve_object(name, 0.1, data_root).vertices) > 0
    raw = load_dexgraspnet_mesh(mug, 0.1, data_root)
    up = load_dexgraspnet_mesh(mug, 0.1, data_root, upright=True)
    # PROVENANCE: mug 1.11 x 1.24 x 1.55 units -> 0.11 x 0.12 x 0.15 m at scale 0.1; ShapeNetCore is y-up.
    np.testing.assert_allclose(raw.extents, [0.111, 0.124, 0.155], atol=1e-3)
    np.testing.assert_allclose(up.extents, [0.111, 0.155, 0.124], atol=1e-3)
    assert resolve_object("mug", 0.1, data_root).extents == pytest.approx(up.extents)
    with pytest.raises(DatasetError, match="matches 0"):
        resolve_object("teapot", 0.1, data_root)
