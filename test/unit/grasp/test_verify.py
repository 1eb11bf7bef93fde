"""Verification: the field's inside as convex pieces, and the first candidate that holds in
simulation executed first."""

from types import SimpleNamespace

import numpy as np
import pytest
import trimesh

from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.grasp.diffusion.sampler import GraspCandidates
from semg_grasp_ros.grasp.verify import GraspVerifier, VerifyConfig, field_pieces
from semg_grasp_ros.perception.sdf import GridSpec, sdf_from_mesh


def test_field_pieces_fill_the_object():
    box = trimesh.creation.box(extents=(0.06, 0.04, 0.10))
    field = sdf_from_mesh(box, GridSpec())
    pieces = field_pieces(field, max_pieces=4, voxels_per_piece=200)
    assert 1 < len(pieces) <= 4
    hulls = [trimesh.Trimesh(v, f) for v, f in pieces]
    assert all(h.is_watertight for h in hulls)
    corners = np.vstack([h.vertices for h in hulls])
    np.testing.assert_allclose(corners.max(0) - corners.min(0), [0.06, 0.04, 0.10], atol=1.5 * field.voxel_size)
    with pytest.raises(DataError, match="signed"):
        field_pieces(sdf_from_mesh(box, GridSpec(), signed=False))
    inset = field_pieces(field, max_pieces=1, inset_voxels=1.0)
    extent = np.ptp(np.vstack([v for v, _ in inset]), axis=0)
    np.testing.assert_allclose(extent, np.array([0.06, 0.04, 0.10]) - 2 * field.voxel_size, atol=field.voxel_size)


def _candidates(k: int) -> GraspCandidates:
    rng = np.random.default_rng(0)
    eye = np.repeat(np.eye(3)[None], k, axis=0)
    return GraspCandidates("tip", rng.uniform(0, 1, (k, 22)), eye, rng.normal(size=(k, 3)), np.arange(k, dtype=float),
                           np.zeros(k), np.zeros(k), 0.01, pregrasp=rng.uniform(0, 1, (k, 22)),
                           squeeze=rng.uniform(0, 1, (k, 22)), score=np.arange(k, dtype=float))


class _Simulator:
    """Holds exactly the grasps whose first joint is in ``holding`` (a stand-in for ``GraspSimulator``)."""

    def __init__(self, holding):
        self.holding, self.calls = set(holding), 0

    def evaluate(self, post):
        self.calls += 1
        return SimpleNamespace(success=float(post.grasp.joints[0]) in self.holding)


def test_select_puts_the_first_grasp_that_holds_in_front():
    cands = _candidates(6)
    sim = _Simulator({cands.joints[3, 0], cands.joints[5, 0]})
    out = GraspVerifier(VerifyConfig(budget_s=10.0)).select(cands, sim)
    assert sim.calls == 4  # tried in rank order, stopped at the first that holds
    np.testing.assert_array_equal(out.joints[0], cands.joints[3])
    np.testing.assert_array_equal(out.joints[1:], cands.joints[[0, 1, 2, 4, 5]])
    np.testing.assert_array_equal(out.score, cands.score[[3, 0, 1, 2, 4, 5]])
    np.testing.assert_array_equal(out.pregrasp[0], cands.pregrasp[3])
    np.testing.assert_array_equal(out.verified[:4], [1, 0, 0, 0])
    assert np.isnan(out.verified[4:]).all()
    # a candidate the simulator refuses (non-finite) stays untried; the next that holds is taken
    bad = _candidates(3)
    bad.joints[0, 0] = np.nan
    out = GraspVerifier(VerifyConfig(budget_s=10.0)).select(bad, _Simulator({bad.joints[1, 0]}))
    np.testing.assert_array_equal(out.joints[0], bad.joints[1])
    assert out.verified[0] == 1 and np.isnan(out.verified[1])
    # none holds: the ranking's order stays, every candidate marked failed
    none = GraspVerifier(VerifyConfig(budget_s=10.0)).select(cands, _Simulator(set()))
    np.testing.assert_array_equal(none.joints, cands.joints)
    np.testing.assert_array_equal(none.verified, np.zeros(6))


def test_off_and_bad_settings():
    verifier = GraspVerifier(VerifyConfig(budget_s=0.0))
    assert not verifier.enabled and verifier.prepare(None) is None
    cands = _candidates(3)
    assert verifier.select(cands, None) is cands
    with pytest.raises(ConfigError):
        VerifyConfig(budget_s=-1.0)
    with pytest.raises(ConfigError):
        VerifyConfig(protocol="nonsense")


def test_an_unsigned_field_is_not_verified(caplog):
    field = sdf_from_mesh(trimesh.creation.icosphere(radius=0.03), GridSpec(), signed=False)
    assert GraspVerifier(VerifyConfig(budget_s=1.0)).prepare(field) is None
    assert "not verified" in caplog.text
