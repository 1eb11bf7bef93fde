"""Few-shot personal models and online adaptation: fit on a few trials, follow a drift
without drifting into a wrong class, the few-shot protocol's splits, bad input."""

from dataclasses import replace

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


def test_augmented_copies_change_gain_crosstalk_and_spectrum_as_drawn():
    from semg_grasp_ros.intent.adaptation import augment_windows

    rng = np.random.default_rng(0)
    t = np.arange(200) / 500.0
    w = np.stack([np.stack([np.sin(2 * np.pi * 80 * t), 0.1 * rng.standard_normal(200)], axis=1)] * 50)
    config = AdaptConfig(augment_copies=2, max_gain=1.5, max_crosstalk=0.3, min_stretch=0.8)
    out = augment_windows(w, config)
    assert out.shape == (100, 200, 2)
    rms = np.sqrt(np.mean(out**2, axis=1))
    # channel 2 picks up at most 30 % of channel 1, scaled by at most 1.5
    assert np.all(rms[:, 1] < 1.5 * (0.3 * np.sqrt(0.5) + 0.1) + 0.05) and np.any(rms[:, 1] > 0.2)
    # the 80 Hz tone of channel 1 comes out between 64 and 80 Hz
    spec = np.abs(np.fft.rfft(out[:, :, 0], axis=1))
    peak = np.fft.rfftfreq(200, 1 / 500.0)[spec.argmax(axis=1)]
    assert np.all((peak >= 62.5) & (peak <= 82.5)) and peak.min() < 75
    assert np.array_equal(out, augment_windows(w, config))  # seeded
    assert not np.allclose(out, augment_windows(w, replace(config, augment_seed=1)))
    assert augment_windows(w, AdaptConfig(augment_copies=0)).shape == (0, 200, 2)
    with pytest.raises(ConfigError):
        AdaptConfig(max_crosstalk=0.6)
    with pytest.raises(DataError):
        augment_windows(np.zeros((3, 10)), config)


def test_personal_model_trains_on_augmented_copies_and_records_them():
    pooled = _pooled(_trials("other", seed=1))
    person = _trials("new", reps=2, seed=2)
    from semg_grasp_ros.intent.spec import filter_and_window

    w = filter_and_window(person.data, pooled.spec)
    flat, labels = w.reshape(-1, *w.shape[2:]), np.repeat(person.labels, w.shape[1])
    plain = personal_model(pooled, flat, labels, AdaptConfig(augment_copies=0))
    augmented = personal_model(pooled, flat, labels, AdaptConfig(augment_copies=2))
    info = augmented.info["adaptation"]
    assert info["augmentation"]["copies"] == 2 and info["calibration_windows"] == len(labels)
    assert info["calibration_windows_per_class"] == np.bincount(labels).tolist()
    # the gain copies widen the spread of the amplitude features the model expects
    assert not np.allclose(plain.covariance, augmented.covariance)
    # a channel 1 gain of 0.7 (inside the drawn range) costs the augmented model no more
    gained = w.copy()
    gained[..., 0] *= 0.7
    acc = {name: np.mean(m.predict(gained.reshape(-1, *w.shape[2:])).labels == labels)
           for name, m in (("plain", plain), ("augmented", augmented))}
    assert acc["augmented"] >= acc["plain"] - 0.02


def test_zero_shot_lda_normalises_every_person_on_their_own_windows():
    from semg_grasp_ros.intent.zeroshot import UserNormaliser, active_features, subject_normalised_lda

    # the same class structure on every person, but each with their own overall gain per channel
    people = []
    for i, g in enumerate(([1.0, 1.0], [3.0, 0.5], [0.4, 2.0])):
        t = _trials(f"p{i}", reps=3, seed=10 + i)
        people.append(TrialSet(t.data * np.array(g), t.labels, t.repetitions, t.class_names, t.channel_names,
                               t.sample_rate, t.subject))
    template = get_preset("lda_rich").build(500.0, ("ch1", "ch2"), GRASP_TYPES)
    model = subject_normalised_lda(template, people[:2])
    assert model.info["zero_shot"]["subjects"] == ["p0", "p1"]
    x, active, labels = active_features(model, people[2])
    before = np.mean(model.predict_proba_encoded(x[active]).argmax(1) == labels[active])
    user = UserNormaliser(model)
    for i in session_order(people[2], np.arange(len(people[2].labels))):
        user.update(x[i][active[i]])
    after = np.mean(model.predict_proba_encoded(x[active]).argmax(1) == labels[active])
    assert user.n == active.sum() and after > 0.7 and after > before + 0.2
    with pytest.raises(DataError):
        user.update(np.zeros((3, 2)))
    with pytest.raises(ConfigError):
        UserNormaliser(_pooled(people[0]))


def test_fewshot_protocol_reports_the_user_normalised_zero_shot():
    subjects = [_trials(f"s{i}", reps=3, seed=i) for i in range(3)]
    result = evaluate_fewshot(subjects, get_preset("lda_rich"), shots=(0, 1))
    zero = result["per_subject"]["s0"]["0"]["user_normalised"]
    assert zero["trained_on"] == ["s1", "s2"] and zero["trial_level"]["n"] == 18
    assert "user_normalised" in result["mean"]["0"] and "user_normalised" not in result["per_subject"]["s0"]["1"]


def test_a_class_never_moves_past_the_midpoint_to_another():
    pooled = _pooled(_trials("other", seed=1))
    person = _trials("new", reps=2, seed=5)
    from semg_grasp_ros.intent.spec import filter_and_window

    w = filter_and_window(person.data, pooled.spec)
    flat, labels = w.reshape(-1, *w.shape[2:]), np.repeat(person.labels, w.shape[1])
    # spherical's grasps move all the way to cylindrical's signal (gains [1, .2] -> [.2, 1]); its
    # class follows them, but with the limit only halfway to the nearest calibrated class
    rng = np.random.default_rng(6)
    moved = {}
    for shift in (0.0, 0.5):
        adapter = OnlineAdapter(personal_model(pooled, flat, labels, AdaptConfig(augment_copies=0)),
                                AdaptConfig(rate=0.5, max_distance=0.0, min_agreement=0.5, max_class_shift=shift))
        start = adapter.model.means.copy()
        white = np.linalg.cholesky(np.linalg.inv(adapter.model.covariance))
        for step in np.linspace(0.0, 1.0, 30):
            gains = (1 - step) * GAINS[0] + step * GAINS[1]
            seg = filter_and_window((0.14 + rng.standard_normal((1, 800, 2)) * gains), pooled.spec)[0]
            adapter.adapt_segment(adapter.model.encode(seg))
        moved[shift] = np.linalg.norm((adapter.model.means[0] - start[0]) @ white)
        nearest = min(np.linalg.norm((start[k] - start[0]) @ white) for k in range(1, 6))
    assert moved[0.5] <= 0.5 * nearest + 1e-9 < moved[0.0]
    with pytest.raises(ConfigError):
        AdaptConfig(max_class_shift=-1)
