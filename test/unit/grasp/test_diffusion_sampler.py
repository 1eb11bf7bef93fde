"""Sampling: seeded reproducibility, classifier-free guidance, refinement/ranking, bad input."""

import numpy as np
import pytest
import torch

from semg_grasp_ros.errors import ConfigError, DataError, ModelError
from semg_grasp_ros.grasp.diffusion.checkpoint import save_pretrained
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion, ModelConfig
from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler, SamplerConfig
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig
from semg_grasp_ros.perception.sdf import DistanceField

NET = {
    "improved": dict(sdf_size=16, sdf_pool=1, sdf_channels=(4, 8), sdf_dim=32, time_embed_dim=16,
                     width=32, wrist_blocks=1, finger_blocks=1),
    "paper": dict(sdf_size=16, sdf_channels=(4, 8), sdf_dim=32, value_embed_dim=8, time_embed_dim=16, hidden=(32,)),
}


def model(kind="improved", prediction="v_prediction"):
    torch.manual_seed(0)
    m = GraspDiffusion(ModelConfig(kind=kind, representation="vector31" if kind == "improved" else "vector28",
                                   network=NET[kind], scheduler={"num_train_timesteps": 40,
                                                                 "prediction_type": prediction}))
    with torch.no_grad():  # as after training: residual blocks are no longer the identity
        for name, p in m.named_parameters():
            if ".fc2." in name:
                p.normal_(std=0.1)
    return m


def sphere_field(n=16, radius=0.03, offset=(0.3, -0.2, 1.0)):
    span = 0.2
    axis = np.linspace(-span / 2, span / 2, n)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    origin = np.asarray(offset) - span / 2
    return DistanceField((np.linalg.norm(grid, axis=-1) - radius).astype(np.float32), origin, span / (n - 1), True,
                         np.asarray(offset), np.full(3, 2 * radius))


def test_seeded_sampling_repeats_and_works_in_the_field_frame():
    s = GraspSampler(model(), SamplerConfig(method="ddim", steps=6, eta=0.5, num_candidates=5))
    obj = s.prepare(sphere_field())
    a = s.generate(obj, "tip", generator=torch.Generator().manual_seed(3))
    b = s.generate(obj, "tip", generator=torch.Generator().manual_seed(3))
    c = s.generate(obj, "tip", generator=torch.Generator().manual_seed(4))
    assert len(a) == 5 and a.joints.shape == (5, 22) and a.rot.shape == (5, 3, 3)
    for k in ("joints", "rot", "trans"):
        assert np.array_equal(getattr(a, k), getattr(b, k))
    assert not np.array_equal(a.trans, c.trans)
    # translations are decoded around the grid centre (the object is at (0.3, -0.2, 1.0))
    assert np.all(np.abs(a.trans - [0.3, -0.2, 1.0]) <= 0.25 + 1e-6)  # clip_sample: +-translation_range
    np.testing.assert_allclose(a.rot @ a.rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-5)
    lo, hi = s.model.normalizer.lower, s.model.normalizer.upper
    assert np.all(a.joints >= np.array(lo) - 1e-6) and np.all(a.joints <= np.array(hi) + 1e-6)
    assert np.isnan(a.energy).all()  # no refiner: not ranked


def test_sample_is_the_ddim_loop_written_out():
    """The sampler's loop equals a hand-written DDIM loop with the same noise."""
    m = model(prediction="epsilon")
    s = GraspSampler(m, SamplerConfig(method="ddim", steps=4, num_candidates=3))
    obj = s.prepare(sphere_field())
    x = s.sample(obj, "hook", generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3, 31, generator=g)
    ab = s.scheduler.alphas_cumprod
    ts = [39, 29, 19, 9]
    with torch.no_grad():
        for i, t in enumerate(ts):
            eps = m(y, torch.full((3,), t), obj.code.expand(3, -1), torch.full((3,), 2))
            a, ap = float(ab[t]), float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            x0 = ((y - (1 - a) ** 0.5 * eps) / a**0.5).clamp(-1, 1)
            eps = (y - a**0.5 * x0) / (1 - a) ** 0.5
            y = ap**0.5 * x0 + (1 - ap) ** 0.5 * eps
    assert torch.allclose(x, y, atol=1e-5)


def test_guidance_mixes_conditional_and_null_predictions():
    m = model()
    plain = GraspSampler(m, SamplerConfig(steps=4, num_candidates=4))
    guided = GraspSampler(m, SamplerConfig(steps=4, num_candidates=4, guidance_scale=3.0))
    null_only = GraspSampler(m, SamplerConfig(steps=4, num_candidates=4, guidance_scale=0.0))
    obj = plain.prepare(sphere_field())
    run = lambda s, t: s.sample(obj, t, generator=torch.Generator().manual_seed(1))  # noqa: E731
    assert not torch.allclose(run(plain, "palmar"), run(guided, "palmar"))
    # w = 0 keeps only the null prediction: the requested type no longer matters
    assert torch.allclose(run(null_only, "palmar"), run(null_only, "hook"))
    assert not torch.allclose(run(plain, "palmar"), run(plain, "hook"))
    with pytest.raises(ConfigError, match="null type"):
        GraspSampler(model("paper"), SamplerConfig(guidance_scale=2.0))


def test_guided_sampling_equals_the_full_network_mixed_by_hand():
    """The sampler computes the condition once per request for all steps (FiLM parameters of
    the requested and the null type); the result is the network's forward pass, mixed."""
    m = model()
    s = GraspSampler(m, SamplerConfig(method="ddim", steps=4, num_candidates=3, guidance_scale=2.5))
    obj = s.prepare(sphere_field())
    x = s.sample(obj, "lateral", generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    y = torch.randn(3, 31, generator=g)
    code = obj.code.expand(3, -1)
    with torch.no_grad():
        for t in s.scheduler.timesteps.tolist():
            tt = torch.full((3,), t)
            cond, null = m(y, tt, code, torch.full((3,), 5)), m(y, tt, code, torch.full((3,), -1))
            y = s.scheduler.step(null + 2.5 * (cond - null), t, y, generator=g).prev_sample
    assert torch.allclose(x, y, atol=1e-5)


def test_refined_candidates_come_ranked():
    s = GraspSampler(model(), SamplerConfig(steps=3, num_candidates=6),
                     GraspRefiner(RefineConfig(steps=2, rank_by_type=True)))
    c = s.generate(s.prepare(sphere_field()), "spherical", generator=torch.Generator().manual_seed(0))
    assert c.type_ok is not None and c.type_ok.dtype == bool
    k = int(c.type_ok.sum())  # grasps of the requested type first, each group by energy
    assert np.all(c.type_ok[:k]) and not np.any(c.type_ok[k:])
    assert np.all(np.diff(c.energy[:k]) >= 0) and np.all(np.diff(c.energy[k:]) >= 0)
    plain = GraspSampler(s.model, s.config, GraspRefiner(RefineConfig(steps=2, opposition_weight=0.0)))  # energy
    c = plain.generate(plain.prepare(sphere_field()), "spherical", generator=torch.Generator().manual_seed(0))
    assert c.type_ok is None and np.isfinite(c.energy).all() and np.all(np.diff(c.energy) >= 0)
    opposing = GraspSampler(s.model, s.config, GraspRefiner(RefineConfig(steps=2, opposition_weight=50.0)))
    d = opposing.generate(opposing.prepare(sphere_field()), "spherical", generator=torch.Generator().manual_seed(0))
    assert np.all(np.diff(d.score) >= 0) and np.array_equal(np.sort(d.energy), np.sort(c.energy))
    assert np.all(d.score <= d.energy)  # the opposition bonus only lowers the score
    assert np.all(c.penetration_depth >= 0) and np.all(c.contact_distance >= 0)
    assert c.seconds > 0


def test_bad_fields_types_and_stored_settings(tmp_path):
    m = model()
    s = GraspSampler(m)
    with pytest.raises(DataError, match=r"\(16, 16, 16\)"):
        s.prepare(sphere_field(n=20))
    f = sphere_field()
    bad = f.distances.copy()
    bad[3, 4, 5] = np.nan
    with pytest.raises(DataError, match="NaN"):
        s.prepare(DistanceField(bad, f.origin, f.voxel_size, True, f.centroid, f.extent))
    with pytest.raises(DataError, match="voxel"):
        s.prepare(DistanceField(f.distances, f.origin, 0.0, True, f.centroid, f.extent))
    with pytest.raises(DataError, match="unknown grasp type"):
        s.generate(s.prepare(f), "power")
    m.info["sampler"] = {"method": "ddim", "steps": 3, "guidance_scale": 2.0}
    save_pretrained(m, tmp_path / "m")
    loaded = GraspSampler.from_pretrained(tmp_path / "m")
    assert loaded.config.steps == 3 and loaded.scheduler.timesteps.numel() == 3
    m.info["sampler"] = {"method": "heun"}
    save_pretrained(m, tmp_path / "m")
    with pytest.raises(ModelError, match="sampler"):
        GraspSampler.from_pretrained(tmp_path / "m")
    with pytest.raises(ConfigError, match="ddpm"):
        SamplerConfig(method="euler")
