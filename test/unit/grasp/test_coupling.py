"""The J1/J2 coupling of FF, MF, RF, LF: the joint table states it, and no generated grasp or hand
command leaves the coupled set."""

import re

import numpy as np
import pytest
import torch

from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler, SamplerConfig
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig
from semg_grasp_ros.grasp.representation import SPECS
from semg_grasp_ros.hand.convert import GraspNormalizer, arrays_to_hand_grasp
from semg_grasp_ros.hand.model import (
    ACTUATED_JOINTS,
    COUPLED_DISTAL,
    COUPLING_TOLERANCE,
    FINGER_JOINTS,
    couple,
    coupling_error,
    coupling_matrix,
    load_hand,
)
from semg_grasp_ros.paths import data_root
from semg_grasp_ros.pipeline.hand_controller import HandController
from semg_grasp_ros.types import Header, JointState, JointTrajectory

from test_diffusion_sampler import model, sphere_field


def test_joint_table_states_the_coupling():
    hand = load_hand("free")
    for tendon, (j2, j1) in COUPLED_DISTAL.items():
        assert hand.joint(j2).tendon == hand.joint(j1).tendon == tendon
    assert hand.joint("rh_FFJ3").tendon is None and hand.joint("rh_THJ1").tendon is None
    assert len(ACTUATED_JOINTS) == 18 and "rh_FFJ0" in ACTUATED_JOINTS and "rh_FFJ1" not in ACTUATED_JOINTS
    C = coupling_matrix()
    q = np.random.default_rng(0).uniform(0, 1.5, (5, 22))
    a = q @ np.linalg.pinv(C).T  # a tendon's coordinate is J2 + J1
    i = FINGER_JOINTS.index
    np.testing.assert_allclose(a[:, ACTUATED_JOINTS.index("rh_MFJ0")], q[:, i("rh_MFJ2")] + q[:, i("rh_MFJ1")])
    np.testing.assert_allclose(a @ C.T, couple(q))
    lo, hi = hand.actuated_limits()
    assert hi[ACTUATED_JOINTS.index("rh_FFJ0")] == pytest.approx(np.pi, abs=1e-3)


def test_couple_is_the_nearest_coupled_vector_keeping_the_tendon():
    q = np.random.default_rng(1).uniform(0, 1.5, (4, 22))
    c = couple(q)
    assert np.all(coupling_error(q) > 0.01) and np.all(coupling_error(c) == 0)
    for j2, j1 in COUPLED_DISTAL.values():
        np.testing.assert_allclose(c[:, FINGER_JOINTS.index(j2)] + c[:, FINGER_JOINTS.index(j1)],
                                   q[:, FINGER_JOINTS.index(j2)] + q[:, FINGER_JOINTS.index(j1)])
    assert np.allclose(couple(c), c)  # a projection
    t = torch.tensor(q, requires_grad=True)
    couple(t).sum().backward()  # differentiable
    assert torch.allclose(t.grad, torch.ones_like(t.grad))


def test_the_hand_models_drive_j1_and_j2_by_one_tendon():
    """The fact behind the table: menagerie's hand has a fixed tendon J0 = J2 + J1 with one actuator."""
    path = data_root(must_exist=False) / "hand" / "shadow_menagerie" / "right_hand.xml"
    if not path.exists():
        pytest.skip(f"{path} not found (shared data absent)")
    text = path.read_text()
    for tendon, (j2, j1) in COUPLED_DISTAL.items():
        block = re.search(rf'<fixed name="{tendon}">(.*?)</fixed>', text, re.S)
        assert block, tendon
        assert re.findall(r'joint="(\w+)" coef="1"', block.group(1)) == [j2, j1]
        assert f'tendon="{tendon}"' in text


def test_preshapes_and_decoded_samples_are_coupled():
    assert all(coupling_error(s.preshape_vector()) == 0 for s in SPECS.values())
    x = torch.rand(6, 31) * 2 - 1
    joints, _, _ = GraspNormalizer().from_vector31(x)
    assert coupling_error(joints.numpy()).max() < COUPLING_TOLERANCE


@pytest.mark.parametrize("kind", ["improved", "paper"])
def test_sampled_and_refined_grasps_respect_the_coupling(kind):
    refiner = GraspRefiner(RefineConfig(steps=3)) if kind == "improved" else None
    s = GraspSampler(model(kind), SamplerConfig(method="ddim", steps=3, num_candidates=6), refiner)
    c = s.generate(s.prepare(sphere_field()), "cylindrical", generator=torch.Generator().manual_seed(0))
    assert coupling_error(c.joints).max() < COUPLING_TOLERANCE


def test_refiner_keeps_coupled_grasps_coupled_and_projects_others():
    refiner = GraspRefiner(RefineConfig(steps=4))
    field = sphere_field(n=24)
    g = torch.Generator().manual_seed(3)
    joints = refiner.lower + (refiner.upper - refiner.lower) * torch.rand(5, 22, generator=g) * 0.6
    rot = torch.eye(3).expand(5, 3, 3)
    trans = (torch.as_tensor(field.centroid, dtype=torch.float32) + torch.tensor([0.0, 0.06, -0.05])).expand(5, 3)
    q, _, _, terms = refiner.refine(joints, rot, trans, "spherical", torch.as_tensor(field.distances),
                                    field.origin, field.voxel_size)
    assert coupling_error(q.numpy()).max() < COUPLING_TOLERANCE
    assert torch.all(q >= refiner.lower - 1e-6) and torch.all(q <= refiner.upper + 1e-6)
    assert torch.all(terms.finger_penetration >= 0)


def test_controller_commands_are_coupled():
    ctrl = HandController()
    q = np.random.default_rng(2).uniform(0.1, 1.2, 22)  # J1 != J2: not commandable as given
    grasp = arrays_to_hand_grasp(q, np.eye(3), np.zeros(3), Header(0, "world"), "cylindrical")
    out = ctrl.on_grasp(grasp)
    traj = next(m for m in out if isinstance(m, JointTrajectory))
    points = np.array([p.positions for p in traj.points])
    assert coupling_error(points).max() < COUPLING_TOLERANCE
    for k in range(1, 200):
        for m in ctrl.on_timer(k * 20_000_000):
            if isinstance(m, JointState):
                assert coupling_error(np.asarray(m.position)[-22:]) < COUPLING_TOLERANCE
    np.testing.assert_allclose(ctrl.command, couple(np.clip(q, ctrl.lower, ctrl.upper)), atol=1e-6)


def test_postures_back_the_touching_distal_phalanges_off_by_the_offset():
    """Pregrasp: each distal phalanx within the contact margin ends ~1 cm farther from the surface;
    squeeze = 2 grasp - pregrasp; the others keep their joints; all coupled."""
    refiner = GraspRefiner(RefineConfig(steps=6))
    field = sphere_field(n=40, radius=0.035, offset=(0.0, 0.0, 0.0))
    sdf = torch.as_tensor(field.distances)
    g = torch.Generator().manual_seed(1)
    joints = couple(torch.as_tensor(SPECS["spherical"].preshape_vector(), dtype=torch.float32).expand(6, 22)
                    + 0.1 * torch.rand(6, 22, generator=g))
    rot = torch.eye(3).expand(6, 3, 3)
    trans = torch.tensor([0.0, 0.05, -0.06]).expand(6, 3)  # palm (its -y face) over the sphere
    q, R, t, _ = refiner.refine(joints, rot, trans, "spherical", sdf, field.origin, field.voxel_size)
    pre, squeeze = refiner.postures(q, R, t, sdf, field.origin, field.voxel_size)
    assert coupling_error(pre.numpy()).max() < COUPLING_TOLERANCE and coupling_error(squeeze.numpy()).max() < 1e-5
    inside = (squeeze > refiner.lower + 1e-6) & (squeeze < refiner.upper - 1e-6)
    assert torch.allclose(squeeze[inside], (2 * q - pre)[inside], atol=1e-5)

    def distal_gaps(joints):
        pts, _ = refiner.linearise(joints)
        centres = pts[:, : refiner.n_spheres] @ R.transpose(1, 2) + t.unsqueeze(1)
        gap = centres.norm(dim=-1) - 0.035 - refiner._radius  # analytic sphere
        return torch.stack([gap[:, s].min(1).values for s in refiner._distal_spheres], 1)  # (B, 5)

    before, after = distal_gaps(q), distal_gaps(pre)
    touching = before < refiner.config.contact_margin
    assert touching.sum() >= 6  # the refined grasps touch with several fingertips
    moved = (after - before)[touching]
    assert moved.median() == pytest.approx(refiner.config.pregrasp_offset, rel=0.3)
    assert torch.allclose(after[~touching], before[~touching], atol=1e-6)
