"""Training loop on a synthetic task, checkpoints, resume, configs and the training CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch

from semg_grasp_ros import cli
from semg_grasp_ros.errors import ConfigError, DatasetError
from semg_grasp_ros.geometry import euler_sxyz_to_matrix
from semg_grasp_ros.grasp.diffusion.checkpoint import from_pretrained
from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler, SamplerConfig
from semg_grasp_ros.grasp.diffusion.training import load_train_config, train
from semg_grasp_ros.grasp.diffusion.training_data import GraspArrays, random_rotations, rotate_fields, split_by_object
from semg_grasp_ros.hand.model import load_hand
from semg_grasp_ros.perception.sdf import DistanceField

TINY = Path(__file__).resolve().parents[3] / "config" / "grasp_diffusion_tiny.yaml"
DIRECTIONS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)


def toy_arrays(n_objects=12, per_type=4, size=16, seed=0) -> GraspArrays:
    """Spheres of radius r in [2, 5] cm, off the grid centre by up to 2 cm; the grasp of type k is a
    deterministic function of the sphere and k: palm 3 cm off the surface along direction k, an
    Euler rotation set by k and r, joints between their limits set by k and r."""
    rng = np.random.default_rng(seed)
    lo, hi = load_hand("free").limits()
    span = 0.2
    voxel = span / (size - 1)
    axis = np.arange(size) * voxel
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    fields, origins, J, R, T, K, F = [], [], [], [], [], [], []
    for m in range(n_objects):
        origin = rng.uniform(-0.5, 0.5, 3)
        centre = origin + span / 2 + rng.uniform(-0.02, 0.02, 3)
        r = rng.uniform(0.02, 0.05)
        fields.append((np.linalg.norm(grid + origin - centre, axis=-1) - r).astype(np.float32))
        origins.append(origin)
        s = (r - 0.02) / 0.03
        for k in range(6):
            for _ in range(per_type):
                J.append(lo + (hi - lo) * (0.2 + 0.5 * s + 0.05 * k))
                R.append(euler_sxyz_to_matrix(np.array([0.5 * k - 1.2, 0.3 * s, 2.5 - 0.8 * k])))
                T.append(centre + DIRECTIONS[k] * (r + 0.03))
                K.append(k)
                F.append(m)
    return GraspArrays(np.array(J), np.array(R), np.array(T), np.array(K), np.array(F), np.array(fields),
                       np.array(origins), np.full(n_objects, voxel))


def _field(a: GraspArrays, m: int) -> DistanceField:
    return DistanceField(a.fields[m], a.origins[m], float(a.voxel_sizes[m]), True, np.zeros(3), np.zeros(3))


def _rot_deg(Ra, Rb):
    cos = (np.trace(np.swapaxes(Ra, -1, -2) @ Rb, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_the_tiny_model_learns_grasps_that_depend_on_the_field_and_the_type(tmp_path):
    torch.set_num_threads(1)
    data = toy_arrays()
    config = load_train_config(TINY, out_dir=str(tmp_path / "run"))
    result = train(config, data, progress=False)
    assert result.history[-1]["train_loss"] < 0.1 * result.history[0]["train_loss"]
    sampler = GraspSampler(result.model, SamplerConfig(method="ddim", steps=5))
    gen = torch.Generator().manual_seed(0)
    errors, baseline = [], []
    for m in range(4):
        obj = sampler.prepare(_field(data, m))
        for k, name in enumerate(data.grasp_types):
            i = np.nonzero((data.field_index == m) & (data.type_index == k))[0][0]
            c = sampler.generate(obj, name, num=4, generator=gen)
            errors.append([np.linalg.norm(c.trans - data.trans[i], axis=1).mean(),
                           _rot_deg(c.rot, data.rot[i]).mean(), np.abs(c.joints - data.joints[i]).mean()])
            baseline.append(np.abs(data.joints[data.type_index == k].mean(0) - data.joints[i]).mean())
    err = np.mean(errors, 0)
    # grids lie anywhere within +-0.5 m: a palm within 2.5 cm of the target means the model works
    # in the field's frame and puts the palm on the side of the requested type (6 cm apart)
    assert err[0] < 0.025, err
    assert err[1] < 6.0, err
    # the joints depend on the sphere's radius: the per-type average grasp, blind to the field,
    # is far worse than the model
    assert err[2] < 0.03 and err[2] < 0.25 * np.mean(baseline), (err, np.mean(baseline))


def _small_config(tmp_path, **kw):
    overrides = dict(out_dir=str(tmp_path / "run"), epochs=2, checkpoint_every=1, batch_size=16, val_fraction=0.25)
    overrides.update(kw)
    return load_train_config(TINY, **overrides)


def test_resume_reproduces_an_uninterrupted_run_and_checkpoints_load(tmp_path):
    data = toy_arrays(n_objects=4, per_type=2)
    straight = train(_small_config(tmp_path / "a"), data, progress=False)
    train(_small_config(tmp_path / "b", epochs=1), data, progress=False)
    resumed = train(_small_config(tmp_path / "b"), data, resume=True, progress=False)
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert resumed.history == straight.history
    assert resumed.history[0]["val_loss"] is not None
    loaded = from_pretrained(tmp_path / "b" / "run" / "model")
    assert loaded.info["training"]["epochs_done"] == 2
    assert loaded.info["sampler"]["steps"] == 5
    for p, q in zip(loaded.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(p, q)
    with pytest.raises(ConfigError, match="different model"):
        other = {"kind": "paper", "representation": "vector28", "network": {"sdf_size": 16}}
        train(_small_config(tmp_path / "b", model=other, p_uncond=0.0), data, resume=True, progress=False)


def test_grasp_arrays_validation_files_and_splits(tmp_path):
    data = toy_arrays(n_objects=5, per_type=1)
    data.save_npz(tmp_path / "toy.npz")
    back = GraspArrays.load_npz(tmp_path / "toy.npz")
    assert np.array_equal(back.fields, data.fields) and back.object_ids == data.object_ids
    tr, va = split_by_object(data, 0.4, seed=1)
    assert len(tr.object_ids) == 3 and len(va.object_ids) == 2
    assert not set(tr.object_ids) & set(va.object_ids)
    assert len(tr) + len(va) == len(data)
    with pytest.raises(DatasetError, match="field_index"):
        GraspArrays(data.joints, data.rot, data.trans, data.type_index, data.field_index + 5, data.fields,
                    data.origins, data.voxel_sizes)
    bad = data.trans.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        GraspArrays(data.joints, data.rot, bad, data.type_index, data.field_index, data.fields, data.origins,
                    data.voxel_sizes)
    with pytest.raises(DatasetError, match="npz"):
        train(load_train_config(TINY, data=str(tmp_path / "missing.npz")), progress=False)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown parameter"):
        load_train_config(TINY, learning_rate=1e-3)
    with pytest.raises(ConfigError, match="null type"):
        load_train_config(TINY, model={"kind": "paper", "representation": "vector28"}, p_uncond=0.1)
    with pytest.raises(ConfigError, match="no training data"):
        train(load_train_config(TINY), progress=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_train_config(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            train(load_train_config(TINY, device="cuda"), toy_arrays(2, 1), progress=False)


def test_train_cli(tmp_path, capsys):
    toy_arrays(n_objects=3, per_type=1).save_npz(tmp_path / "toy.npz")
    out = tmp_path / "out"
    argv = ["train", "grasp", "--config", str(TINY), "--data", str(tmp_path / "toy.npz"), "--out", str(out),
            "--epochs", "1", "--no-progress"]
    assert cli.main(argv) == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "state" / "train_state.json").is_file()
    assert "model written to" in capsys.readouterr().out
    assert cli.main(argv[:-3] + ["--epochs", "2", "--resume", "--no-progress"]) == 0
    assert from_pretrained(out / "model").info["training"]["epochs_done"] == 2
    assert cli.main(["train", "grasp", "--config", str(tmp_path / "none.yaml")]) == 2


def test_rotation_augmentation_turns_fields_about_their_centre(tmp_path):
    n, span = 24, 0.2
    axis = torch.linspace(-span / 2, span / 2, n, dtype=torch.float64)
    p = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1)
    a, r = torch.tensor([0.03, -0.02, 0.01], dtype=torch.float64), 0.04
    field = ((p - a).norm(dim=-1) - r).unsqueeze(0)
    gen = torch.Generator().manual_seed(0)
    for kind in ("so3", "z"):
        R = random_rotations(3, kind, gen).double()
        assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(3, 3, 3), atol=1e-6)
        assert torch.allclose(torch.linalg.det(R), torch.ones(3, dtype=torch.float64), atol=1e-6)
        if kind == "z":
            assert torch.allclose(R[:, 2], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), atol=1e-6)
        turned = rotate_fields(field.expand(3, n, n, n).contiguous(), R)
        for k in range(3):
            expected = (p - R[k] @ a).norm(dim=-1) - r
            source = p @ R[k]  # R^T p, row vectors
            inside = (source.abs() <= span / 2).all(-1) & ((p - R[k] @ a).norm(dim=-1) > 2 * span / (n - 1))
            assert inside.float().mean() > 0.3
            err = (turned[k] - expected)[inside].abs().max()
            assert err < 0.15 * span / (n - 1), (kind, k, float(err))
    result = train(_small_config(tmp_path, epochs=1, augment_rotation="so3"), toy_arrays(3, 1), progress=False)
    assert np.isfinite(result.history[0]["train_loss"])
    with pytest.raises(ConfigError, match="so3"):
        load_train_config(TINY, augment_rotation="random")
