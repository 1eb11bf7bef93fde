"""The one throttle of repeated warnings: per kind by message time, across kinds, by count."""

from semg_grasp_ros.throttle import Throttle, by_count


def test_each_kind_once_per_period_and_again_when_time_goes_back():
    t = Throttle(10)
    assert [t("a", s) for s in (0, 5, 9, 10, 12)] == [True, False, False, True, False]
    assert t("b", 12) and not t("b", 13)
    assert t("a", 3)  # a replay restarted: the stamp went back


def test_one_state_for_every_kind_logs_each_change_of_kind():
    t = Throttle(10, per_key=False)
    assert [t(k, s) for k, s in (("a", 0), ("a", 1), ("b", 2), ("a", 3), ("a", 4), ("a", 13))] == \
        [True, False, True, True, False, True]


def test_by_count_logs_the_first_three_then_every_hundredth():
    assert [n for n in range(1, 301) if by_count(n)] == [1, 2, 3, 100, 200, 300]
