"""Evaluation protocols: trial-wise folds, no test trial in training, levels, resuming, CLI."""

import dataclasses
import json

import numpy as np
import pytest
import scipy.io

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.cli import main as cli_main
from semg_grasp_ros.emg.datasets import SAPSANIS_PREFIX
from semg_grasp_ros.emg.recordings import TrialSet
from semg_grasp_ros.emg.windows import ACTIVE_FRACTION
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.intent import evaluation as ev
from semg_grasp_ros.intent.models import TrainRecipe, get_preset, load_model
from semg_grasp_ros.intent.training import split_groups

#: Per-class channel gains of the synthetic subjects (distinct RMS patterns).
GAINS = np.array([[1.0, 0.2], [0.2, 1.0], [0.6, 0.6], [1.0, 1.0], [0.3, 0.3], [1.0, 0.5]])


def _trials(name, n_per_class=6, n=1000, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    data = 0.14 + scale * rng.standard_normal((6 * n_per_class, n, 2)) * np.repeat(GAINS, n_per_class, 0)[:, None, :]
    return TrialSet(data, np.repeat(np.arange(6), n_per_class), np.tile(np.arange(n_per_class), 6),
                    GRASP_TYPES, ("ch1", "ch2"), 500.0, name)


def test_stratified_folds_partition_balanced():
    labels = np.repeat(np.arange(6), 30)
    folds = ev.stratified_folds(labels, 5, seed=3)
    allidx = np.concatenate(folds)
    assert sorted(allidx.tolist()) == list(range(180))
    for f in folds:
        assert np.all(np.bincount(labels[f], minlength=6) == 6)
    assert not np.array_equal(folds[0], ev.stratified_folds(labels, 5, seed=4)[0])


def test_validation_split_keeps_trials_whole():
    labels = np.repeat([0, 1], 50)
    groups = np.repeat(np.arange(10), 10)
    val = split_groups(labels, groups, 0.2, seed=0)
    for g in range(10):
        assert len(set(val[groups == g])) == 1  # a trial is entirely in or out
    assert set(np.unique(labels[val])) == {0, 1}


def test_no_window_of_a_test_trial_is_trained_on():
    t = _trials("s", n_per_class=5)
    preset = get_preset("lda_td")
    seen = {}
    original = preset.factory

    def spy(spec, names):
        model = original(spec, names)
        fit = model.fit_encoded

        def recording_fit(x, y, groups=None, **kw):
            seen.setdefault("groups", []).append(set(np.unique(groups).tolist()))
            return fit(x, y, groups=groups, **kw)

        model.fit_encoded = recording_fit
        return model

    spied = dataclasses.replace(preset, factory=spy)
    data = ev.prepare_subject(t, spied.build(500.0, t.channel_names, t.class_names), False)
    test_idx = ev.stratified_folds(t.labels, 5, 0)[0]
    train_idx = np.setdiff1d(np.arange(t.n_trials), test_idx)
    [fold] = ev.run_fold(spied, [(data, train_idx)], [(data, test_idx)])
    assert seen["groups"][0] == set(train_idx.tolist())
    assert not seen["groups"][0] & set(test_idx.tolist())
    assert fold.trial_proba.shape == (len(test_idx), 6)
    assert fold.window_true.size == data.active[test_idx].sum()


def test_within_and_loso_on_separable_subjects(tmp_path, monkeypatch):
    subjects = [_trials("a", seed=1), _trials("b", seed=2)]
    settings = ev.EvalSettings("within", folds=3, repeats=2, seed=0)
    result = ev.evaluate(get_preset("lda_td"), subjects, settings, run_dir=tmp_path)
    assert result["trial_level"]["mean_accuracy"] > 0.95
    assert result["window_level"]["mean_accuracy"] > 0.8
    assert set(result["trial_level"]["per_subject"]) == {"a", "b"}
    assert result["n_fits"] == 2 * 3 * 2 and len(list(tmp_path.glob("*.json"))) == 12
    assert np.sum(result["trial_level"]["confusion"]) == 2 * 36 * 2  # every trial once per repeat
    # Resuming: nothing is refitted when the fold files exist.
    monkeypatch.setattr(ev, "run_fold", lambda *a, **k: pytest.fail("refitted a cached fold"))
    again = ev.evaluate(get_preset("lda_td"), subjects, settings, run_dir=tmp_path)
    assert again["trial_level"] == result["trial_level"]
    monkeypatch.undo()
    loso = ev.evaluate(get_preset("lda_td"), subjects, ev.EvalSettings("loso"))
    assert loso["folds"] == 2 and loso["trial_level"]["mean_accuracy"] > 0.8
    with pytest.raises(ConfigError):
        ev.evaluate(get_preset("lda_td"), subjects[:1], ev.EvalSettings("loso"))
    pooled = ev.evaluate(get_preset("lda_td"), subjects, ev.EvalSettings("pooled", folds=3, repeats=1))
    assert pooled["n_fits"] == 2 * 3 and set(pooled["window_level"]["per_subject"]) == {"a", "b"}
    assert pooled["trial_level"]["mean_accuracy"] > 0.95


def _write_folder(folder, names=("s1", "s2")):
    folder.mkdir()
    for i, name in enumerate(names):
        t = _trials(name, n_per_class=4, seed=10 + i)
        mat = {}
        for k, g in enumerate(GRASP_TYPES):
            for c in range(2):
                mat[f"{SAPSANIS_PREFIX[g]}_ch{c + 1}"] = t.data[t.labels == k, :, c].astype(np.float64)
        scipy.io.savemat(folder / f"{name}.mat", mat)
    return folder


def test_cli_eval_and_train(tmp_path, capsys):
    data = _write_folder(tmp_path / "db")
    out = tmp_path / "res" / "lda.json"
    rc = cli_main(["eval", "intent", "--data", str(data), "--protocol", "within", "--model", "lda_td",
                   "--folds", "2", "--repeats", "1", "--json", str(out), "--no-progress"])
    assert rc == 0
    result = json.loads(out.read_text())
    for level in ("trial_level", "window_level"):
        assert set(result[level]["per_subject"]) == {"s1", "s2"} and 0 <= result[level]["mean_accuracy"] <= 1
    assert result["model"] == "lda_td" and out.with_suffix(".png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "window-level confusion" in printed and "s2" in printed
    stem = tmp_path / "model" / "lda"
    rc = cli_main(["train", "intent", "--data", str(data), "--subjects", "s1", "--model", "lda_td",
                   "--out", str(stem), "--metrics", str(out), "--no-progress"])
    assert rc == 0
    model = load_model(stem)
    assert model.info["training_data"]["subjects"] == ["s1"] and model.info["metrics"]["within"]["model"] == "lda_td"
    # the model keeps its recipe, which eval decoder retrains; a model without one gives its preset's
    assert TrainRecipe.of(model) == TrainRecipe(model="lda_td", subjects=("s1",))
    del model.info["recipe"]
    assert TrainRecipe.of(model) == TrainRecipe(model="lda_td", window_ms=model.spec.window_ms)
    assert cli_main(["eval", "intent", "--data", str(data), "--subjects", "nobody", "--no-progress"]) == 2
    assert cli_main(["train", "intent", "--data", str(data), "--model", "lda_td", "--out", str(stem),
                     "--metrics", str(tmp_path / "missing.json"), "--no-progress"]) == 2


def test_training_recipes_of_the_shipped_models(tmp_path):
    """config/intent_*.yaml name the shipped models' recipes: preset, window, seed, training windows."""
    from semg_grasp_ros.config import load_config_file
    from semg_grasp_ros.errors import ConfigError
    from semg_grasp_ros.paths import resource

    fast = load_config_file(TrainRecipe, resource("config", "intent_150ms.yaml"))
    assert fast.preset().name == "mlp_rich" and fast.preset().window_ms == 150.0 and fast.seed == 0
    assert fast.active_fraction < ACTIVE_FRACTION  # it also learns the contraction's rise
    assert TrainRecipe.of(load_model("intent_150ms")) == fast  # the shipped model is this recipe's
    # segments: the preset's features also on that many sub-windows; a model without features refuses
    whole, halves = (TrainRecipe(model="lda_td", window_ms=150.0, segments=k).preset().build(500.0, ("a", "b"), GRASP_TYPES)
                     for k in (0, 2))
    assert halves.config.features == dataclasses.replace(whole.config.features, segments=2)
    assert halves.encode(np.ones((1, 75, 2))).shape[1] == 3 * whole.encode(np.ones((1, 75, 2))).shape[1]
    with pytest.raises(ConfigError):
        TrainRecipe(model="resnet18_window", segments=2).preset().build(500.0, ("a", "b"), GRASP_TYPES)
    assert load_config_file(TrainRecipe, resource("config", "intent_default.yaml")).preset().window_ms == 250.0
    assert load_config_file(TrainRecipe, resource("config", "intent_150ms.yaml"), window_ms=200.0).window_ms == 200.0
    bad = tmp_path / "bad.yaml"
    for text in ("model: nope\n", "window: 150\n", "model: resnet18_paper\nwindow_ms: 150.0\n", "- 1\n",
                 "active_fraction: 0.0\n", "segments: -1\n"):
        bad.write_text(text)
        with pytest.raises(ConfigError):
            load_config_file(TrainRecipe, bad)


def test_cli_eval_cross_validates_a_training_recipe(tmp_path):
    """``eval intent --config``: the recipe's window, training windows, features and epochs reach the
    evaluation; the window level scores the recipe's windows of the active part."""
    data = _write_folder(tmp_path / "db", names=("s1",))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model: mlp_rich\nwindow_ms: 150.0\nactive_fraction: 0.08\nsegments: 2\nepochs: 2\n")
    out = tmp_path / "res.json"
    assert cli_main(["eval", "intent", "--data", str(data), "--config", str(recipe), "--folds", "2", "--repeats", "1",
                     "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["input"]["window_ms"] == 150.0 and result["subjects"] == ["s1"]
    assert result["recipe"]["active_fraction"] == 0.08 and result["recipe"]["segments"] == 2
    assert "0.08" in result["train_windows"] and "150 ms window" in result["window_level_rule"]
    # every test window scored once: the active windows of 150 ms (25 ms hop at 500 Hz) of the 24 trials
    t = ev.load_subjects(data)[0]
    scored = {ms: int(ev.prepare_subject(t, TrainRecipe(model="lda_td", window_ms=ms).preset().build(
        t.sample_rate, t.channel_names, t.class_names), False).active.sum()) for ms in (150.0, 250.0)}
    assert scored[150.0] != scored[250.0]
    assert np.sum(result["window_level"]["confusion"]) == scored[150.0]
    assert np.sum(result["trial_level"]["confusion"]) == 24
