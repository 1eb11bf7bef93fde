"""Few-shot personal models and online adaptation: fit on a few trials, follow a drift
without drifting into a wrong class, the few-shot protocol's splits, bad input."""

import numpy as np
import pytest

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.emg.datasets import TrialSet
from semg_grasp_ros.errors import ConfigError, DataError
from semg_grasp_ros.intent.adaptation import AdaptConfig, OnlineAdapter, personal_model
from semg_grasp_ros.intent.fewshot import evaluate_fewshot, session_order
from semg_grasp_ros.intent.models import get_preset

GAINS = np.array([[1.0, 0.2], [0.2, 1.0], [0.6, 0.6], [1.0, 1.0], [0.3, 0.3], [1.0, 0.5]])


def _trials(name, reps=4, n=800, seed=0, drift=None):
    """Six classes of white noise with class-specific channel gains; ``drift(rep)`` scales ch1."""
    rng = np.random.default_rng(seed)
    gains = np.repeat(GAINS, reps, 0).copy()
    rep = np.tile(np.arange(reps), 6)
    if drift is not None:
        gains[:, 0] *= np.array([drift(r) for r in rep])
    data = 0.14 + rng.standard_normal((6 * reps, n, 2)) * gains[:, None, :]
    return TrialSet(data, np.repeat(np.arange(6), reps), rep, GRASP_TYPES, ("ch1", "ch2"), 500.0, name)


def _pooled(trials):
    preset = get_preset("lda_rich")
    model = preset.build(500.0, ("ch1", "ch2"), GRASP_TYPES)
    from semg_grasp_ros.intent.spec import filter_and_window

    w = filter_and_window(trials.data, model.spec)
    return model.fit(w.reshape(-1, *w.shape[2:]), np.repeat(trials.labels, w.shape[1]))


def test_personal_model_keeps_the_pretrained_input_and_learns_the_person():
    pooled = _pooled(_trials("other", seed=1))
    person = _trials("new", reps=2, seed=2)
    from semg_grasp_ros.intent.spec import filter_and_window

    w = filter_and_window(person.data, pooled.spec)
    model = personal_model(pooled, w.reshape(-1, *w.shape[2:]), np.repeat(person.labels, w.shape[1]))
    assert model.spec == pooled.spec and model.class_names == pooled.class_names
    test = filter_and_window(_trials("new", reps=2, seed=3).data, pooled.spec)
    pred = model.predict(test.reshape(-1, *test.shape[2:])).labels.reshape(test.shape[:2])
    assert np.mean(pred == np.repeat(np.arange(6), 2)[:, None]) > 0.8
    assert model.info["adaptation"]["calibration_windows"] == w.shape[0] * w.shape[1]


def test_online_adapter_follows_a_drift_with_right_updates():
    pooled = _pooled(_trials("other", seed=1))
    # channel 1 gain shrinks gradually to 40 % over the session
    person = _trials("new", reps=12, seed=4, drift=lambda r: 1.0 if r < 2 else 1.0 - 0.06 * (r - 1))
    from semg_grasp_ros.intent.spec import filter_and_window

    w = filter_and_window(person.data, pooled.spec)
    calib = person.repetitions < 2
    model = personal_model(pooled, w[calib].reshape(-1, *w.shape[2:]), np.repeat(person.labels[calib], w.shape[1]))
    test = session_order(person, np.flatnonzero(~calib))
    static = [np.argmax(np.log(model.predict_proba(w[i])).sum(0)) == person.labels[i] for i in test]
    adapter = OnlineAdapter(personal_model(pooled, w[calib].reshape(-1, *w.shape[2:]),
                                           np.repeat(person.labels[calib], w.shape[1])), AdaptConfig(rate=0.3))
    adapted = []
    for i in test:
        x = adapter.model.encode(w[i])
        adapted.append(np.argmax(np.log(adapter.model.predict_proba_encoded(x)).sum(0)) == person.labels[i])
        adapter.adapt_segment(x, truth=int(person.labels[i]))
    summary = adapter.summary()
    assert np.mean(adapted[-12:]) > np.mean(static[-12:])
    assert summary["updates"] > 20 and summary["updates_right_fraction"] > 0.9
    with pytest.raises(DataError):
        adapter.adapt_segment(np.zeros((10, 3)))


def test_adapter_needs_a_fitted_lda_and_valid_settings():
    with pytest.raises(ConfigError):
        OnlineAdapter(get_preset("mlp_rich").build(500.0, ("ch1", "ch2"), GRASP_TYPES))
    with pytest.raises(ConfigError):
        AdaptConfig(rate=1.5)


def test_fewshot_protocol_calibrates_on_the_first_repetitions_only():
    subjects = [_trials(f"s{i}", reps=4, seed=i) for i in range(2)]
    result = evaluate_fewshot(subjects, get_preset("lda_rich"), shots=(0, 2))
    r = result["per_subject"]["s0"]
    assert r["2"]["calibration_trials"] == 12
    assert r["2"]["static"]["trial_level"]["n"] == 12 and r["0"]["static"]["trial_level"]["n"] == 24
    assert r["2"]["static"]["trial_level"]["accuracy"] > 0.8
    assert result["pooled"]["s0"]["pretrained_on"] == ["s1"]
    with pytest.raises(ConfigError):
        evaluate_fewshot(subjects, get_preset("lda_rich"), shots=(4,))
    with pytest.raises(ConfigError):
        evaluate_fewshot(subjects[:1], get_preset("lda_rich"), shots=(1,))
