"""The standalone demo end to end on a short session, then its bag replayed: every
decision of the session is reproduced, and the bag holds every message published. The
bag read with the independent MCAP reader shows whole in Foxglove and RViz: stamps on
the given clock, the URDF latched, and a connected TF tree for every hand link at every
joint-state time."""

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from semg_grasp_ros import provenance
from semg_grasp_ros.cli.replay import replay, session_settings
from semg_grasp_ros.pipeline.bag import bag_info
from semg_grasp_ros.pipeline.demo import Demo, DemoConfig

START_NS = 1_767_258_000 * 10**9  # 2026-01-01T09:00:00Z


@pytest.fixture(scope="module")
def session(tmp_path_factory, data_root):
    config = DemoConfig(script="rest:3,cylindrical:4,rest:1", camera_rate_hz=0.5, render=True, physics=True,
                        start_time_ns=START_NS)
    out = tmp_path_factory.mktemp("demo") / "demo"
    return config, out, Demo(config, out).run()


def test_demo_session_and_its_replay(session):
    config, out, summary = session
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "emg_intents.png").stat().st_size > 10_000
    assert summary["grasps"] >= 1 and summary["grasps"] == len(list(out.glob("grasp_*_cylindrical.png")))
    from PIL import Image

    for g in summary["timeline"]:
        if g["event"] == "grasp":  # a 1280x720 captioned picture and an animation of each executed grasp
            assert Image.open(out / g["picture"]).size == (1280, 720)
            assert Image.open(out / g["animation"]).n_frames >= 8
    assert summary["decoding"]["active_accuracy"] > 0.5
    first = summary["first_try"]  # the closed-loop figure of the session: one performed grasp
    assert first["performed"] == 1 and first["success_rate"] in (0.0, 1.0)
    assert first["success_rate"] + first["intent_limited_rate"] + first["closing_limited_rate"] \
        + first["grasp_limited_rate"] == pytest.approx(1.0)
    info = bag_info(out / "session")
    assert {t: n for t, _, n in info.topics} == summary["messages"]
    assert summary["messages"]["/emg/chunks"] == 400  # 8 s at 50 chunks/s, none lost
    record = provenance.from_custom_data(info.custom_data)  # provenance: models with checksums, seeds, config
    assert record["models"]["intent"]["name"] == config.intent_model and record["seeds"] == {"seed": config.seed}
    assert record["config"]["demo"]["script"] == config.script and len(record["models"]["grasp"]["files"]) == 2
    intent, grasp, seed, notes = session_settings(out / "session", None, None, None)  # replay uses it by default
    assert (intent, grasp, seed) == (config.intent_model, config.grasp_model, config.seed)
    assert sum("files match the recording's SHA-256" in n for n in notes) == 2
    report = replay(out / "session", intent, grasp, seed)
    json.dumps(report, allow_nan=False)  # strict JSON
    for topic in ("grasp/intent", "object/sdf", "grasp/selected"):
        r = report[topic]
        assert r["recorded_messages"] == r["replayed_messages"] == r["identical_messages"] > 0, topic


def test_session_bag_shows_the_whole_hand(session):
    from mcap.reader import make_reader
    from mcap_ros2.reader import read_ros2_messages

    _, out, summary = session
    assert summary["start_time"] == "2026-01-01T09:00:00.000Z"
    (path,) = (out / "session").glob("*.mcap")
    with open(path, "rb") as f:
        channels = {c.topic: c for c in make_reader(f).get_summary().channels.values()}
    for latched in ("/robot_description", "/tf_static"):  # transient local, as ROS latches them
        assert "durability: 1" in channels[latched].metadata["offered_qos_profiles"], latched

    static, tf_at, joint_times, urdf, stamps = {}, defaultdict(dict), [], None, []
    for m in read_ros2_messages(str(path)):
        topic, msg = m.channel.topic, m.ros_msg
        stamps.append(m.log_time_ns)
        if topic == "/robot_description":
            urdf = ET.fromstring(msg.data)
        elif topic == "/tf_static":
            static.update({t.child_frame_id: t for t in msg.transforms})
        elif topic == "/tf":
            for t in msg.transforms:
                assert t.header.stamp.sec * 10**9 + t.header.stamp.nanosec == m.log_time_ns
                tf_at[m.log_time_ns][t.child_frame_id] = t.header.frame_id
        elif topic == "/joint_states":
            joint_times.append(m.log_time_ns)
    assert min(stamps) == START_NS and max(stamps) <= START_NS + 9 * 10**9  # the given clock, not 1970

    links = {link.get("name") for link in urdf.findall("link")}
    parent_of = {j.find("child").get("link"): j.find("parent").get("link") for j in urdf.findall("joint")}
    for child, parent in parent_of.items():  # fixed joints on tf_static, at the URDF's origin
        j = next(j for j in urdf.findall("joint") if j.find("child").get("link") == child)
        if j.get("type") == "fixed":
            xyz = [float(v) for v in j.find("origin").get("xyz").split()]
            t = static[child].transform.translation
            np.testing.assert_allclose([t.x, t.y, t.z], xyz, atol=1e-9)
            assert static[child].header.frame_id == parent
    assert static["camera_depth_optical_frame"].header.frame_id == "world"
    assert static["table"].header.frame_id == "world"

    assert len(joint_times) == summary["messages"]["/joint_states"] > 300
    for t in joint_times:  # every link reaches 'world' through transforms stamped at t or static
        parents = {child: t_.header.frame_id for child, t_ in static.items()} | tf_at[t]
        for link in links:
            frame, hops = link, 0
            while frame != "world":
                assert frame in parents, f"{link}: no transform for {frame} at {t}"
                if frame in parent_of:
                    assert parents[frame] == parent_of[frame]
                frame, hops = parents[frame], hops + 1
                assert hops < 20


def test_foxglove_layout_names_the_session_topics(session):
    """config/foxglove_layout.json: every topic its panels read is in a session bag, and the
    intent plot labels the probabilities in the classifier's class order."""
    from semg_grasp_ros import GRASP_TYPES
    from semg_grasp_ros.paths import resource

    _, _, summary = session
    layout = json.loads(resource("config", "foxglove_layout.json").read_text())
    text = json.dumps(layout["configById"])
    used = set(re.findall(r'"(/[a-z_/]+)[".\[]', text)) - {"/move_base_simple/goal", "/clicked_point", "/initialpose"}
    assert used and used <= set(summary["messages"]), used - set(summary["messages"])
    labels = [p["label"] for p in layout["configById"]["Plot!intent"]["paths"] if "probabilities" in p["value"]]
    assert labels == list(GRASP_TYPES)


def test_session_view_read_back_with_rerun(session, tmp_path):
    """`view SESSION --save`: the .rrd read back with Rerun's own reader holds both EMG channels
    (every sample), the intent probabilities, the scene and every hand link, on the session's clock."""
    rr = pytest.importorskip("rerun")
    from rerun.chunk import RrdReader

    from semg_grasp_ros.cli import main
    from semg_grasp_ros.hand.kinematics import HandKinematics

    _, out, summary = session
    rrd = tmp_path / "view.rrd"
    assert main(["view", str(out), "--save", str(rrd)]) == 0
    rows, times = defaultdict(int), defaultdict(list)
    for chunk in RrdReader(rrd).stream():
        rows[chunk.entity_path] += chunk.num_rows
        if "time" in chunk.timeline_names:
            t = chunk.to_record_batch().column("time").cast("int64").to_numpy()
            times[chunk.entity_path].extend(t.tolist())
    n = summary["messages"]["/emg/chunks"] * 10  # 10 samples per 20 ms chunk at 500 Hz
    assert rows["/emg/ch1"] == rows["/emg/ch2"] == n
    assert rows["/intent/probability/cylindrical"] == summary["messages"]["/grasp/intent"]
    scene = "/world/camera_depth_optical_frame"
    for entity in ("cloud", "field/voxels", "candidates", "selected_grasp"):
        assert rows[f"{scene}/{entity}"] >= 1, entity
    fk = HandKinematics.load("free")
    paths = {p.rsplit("/", 1)[-1]: p for p in rows if p.startswith(f"{scene}/rh_palm")}
    assert set(paths) == set(fk.link_names)
    moving = [link for link, m in zip(fk.link_names, fk.moving_links) if m]
    for link in moving:  # the hand moves through every joint state
        assert len(times[paths[link]]) == summary["messages"]["/joint_states"], link
    every = np.concatenate([np.asarray(t) for t in times.values()])
    assert every.min() >= START_NS and every.max() <= START_NS + 9 * 10**9


def _link_transforms(rrd) -> dict[str, dict[int, np.ndarray]]:
    """Entity -> {time: (4, 4) transform} of the timed Transform3D rows of a recording."""
    from rerun.chunk import RrdReader
    from scipy.spatial.transform import Rotation

    out = defaultdict(dict)
    for chunk in RrdReader(rrd).stream():
        batch = chunk.to_record_batch()
        if "time" not in chunk.timeline_names or "Transform3D:translation" not in batch.schema.names:
            continue
        times = batch.column("time").cast("int64").to_numpy()
        trans = np.array([row[0] for row in batch.column("Transform3D:translation").to_pylist()])
        if "Transform3D:mat3x3" in batch.schema.names:  # column-major
            rot = np.array([row[0] for row in batch.column("Transform3D:mat3x3").to_pylist()]).reshape(-1, 3, 3)
            rot = rot.transpose(0, 2, 1)
        else:
            rot = Rotation.from_quat([row[0] for row in batch.column("Transform3D:quaternion").to_pylist()]).as_matrix()
        for t, p, r in zip(times, trans, rot):
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = r, p
            out[chunk.entity_path][int(t)] = m
    return out


def test_session_view_without_robot_state_tf_places_the_hand_by_the_kinematics(session, tmp_path):
    """A bag's hand links come from robot_state's TF; without it (an older bag) the view runs the
    project's kinematics on the joint states: both place every link the same at every time."""
    rr = pytest.importorskip("rerun")
    from semg_grasp_ros.pipeline.bag import read_bag
    from semg_grasp_ros.pipeline.view import VIEW_TOPICS, SessionView, view_bag
    from semg_grasp_ros.types import TfMessage

    _, out, summary = session
    with_tf, without_tf = tmp_path / "tf.rrd", tmp_path / "joints.rrd"
    rec = rr.RecordingStream("test_tf", recording_id="tf")
    rec.save(str(with_tf))
    view_bag(out / "session", rec)
    rec.flush()
    rec.disconnect()
    rec = rr.RecordingStream("test_joints", recording_id="joints")
    rec.save(str(without_tf))
    view = SessionView(rec)
    for topic, stamp, obj in read_bag(out / "session", VIEW_TOPICS):
        if not (topic == "tf" and isinstance(obj, TfMessage)):  # the wrist TF stays
            view.log(topic, obj, stamp)
    view.flush(final=True)
    rec.flush()
    rec.disconnect()
    a, b = _link_transforms(with_tf), _link_transforms(without_tf)
    links = [p for p in a if "/rh_palm/" in p]
    assert len(links) == 22 and sorted(links) == sorted(p for p in b if "/rh_palm/" in p)
    for path in links:
        assert len(a[path]) == len(b[path]) == summary["messages"]["/joint_states"], path
        for t, m in a[path].items():
            np.testing.assert_allclose(b[path][t], m, atol=2e-6, err_msg=path)


def _running_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


class _Chromium:
    """Headless Chromium (software WebGL) driven over the DevTools protocol on a pipe: commands
    on its fd 3, replies on its fd 4, each a JSON text ended by a NUL byte."""

    def __init__(self, browser: str, width: int = 1280, height: int = 720, reply_timeout_s: float = 120.0):
        import os
        import subprocess

        to_browser, self._to_w = os.pipe()
        self._from_r, from_browser = os.pipe()

        def on_fds_3_and_4():  # via fresh descriptors: a pipe end may itself be 3 or 4
            a, b = os.dup(to_browser), os.dup(from_browser)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--remote-debugging-pipe", "--use-angle=swiftshader",
             "--enable-unsafe-swiftshader", f"--window-size={width},{height}", "about:blank"],
            preexec_fn=on_fds_3_and_4, close_fds=False, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.reply_timeout_s, self._id, self._buf, self._session = reply_timeout_s, 0, b"", None
        page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def call(self, method: str, **params):
        import os
        import select

        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        os.write(self._to_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                if not select.select([self._from_r], [], [], self.reply_timeout_s)[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {self.reply_timeout_s} s")
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium exited (code {self.proc.poll()}) during {method}")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:  # events and other replies are not waited for
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self) -> np.ndarray:
        import base64
        import io

        from PIL import Image

        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)

    def close(self) -> None:
        import os
        import signal
        import subprocess

        try:
            self.call("Browser.close")
            self.proc.wait(timeout=60)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the renderer and GPU processes with it
        except ProcessLookupError:
            pass
        self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)


#: the page's state while it loads, as the web viewer exposes it: ``window._handle`` once the
#: app runs (its wasm compiled), and the Viewer Control API's state, which names the open recording
_PAGE_STATE = """(() => {
  const h = window._handle;
  if (!h) return "loading " + ((document.getElementById("status") || {}).textContent || "");
  if (h.has_panicked()) return "panicked: " + h.panic_message();
  return "started " + String.fromCharCode(...h.viewer_state());
})()"""


def _scene_pixels(img: np.ndarray) -> tuple[int, int]:
    """(field voxel pixels, cloud pixels) in the 3D panel (the layout's left three fifths below
    the top bar): the voxels' green (``VOXEL_RGBA``) and the near end of the cloud's depth
    colours (blue); neither is in the viewer's own interface."""
    panel = img[40:-40, : int(0.58 * img.shape[1])]
    r, g, b = panel[..., 0], panel[..., 1], panel[..., 2]
    voxels = (g > 150) & (r < 100) & (b < 130)
    cloud = (b > 170) & (r < 90) & (g > 60) & (g < 200)
    return int(voxels.sum()), int(cloud.sum())


def test_web_viewer_shows_the_scene_in_headless_chromium(session, tmp_path):
    """The web viewer, served on 127.0.0.1 by the viewer `view` starts, drawn by headless Chromium
    (software WebGL): the 3D scene panel shows the field's voxels and the camera's cloud. It waits
    on what the page exposes (the app started, the recording open), then for the panel to draw,
    up to a deadline that a loaded machine's wasm compile fits in. Skipped without Chromium."""
    import shutil
    import time

    pytest.importorskip("rerun")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium (Debian: apt-get install chromium)")

    from semg_grasp_ros.cli import main
    from semg_grasp_ros.pipeline.viewer import start_viewer, stop_viewer

    _, out, _ = session
    rrd = tmp_path / "view.rrd"
    assert main(["view", str(out), "--save", str(rrd)]) == 0
    recording = str((out / "session").resolve())  # `view` names the recording after its bag
    deadline = time.monotonic() + 420  # within the 600 s test timeout, with the session made first
    stage, pixels = "starting chromium", (0, 0)
    viewer, _, url = start_viewer(rrd, web=True)
    try:
        assert url.startswith("http://127.0.0.1:")
        chromium = _Chromium(browser)
        try:
            chromium.call("Page.navigate", url=url)
            while time.monotonic() < deadline:
                state = chromium.evaluate(_PAGE_STATE) or ""
                assert not state.startswith("panicked"), state
                stage = state[:60] if not state.startswith("started") else "waiting for the recording"
                if state.startswith("started") and recording in state:
                    stage = "the recording is open; waiting for the 3D panel to draw it"
                    pixels = _scene_pixels(chromium.screenshot())
                    if pixels[0] > 300 and pixels[1] > 300:
                        break
                time.sleep(2)
        finally:
            chromium.close()
    finally:
        stop_viewer(viewer)
    assert not _running_in_group(viewer.pid)  # nothing of the viewer is left running
    assert not _running_in_group(chromium.proc.pid)
    assert pixels[0] > 300 and pixels[1] > 300, (
        f"the 3D panel does not show the scene within 420 s ({stage}; voxel and cloud pixels {pixels})")
