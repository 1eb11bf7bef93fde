"""Classification metrics: accuracy, macro precision / recall / F1, confusion matrix."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows = true class, columns = predicted."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise DataError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise DataError(f"labels outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def scores(confusion: np.ndarray) -> dict:
    """Accuracy and macro-averaged precision, recall and F1 of a confusion matrix.

    A class never predicted has precision 0 (and F1 0), as scikit-learn's
    ``zero_division=0``; classes absent from ``y_true`` are left out of the macro means.
    """
    c = np.asarray(confusion, dtype=np.float64)
    total = c.sum()
    tp = np.diag(c)
    support = c.sum(axis=1)
    predicted = c.sum(axis=0)
    present = support > 0
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    keep = present if present.any() else np.ones_like(present)
    return {
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "macro_precision": float(precision[keep].mean()),
        "macro_recall": float(recall[keep].mean()),
        "macro_f1": float(f1[keep].mean()),
        "n": int(total),
    }


def format_confusion(confusion: np.ndarray, class_names) -> str:
    """A plain-text table of the confusion matrix (rows true, columns predicted)."""
    names = [str(n)[:11] for n in class_names]
    width = max(8, *(len(n) for n in names)) + 1
    lines = ["true \\ pred".ljust(width) + "".join(n.rjust(width) for n in names)]
    for name, row in zip(names, np.asarray(confusion)):
        lines.append(name.ljust(width) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)
