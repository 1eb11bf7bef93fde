"""Metrics against scikit-learn (an independent implementation)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from semg_grasp_ros.errors import DataError
from semg_grasp_ros.intent.metrics import confusion_matrix, format_confusion, scores


@pytest.mark.parametrize("seed", [0, 1])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 6, 300))
    p[p == 5] = 4  # class 5 never predicted: precision 0 by convention
    conf = confusion_matrix(y, p, 6)
    np.testing.assert_array_equal(conf, skm.confusion_matrix(y, p, labels=range(6)))
    s = scores(conf)
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert s["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
    assert s["macro_precision"] == pytest.approx(skm.precision_score(y, p, average="macro", zero_division=0))
    assert s["macro_recall"] == pytest.approx(skm.recall_score(y, p, average="macro", zero_division=0))
    assert s["n"] == 300


def test_perfect_and_errors():
    s = scores(confusion_matrix([0, 1, 2], [0, 1, 2], 3))
    assert s["accuracy"] == 1.0 and s["macro_f1"] == 1.0
    with pytest.raises(DataError):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(DataError):
        confusion_matrix([0, 1], [0], 3)
    table = format_confusion([[2, 0], [1, 3]], ["hook", "tip"])
    assert table.splitlines()[2].split() == ["tip", "1", "3"]
