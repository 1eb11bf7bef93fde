"""Calibration: the guided protocol, labels that follow the prompts, the session bag, a
personal model that the classifier component loads, reproducible file sessions."""

import numpy as np
import pytest

from semg_grasp_ros.cli import main as cli_main
from semg_grasp_ros.config import build_config
from semg_grasp_ros.emg.datasets import load_sapsanis
from semg_grasp_ros.errors import DataError
from semg_grasp_ros.intent.models import load_model
from semg_grasp_ros.pipeline.bag import read_bag
from semg_grasp_ros.pipeline.calibration import CalibrationConfig, CalibrationSession, protocol
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifier, GraspClassifierConfig
from semg_grasp_ros.types import EmgChunk, Header


def test_protocol_prompts_every_grasp_with_rest_between_within_90_s():
    steps = protocol(("a", "b", "c", "d", "e", "f"), CalibrationConfig())
    holds = [s for s in steps if s.label >= 0]
    assert [s.name for s in holds[:6]] == ["a", "b", "c", "d", "e", "f"] and len(holds) == 12
    assert all(s.label < 0 for s in steps[::2]) and steps[1].prompt == "a: grasp and hold"
    assert steps[-1].end_s <= 90.0
    assert all(abs(b.start_s - a.end_s) < 1e-9 for a, b in zip(steps, steps[1:]))


def _chunk(data, index, rate=500.0):
    return EmgChunk(Header(int(index * 1e9 / rate), "emg"), rate, ("ch1", "ch2"), index, data.astype(np.float32))


def test_session_cues_follow_the_samples_and_refuse_gaps():
    session = CalibrationSession(load_model("intent_150ms"), CalibrationConfig(repetitions=1, hold_s=2.0, rest_s=1.0,
                                                                              lead_s=1.0, settle_s=0.5))
    cues = session.on_emg(_chunk(np.zeros((750, 2)), 0))  # 1.5 s: the lead rest and the first hold start
    assert [c.grasp_type for c in cues] == ["rest", "spherical"] and cues[1].confidence == 1.0
    assert cues[1].header.stamp_ns == int(1e9)
    assert session.prompt().text == "spherical: grasp and hold" and 0 < session.prompt().progress < 1
    with pytest.raises(DataError):
        session.on_emg(_chunk(np.zeros((10, 2)), 800))
    with pytest.raises(DataError):
        session.train()


@pytest.mark.slow
def test_file_calibration_is_reproducible_and_loads_in_the_classifier(sapsanis_dir, tmp_path):
    path = sapsanis_dir / "female_2.mat"
    out = tmp_path / "person"
    assert cli_main(["calibrate", "--source", "sapsanis", "--file", str(path), "--repetitions", "2",
                     "--out", str(out)]) == 0
    model = load_model(out.with_suffix(".json"))
    assert model.architecture == "lda" and model.info["calibration"]["cross_validation"]["accuracy"] > 0.75
    messages = list(read_bag(tmp_path / "person_session"))
    cues = [m for t, _, m in messages if t == "calibration/cue"]
    assert [c.grasp_type for c in cues[:4]] == ["rest", "spherical", "rest", "cylindrical"] and len(cues) == 24
    # the holds are the file's first two repetitions, sample for sample
    trials = load_sapsanis(path)
    emg = np.concatenate([m.data for t, _, m in messages if t == "emg/chunks"])
    start = int(round(cues[3].header.stamp_ns * 500 / 1e9))
    np.testing.assert_allclose(emg[start:start + 3000], trials.of_class("cylindrical")[0], rtol=1e-6)
    # the classifier component decodes the recorded session with the personal model
    classifier = GraspClassifier(GraspClassifierConfig(model=str(out.with_suffix(".json"))))
    decided = [i.class_index for t, _, m in messages if t == "emg/chunks" for i in classifier.on_emg(m)]
    assert len(set(decided) - {-1}) >= 5
    # proportional closing: full closure at the user's usual hold, unless max_rms is given
    usual = model.info["calibration"]["usual_hold_rms"]
    assert len(usual) == 2 and all(v > 0 for v in usual)
    assert classifier.decoder.config.level.max_rms == tuple(usual)
    given = GraspClassifier(build_config(GraspClassifierConfig, {"model": str(out.with_suffix(".json")), "decoder.level.max_rms": [1.0]}))
    assert given.decoder.config.level.max_rms == (1.0, 1.0)


def test_runner_calibrates_a_running_classifier_and_swaps_its_model(tmp_path):
    from semg_grasp_ros.pipeline.calibration import CalibrationRunner, protocol_script
    from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig

    classifier = GraspClassifier(GraspClassifierConfig())
    runner = CalibrationRunner(classifier, tmp_path)
    config = CalibrationConfig(repetitions=2, hold_s=2.5, rest_s=1.0, lead_s=2.0)
    path = runner.start(config, out=str(tmp_path / "me"))
    with pytest.raises(Exception, match="already running"):
        runner.start(config)
    acq = EmgAcquisition(EmgAcquisitionConfig(simulator_model="female_2", seed=3,
                                              script=protocol_script(runner.session.steps)))
    outcome, cues, t = None, [], 0
    while outcome is None and not acq.finished:
        t += 20_000_000
        for chunk in acq.on_timer(t):
            classifier.on_emg(chunk)
            new, outcome = runner.on_emg(chunk)
            cues += new
    assert outcome is not None and outcome.success, outcome
    assert outcome.model_path == str(path) and path.is_file() and (tmp_path / "me_session").is_dir()
    assert len(cues) == 24 and outcome.accuracy > 0.8 and sum(outcome.confusion) == 12
    assert classifier.model_source == str(path) and classifier.model.architecture == "lda"
    assert not runner.active and runner.on_emg(chunk) == ([], None)


def _decode(classifier, config, gain_from_s, score_from_s):
    """Agreement of the classifier's intents with the simulated user's cues (grasps only) from
    ``score_from_s`` on, channel 1 at 0.6 x its gain from ``gain_from_s`` on."""
    import dataclasses

    from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisition

    acq, t, ok = EmgAcquisition(config), 0, []
    while not acq.finished:
        t += 20_000_000
        for chunk in acq.on_timer(t):
            if chunk.first_sample_index >= gain_from_s * 500:
                data = chunk.data.copy()
                data[:, 0] = 0.14 + 0.6 * (data[:, 0] - 0.14)
                chunk = dataclasses.replace(chunk, data=data)
            truth = acq.last_labels
            for intent in classifier.on_emg(chunk):
                if chunk.first_sample_index >= score_from_s * 500 and truth is not None and truth[-1] >= 0:
                    ok.append(intent.class_index == truth[-1])
    return float(np.mean(ok))


@pytest.mark.slow
def test_classifier_adapts_a_personal_model_during_use(tmp_path):
    from semg_grasp_ros.pipeline.calibration import protocol_script
    from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisition, EmgAcquisitionConfig

    session = CalibrationSession(load_model("intent_150ms"),
                                 CalibrationConfig(repetitions=2, hold_s=2.5, rest_s=1.0, lead_s=2.0))
    acq, t = EmgAcquisition(EmgAcquisitionConfig(simulator_model="female_2", seed=3,
                                                 script=protocol_script(session.steps))), 0
    while not session.finished:
        t += 20_000_000
        for chunk in acq.on_timer(t):
            session.on_emg(chunk)
    path = session.train().model.save(tmp_path / "me")
    use = EmgAcquisitionConfig(simulator_model="female_2", seed=7, repetitions=3, grasp_s=3.0, rest_s=1.5)
    static = _decode(GraspClassifier(GraspClassifierConfig(model=str(path))), use, 15.0, 35.0)
    adaptive = GraspClassifier(GraspClassifierConfig(model=str(path), adapt=True))
    adapted = _decode(adaptive, use, 15.0, 35.0)
    assert len(adaptive.adapter.adapter.history) >= 10
    assert adapted > static + 0.05, (static, adapted)
    with pytest.raises(Exception, match="LDA personal model"):
        GraspClassifier(GraspClassifierConfig(adapt=True))  # the shipped pooled MLP cannot adapt
