"""Online decoder: streaming equals offline prediction, vote, debounce, rest, rejections."""

import logging
from dataclasses import replace

import numpy as np
import pytest

from semg_grasp_ros.emg.features import FeatureConfig
from semg_grasp_ros.emg.windows import window_ends
from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.intent.decoder import NO_GRASP, DecoderConfig, OnlineDecoder
from semg_grasp_ros.intent.lda import LdaConfig, LdaModel
from semg_grasp_ros.intent.level import LevelConfig
from semg_grasp_ros.intent.spec import InputSpec, filter_and_window

FS = 500.0
SPEC = InputSpec(sample_rate=FS, channel_names=("a", "b"), window_ms=100.0, stride_ms=20.0)  # 50 / 10 samples
NAMES = ("first", "second")
#: the bare decision layer these tests exercise (every vote change published at once; the onset
#: decoder where a test sets an evidence_threshold), not the node's tuned onset decoder
BARE = DecoderConfig(release_debounce=0, switch_debounce=0, correction_ms=0.0, rest_factor=1.5, rest_percentile=50.0,
                     evidence_threshold=0.0, evidence_weight=0.0, release_factor=0.0, release_window_ms=0.0)
QUIET = replace(BARE, stride_ms=20.0, vote_window=1, debounce=1, min_confidence=0.0, rest_rms=(1e-9, 1e-9))


def _segment(label, n, rng, level=1.0):
    """Noise with channel a loud for class 0, channel b loud for class 1, both quiet for rest."""
    gains = {0: (1.0, 0.1), 1: (0.1, 1.0), -1: (0.01, 0.01)}[label]
    return 0.14 + level * rng.standard_normal((n, 2)) * np.array(gains)


@pytest.fixture(scope="module")
def lda():
    rng = np.random.default_rng(0)
    trials = np.stack([_segment(k, 600, rng) for k in (0, 1) for _ in range(6)])
    w = filter_and_window(trials, SPEC)
    labels = np.repeat([0, 1], 6 * w.shape[1])
    model = LdaModel(SPEC, NAMES, LdaConfig(features=FeatureConfig(names=("log_rms", "log_rms_ratio"))))
    return model.fit(w.reshape(-1, *w.shape[2:]), labels)


def _feed(decoder, x, rng, first=0, max_chunk=37):
    out, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(1, max_chunk))
        out += decoder.process(x[pos : pos + n], first + pos)
        pos += n
    return out


def test_streaming_equals_offline_prediction(lda):
    rng = np.random.default_rng(1)
    x = np.concatenate([_segment(0, 400, rng), _segment(1, 400, rng)])
    decisions = _feed(OnlineDecoder(lda, QUIET), x, rng)
    ends = window_ends(len(x), SPEC.window, 10)
    assert [d.end_index for d in decisions] == ends.tolist()
    offline = lda.predict_proba(filter_and_window(x[None], SPEC, stride=10)[0])
    np.testing.assert_allclose(np.array([d.probabilities for d in decisions]), offline, rtol=1e-7, atol=1e-10)
    labels = np.array([d.class_index for d in decisions])
    assert np.mean(labels[ends < 400] == 0) > 0.9 and np.mean(labels[ends >= 450] == 1) > 0.9


def test_windows_end_on_the_last_samples_of_stride_blocks(lda):
    """Decisions fall on absolute indices k * stride - 1 whatever the stream's first index, so
    chunks of a multiple of the stride each complete a window (no wait for the next chunk)."""
    rng = np.random.default_rng(4)
    x = _segment(0, 300, rng)
    spec = InputSpec(sample_rate=FS, channel_names=("a", "b"), window_ms=150.0, stride_ms=20.0)  # 75 / 10 samples
    model = LdaModel(spec, NAMES, LdaConfig(features=FeatureConfig(names=("log_rms",))))
    w = filter_and_window(np.stack([_segment(k, 300, rng) for k in (0, 1)]), spec)
    model.fit(w.reshape(-1, *w.shape[2:]), np.repeat([0, 1], w.shape[1]))
    for first in (0, 1234, 7):
        ends = [d.end_index for d in _feed(OnlineDecoder(model, QUIET), x, rng, first=first)]
        assert ends[0] >= first + 74 and ends[0] - 10 < first + 74
        assert all((e + 1) % 10 == 0 for e in ends) and np.all(np.diff(ends) == 10)


def test_rest_calibration_stays_within_calibration_s_and_ignores_a_brief_movement(lda):
    """The level comes from the first calibration_s only (a grasp right after it does not
    count), as the median of window RMS values (a short burst inside does not raise it)."""
    rng = np.random.default_rng(8)
    burst = _segment(-1, 1000, rng)
    burst[400:440] = _segment(0, 40, rng)  # 80 ms movement inside the 2 s of rest
    for rest in (_segment(-1, 1000, rng), burst):
        dec = OnlineDecoder(lda, replace(BARE, stride_ms=20.0, calibration_s=2.0))
        _feed(dec, np.concatenate([rest, _segment(0, 300, rng, level=3.0)]), rng)
        assert dec.rest_rms == pytest.approx([0.01, 0.01], rel=0.15)


def test_deterministic(lda):
    x = np.concatenate([_segment(k, 300, np.random.default_rng(k + 1)) for k in (0, 1, -1)])
    a = _feed(OnlineDecoder(lda, replace(BARE, stride_ms=20.0)), x, np.random.default_rng(5))
    b = _feed(OnlineDecoder(lda, replace(BARE, stride_ms=20.0)), x, np.random.default_rng(6))
    assert [(d.end_index, d.class_index, d.confidence, d.reason) for d in a] == \
        [(d.end_index, d.class_index, d.confidence, d.reason) for d in b]


def _onehot(labels, p=0.9):
    out = []
    for lab in labels:
        row = np.full(3, (1 - p) / 2)
        row[lab] = p
        out.append(row)
    return out


def test_majority_vote_and_debounce(scripted_model):
    window_labels = [0, 0, 0, 1, 0, 1, 1, 1, 1, 1]
    model = scripted_model(SPEC, ("p", "q", "r"), _onehot(window_labels))
    cfg = replace(BARE, stride_ms=20.0, vote_window=3, debounce=2, min_confidence=0.5, rest_rms=(1e-9, 1e-9))
    x = _segment(0, SPEC.window + 10 * (len(window_labels) - 1), np.random.default_rng(0))
    decisions = OnlineDecoder(model, cfg).process(x, 0)
    assert [d.window_label for d in decisions] == window_labels
    # Worked by hand: the vote needs two agreeing decisions to switch; the lone 1 is outvoted.
    assert [d.class_index for d in decisions] == [-1, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert decisions[-1].confidence == pytest.approx(0.9)


def test_vote_tie_goes_to_most_recent_and_low_confidence_is_rejected(scripted_model):
    probs = _onehot([0, 1]) + [np.array([0.4, 0.35, 0.25])]
    cfg = replace(BARE, stride_ms=20.0, vote_window=2, debounce=1, min_confidence=0.5, rest_rms=(1e-9, 1e-9))
    x = _segment(0, SPEC.window + 20, np.random.default_rng(0))
    d = OnlineDecoder(scripted_model(SPEC, ("p", "q", "r"), probs), cfg).process(x, 0)
    # Votes [0] -> 0; [0, 1] tie -> the most recent, 1; [1, no grasp] tie -> no grasp.
    assert [e.class_index for e in d[:2]] == [0, 1]
    assert d[2].reason == "low confidence" and d[2].window_label == NO_GRASP
    assert d[2].class_index == NO_GRASP and d[2].confidence == pytest.approx(0.6)


def test_rest_from_calibration_segment(lda):
    rng = np.random.default_rng(2)
    dec = OnlineDecoder(lda, replace(BARE, stride_ms=20.0, vote_window=1, debounce=1, rest_factor=3.0))
    rms = dec.calibrate(_segment(-1, 1000, rng))
    assert rms == pytest.approx([0.01, 0.01], rel=0.15)
    out = dec.process(np.concatenate([_segment(-1, 300, rng), _segment(1, 300, rng)]), 0)
    ends = np.array([d.end_index for d in out])
    reasons = np.array([d.reason for d in out])
    assert set(reasons[ends < 300]) == {"rest"}
    assert np.all(np.array([d.class_index for d in out])[ends < 300] == NO_GRASP)
    assert np.mean(reasons[ends >= 360] == "grasp") == 1.0


def test_rest_calibrated_from_stream_start(lda):
    rng = np.random.default_rng(3)
    dec = OnlineDecoder(lda, replace(BARE, stride_ms=20.0, vote_window=1, debounce=1, calibration_s=1.0))
    out = _feed(dec, np.concatenate([_segment(-1, 700, rng), _segment(-1, 200, rng), _segment(0, 400, rng)]), rng)
    reasons = [d.reason for d in out]
    assert reasons[0] == "calibrating"
    assert dec.rest_rms is not None and dec.rest_rms == pytest.approx([0.01, 0.01], rel=0.2)
    ends = np.array([d.end_index for d in out])
    assert {r for r, e in zip(reasons, ends) if 600 < e < 900} == {"rest"}
    assert np.mean([d.class_index == 0 for d, e in zip(out, ends) if e > 1000]) > 0.9


def _first_grasp_decoder(lda):
    dec = OnlineDecoder(lda, replace(BARE, stride_ms=20.0, vote_window=1, debounce=1, rest_rms=(1e-9, 1e-9)))
    rng = np.random.default_rng(4)
    out = dec.process(_segment(0, 200, rng), 0)
    assert out[-1].class_index == 0
    return dec, rng


def test_nonfinite_samples_reject_and_reset(lda, caplog):
    dec, rng = _first_grasp_decoder(lda)
    bad = _segment(0, 20, rng)
    bad[3, 1] = np.nan
    with caplog.at_level(logging.WARNING, logger="semg_grasp_ros.intent.decoder"):
        out = dec.process(bad, 200)
    assert len(out) == 1 and out[0].rejected and out[0].reason == "non-finite samples"
    assert out[0].class_index == NO_GRASP and out[0].confidence == 0.0 and out[0].end_index == 219
    assert "non-finite" in caplog.text
    # The stream restarts: a full window is needed before the next decision.
    assert dec.process(_segment(0, SPEC.window - 1, rng), 220) == []
    nxt = dec.process(_segment(0, 1, rng), 220 + SPEC.window - 1)
    assert len(nxt) == 1 and nxt[0].end_index == 220 + SPEC.window - 1


def test_gap_resets_buffer(lda):
    dec, rng = _first_grasp_decoder(lda)
    assert dec.process(_segment(0, 40, rng), 500) == []  # jump from 200 to 500: new window needed
    out = dec.process(_segment(0, 10, rng), 540)
    assert [d.end_index for d in out] == [549]


def test_flat_and_clipped_channels(lda):
    dec, rng = _first_grasp_decoder(lda)
    flat = _segment(0, 60, rng)
    flat[:, 1] = 0.14
    out = dec.process(flat, 200)
    assert out and all(d.reason == "flat channel b" for d in out[-2:]) and out[-1].class_index == NO_GRASP
    dec, rng = _first_grasp_decoder(lda)
    clipped = np.clip(_segment(0, 60, rng), -0.3, 0.5)
    out = dec.process(clipped, 200)
    assert out[-1].reason.startswith("clipped channel a")
    dec = OnlineDecoder(lda, replace(BARE, stride_ms=20.0, rest_rms=(1e-9, 1e-9), saturation_level=2.0))
    x = _segment(0, 200, rng)
    x[150, 0] = 2.5
    assert dec.process(x, 0)[-1].reason.startswith("saturated channel a")


def test_wrong_rate_or_channels_rejected(lda):
    dec, rng = _first_grasp_decoder(lda)
    out = dec.process(np.zeros((10, 3)), 200)
    assert out[0].rejected and "3 channels" in out[0].reason
    out = dec.process(_segment(0, 10, rng), 210, sample_rate=1000.0)
    assert out[0].rejected and "1000.0 Hz" in out[0].reason


def test_config_errors(lda):
    with pytest.raises(ConfigError):
        replace(BARE, vote_window=0)
    with pytest.raises(ConfigError):
        replace(BARE, min_confidence=1.5)
    with pytest.raises(ConfigError):
        replace(BARE, rest_rms=(), calibration_s=0.0)
    with pytest.raises(ConfigError):
        OnlineDecoder(lda, replace(BARE, rest_rms=(0.1, 0.1, 0.1)))
    with pytest.raises(ConfigError):
        OnlineDecoder(LdaModel(SPEC, NAMES), BARE)


def test_longest_run():
    from semg_grasp_ros.intent.signal_checks import longest_run

    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)) == 3
    assert longest_run(np.zeros(5, bool)) == 0 and longest_run(np.ones(4, bool)) == 4


def test_real_recordings_pass_the_signal_checks(sapsanis_dir):
    """Quantised Sapsanis sEMG must not look flat or clipped (no false rejections)."""
    from semg_grasp_ros.emg.datasets import load_sapsanis

    t = load_sapsanis(sapsanis_dir / "male_1.mat")  # the coarsest-quantised subject
    spec = InputSpec(sample_rate=FS, channel_names=t.channel_names, window_ms=250.0, stride_ms=50.0)
    model = LdaModel(spec, t.class_names, LdaConfig(features=FeatureConfig(names=("log_rms",))))
    w = filter_and_window(t.data[::6], spec)
    model.fit(w.reshape(-1, *w.shape[2:]), np.repeat(t.labels[::6], w.shape[1]))
    dec = OnlineDecoder(model, replace(BARE, rest_rms=(1e-9, 1e-9)))
    decisions = dec.process(np.concatenate(list(t.data[::3])), 0)
    assert len(decisions) > 1000 and not any(d.rejected for d in decisions)


def _probs(rows, p=0.6):
    """One posterior row per window: ``p`` on the scripted class of 3, the rest shared."""
    out = []
    for lab in rows:
        row = np.full(3, (1 - p) / 2)
        row[lab] = p
        out.append(row)
    return out


def test_onset_decoder_waits_for_evidence_holds_the_type_and_releases(scripted_model):
    # quiet windows, then a contraction whose first windows look like class 1, then class 0,
    # with a later class-2 run; then quiet again (rest is decided from the energy, not the model)
    rng = np.random.default_rng(0)
    active = [1, 1, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0]
    n_quiet, n_rest = 3, 30
    x = np.concatenate([_segment(-1, SPEC.window + 10 * (n_quiet - 1), rng),
                        _segment(0, 10 * len(active), rng), _segment(-1, 10 * n_rest, rng)])
    cfg = replace(BARE, stride_ms=20.0, rest_rms=(0.01, 0.01), rest_factor=3.0, evidence_threshold=0.9,
                        evidence_weight=1.0, onset_windows=1, release_debounce=3)
    model = scripted_model(SPEC, ("p", "q", "r"), _probs(active + [0] * 20))
    d = OnlineDecoder(model, cfg).process(x, 0)
    published, reasons = [e.class_index for e in d], [e.reason for e in d]
    assert published[:n_quiet] == [NO_GRASP] * n_quiet and reasons[:n_quiet] == ["rest"] * n_quiet
    # Worked by hand, in units of log 3 (p = 0.6 vs 0.2, weight 1): after q, q the posterior of q is
    # 9 / 11 < 0.9: undecided; p then gains one unit per window; at the fifth p it leads 5 : 2 : 0,
    # 243 / 253 = 0.96 >= 0.9: p is published at the seventh active window.
    first = n_quiet + 6
    assert reasons[n_quiet:first] == ["undecided"] * 6 and published[n_quiet:first] == [NO_GRASP] * 6
    assert published[first] == 0 and d[first].confidence == pytest.approx(243 / 253)
    # held as p through the class-2 run and while windows still overlap the contraction (and the
    # filter, its 50 Hz notch above all, rings down), released after 3 quiet windows
    release = published.index(NO_GRASP, first)
    assert release >= n_quiet + len(active) + 4 + 3 and release < len(d) - 1
    assert set(published[first:release]) == {0} and set(published[release:]) == {NO_GRASP}
    assert reasons[release - 2:release] == ["rest", "rest"] and published[release - 1] == 0


def test_level_follows_the_contraction_and_is_steady(lda):
    rng = np.random.default_rng(1)
    cfg = replace(QUIET, rest_rms=(0.01, 0.01), level=LevelConfig(max_rms=(1.0, 0.1), deadband=0.0))
    x = np.concatenate([_segment(-1, 500, rng), _segment(0, 1500, rng, level=0.5), _segment(0, 1500, rng)])
    d = OnlineDecoder(lda, cfg).process(x, 0)
    ends = np.array([e.end_index for e in d])
    level = np.array([e.level for e in d])
    quiet, half, full = level[ends < 450], level[(ends > 1200) & (ends < 2000)], level[ends > 2700]
    assert quiet.max() < 0.05
    assert half.mean() == pytest.approx(0.5, abs=0.08) and full.mean() == pytest.approx(1.0, abs=0.08)
    assert half.std() < 0.03 and np.all((level >= 0) & (level <= 1))
    with pytest.raises(ConfigError):
        LevelConfig(deadband=1.0)
    with pytest.raises(ConfigError):
        OnlineDecoder(lda, replace(QUIET, level=LevelConfig(max_rms=(1.0, 1.0, 1.0))))


def test_onset_decoder_releases_on_the_newest_samples(scripted_model):
    """With ``release_window_ms`` the quiet test looks at the newest samples of each window: the
    hand opens about a window earlier than when the whole window must be quiet."""
    rng = np.random.default_rng(2)
    n_active = 12
    x = np.concatenate([_segment(-1, SPEC.window + 20, rng), _segment(0, 10 * n_active, rng, level=0.1),
                        _segment(-1, 300, rng)])
    end = SPEC.window + 20 + 10 * n_active  # first quiet sample
    releases = {}
    for release_ms in (0.0, 20.0):
        cfg = replace(BARE, stride_ms=20.0, rest_rms=(0.01, 0.01), rest_factor=3.0, evidence_threshold=0.9,
                            evidence_weight=1.0, onset_windows=1, release_debounce=2, release_window_ms=release_ms)
        d = OnlineDecoder(scripted_model(SPEC, ("p", "q", "r"), _probs([0] * 40)), cfg).process(x, 0)
        published = [e.class_index for e in d]
        assert 0 in published
        held = max(i for i, c in enumerate(published) if c == 0)
        releases[release_ms] = d[held + 1].end_index - end  # samples from the contraction's end to the release
    # whole window: quiet once the window (50 samples) has left the contraction, then 2 windows;
    # newest 20 ms: once those 10 samples have, then 2 windows
    assert releases[0.0] >= SPEC.window and releases[20.0] <= 10 + 2 * 10 + 10
    assert releases[20.0] <= releases[0.0] - 30
    with pytest.raises(ConfigError):
        replace(BARE, release_window_ms=-1.0)


def test_onset_decoder_keeps_an_undecided_contraction_through_a_dip(scripted_model):
    """The quick release opens a decided grasp; an undecided contraction (the hand open already)
    ends only on whole quiet windows, so a short dip does not throw its evidence away."""
    rng = np.random.default_rng(3)
    x = np.concatenate([_segment(-1, SPEC.window + 20, rng), _segment(0, 40, rng, level=0.1),
                        _segment(-1, 30, rng), _segment(0, 200, rng, level=0.1), _segment(-1, 200, rng)])
    cfg = replace(BARE, stride_ms=20.0, rest_rms=(0.01, 0.01), rest_factor=3.0, evidence_threshold=0.9,
                        evidence_weight=0.5, onset_windows=1, release_debounce=2, release_window_ms=20.0)
    d = OnlineDecoder(scripted_model(SPEC, ("p", "q", "r"), _probs([0] * 60)), cfg).process(x, 0)
    reasons = [e.reason for e in d]
    start = reasons.index("undecided")
    first = [e.class_index for e in d].index(0)
    assert "rest" not in reasons[start:first]
    # six windows of p (weight 0.5: 27 : 1 : 1 -> 0.93) decide it
    assert first - start == 5


def test_onset_decoder_evidence_ramp_discounts_the_rise(scripted_model):
    """A contraction whose first windows look like another grasp: summed alike they decide it
    (q, q, q: 27 : 1 : 1 -> 0.93 in units of log 3); weighed 0.2, 0.4, 0.6 by a 100 ms ramp they
    leave it undecided until p takes the lead."""
    rng = np.random.default_rng(4)
    x = np.concatenate([_segment(-1, SPEC.window + 20, rng), _segment(0, 300, rng, level=0.1)])
    first = {}
    for ramp in (0.0, 100.0):
        cfg = replace(BARE, stride_ms=20.0, rest_rms=(0.01, 0.01), rest_factor=3.0, evidence_threshold=0.9,
                            evidence_weight=1.0, onset_windows=1, release_debounce=3, evidence_ramp_ms=ramp)
        d = OnlineDecoder(scripted_model(SPEC, ("p", "q", "r"), _probs([1, 1, 1] + [0] * 40)), cfg).process(x, 0)
        first[ramp] = next(e.class_index for e in d if e.class_index != NO_GRASP)
    assert first == {0.0: 1, 100.0: 0}


def test_per_channel_settings_one_value_for_all_channels_or_none():
    """``rest_rms`` / ``level.max_rms``: all 0 = not given (a ROS parameter cannot be an empty list),
    one value = every channel, else one per channel."""
    assert DecoderConfig().rest_rms == () and DecoderConfig().level.max_rms == ()
    cfg = DecoderConfig(rest_rms=(0.2,), level=LevelConfig(max_rms=(1.0, 2.0))).for_channels(2)
    assert cfg.rest_rms == (0.2, 0.2) and cfg.level.max_rms == (1.0, 2.0)
    assert DecoderConfig().for_channels(2) == DecoderConfig()
    with pytest.raises(ConfigError, match="rest_rms needs 1 or 3 values, got 2"):
        DecoderConfig(rest_rms=(0.1, 0.2)).for_channels(3)
    with pytest.raises(ConfigError):
        DecoderConfig(rest_rms=(0.1, 0.0))
