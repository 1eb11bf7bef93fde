"""Checkpoints: safetensors + JSON round trip, and clear errors for missing, corrupt or crafted files."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from semg_grasp_ros.errors import ModelError
from semg_grasp_ros.grasp.diffusion.checkpoint import CONFIG_FILE, WEIGHTS_FILE, from_pretrained, save_pretrained
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion, ModelConfig

NET = dict(sdf_size=16, sdf_pool=2, sdf_channels=(4, 8), sdf_dim=32, time_embed_dim=16, width=32,
           wrist_blocks=1, finger_blocks=1)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = GraspDiffusion(ModelConfig(kind="improved", network=NET, scheduler={"num_train_timesteps": 20}))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.info["sampler"] = {"method": "ddim", "steps": 4}
    save_pretrained(model, tmp_path / "m", training={"epochs": 3}, metrics={"success_rate": 0.5})
    return model, tmp_path / "m"


def _predict(model):
    g = torch.Generator().manual_seed(1)
    sdf = torch.randn(2, 16, 16, 16, generator=g)
    x, t = torch.randn(2, model.grasp_dim, generator=g), torch.tensor([3, 7])
    with torch.no_grad():
        return model(x, t, model.encode(sdf, torch.tensor([0.01, 0.02])), torch.tensor([1, -1]))


def test_round_trip_rebuilds_the_model_from_its_config(saved):
    model, path = saved
    loaded = from_pretrained(path)
    assert torch.equal(_predict(model), _predict(loaded))
    assert json.dumps(loaded.config.to_dict()) == json.dumps(model.config.to_dict())
    assert loaded.config.network["width"] == 32 and loaded.config.network["grasp_dim"] == 31
    assert loaded.config.scheduler.num_train_timesteps == 20
    assert loaded.info["metrics"] == {"success_rate": 0.5} and loaded.info["training"] == {"epochs": 3}
    assert loaded.info["sampler"]["steps"] == 4
    stored = json.loads((path / CONFIG_FILE).read_text())
    assert stored["normalizer"]["translation_range"] == pytest.approx(0.25)
    assert stored["grasp_types"] == list(model.grasp_types)


def test_missing_files(saved, tmp_path):
    _, path = saved
    with pytest.raises(ModelError, match="not found"):
        from_pretrained(tmp_path / "nowhere")
    (path / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="not found"):
        from_pretrained(path)


def test_corrupt_files(saved):
    _, path = saved
    weights = path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="safetensors"):
        from_pretrained(path)
    (path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        from_pretrained(path)


def test_a_pickle_is_never_unpickled(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (path / WEIGHTS_FILE).write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ModelError):
        from_pretrained(path)
    assert not marker.exists()


def test_crafted_configs_and_weights(saved):
    model, path = saved
    cfg = json.loads((path / CONFIG_FILE).read_text())

    def write(d):
        (path / CONFIG_FILE).write_text(json.dumps(d))

    write({**cfg, "format": "something.else"})
    with pytest.raises(ModelError, match="format"):
        from_pretrained(path)
    write({**cfg, "model": {**cfg["model"], "network": {**cfg["model"]["network"], "layers": 9}}})
    with pytest.raises(ModelError, match="invalid"):
        from_pretrained(path)
    write({**cfg, "model": {**cfg["model"], "network": {**cfg["model"]["network"], "width": 48}}})
    with pytest.raises(ModelError, match="shape"):
        from_pretrained(path)
    write({**cfg, "normalizer": {"lower": [0.0], "upper": [1.0], "translation_range": 0.2}})
    with pytest.raises(ModelError, match="invalid"):
        from_pretrained(path)
    write(cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["denoiser.wrist_out.1.bias"][0] = float("nan")
    save_file(state, str(path / WEIGHTS_FILE))
    with pytest.raises(ModelError, match="NaN"):
        from_pretrained(path)
    del state["denoiser.wrist_out.1.bias"]
    save_file(state, str(path / WEIGHTS_FILE))
    with pytest.raises(ModelError, match="missing"):
        from_pretrained(path)
