"""The classifier's decision layer as the hand sees it: a grasp starts after ``debounce`` votes,
its type follows the vote during ``correction_ms`` (an onset decided wrongly is corrected), a
held grasp drops to rest only after ``release_debounce`` votes and changes type only after
``switch_debounce`` votes; the intent stream reaching the hand controller starts one pre-shape
per grasp, not one per flicker."""

import numpy as np

from semg_grasp_ros.intent.spec import InputSpec
from semg_grasp_ros.pipeline.graph import Graph
from semg_grasp_ros.intent.decoder import DecoderConfig
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifier, GraspClassifierConfig
from semg_grasp_ros.pipeline.hand_controller import HandController, HandControllerConfig
from semg_grasp_ros.types import EmgChunk, Header

RATE = 500.0
SPEC = InputSpec(sample_rate=RATE, channel_names=("ch1", "ch2"), window_ms=100.0, stride_ms=20.0)  # 50 / 10 samples
NAMES = ("spherical", "cylindrical", "hook", "palmar", "tip", "lateral")
REST, CYL, TIP = -1, 1, 4


def _posteriors(labels):
    """One row per window: 0.9 on the scripted class; -1 = a low-confidence (flat) window."""
    out = []
    for label in labels:
        row = np.full(len(NAMES), 0.1 / (len(NAMES) - 1) if label >= 0 else 1.0 / len(NAMES))
        if label >= 0:
            row[label] = 0.9
        out.append(row)
    return out


def _run(scripted_model, window_labels, **cfg):
    """Feed one decision per 20 ms chunk; returns the published class per decision and the controller."""
    n = SPEC.window + 10 * (len(window_labels) - 1)
    data = 0.14 + np.random.default_rng(0).standard_normal((n, 2))
    config = GraspClassifierConfig(decoder=DecoderConfig(**{
        "stride_ms": 20.0, "vote_window": 3, "debounce": 1, "min_confidence": 0.3, "rest_rms": (1e-9,),
        "evidence_threshold": 0.0, "release_debounce": 5, **cfg}))
    graph = Graph()
    graph.add(GraspClassifier(config, model=scripted_model(SPEC, NAMES, _posteriors(window_labels))))
    hand = graph.add(HandController(HandControllerConfig(intent_timeout_s=0.0)))
    published = []
    graph.subscribe("grasp/intent", lambda i: published.append(i.class_index))
    chunks = [(0, data[:SPEC.window])] + [(SPEC.window + 10 * k, data[SPEC.window + 10 * k:SPEC.window + 10 * (k + 1)])
                                         for k in range(len(window_labels) - 1)]
    for first, block in chunks:
        stamp = int(first * 1e9 / RATE)
        graph.call_at(stamp, lambda b=block, f=first, s=stamp: graph.publish(
            "emg/chunks", EmgChunk(Header(s, "emg"), RATE, ("ch1", "ch2"), f, b)))
    graph.run(duration=(n + 10) / RATE)
    return published, hand


def test_fast_start_slow_switch_and_release(scripted_model):
    # rest, a cylinder grasp with a 3-window tip confusion and a 2-window dip, then rest
    labels = [REST] * 3 + [CYL] * 6 + [TIP] * 3 + [CYL] * 4 + [REST] * 2 + [CYL] * 4 + [REST] * 8
    published, hand = _run(scripted_model, labels, release_debounce=4, switch_debounce=6, correction_ms=0.0)
    # Worked by hand (vote of 3, ties to the most recent): the grasp starts at its second window;
    # the tip run wins the vote for 3 decisions, fewer than 6: no switch; the dip wins the vote
    # for 1 decision, fewer than 4: no release; the final rest wins the vote from its second
    # window and is published at the fourth vote for it.
    assert published == [REST] * 4 + [CYL] * 22 + [REST] * 4
    assert hand.preshapes == 1  # one grasp, one pre-shape


def test_an_onset_decided_wrongly_is_corrected_then_the_grasp_is_held(scripted_model):
    # the contraction's first windows look like a tip, then a cylinder; a tip confusion mid-grasp
    labels = [REST] * 3 + [TIP] * 2 + [CYL] * 20 + [TIP] * 3 + [CYL] * 4 + [REST] * 8
    published, hand = _run(scripted_model, labels, release_debounce=4, switch_debounce=6, correction_ms=200.0)
    # Worked by hand: tip is published at its second window (decision 4, the start); the
    # cylinder wins the vote at decision 6, 40 ms after the start, within correction_ms: it
    # takes over at once. The mid-grasp tip wins the vote 3 times, 440 ms after the start:
    # fewer than switch_debounce, held.
    assert published == [REST] * 4 + [TIP] * 2 + [CYL] * 30 + [REST] * 4
    assert hand.preshapes == 2  # the onset's tip pre-shape, corrected to the cylinder's
    # the same stream without correction keeps the wrong onset type until switch_debounce
    published, _ = _run(scripted_model, labels, release_debounce=4, switch_debounce=6, correction_ms=0.0)
    assert published[4:11] == [TIP] * 7 and published[11] == CYL


def test_without_hysteresis_every_flicker_reaches_the_hand(scripted_model):
    labels = [REST] * 3 + [CYL] * 6 + [TIP] * 3 + [CYL] * 4 + [REST] * 2 + [CYL] * 4 + [REST] * 8
    published, hand = _run(scripted_model, labels, release_debounce=0, switch_debounce=0)  # 0: as debounce (1)
    changes = sum(a != b for a, b in zip(published, published[1:]))
    assert changes == 6 and hand.preshapes == 4  # cyl, tip, cyl, (rest), cyl
