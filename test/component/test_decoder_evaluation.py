"""`semg-grasp eval decoder`'s scoring and sessions: the scores worked by hand on a scripted
decision stream; a held-out session from a recording's quiet parts or simulated rest."""

import numpy as np
import pytest

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.emg.recordings import TrialSet
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig
from semg_grasp_ros.intent.lda import LdaModel
from semg_grasp_ros.intent.models import TrainRecipe
from semg_grasp_ros.pipeline.decoder_evaluation import (IGNORED, Stream, buffering_ms, controller_delay,
                                                         decision_lag_ms, heldout_session, score, splice,
                                                         train_on)
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifierConfig


def test_scores_worked_by_hand():
    # 100 samples per decision; rest, a grasp of class 2 (cue at 300, onset at 400), rest
    truth = np.r_[np.full(300, -1), np.full(100, IGNORED), np.full(500, 2), np.full(400, -1)]
    ends = np.arange(50, 1300, 100)  # 13 decisions
    classes = np.array([-1, 0, -1, -1, 1, 2, 2, 2, 2, 2, -1, -1, -1])
    s = score(Stream(ends, classes, np.full(13, 0.9), np.zeros(1)), truth, rate=1000.0, commit_s=0.15,
              min_confidence=0.6)
    assert s["performed_grasps"] == 1
    assert s["first_decided_type_correct"] == 0.0  # class 1 at 450 comes first
    assert s["grasps_started_per_performed_grasp"] == 3.0  # 0 in rest, 1, then 2
    # 7 rest decisions: one grasp out of rest (at 150), one held over (at 950, released at 1050)
    assert s["rest_grasp_fraction"] == pytest.approx(1 / 7) and s["rest_time_with_a_grasp"] == pytest.approx(2 / 7)
    assert s["release_ms_median"] == 150.0
    assert s["correct_while_held"] == pytest.approx(4 / 5) and s["onset_to_decision_ms_median"] == 50.0
    # the generator commits 2 after 150 ms of it (at 850); 0 and 1 never last that long
    assert s["generated_grasps_per_performed_grasp"] == 1.0 and s["first_generated_grasp_correct"] == 1.0


def test_session_rest_from_quiet_parts_or_simulated():
    trials = EmgSimulator(None, SimulatorConfig(seed=3)).trials(4, trial_s=3.0)
    train, test = np.flatnonzero(trials.repetitions < 2), np.flatnonzero(trials.repetitions >= 2)
    s = heldout_session(trials, test, train, rest_s=1.0, calibration_s=1.0, seed=0)
    # simulated trials start with under 0.5 s of lead-in: too little quiet signal, simulated rest
    assert s.rest_source == "simulated" and s.n_trials == len(test)
    n = int(trials.sample_rate)
    assert s.data.shape[0] == s.truth.size == n + len(test) * (n + trials.n_samples)
    assert np.all(s.truth[:n] == IGNORED) and np.sum(s.truth == -1) == len(test) * n
    assert sorted(set(s.truth[s.truth >= 0])) == sorted(set(trials.labels[test]))
    pieces = [np.full((30, 2), 1.0), np.full((30, 2), 3.0)]
    out = splice(pieces, 200, 10, np.random.default_rng(0))
    assert out.shape == (200, 2) and np.all(np.abs(np.diff(out[:, 0])) <= 2.0 / 11 + 1e-12)


def test_node_decoder_delay_within_farrell_and_weir_optimum():
    """The node's decision layer, with the shipped 150 ms window, the 20 ms chunks and a few ms of
    processing, stays within the 100 ms controller delay of Farrell & Weir's fast hands."""
    config = GraspClassifierConfig().decoder
    assert decision_lag_ms(config) == pytest.approx(10.0)  # one onset window, then the next decision instant
    delay = controller_delay(150.0, decision_lag_ms(config), 5.0, buffering_ms(75, 10, 10, 500.0))
    assert delay["total_ms"] <= 100.0


def test_training_windows_from_the_recipe_reach_the_contraction_rise(monkeypatch):
    """A recipe's active_fraction sets which windows of a trial are trained on: below the active part
    (0.3 of the trial's 90th-percentile envelope) the rise is learned too, never the quiet lead-in."""
    fs, n = 500.0, 1500
    # 1 s quiet (envelope 0.02), a 0.5 s linear rise, 1.5 s held (envelope 1)
    envelope = np.interp(np.arange(n), [0, 500, 750, n], [0.02, 0.02, 1.0, 1.0])
    rng = np.random.default_rng(0)
    data = rng.standard_normal((12, n, 2)) * envelope[None, :, None] * (1 + np.arange(6).repeat(2))[:, None, None]
    trials = TrialSet(data, np.arange(6).repeat(2), np.tile(np.arange(2), 6), GRASP_TYPES, ("ch1", "ch2"), fs, "ramp")
    seen = []
    fit = LdaModel.fit_encoded
    monkeypatch.setattr(LdaModel, "fit_encoded", lambda self, x, y, **kw: seen.append(len(y)) or fit(self, x, y, **kw))
    for fraction in (0.3, 0.08):
        train_on(TrainRecipe(model="lda_td", window_ms=150.0, active_fraction=fraction), trials, np.arange(12))
    # windows of 75 samples every 25 (the preset's 50 ms): the held part and the rise from ~0.3 (or
    # ~0.08) of the way up; the quiet second (up to sample 500) never counts
    per_trial = [count / 12 for count in seen]
    held = (n - 750 - 75) // 25 + 1
    assert held <= per_trial[0] < per_trial[1] < held + (750 - 500 + 75) // 25
    assert per_trial[1] - per_trial[0] >= 0.15 * 250 / 25  # a good part of the rise is added
