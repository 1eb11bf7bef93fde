"""Node health as /diagnostics reports it: rates, drops, staleness, latency, non-finite
counts and a finished source, each with its documented level."""

from semg_grasp_ros.pipeline.diagnostics import ERROR, OK, WARN, NodeDiagnostics


def _node(start=0.0):
    return NodeDiagnostics("grasp_classifier", ["emg/chunks", "grasp/selected"], ["grasp/intent"], start)


def _stream(d, t0, t1, hz=50.0, topic="emg/chunks"):
    n = int(round((t1 - t0) * hz))
    for k in range(n):
        d.received(topic, t0 + (k + 1) / hz)
        d.handled(0.002)
        d.published("grasp/intent")
    return n


def test_rates_and_ok():
    d = _node()
    _stream(d, 0.0, 1.0)
    s = d.report(1.0)
    values = dict(s.values)
    assert (s.level, s.message) == (OK, "ok")
    assert values["emg/chunks rate (Hz)"] == "50.0" and values["grasp/intent rate (Hz)"] == "50.0"
    assert values["grasp/selected rate (Hz)"] == "0.0" and "grasp/selected age (s)" not in values  # an event
    assert values["latency p95 (ms)"] == "2.00"


def test_staleness_levels():
    d = _node()
    assert d.report(0.5).level == WARN and "waiting for emg/chunks" in d.report(0.6).message
    assert d.report(5.5).level == ERROR
    _stream(d, 5.5, 6.0)
    assert d.report(6.0).level == OK
    s = d.report(7.5)
    assert s.level == WARN and "emg/chunks silent for 1.5 s" in s.message
    assert d.report(11.5).level == ERROR


def test_drops_and_latency():
    d = _node()
    _stream(d, 0.0, 1.0)
    for _ in range(5):
        d.dropped("emg/chunks")
    s = d.report(1.0)
    assert s.level == WARN and "5 of 50 emg/chunks dropped" in s.message
    assert dict(s.values)["emg/chunks dropped"] == "5"
    _stream(d, 1.0, 1.2)
    for _ in range(6):
        d.dropped("emg/chunks")
    assert d.report(1.2).level == ERROR
    _stream(d, 1.2, 2.2)
    d.handled(0.3), d.handled(0.3), d.handled(0.3)
    assert d.report(2.2).level == WARN  # p95 above 100 ms
    _stream(d, 2.2, 3.2)
    d.handled(1.5)
    s = d.report(3.2)
    assert s.level == ERROR and "took 1.50 s" in s.message and dict(s.values)["emg/chunks dropped"] == "11"


def test_nonfinite_counts_and_finished_source():
    d = NodeDiagnostics("emg_acquisition", [], ["emg/chunks"], 0.0)
    assert d.report(1.0, {"chunks": 50, "nonfinite_samples": 0}).level == OK
    s = d.report(2.0, {"chunks": 100, "nonfinite_samples": 7})
    assert s.level == WARN and "7 nonfinite samples" in s.message and ("nonfinite_samples", "7") in s.values
    assert d.report(3.0, {"chunks": 150, "nonfinite_samples": 7}).level == OK
    assert "2 sample gaps" in d.report(3.5, {"chunks": 170, "nonfinite_samples": 7, "sample_gaps": 2}).message
    assert d.report(4.0, {"chunks": 150, "nonfinite_samples": 7}, finished=True).message == "source ended"
