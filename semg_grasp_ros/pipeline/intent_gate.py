"""When a decided intent is acted on: the one rule of the generator, the hand controller and
the benchmark that scores the grasps the pipeline would make.

An intent counts only at a confidence of at least ``min_confidence``: lower ones neither start
nor end a type, rest included (a rejected decision, e.g. on a clipped sample, is published as
rest at confidence 0: no evidence that the user relaxed). A type is *new* when it differs from
the one intended before (the hand pre-shapes), and *committed* once it has been intended for
``commit`` (in the stamps' unit) since its first intent (the generator grasps it); a rest that
counts ends the type.
"""

from __future__ import annotations

from collections.abc import Hashable


class IntentGate:
    """The intended grasp type of a stream of intents (see the module docstring).

    Args:
        min_confidence: lowest confidence that counts, in [0, 1].
        commit: time a type must be intended before it is committed, in the stamps' unit
            (ns for message stamps, samples for decoder outputs); 0 = at once.
    """

    def __init__(self, min_confidence: float, commit: float = 0):
        self.min_confidence = min_confidence
        self.commit = commit
        self.reset()

    def reset(self) -> None:
        """No type intended (rest, or the intents stopped)."""
        self.type: Hashable | None = None
        self.since = 0  # stamp of the type's first intent
        self.latest = 0  # stamp of its latest intent

    def counts(self, confidence: float) -> bool:
        """Whether an intent at ``confidence`` counts (NaN never does)."""
        return confidence >= self.min_confidence

    def update(self, grasp_type: Hashable | None, confidence: float, stamp: float) -> bool:
        """Feed one intent (``grasp_type`` None = rest). Returns True when it names a new type."""
        if not self.counts(confidence):
            return False
        if grasp_type is None:
            self.reset()
            return False
        new = grasp_type != self.type
        if new:
            self.type, self.since = grasp_type, stamp
        self.latest = stamp
        return new

    @property
    def committed(self) -> bool:
        """Whether the intended type has been intended for ``commit``."""
        return self.type is not None and self.latest - self.since >= self.commit
