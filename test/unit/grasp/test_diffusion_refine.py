"""Refinement of grasps on penetration / contact energies, with linearised hand kinematics."""

import numpy as np
import pytest
import torch

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.energy import FieldBatch, GraspEnergy
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig, axis_angle_to_matrix
from semg_grasp_ros.hand.convert import euler_sxyz_to_matrix

N, SPAN, RADIUS = 40, 0.24, 0.035
ORIGIN = torch.full((3,), -SPAN / 2, dtype=torch.float64)
VOXEL = SPAN / (N - 1)


@pytest.fixture(scope="module")
def refiner():
    return GraspRefiner(RefineConfig(steps=10))


@pytest.fixture(scope="module")
def sphere():
    """Signed distance of a sphere of radius 3.5 cm at the origin on a 40^3 grid."""
    axis = torch.linspace(-SPAN / 2, SPAN / 2, N, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1)
    return (grid.norm(dim=-1) - RADIUS).float()


def _grasps(refiner, n=8, seed=0, push=0.0):
    """Random joints; palms facing the sphere's centre from random directions, ``push`` metres
    closer than touching (the palm face is its -y side)."""
    g = torch.Generator().manual_seed(seed)
    lo, hi = refiner.lower.double(), refiner.upper.double()
    joints = lo + (hi - lo) * (0.2 + 0.3 * torch.rand(n, 22, generator=g, dtype=torch.float64))
    rot = euler_sxyz_to_matrix((torch.rand(n, 3, generator=g, dtype=torch.float64) - 0.5) * 2.0)
    normal = rot @ torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)  # palm normal in the world
    trans = -normal * (RADIUS + 0.03 - push) - rot @ torch.tensor([0.0, 0.0, 0.05], dtype=torch.float64)
    return joints, rot, trans


def test_axis_angle_matches_rodrigues_via_scipy():
    from scipy.spatial.transform import Rotation

    w = torch.tensor([[0.3, -1.2, 0.5], [0.0, 0.0, 0.0], [1e-9, 0.0, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(axis_angle_to_matrix(w).numpy(), Rotation.from_rotvec(w.numpy()).as_matrix(), atol=1e-9)


def test_linearised_motion_matches_the_exact_kinematics(refiner):
    joints, _, _ = _grasps(refiner, n=4, seed=1)
    pts, twists = refiner.linearise(joints)
    eps = 1e-3
    for j in (0, 5, 13, 17, 21):  # FF abduction, MF proximal, LF, thumb base, thumb tip
        dq = torch.zeros(4, 22)
        dq[:, j] = eps
        fd = (refiner.linearise(joints + dq)[0] - refiner.linearise(joints - dq)[0]) / (2 * eps)
        lin = (refiner.move(pts, twists, dq) - pts) / eps
        assert torch.allclose(lin, fd, atol=2e-3), j  # m/rad
        assert fd.abs().max() > 0.01
    dq = (torch.rand(4, 22, generator=torch.Generator().manual_seed(2)) - 0.5) * 0.2  # up to 0.1 rad
    err = (refiner.move(pts, twists, dq) - refiner.linearise(joints + dq)[0]).norm(dim=-1)
    assert err.max() < 2e-3 and err.mean() < 5e-4


def test_energy_terms_match_the_synthesis_energy(refiner, sphere):
    """The same definitions computed by grasp.energy (full FK per call) and here."""
    joints, rot, trans = _grasps(refiner, n=6, push=0.02)
    field = FieldBatch(sphere.double().unsqueeze(0), ORIGIN.unsqueeze(0), torch.tensor([VOXEL], dtype=torch.float64),
                       torch.zeros(1, 3, dtype=torch.float64))
    for name in ("spherical", "hook", "tip"):
        ours = refiner.evaluate(joints, rot, trans, name, sphere, ORIGIN, VOXEL)
        theirs = GraspEnergy()(field, joints, rot, trans, torch.full((6,), GRASP_TYPES.index(name)))
        np.testing.assert_allclose(ours.penetration.numpy(), theirs["penetration"].numpy(), rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(ours.contact.numpy(), theirs["contact"].numpy(), rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(ours.clearance.numpy(), theirs["clearance"].numpy(), rtol=1e-3, atol=1e-6)
    assert (ours.penetration > 0).all()  # the palm was pushed 2 cm into the sphere


def test_penetration_against_the_analytic_sphere(refiner, sphere):
    joints, rot, trans = _grasps(refiner, n=4, push=0.015)
    centres, _ = GraspEnergy().hand_points(joints, rot, trans)
    depth = torch.relu(GraspEnergy().sphere_radius - (centres.norm(dim=-1) - RADIUS)).sum(-1)
    ours = refiner.evaluate(joints, rot, trans, "cylindrical", sphere, ORIGIN, VOXEL)
    # trilinear interpolation of |x| - r is exact up to a fraction of a millimetre per sphere
    assert torch.allclose(ours.penetration.double(), depth, rtol=0.05, atol=2e-3)


def test_refinement_lowers_the_energy_and_respects_limits(refiner, sphere):
    joints, rot, trans = _grasps(refiner, n=8, push=0.02)
    before = refiner.evaluate(joints, rot, trans, "spherical", sphere, ORIGIN, VOXEL)
    j2, r2, t2, terms = refiner.refine(joints, rot, trans, "spherical", sphere, ORIGIN, VOXEL)
    anchored = GraspRefiner(RefineConfig(steps=10, joint_anchor_weight=1e4), refiner.energy)
    j3, *_ = anchored.refine(joints, rot, trans, "spherical", sphere, ORIGIN, VOXEL)
    # a strong anchor keeps the fingers (nearly) where they were
    assert (j3 - joints.float()).abs().max() < 0.3 * (j2 - joints.float()).abs().max()
    after = refiner.evaluate(j2, r2, t2, "spherical", sphere, ORIGIN, VOXEL)  # exact kinematics
    assert (after.energy < before.energy).all()
    assert after.penetration.mean() < 0.5 * before.penetration.mean()
    assert torch.allclose(terms.energy, after.energy)
    assert ((j2 >= refiner.lower - 1e-6) & (j2 <= refiner.upper + 1e-6)).all()
    assert (j2 - joints.float()).abs().max() <= refiner.config.max_joint_change + 1e-6
    assert torch.allclose(r2 @ r2.transpose(1, 2), torch.eye(3).expand(8, 3, 3), atol=1e-5)
    order = GraspRefiner.rank(terms)
    assert torch.all(terms.energy[order][1:] >= terms.energy[order][:-1])
    type_ok = torch.tensor([False, True, False, True, True, False, False, True])
    order = GraspRefiner.rank(terms, type_ok)
    assert type_ok[order].tolist() == [True] * 4 + [False] * 4
    for group in (order[:4], order[4:]):
        assert torch.all(terms.energy[group][1:] >= terms.energy[group][:-1])


def test_bad_input(refiner, sphere):
    joints, rot, trans = _grasps(refiner, n=2)
    joints[0, 3] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        refiner.refine(joints, rot, trans, "tip", sphere, ORIGIN, VOXEL)
    with pytest.raises(DataError, match="unknown grasp type"):
        refiner.evaluate(torch.zeros(1, 22), torch.eye(3)[None], torch.zeros(1, 3), "power", sphere, ORIGIN, VOXEL)
    with pytest.raises(ConfigError, match="steps"):
        RefineConfig(steps=-1)
