"""Type-conditioned grasp synthesis: energy terms against analytic fields, initial poses, optimisation."""

import numpy as np
import pytest
import torch

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.data.energy import EnergyWeights, FieldBatch, GraspEnergy
from semg_grasp_ros.grasp.data.objects import procedural_object
from semg_grasp_ros.grasp.data.synthesis import (
    PALM_GRIP_POINT,
    SynthesisConfig,
    _align,
    accepted,
    initial_poses,
    optimise,
    prepare_object,
)
from semg_grasp_ros.geometry import axis_angle_rotations
from semg_grasp_ros.grasp.representation import SPECS
from semg_grasp_ros.hand.model import COUPLING_TOLERANCE, coupling_error
from semg_grasp_ros.hand.proxies import build_proxies

R_SPHERE = 0.03


@pytest.fixture(scope="module")
def energy():
    return GraspEnergy()


def _sphere_field(n=48, span=0.3, radius=R_SPHERE, centre=(0.0, 0.0, 0.0)):
    """Analytic signed distance of a sphere sampled on a grid, as a one-grid FieldBatch."""
    origin = np.array(centre) - span / 2
    voxel = span / (n - 1)
    axes = [origin[i] + voxel * np.arange(n) for i in range(3)]
    X = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    d = np.linalg.norm(X - np.array(centre), axis=-1) - radius
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)
    return FieldBatch(t(d)[None], t(origin)[None], t([voxel]), t(centre)[None])


def test_rotation_helpers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = rng.normal(size=(50, 3))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    b[0] = -a[0]  # the opposite-vector case
    R = _align(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", R, a), b, atol=1e-9)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    Q = axis_angle_rotations(np.tile([0.0, 0, 1], (1, 1)), np.array([np.pi / 2]))
    np.testing.assert_allclose(Q[0] @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)


def test_field_normals_are_radial_on_a_sphere():
    f = _sphere_field()
    rng = np.random.default_rng(1)
    d = rng.normal(size=(30, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    pts = torch.as_tensor(d * R_SPHERE)[None]
    n = f.normals(pts)[0].numpy()
    assert np.min(np.einsum("ij,ij->i", n, d)) > 0.99


def test_penetration_term_matches_the_analytic_sphere(energy):
    # hand far away in one half, then shifted onto the sphere: compare with sum(relu(r - (|c| - R)))
    f = _sphere_field()
    q = torch.zeros(2, 22, dtype=torch.float64)
    rot = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    trans = torch.tensor([[0.0, 0.02, -0.08], [0.0, 0.5, 0.0]], dtype=torch.float64)
    terms = energy(FieldBatch(*(x.expand(2, *x.shape[1:]) if x.dim() > 1 else x.expand(2) for x in
                                (f.distances, f.origin, f.voxel_size, f.centre))),
                   q, rot, trans, torch.tensor([1, 1]))
    prox = build_proxies(energy.fk)
    centres, radii = prox.spheres_world(energy.fk, q, rot, trans)
    expected = torch.relu(radii - (centres.norm(dim=-1) - R_SPHERE)).sum(-1)
    assert expected[0] > 0.01  # the placement really penetrates
    np.testing.assert_allclose(terms["penetration"].numpy(), expected.numpy(), atol=2e-4 * len(radii))
    assert terms["penetration"][1] == 0
    assert terms["max_penetration"][0] == pytest.approx(float((radii - (centres[0].norm(dim=-1) - R_SPHERE)).max()),
                                                        abs=5e-4)


def test_joint_limit_and_prior_terms(energy):
    f = _sphere_field()
    t = SPECS["cylindrical"]
    q = torch.as_tensor(t.preshape_vector())[None].clone()
    far = torch.tensor([[0.0, 0.5, 0.0]], dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)[None]
    terms = energy(f, q, eye, far, torch.tensor([1]))
    assert float(terms["prior"]) == pytest.approx(0.0, abs=1e-12)
    assert float(terms["joint_limits"]) == 0.0
    q2 = q.clone()
    q2[0, 1] = float(energy.fk.upper[1]) + 0.1  # FFJ3 beyond its upper limit
    terms2 = energy(f, q2, eye, far, torch.tensor([1]))
    assert float(terms2["joint_limits"]) == pytest.approx(0.1, abs=1e-9)
    w = t.prior_weights()[1]
    assert float(terms2["prior"]) == pytest.approx(w * (float(q2[0, 1]) - t.preshape_vector()[1]) ** 2, rel=1e-9)


def test_energy_rejects_uneven_batches(energy):
    f = _sphere_field()
    two = FieldBatch(*(torch.cat([x, x]) for x in (f.distances, f.origin, f.voxel_size, f.centre)))
    with pytest.raises(DataError):
        energy(two, torch.zeros(3, 22), torch.eye(3).expand(3, 3, 3), torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))


def test_weights_and_config_validate():
    with pytest.raises(ConfigError):
        EnergyWeights(contact=-1)
    with pytest.raises(ConfigError):
        SynthesisConfig(candidates=0)
    with pytest.raises(ConfigError):
        SynthesisConfig(opening=(0.9, 0.1))


@pytest.fixture(scope="module")
def sphere_obj():
    cfg = SynthesisConfig(grid_size=40, surface_samples=400)
    obj = procedural_object("sphere", 7)  # radius 1.8 cm
    return prepare_object(obj, cfg), cfg


def test_prepared_object_geometry(sphere_obj):
    prep, cfg = sphere_obj
    r = prep.obj.params["radius"]
    radial = prep.surface / np.linalg.norm(prep.surface, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(prep.surface, axis=1), r, atol=2e-3)
    assert np.min(np.einsum("ij,ij->i", prep.normals, radial)) > 0.97
    assert np.median(np.abs(prep.thickness - 2 * r)) < 0.003
    assert np.max(np.abs(np.einsum("ij,ij->i", prep.axis, prep.normals))) < 1e-6
    assert prep.field50.distances.shape == (50, 50, 50) and prep.field50.is_signed


def test_initial_poses_face_the_object(sphere_obj, energy):
    prep, cfg = sphere_obj
    rng = np.random.default_rng(0)
    for grasp_type in GRASP_TYPES:
        q, R, t = initial_poses(prep, grasp_type, 16, rng, energy, cfg)
        assert q.shape == (16, 22) and R.shape == (16, 3, 3) and t.shape == (16, 3)
        assert np.all(q >= energy.fk.lower.numpy() - 1e-9) and np.all(q <= energy.fk.upper.numpy() + 1e-9)
        np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
        palm_normal = np.einsum("nij,j->ni", R, [0.0, -1.0, 0.0])
        if grasp_type in ("spherical", "cylindrical"):
            # the palm's grip point sits at the surface, its normal towards the centre (up to the jitter)
            grip = np.einsum("nij,j->ni", R, PALM_GRIP_POINT) + t
            dist = np.linalg.norm(grip, axis=1)
            assert np.all(np.abs(dist - prep.obj.params["radius"] - 0.0075) < 0.02), grasp_type
            to_centre = -grip / dist[:, None]
            assert np.median(np.einsum("ij,ij->i", palm_normal, to_centre)) > 0.95, grasp_type
        assert np.all(np.linalg.norm(t, axis=1) < 0.25)


def test_optimisation_reaches_the_surface_and_pre_accepts(sphere_obj, energy):
    prep, cfg = sphere_obj
    cfg = SynthesisConfig(candidates=6, steps=80, grid_size=40, surface_samples=400)
    c0 = optimise([(prep, "tip")], SynthesisConfig(candidates=6, steps=0, grid_size=40), energy, seed=3)
    c = optimise([(prep, "tip")], cfg, energy, seed=3)
    assert np.median(c.energy) < 0.5 * np.median(c0.energy)
    assert np.median(c.mean_contact_mm) < 6.0
    assert np.median(c.max_penetration_mm) < 3.0
    assert c.pre_accepted.any()
    assert set(c.type_index.tolist()) == {GRASP_TYPES.index("tip")}
    assert coupling_error(c.joints).max() < COUPLING_TOLERANCE  # J1 = J2: grasps the hand can take
    # pre-acceptance means all of its conditions
    ok = c.pre_accepted
    assert np.all(c.max_penetration_mm[ok] <= cfg.max_penetration_mm)
    assert np.all(c.label[ok] == c.type_index[ok])


def test_acceptance_rule():
    class R:
        success, penetration_mm = True, 1.0

    assert accepted(R())
    R.penetration_mm = 5.0
    assert not accepted(R())
    R.success, R.penetration_mm = False, 0.0
    assert not accepted(R())
    assert not accepted(None)


def test_energy_results_do_not_depend_on_what_it_computed_before():
    """A float32 request between two float64 ones leaves the float64 result bit for bit the same
    (the constants are converted from their originals, not round-tripped)."""
    import torch

    from semg_grasp_ros.grasp.data.energy import GraspEnergy

    energy = GraspEnergy()
    q = torch.linspace(0.0, 0.5, 22, dtype=torch.float64).expand(2, 22)
    rot, trans = torch.eye(3, dtype=torch.float64).expand(2, 3, 3), torch.zeros(2, 3, dtype=torch.float64)
    before, _ = energy.hand_points(q, rot, trans)
    energy.hand_points(q.float(), rot.float(), trans.float())
    after, _ = energy.hand_points(q, rot, trans)
    assert torch.equal(before, after)
