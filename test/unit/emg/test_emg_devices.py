"""Live devices: an LSL outlet on loopback read back through the source, BrainFlow's
synthetic board, and the error when the optional libraries are missing."""

import sys
import time
import uuid

import numpy as np
import pytest

from semg_grasp_ros.errors import DeviceError


def _read_until(src, n, timeout=5.0):
    parts, got, t0 = [], 0, time.monotonic()
    while got < n and time.monotonic() - t0 < timeout:
        x = src.read(1000)
        parts.append(x)
        got += len(x)
        if not len(x):
            time.sleep(0.005)
    return np.concatenate(parts) if parts else np.zeros((0, src.n_channels))


def test_lsl_source_reads_a_loopback_outlet():
    pylsl = pytest.importorskip("pylsl")
    from semg_grasp_ros.emg.devices import LslSource

    name = f"semg_test_{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "EMG", 2, 500.0, "float32", name)
    chans = info.desc().append_child("channels")
    for label in ("flexor", "extensor"):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
    outlet = pylsl.StreamOutlet(info)
    src = LslSource(name=name, timeout=5.0)
    try:
        assert src.live and src.sample_rate == 500.0
        assert src.channel_names == ("flexor", "extensor") and src.units == "V"
        assert src.read(100).shape == (0, 2)  # nothing pushed yet: returns at once, empty
        sent = np.random.default_rng(0).normal(scale=50.0, size=(300, 2)).astype(np.float32)
        for block in np.split(sent, 3):
            outlet.push_chunk(block.tolist())
        got = _read_until(src, 300)
        np.testing.assert_allclose(got, sent * 1e-6, rtol=1e-6)  # microvolts -> volts
        del outlet  # the outlet goes away: the source ends
        t0 = time.monotonic()
        while not src.ended and time.monotonic() - t0 < 10:
            src.read(10)
            time.sleep(0.05)
        assert src.ended
    finally:
        src.close()


def test_lsl_source_reports_a_missing_stream():
    pytest.importorskip("pylsl")
    from semg_grasp_ros.emg.devices import LslSource

    with pytest.raises(DeviceError, match="no LSL stream with name 'no_such_stream_here'"):
        LslSource(name="no_such_stream_here", timeout=0.3)


def test_brainflow_synthetic_board():
    pytest.importorskip("brainflow")
    from semg_grasp_ros.emg.devices import BrainFlowSource

    try:
        src = BrainFlowSource(board_id=-1, channels=[0, 3])
    except DeviceError as exc:
        pytest.skip(f"BrainFlow synthetic board unavailable here: {exc}")
    try:
        assert src.live and src.sample_rate == 250.0 and src.channel_names == ("emg1", "emg2")
        x = _read_until(src, 50)
        assert x.shape[1] == 2 and len(x) >= 50 and np.isfinite(x).all()
        assert np.abs(x).max() < 1.0  # microvolts scaled to volts
    finally:
        src.close()
    assert src.ended and src.read(10).shape == (0, 2)
    with pytest.raises(DeviceError, match="out of range"):
        BrainFlowSource(board_id=-1, channels=[99])


@pytest.mark.parametrize("module, cls", [("pylsl", "LslSource"), ("brainflow", "BrainFlowSource")])
def test_missing_library_names_the_extra(monkeypatch, module, cls):
    from semg_grasp_ros.emg import devices

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "brainflow.board_shim", None)
    with pytest.raises(DeviceError, match=r"pip install semg_grasp_ros\[devices\]"):
        getattr(devices, cls)()
