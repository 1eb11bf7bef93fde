"""Closed-loop evaluation: the scoring rules on hand-made sessions, and a short real session."""

import numpy as np
import pytest

from semg_grasp_ros.pipeline.closed_loop import ClosedLoopConfig
from semg_grasp_ros.pipeline.outcome import Execution, ExecutionMonitor, PerformedGrasp, score


def _ex(start, end, kind, closed=True, holds=True, reached=True):
    return Execution(start, end, kind, grasp=None, closed=closed, holds=holds, reached_s=end if reached else None)


def test_score_first_closed_grasp_decides():
    performed = [PerformedGrasp("cylindrical", 2.0, 2.3, 8.0, "can"),
                 PerformedGrasp("tip", 10.0, 10.2, 16.0, "box"),
                 PerformedGrasp("hook", 18.0, 18.4, 24.0, "box"),
                 PerformedGrasp("palmar", 26.0, 26.1, 32.0, "can"),
                 PerformedGrasp("lateral", 34.0, 34.2, 40.0, "box")]
    executions = [
        _ex(2.5, 3.0, "cylindrical", closed=False),   # replaced before it closed: not counted
        _ex(3.1, 3.4, "cylindrical"),                 # first closed: right type, holds -> success
        _ex(5.0, 5.5, "spherical"),                   # a second closed grasp in the same trial
        _ex(10.5, 11.0, "lateral"),                   # wrong type first -> intent-limited
        _ex(11.5, 12.0, "tip"),
        _ex(18.6, 19.0, "hook", holds=False),         # right type, slips -> grasp-limited
        _ex(16.7, 17.0, "palmar"),                    # during rest (after the 0.5 s tail)
                                                      # palmar trial: nothing closed -> intent-limited
        _ex(34.5, 35.0, "lateral", reached=False),    # right type, would hold, hand stopped short -> closing
    ]
    out = score(performed, executions, session_s=42.0)
    rows = out["per_grasp"]
    assert [r["success"] for r in rows] == [True, False, False, False, False]
    assert [r["limited_by"] for r in rows] == [None, "intent", "grasp", "intent", "closing"]
    assert rows[0]["onset_to_closed_s"] == pytest.approx(3.4 - 2.3)
    assert [r["closed"] for r in rows] == [2, 2, 1, 0, 1]
    o = out["overall"]
    assert o["success_rate"] == 0.2
    assert (o["intent_limited_rate"], o["closing_limited_rate"], o["grasp_limited_rate"]) == (0.4, 0.2, 0.2)
    assert o["closed_during_rest"] == 1
    assert o["closed_per_performed_grasp"] == pytest.approx(6 / 5)
    assert o["holds_given_right_type_rate"] == pytest.approx(1 / 3)
    assert o["median_onset_to_holding_grasp_s"] == pytest.approx(1.1)
    assert rows[0]["onset_to_executed_s"] == pytest.approx(3.1 - 2.3)
    # the right-type first grasps (holding or not): the can at 1.1 s, the slipping hook at 0.6 s, the lateral at 0.8 s
    assert o["median_onset_to_right_type_closed_s"] == pytest.approx(0.8)
    assert o["median_onset_to_right_type_executed_s"] == pytest.approx(0.3)
    assert o["right_type_reached_rate"] == pytest.approx(2 / 3)


def test_monitor_marks_replaced_and_unfinished_trajectories():
    from semg_grasp_ros.hand.convert import arrays_to_hand_grasp
    from semg_grasp_ros.hand.model import FINGER_JOINTS, WRIST_JOINTS
    from semg_grasp_ros.pipeline.outcome import REACHED_TOLERANCE
    from semg_grasp_ros.types import Header, JointState, JointTrajectory, JointTrajectoryPoint, Pose, PoseStamped

    now = [0.0]
    monitor = ExecutionMonitor(lambda: now[0])
    q_grasp = np.linspace(0.1, 0.6, 22)
    q_grasp[[2, 6, 10, 15]] = q_grasp[[3, 7, 11, 16]]  # J2 = J1, as the hand commands them
    grasp = arrays_to_hand_grasp(q_grasp, np.eye(3), np.zeros(3), Header(0, "object"), "tip")

    def state(q, t):  # the controller's joint_states (wrist joints first)
        now[0] = t
        monitor.on_joint_state(JointState(Header(0, ""), WRIST_JOINTS + FINGER_JOINTS, np.r_[0.0, 0.0, q], np.zeros(24)))

    def trajectory(duration):
        point = JointTrajectoryPoint(np.zeros(1), np.zeros(1), int(duration * 1e9))
        return JointTrajectory(Header(0, ""), ("j",), (point,))

    pose = PoseStamped(Header(0, ""), Pose(np.zeros(3), np.array([0, 0, 0, 1.0])))
    monitor.on_selected(grasp)
    monitor.on_trajectory(trajectory(1.0))
    monitor.on_pose(pose)                 # grasp 1: 0 -> 1 s
    state(q_grasp - 2 * REACHED_TOLERANCE, 0.4)
    now[0] = 0.5
    monitor.on_trajectory(trajectory(0.3))  # a pre-shape replaces it at 0.5 s
    state(q_grasp, 0.6)                   # not the execution of grasp 1 any more
    now[0] = 2.0
    monitor.on_trajectory(trajectory(1.0))
    monitor.on_pose(pose)                 # grasp 2: 2 -> 3 s, closes
    state(q_grasp - 0.5 * REACHED_TOLERANCE, 2.9)  # reached (within the tolerance)
    state(q_grasp, 3.0)
    now[0] = 9.5
    monitor.on_trajectory(trajectory(1.0))
    monitor.on_pose(pose)                 # grasp 3: 9.5 -> 10.5 s, past the session's end
    monitor.finish(10.0)
    assert [e.closed for e in monitor.executions] == [False, True, False]
    assert [e.replaced_by for e in monitor.executions] == ["preshape", None, None]
    assert [e.reached_s for e in monitor.executions] == [None, 2.9, None]


def test_config_refuses_bad_values():
    from semg_grasp_ros.errors import ConfigError

    for bad in (dict(calibration_repetitions=0), dict(max_trials=-1), dict(rest_s=0.2), dict(poses=0)):
        with pytest.raises(ConfigError):
            ClosedLoopConfig(**bad)


def test_generator_overrides_reach_the_generator():
    """The closed loop's verification budget is the generator's (every candidate tried at 60 s)."""
    from semg_grasp_ros.pipeline.demo import processing_components

    config = ClosedLoopConfig(verify_budget_s=60.0)
    *_, generator = processing_components(config.intent_model, config.grasp_model, 0, None,
                                          {"verify_budget_s": config.verify_budget_s})
    assert generator.config.verify_budget_s == 60.0
    assert generator.sampler.verifier.config.budget_s == 60.0


@pytest.mark.slow
def test_short_session_on_a_real_subject_and_object(sapsanis_dir, data_root, tmp_path):
    """Two real trials of a subject against a YCB object: every performed grasp is scored, each
    closed grasp carries a physics verdict, and the rows name the object and the subject."""
    from semg_grasp_ros.intent.models import load_model
    from semg_grasp_ros.intent.evaluation import load_subjects
    from semg_grasp_ros.pipeline.closed_loop import load_object_set, run_subject

    ycb = data_root / "objects" / "ycb"
    if not (ycb / "YcbFoamBrick").is_dir():
        pytest.skip("YCB objects not in the data folder")
    (tmp_path / "objs").mkdir()
    (tmp_path / "objs" / "YcbFoamBrick").symlink_to(ycb / "YcbFoamBrick")
    objects = load_object_set(tmp_path / "objs")
    trials = load_subjects(sapsanis_dir, ["female_1"])[0]
    config = ClosedLoopConfig(max_trials=2, rest_s=2.0)
    result = run_subject(trials, objects, config, model=load_model(config.intent_model))
    rows = result["per_grasp"]
    assert len(rows) == 2 and {r["subject"] for r in rows} == {"female_1"}
    assert {r["object"] for r in rows} == {"YcbFoamBrick"}
    closed = [e for e in result["executions"] if e["closed"]]
    assert all(e["holds"] in (True, False) for e in closed)
    walls = result["generation_wall_s"]  # every execution is a generated grasp, each timed
    assert len(walls) >= len(result["executions"]) and all(t > 0 for t in walls)
    assert all(e["reached_s"] is None or e["start_s"] < e["reached_s"] for e in result["executions"])
    assert result["session_s"] == pytest.approx(2 * (2.0 + 6.0), abs=0.1)


def test_usual_hold_is_the_median_calibration_hold():
    """Full closure at the subject's usual hold: the median over the calibration trials of the
    held part's RMS, filtered as the classifier filters; later repetitions do not count."""
    from scipy.signal import butter

    from semg_grasp_ros.emg.recordings import TrialSet
    from semg_grasp_ros.pipeline.closed_loop import subject_usual_hold

    rate, n = 1000, 3000
    t = np.arange(n) / rate
    amplitudes = [1.0, 2.0, 3.0, 50.0]  # repetitions 0, 1, 2 calibrate; 3 is a test trial
    data = np.zeros((4, n, 2), np.float32)
    for k, a in enumerate(amplitudes):
        hold = t >= 0.5
        data[k, hold, 0] = a * np.sin(2 * np.pi * 100 * t[hold])
        data[k, hold, 1] = 0.5 * a * np.sin(2 * np.pi * 80 * t[hold])
        data[k, ~hold] = 0.01 * np.sin(2 * np.pi * 90 * t[~hold])[:, None]
    trials = TrialSet(data, np.zeros(4, int), np.arange(4), ("tip",), ("ch1", "ch2"), float(rate), "s", "V")
    sos = butter(4, [20, 450], btype="bandpass", fs=rate, output="sos")
    np.testing.assert_allclose(subject_usual_hold(trials, 3, sos), [2.0 / np.sqrt(2), 1.0 / np.sqrt(2)], rtol=0.03)
