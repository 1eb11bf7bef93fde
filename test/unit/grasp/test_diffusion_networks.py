"""Denoiser networks and the grasp <-> vector mapping of GraspDiffusion."""

import math

import numpy as np
import pytest
import torch

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.geometry import euler_sxyz_to_matrix
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion, ModelConfig, build_denoiser, sinusoidal_embedding
from semg_grasp_ros.hand.model import couple

TINY = {
    "paper": dict(sdf_size=16, sdf_channels=(4, 8), sdf_dim=32, value_embed_dim=8, time_embed_dim=16, hidden=(32,)),
    "improved": dict(sdf_size=16, sdf_pool=2, sdf_channels=(4, 8), sdf_dim=32, time_embed_dim=16, width=32,
                     wrist_blocks=1, finger_blocks=1),
}
REPR = {"paper": "vector28", "improved": "vector31"}


def tiny_model(kind: str, seed: int = 0) -> GraspDiffusion:
    """A tiny model; the residual blocks' zero-initialised output layers (identity blocks at
    initialisation, so the condition has no effect yet) get random weights, as after training."""
    torch.manual_seed(seed)
    m = GraspDiffusion(ModelConfig(kind=kind, representation=REPR[kind], network=TINY[kind]))
    for name, p in m.named_parameters():
        if ".fc2." in name:
            torch.nn.init.normal_(p, std=0.1)
    return m


def test_sinusoidal_embedding_matches_the_transformer_formula():
    x = torch.tensor([0.0, 3.0, 17.5])
    e = sinusoidal_embedding(x, 8)
    for i, v in enumerate(x.tolist()):
        freqs = [10000 ** (-k / 4) for k in range(4)]
        expected = [math.sin(v * f) for f in freqs] + [math.cos(v * f) for f in freqs]
        np.testing.assert_allclose(e[i].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["paper", "improved"])
def test_shapes_caching_and_gradients(kind):
    m = tiny_model(kind)
    B, D = 5, m.grasp_dim
    sdf = torch.randn(2, 16, 16, 16) * 0.05
    voxel = torch.tensor([0.01, 0.012])
    code = m.encode(sdf, voxel)
    assert code.shape == (2, m.denoiser.cond_dim)
    idx = torch.tensor([0, 1, 1, 0, 1])
    x, t = torch.randn(B, D), torch.tensor([0, 3, 7, 9, 1])
    types = torch.tensor([0, 5, 2, -1, 3])
    out = m(x, t, code[idx], types)
    assert out.shape == (B, D)
    # encoding once per object and indexing equals encoding every row
    np.testing.assert_allclose(out.detach().numpy(), m(x, t, m.encode(sdf[idx], voxel[idx]), types).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    out.square().sum().backward()
    silent = [n for n, p in m.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    # only the paper's last field embedding row can be silent; the improved model's null row is used above
    assert not silent, silent


def test_the_type_and_the_field_change_the_prediction():
    for kind in ("paper", "improved"):
        m = tiny_model(kind)
        sdf = torch.randn(1, 16, 16, 16) * 0.05
        code = m.encode(sdf, torch.tensor([0.01]))
        x, t = torch.randn(1, m.grasp_dim), torch.tensor([4])
        outs = [m(x, t, code, torch.tensor([k])) for k in (-1, 0, 1)]
        assert not torch.allclose(outs[0], outs[1]) and not torch.allclose(outs[1], outs[2])
        other = m.encode(sdf.flip(1), torch.tensor([0.01]))
        assert not torch.allclose(m(x, t, other, torch.tensor([0])), outs[1])
        # signed and unsigned fields of the same surface give the same code
        assert torch.allclose(m.encode(sdf.abs(), torch.tensor([0.01])), code)


def test_paper_null_type_is_an_all_zero_one_hot():
    m = tiny_model("paper")
    code = torch.zeros(1, m.denoiser.cond_dim)
    x, t = torch.zeros(1, 28), torch.tensor([0])
    first = m.denoiser.mlp[0]
    n_types, value_dims = 6, 28 * m.denoiser.config.value_embed_dim
    with torch.no_grad():
        first.weight[:, -n_types:] = 0.0  # without the one-hot columns, types cannot matter
    assert torch.allclose(m(x, t, code, torch.tensor([-1])), m(x, t, code, torch.tensor([2])))
    assert first.weight.shape[1] == 32 + value_dims + 16 + n_types


@pytest.mark.parametrize("kind", ["paper", "improved"])
def test_encode_decode_round_trip_in_the_field_frame(kind):
    m = tiny_model(kind)
    rng = np.random.default_rng(0)
    lo, hi = m.normalizer.lower, m.normalizer.upper
    joints = couple(torch.tensor(rng.uniform(lo, hi, (4, 22))))  # grasps the hand can make: J1 = J2
    euler = torch.tensor(rng.uniform([-3, -1.5, -3], [3, 1.5, 3], (4, 3)))
    rot = euler_sxyz_to_matrix(euler)
    centre = torch.tensor(rng.uniform(-1, 1, (4, 3)))
    trans = centre + torch.tensor(rng.uniform(-0.15, 0.15, (4, 3)))
    x = m.encode_grasps(joints, rot, trans, centre)
    assert x.shape == (4, m.grasp_dim)
    assert x.abs().max() <= 1.0 + 1e-9  # within limits, angles and a 0.2 m reach all map into [-1, 1]
    j2, r2, t2 = m.decode_grasps(x, centre)
    np.testing.assert_allclose(j2.numpy(), joints.numpy(), atol=1e-9)
    np.testing.assert_allclose(r2.numpy(), rot.numpy(), atol=1e-9)
    np.testing.assert_allclose(t2.numpy(), trans.numpy(), atol=1e-9)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="improved"):
        build_denoiser("unet")
    with pytest.raises(ConfigError, match="accepted|known"):
        build_denoiser("improved", {"depth": 3})
    with pytest.raises(ConfigError, match="grasp_dim"):
        ModelConfig(kind="improved", representation="vector28", network={"grasp_dim": 31})
    with pytest.raises(ConfigError, match="vector31"):
        ModelConfig(representation="quaternion")
    with pytest.raises(ConfigError, match="list of integers"):
        build_denoiser("paper", {"hidden": ["wide"]})
    with pytest.raises(ConfigError, match="positive"):
        build_denoiser("improved", {"width": 0})
    m = tiny_model("improved")
    assert m.type_index("hook") == GRASP_TYPES.index("hook")
    with pytest.raises(DataError, match="spherical"):
        m.type_index("pinch")
