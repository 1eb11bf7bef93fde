"""Distance fields against analytic distances and brute-force nearest points."""

import numpy as np
import pytest
import torch
import trimesh

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.perception.sdf import (
    DistanceField, GridLayout, GridSpec, sample_grid, sdf_from_mesh, sdf_from_points,
)
from semg_grasp_ros.types import Header


def _sphere_points(n, r, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return r * v / np.linalg.norm(v, axis=1, keepdims=True)


def _box_points(n, half, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-half, half, size=(n, 3))
    axis = rng.integers(0, 3, n)
    pts[np.arange(n), axis] = half[axis] * rng.choice([-1, 1], n)
    return pts


def _box_sdf(p, half):
    q = np.abs(p) - half
    return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(axis=-1), 0)


def _cylinder_points(n, r, h, seed=0):
    rng = np.random.default_rng(seed)
    side = rng.random(n) < (2 * np.pi * r * h) / (2 * np.pi * r * h + 2 * np.pi * r * r)
    t = rng.uniform(0, 2 * np.pi, n)
    rad = np.where(side, r, r * np.sqrt(rng.random(n)))
    z = np.where(side, rng.uniform(-h / 2, h / 2, n), rng.choice([-h / 2, h / 2], n))
    return np.stack([rad * np.cos(t), rad * np.sin(t), z], axis=1)


def _cylinder_sdf(p, r, h):
    d = np.stack([np.linalg.norm(p[..., :2], axis=-1) - r, np.abs(p[..., 2]) - h / 2], axis=-1)
    return np.linalg.norm(np.maximum(d, 0), axis=-1) + np.minimum(d.max(axis=-1), 0)


CASES = {
    "sphere": (lambda: _sphere_points(20000, 0.05), lambda c: np.linalg.norm(c, axis=-1) - 0.05),
    "box": (lambda: _box_points(20000, np.array([0.04, 0.03, 0.06])),
            lambda c: _box_sdf(c, np.array([0.04, 0.03, 0.06]))),
    "cylinder": (lambda: _cylinder_points(20000, 0.035, 0.12), lambda c: _cylinder_sdf(c, 0.035, 0.12)),
}


@pytest.mark.parametrize("shape", sorted(CASES))
def test_unsigned_field_of_full_surface_sampling_matches_analytic(shape):
    sample, sdf = CASES[shape]
    field = sdf_from_points(sample())
    true = np.abs(sdf(field.layout.centres()))
    near = true <= 0.02
    err = np.abs(field.distances - true) / field.voxel_size
    assert field.distances.shape == (50, 50, 50) and field.distances.dtype == np.float32
    assert not field.is_signed
    assert err[near].mean() <= 0.5  # the target; measured about 0.1
    assert err[near].mean() <= 0.2
    assert err.max() <= np.sqrt(3)  # bound of the method (see _unsigned_edt)


def test_edt_and_kdtree_against_brute_force_nearest_point():
    pts = np.random.default_rng(3).uniform(-0.05, 0.05, size=(300, 3))
    layout = GridLayout(np.full(3, -0.08), 0.16 / 19, (20, 20, 20))
    centres = layout.centres().reshape(-1, 1, 3)
    brute = np.sqrt(((centres - pts[None]) ** 2).sum(-1)).min(axis=1).reshape(20, 20, 20)
    exact = sdf_from_points(pts, layout, method="kdtree").distances
    np.testing.assert_allclose(exact, brute, atol=1e-6)
    fast = sdf_from_points(pts, layout, method="edt").distances
    assert np.all(fast >= brute - 1e-6)  # a distance to a real point: never below the nearest one
    assert np.abs(fast - brute).max() <= np.sqrt(3) * layout.voxel_size
    assert np.abs(fast - brute).mean() <= 0.1 * layout.voxel_size


def test_grid_spec_object_and_fixed_extent():
    pts = np.array([[0.0, 0.0, 0.0], [0.1, 0.04, 0.02], [0.02, -0.02, 0.06]])
    layout = GridSpec(size=11, margin=0.05).layout(pts)
    assert layout.voxel_size == pytest.approx((0.1 + 0.1) / 10)
    np.testing.assert_allclose(layout.origin + 5 * layout.voxel_size, [0.05, 0.01, 0.03])
    fixed = GridSpec(size=31, extent_mode="fixed", fixed_extent=0.3, centre="centroid").layout(pts)
    assert fixed.voxel_size == pytest.approx(0.01)
    np.testing.assert_allclose(fixed.origin + 15 * 0.01, pts.mean(axis=0))
    assert GridSpec().layout(np.zeros((1, 3))).voxel_size == pytest.approx(max(0.06, 0.02) / 49)
    for bad in (dict(size=1), dict(extent_mode="cube"), dict(centre="middle"), dict(margin=-1.0)):
        with pytest.raises(ConfigError):
            GridSpec(**bad)


def test_bad_points_are_data_errors():
    with pytest.raises(DataError, match="at least one finite point"):
        sdf_from_points(np.zeros((0, 3)))
    with pytest.raises(DataError, match="at least one finite point"):
        sdf_from_points(np.full((10, 3), np.nan))
    far = GridLayout(np.full(3, 10.0), 0.01, (5, 5, 5))
    with pytest.raises(DataError, match="no point lies inside"):
        sdf_from_points(np.zeros((4, 3)), far)
    with pytest.raises(ConfigError):
        sdf_from_points(np.zeros((4, 3)), method="brute")
    with pytest.raises(DataError, match="convex hull"):
        sdf_from_points(np.random.default_rng(0).random((50, 2)) @ np.eye(2, 3), signed="hull")


def test_hull_sign_and_closing_down_to_the_support_plane():
    sphere = _sphere_points(5000, 0.05)
    field = sdf_from_points(sphere, signed="hull")
    true = np.linalg.norm(field.layout.centres(), axis=-1) - 0.05
    clear = np.abs(true) > field.voxel_size
    assert field.is_signed
    assert np.all(np.sign(field.distances[clear]) == np.sign(true[clear]))
    # Only the top cap (z > 0.03) is seen; a table at z = 0 closes it into a solid down to z = 0.
    cap = sphere[sphere[:, 2] > 0.03]
    layout = GridLayout(np.full(3, -0.06), 0.12 / 24, (25, 25, 25))
    open_cap = sdf_from_points(cap, layout, signed="hull")
    closed = sdf_from_points(cap, layout, signed="hull", support_plane=np.array([0.0, 0.0, 1.0, 0.0]))
    idx = tuple(np.round((np.array([0.0, 0.0, 0.01]) - layout.origin) / layout.voxel_size).astype(int))
    assert open_cap.distances[idx] > 0 and closed.distances[idx] < 0
    below = tuple(np.round((np.array([0.0, 0.0, -0.02]) - layout.origin) / layout.voxel_size).astype(int))
    assert closed.distances[below] > 0


def test_mesh_field_is_signed_and_exact_for_a_box():
    half = np.array([0.03, 0.02, 0.05])
    field = sdf_from_mesh(trimesh.creation.box(extents=2 * half), GridSpec(size=30))
    true = _box_sdf(field.layout.centres(), half)
    np.testing.assert_allclose(field.distances, true, atol=1e-5)
    np.testing.assert_allclose(field.extent, 2 * half)
    unsigned = sdf_from_mesh(trimesh.creation.box(extents=2 * half), GridSpec(size=30), signed=False)
    np.testing.assert_allclose(unsigned.distances, np.abs(true), atol=1e-5)
    fast = sdf_from_mesh(trimesh.creation.box(extents=2 * half), GridSpec(size=30), method="sampled",
                         surface_points=50_000)
    assert np.abs(fast.distances - true).mean() < 0.2 * fast.voxel_size


def test_mesh_of_overlapping_parts_is_their_union():
    # Two overlapping closed boxes (like a convex decomposition): ray parity would call the
    # overlap "outside"; the union must be inside there, and exact outside.
    a = trimesh.creation.box(extents=(0.06, 0.02, 0.02))
    b = trimesh.creation.box(extents=(0.02, 0.06, 0.02))
    mesh = trimesh.util.concatenate([a, b])
    layout = GridLayout(np.full(3, -0.05), 0.1 / 20, (21, 21, 21))
    field = sdf_from_mesh(mesh, layout)
    centres = layout.centres()
    true_out = np.minimum(_box_sdf(centres, np.array([0.03, 0.01, 0.01])),
                          _box_sdf(centres, np.array([0.01, 0.03, 0.01])))
    assert field.distances[10, 10, 10] < 0  # the shared centre
    outside = true_out > 0
    np.testing.assert_allclose(field.distances[outside], true_out[outside], atol=1e-5)
    assert np.all(field.distances[true_out < -1e-6] < 0)


def test_sample_grid_is_trilinear_and_differentiable():
    layout = GridLayout(np.array([-0.1, 0.0, 0.2]), 0.01, (6, 7, 8))
    c = layout.centres()
    a, b = np.array([0.3, -0.7, 1.1]), 0.05
    grid = torch.tensor(c @ a + b)
    pts = torch.tensor(np.random.default_rng(0).uniform([-0.1, 0.0, 0.2], [-0.05, 0.06, 0.27], (10, 4, 3)),
                       requires_grad=True)
    val = sample_grid(grid, layout.origin, 0.01, pts)
    assert val.shape == (10, 4)
    np.testing.assert_allclose(val.detach().numpy(), pts.detach().numpy() @ a + b, atol=1e-12)
    val.sum().backward()
    np.testing.assert_allclose(pts.grad.numpy(), np.broadcast_to(a, (10, 4, 3)), atol=1e-9)
    assert torch.autograd.gradcheck(lambda p: sample_grid(grid, layout.origin, 0.01, p),
                                    (pts.detach()[:2, :2].clone().requires_grad_(),))
    # Outside: the boundary value plus the distance to the grid, gradient pointing back.
    out = torch.tensor([[0.5, 0.03, 0.25]], dtype=torch.float64, requires_grad=True)
    v = sample_grid(grid, layout.origin, 0.01, out)
    inner = np.array([-0.05, 0.03, 0.25])
    assert v.item() == pytest.approx(inner @ a + b + 0.55)
    v.backward()
    assert out.grad[0, 0].item() == pytest.approx(1.0)


def test_sample_grid_batched():
    g = torch.stack([torch.zeros(3, 3, 3), torch.ones(3, 3, 3)])
    origin = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    pts = torch.tensor([[[0.5, 0.5, 0.5]], [[1.5, 1.5, 1.5]]])
    np.testing.assert_allclose(sample_grid(g, origin, torch.tensor([1.0, 1.0]), pts).numpy(), [[0.0], [1.0]])
    with pytest.raises(DataError):
        sample_grid(g, origin, 1.0, torch.zeros(3, 1, 3))
    with pytest.raises(DataError):
        sample_grid(torch.zeros(1, 4, 4), np.zeros(3), 1.0, torch.zeros(2, 3))


def test_field_round_trips_through_npz_and_object_sdf(tmp_path):
    field = sdf_from_points(_sphere_points(2000, 0.04), GridSpec(size=20))
    field.save_npz(tmp_path / "f.npz")
    back = DistanceField.load_npz(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.distances, field.distances)
    assert back.voxel_size == field.voxel_size and not back.is_signed
    msg = field.to_object_sdf(Header(5, "camera"))
    assert msg.shape == (20, 20, 20) and msg.header.frame_id == "camera"
    again = DistanceField.from_object_sdf(msg)
    np.testing.assert_allclose(again.origin, field.origin)
    p = field.origin + field.voxel_size * np.array([3.0, 4.0, 5.0])
    assert field.sample(p) == pytest.approx(field.distances[3, 4, 5], abs=1e-6)
    np.savez(tmp_path / "bad.npz", distances=np.zeros(3))
    with pytest.raises(DataError, match="not a distance-field"):
        DistanceField.load_npz(tmp_path / "bad.npz")


def test_view_completion_closes_the_unseen_back_of_a_sphere():
    """A sphere seen from the origin: only its front cap is observed. The 'view' field fills the
    space behind the cap (to the sphere's visible width), so the centre and the back are inside,
    the space in front of the cap stays outside, and the grid reaches past the back."""
    from semg_grasp_ros.perception.completion import view_completion, view_field
    from semg_grasp_ros.perception.sdf import GridSpec, sdf_from_points

    r, centre = 0.04, np.array([0.0, 0.0, 0.5])
    rng = np.random.default_rng(0)
    d = rng.normal(size=(20000, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = centre + r * d
    front = pts[(pts - centre) @ (-centre / np.linalg.norm(centre)) > 0.2 * r]  # the cap facing the sensor
    solid = view_completion(front)
    assert solid[:, 2].max() > centre[2] + 0.9 * r  # filled to about the visible width behind the cap
    unsigned = sdf_from_points(front, GridSpec())
    field = view_field(front, GridSpec())
    assert field.is_signed and not unsigned.is_signed
    probe = np.array([centre, centre + [0, 0, 0.8 * r], centre - [0, 0, 1.5 * r]])
    values = field.sample(probe)
    assert values[0] < -0.02 and values[1] < 0  # the centre (deep) and the unseen back are inside
    assert values[2] == pytest.approx(0.5 * r, abs=0.006)  # in front of the cap: its distance, outside
    assert field.extent[2] > 1.8 * r > unsigned.extent[2]


def test_view_completion_stops_at_the_support_plane():
    from semg_grasp_ros.perception.completion import view_completion

    pts = np.array([[0.0, 0.2, 0.5], [0.01, 0.2, 0.5]])
    plane = np.array([0.0, -1.0, 0.0, 0.22])  # y = 0.22, the object side y < 0.22
    solid = view_completion(pts, depth=0.1, support_plane=plane)
    assert solid[:, 1].max() <= 0.22 + 1e-9 and len(solid) > len(pts)
