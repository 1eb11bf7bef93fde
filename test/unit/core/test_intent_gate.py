"""The one rule for acting on intents: confidence threshold, new type, commit time, rest."""

from semg_grasp_ros.pipeline.intent_gate import IntentGate


def test_new_types_commit_after_their_time_and_rest_ends_them():
    g = IntentGate(0.6, commit=10)
    assert g.update("hook", 0.9, 0) and not g.committed
    assert not g.update("hook", 0.5, 20) and not g.committed  # too unsure: counts neither way
    assert not g.update("hook", 0.7, 10) and g.committed
    assert g.update("tip", 0.8, 12) and not g.committed and g.since == 12
    assert not g.update(None, 1.0, 13) and g.type is None and not g.committed
    assert not g.update("tip", float("nan"), 14) and g.type is None
    # a rest below the confidence (a rejected decision) does not end the type: no new intent after it
    assert g.update("tip", 0.9, 15) and not g.update(None, 0.0, 16) and g.type == "tip" and g.since == 15
    assert not g.update("tip", 0.9, 17) and g.since == 15
