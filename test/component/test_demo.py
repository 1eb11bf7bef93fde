"""The standalone demo end to end on a short session, then its bag replayed: every
decision of the session is reproduced, and the bag holds every message published."""

import json

from semg_grasp_ros.cli.replay import replay
from semg_grasp_ros.pipeline.bag import bag_info
from semg_grasp_ros.pipeline.demo import Demo, DemoConfig


def test_demo_session_and_its_replay(tmp_path, data_root):
    config = DemoConfig(script="rest:3,cylindrical:4,rest:1", camera_rate_hz=0.5, render=True, physics=True)
    summary = Demo(config, tmp_path / "demo").run()
    out = tmp_path / "demo"
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "emg_intents.png").stat().st_size > 10_000
    assert summary["grasps"] >= 1 and summary["grasps"] == len(list(out.glob("grasp_*_cylindrical.png")))
    assert summary["decoding"]["active_accuracy"] > 0.5
    info = bag_info(out / "session")
    assert {t: n for t, _, n in info.topics} == summary["messages"]
    assert summary["messages"]["/emg/chunks"] == 400  # 8 s at 50 chunks/s, none lost
    report = replay(out / "session", config.intent_model, config.grasp_model, config.seed)
    for topic in ("grasp/intent", "object/sdf", "grasp/selected"):
        r = report[topic]
        assert r["recorded"] == r["replayed"] == r["identical"] > 0, topic
