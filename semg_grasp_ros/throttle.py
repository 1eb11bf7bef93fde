"""Which of a stream of repeated warnings to log, so bad input never floods the log.

``Throttle``: by message time (ns, samples: any increasing stamp), the first warning of each
kind, then at most one per ``period``. ``by_count``: the first three of a counter, then every
hundredth. Components, the decoder and the in-process graph all throttle with these.
"""

from __future__ import annotations

from collections.abc import Hashable


class Throttle:
    """Log the first warning of a kind, then at most one per ``period`` of stamps.

    Args:
        period: stamps between two logged warnings of one kind (same unit as the stamps).
        per_key: True: each key is throttled on its own; False: one state for every key, and a
            warning of another kind than the last logged one is always logged.
    """

    def __init__(self, period: float, per_key: bool = True):
        self.period = period
        self.per_key = per_key
        self._last: dict[Hashable, tuple[Hashable, float]] = {}  # slot -> (key, stamp) last logged

    def __call__(self, key: Hashable, stamp: float) -> bool:
        """Whether to log the warning ``key`` at ``stamp`` (a stamp going back, as when a replay
        restarts, logs again)."""
        slot = key if self.per_key else None
        last = self._last.get(slot)
        if last is None or last[0] != key or stamp - last[1] >= self.period or stamp < last[1]:
            self._last[slot] = (key, stamp)
            return True
        return False


def by_count(n: int) -> bool:
    """Whether to log the ``n``-th occurrence (1-based) of a counted problem: the first three,
    then every hundredth."""
    return n <= 3 or n % 100 == 0
