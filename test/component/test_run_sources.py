"""`semg-grasp run` on sources other than the simulated user: a bag written by `record`, and
a live LSL stream played from a Sapsanis file by `semg-grasp stream` in another process."""

import json
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest

from semg_grasp_ros.cli import main
from semg_grasp_ros.pipeline.bag import read_bag
from semg_grasp_ros.pipeline.demo import Demo, DemoConfig
from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisitionConfig
from semg_grasp_ros.cli.replay import replay


def _chunks(bag):
    return [obj for _, _, obj in read_bag(bag, ["emg/chunks"])]


def test_run_and_replay_take_a_bag_from_record(tmp_path, data_root):
    rec = tmp_path / "rec"
    assert main(["record", "--duration", "4", "--model", "female_1", "--script", "rest:1.5,cylindrical:2.5",
                 "--out", str(rec)]) == 0
    out = tmp_path / "run"
    assert main(["run", "--source", "bag", "--file", str(rec), "--out", str(out), "--no-physics", "--no-render",
                 "--start-time", "2026-01-01T09:00:00Z"]) == 0
    sent, got = _chunks(rec), _chunks(out / "session")
    assert sum(c.sample_count for c in got) == sum(c.sample_count for c in sent) == 2000
    np.testing.assert_array_equal(np.concatenate([c.data for c in got]), np.concatenate([c.data for c in sent]))
    assert got[0].header.stamp_ns == 1_767_258_000 * 10**9  # the first sample at the given clock
    report = replay(rec, DemoConfig.intent_model, DemoConfig.grasp_model)  # no outputs recorded: counted
    assert report["grasp/intent"]["recorded_messages"] == 0 and report["grasp/intent"]["replayed_messages"] > 100


def test_run_keeps_up_with_a_live_lsl_stream(tmp_path, sapsanis_dir):
    pytest.importorskip("pylsl")
    name = f"semg_test_{uuid.uuid4().hex[:8]}"
    outlet = subprocess.Popen(
        [sys.executable, "-m", "semg_grasp_ros.cli", "stream", "--source", "sapsanis", "--file",
         str(sapsanis_dir / "male_1.mat"), "--order", "sequential", "--duration", "5", "--lsl-name", name,
         "--wait", "600"],  # the pipeline builds (seconds to minutes on a loaded machine) before it connects
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        source = EmgAcquisitionConfig(source="lsl", lsl_name=name, timeout_s=60.0)
        demo = Demo(DemoConfig(source=source, physics=False, render=False), tmp_path / "live")
        summary = demo.run()  # until the outlet is gone
        log, _ = outlet.communicate(timeout=60)
    finally:
        outlet.kill()
    sent = int(re.search(r"sent (\d+) samples", log).group(1))
    assert sent == 2500
    chunks = _chunks(tmp_path / "live" / "session")
    assert sum(c.sample_count for c in chunks) == sent  # every sample the outlet sent is in the bag
    index = np.array([c.first_sample_index for c in chunks])
    assert np.array_equal(index[1:], index[:-1] + [c.sample_count for c in chunks[:-1]])  # no gap
    assert summary["paced"] and summary["source"] == "lsl"
    assert summary["realtime_factor"] is not None and summary["max_lag_s"] is not None


def test_ctrl_c_ends_a_session_with_the_bag_closed(tmp_path, data_root):
    import signal
    import time

    out = tmp_path / "live"
    run = subprocess.Popen([sys.executable, "-m", "semg_grasp_ros.cli", "run", "--source", "simulated", "--loop",
                            "--model", "female_1", "--realtime", "--no-physics", "--no-render", "--out", str(out)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        while not (out / "session").exists() and time.monotonic() - t0 < 120:
            time.sleep(0.2)
        time.sleep(4.0)
        run.send_signal(signal.SIGINT)
        log, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, log
    assert "stopped by Ctrl-C" in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and summary["session_s"] >= 0.5
    assert len(_chunks(out / "session")) == summary["messages"]["/emg/chunks"] >= 25  # closed, readable, complete
