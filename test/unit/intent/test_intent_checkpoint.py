"""Checkpoints: save -> load -> same posteriors for every architecture; bad files -> ModelError."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from semg_grasp_ros.emg.features import FeatureConfig, SpectrogramConfig
from semg_grasp_ros.errors import ModelError
from semg_grasp_ros.intent.lda import LdaModel
from semg_grasp_ros.intent.models import load_model
from semg_grasp_ros.intent.networks import HybridConfig, MlpConfig, ResNetConfig
from semg_grasp_ros.intent.spec import InputSpec
from semg_grasp_ros.intent.torch_models import (
    FeatureMlpConfig,
    FeatureMlpModel,
    HybridModel,
    HybridModelConfig,
    SpectrogramResNetConfig,
    SpectrogramResNetModel,
)
from semg_grasp_ros.intent.training import TrainConfig

SPEC = InputSpec(sample_rate=500.0, channel_names=("a", "b"), window_ms=128.0, stride_ms=32.0)  # 64 samples
NAMES = ("x", "y", "z")
TINY = TrainConfig(epochs=1, batch_size=16, lr=1e-2)


def _models():
    return {
        "lda": LdaModel(SPEC, NAMES),
        "mlp": FeatureMlpModel(SPEC, NAMES, FeatureMlpConfig(FeatureConfig(names=("log_rms", "zc_rate")),
                                                              MlpConfig(hidden=(8,)), TINY)),
        "resnet": SpectrogramResNetModel(SPEC, NAMES, SpectrogramResNetConfig(
            SpectrogramConfig(nperseg=16, overlap=0.5), ResNetConfig(widths=(4, 8), blocks=(1, 1)), TINY)),
        "hybrid": HybridModel(SPEC, NAMES, HybridModelConfig(
            HybridConfig(conv_channels=4, dilations=(1, 2), pool=8, lstm_hidden=6, lstm_layers=2), TINY)),
    }


def _data(seed=0, n=30):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    w = rng.standard_normal((n, SPEC.window, 2)) * np.array([[1.0, 0.2], [0.2, 1.0], [0.6, 0.6]])[y][:, None, :]
    return w, y


@pytest.mark.parametrize("kind", ["lda", "mlp", "resnet", "hybrid"])
def test_round_trip(kind, tmp_path):
    model = _models()[kind]
    w, y = _data()
    model.fit(w, y, groups=np.arange(len(y)) // 2, seed=1)
    model.info["metrics"] = {"note": "test"}
    path = model.save(tmp_path / f"m_{kind}")
    assert path.suffix == ".json" and path.with_suffix(".safetensors").is_file()
    meta = json.loads(path.read_text())
    assert meta["class_names"] == list(NAMES) and meta["input"]["sample_rate"] == 500.0
    assert len(meta["normaliser"]["mean"]) == len(meta["normaliser"]["std"]) == model.normaliser_shape()[0]
    assert not any(k.startswith("normaliser") for k in load_file(str(path.with_suffix(".safetensors"))))
    loaded = load_model(tmp_path / f"m_{kind}.json")
    folder = tmp_path / "folder"
    model.save(folder / "model")
    assert type(load_model(folder)) is type(model) and type(model).from_pretrained(folder).fitted
    with pytest.raises(ModelError, match="not "):
        (LdaModel if kind != "lda" else FeatureMlpModel).from_pretrained(folder)
    assert type(loaded) is type(model) and loaded.info["metrics"] == {"note": "test"}
    test_w, _ = _data(5, 9)
    np.testing.assert_allclose(loaded.predict_proba(test_w), model.predict_proba(test_w), rtol=1e-6, atol=1e-7)
    p = loaded.predict_proba(test_w)
    assert p.shape == (9, 3) and np.allclose(p.sum(1), 1.0)


def test_mlp_fast_path_equals_the_torch_network():
    import torch

    from semg_grasp_ros.intent.training import predict_logits

    w, y = _data()
    model = _models()["mlp"].fit(w, y, seed=2)
    x = model.encode(_data(7, 20)[0])
    logits = predict_logits(model.net, torch.from_numpy(model._normalise(x))).double()
    np.testing.assert_allclose(model.predict_proba_encoded(x), torch.softmax(logits, 1).numpy(), rtol=1e-5, atol=1e-7)


def test_training_is_seeded():
    w, y = _data()
    a = _models()["mlp"].fit(w, y, seed=3).predict_proba(w)
    b = _models()["mlp"].fit(w, y, seed=3).predict_proba(w)
    c = _models()["mlp"].fit(w, y, seed=4).predict_proba(w)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.fixture()
def saved(tmp_path):
    w, y = _data()
    return _models()["mlp"].fit(w, y).save(tmp_path / "m")


def test_missing_or_corrupt_weights(saved):
    weights = saved.with_suffix(".safetensors")
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(saved)
    weights.unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(saved)
    with pytest.raises(ModelError, match="no "):
        load_model(saved.parent / "nothing_here")


def test_wrong_shapes_and_configs(saved):
    meta = json.loads(saved.read_text())
    weights = saved.with_suffix(".safetensors")
    arrays = load_file(str(weights))
    name = next(k for k in arrays if k.endswith("weight"))
    save_file({**arrays, name: np.zeros((3, 3), np.float32)}, str(weights))
    with pytest.raises(ModelError, match="shape"):
        load_model(saved)
    save_file(arrays, str(weights))
    bad_norm = [{**meta["normaliser"], "mean": [0.0] * 3},
                {**meta["normaliser"], "std": [0.0] * len(meta["normaliser"]["std"])}, None]
    for norm in bad_norm:
        saved.write_text(json.dumps({**meta, "normaliser": norm}))
        with pytest.raises(ModelError, match="normaliser"):
            load_model(saved)
    for change in ({"architecture": "nope"}, {"format": "other"}, {"format_version": 99}):
        saved.write_text(json.dumps({**meta, **change}))
        with pytest.raises(ModelError):
            load_model(saved)
    saved.write_text(json.dumps(meta))
    assert load_model(saved).fitted
    saved.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_model(saved)


def test_extra_or_nonfinite_arrays_rejected(saved):
    weights = saved.with_suffix(".safetensors")
    arrays = load_file(str(weights))
    save_file({**arrays, "net.extra": np.zeros(2, np.float32)}, str(weights))
    with pytest.raises(ModelError, match="does not build"):
        load_model(saved)
    name = next(k for k in arrays if k.endswith("bias"))
    save_file({**arrays, name: np.full_like(arrays[name], np.nan)}, str(weights))
    with pytest.raises(ModelError, match="NaN"):
        load_model(saved)


def test_predict_before_fit_and_save_before_fit(tmp_path):
    model = _models()["lda"]
    with pytest.raises(ModelError):
        model.predict_proba(_data()[0])
    with pytest.raises(ModelError):
        model.save(tmp_path / "x")
