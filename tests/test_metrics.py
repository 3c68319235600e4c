"""Metric code against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upseg_qgis.core.accuracy.metrics import (
    ConfusionMatrix,
    confusion_matrix,
    jsonable,
    metrics_from_confusion,
    metrics_markdown,
)

# 10 pixels, the last one ignored. Rows = reference, columns = prediction:
#   ref 0 -> pred 0, 0, 1, 2   => [2, 1, 1]
#   ref 1 -> pred 1, 1, 0      => [1, 2, 0]
#   ref 2 -> pred 2, 1         => [0, 1, 1]
REF = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 255])
PRED = np.array([0, 0, 1, 2, 1, 1, 0, 2, 1, 0])
CM = np.array([[2, 1, 1], [1, 2, 0], [0, 1, 1]])


def test_confusion_matrix_by_hand() -> None:
    np.testing.assert_array_equal(confusion_matrix(REF, PRED, 3), CM)


def test_metrics_by_hand() -> None:
    m = metrics_from_confusion(CM, ["a", "b", "c"])
    # N = 9, TP = [2, 2, 1], reference totals R = [4, 3, 2], predicted totals P = [3, 4, 2].
    assert m["num_pixels"] == 9
    assert m["oa"] == pytest.approx(5 / 9)
    assert m["pa"] == pytest.approx([2 / 4, 2 / 3, 1 / 2])
    assert m["mpa"] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    assert m["precision"] == pytest.approx([2 / 3, 2 / 4, 1 / 2])
    # IoU = TP / (R + P - TP): 2/5, 2/5, 1/3.
    assert m["iou"] == pytest.approx([2 / 5, 2 / 5, 1 / 3])
    assert m["miou"] == pytest.approx(17 / 45)
    # FWIoU = 4/9 * 2/5 + 3/9 * 2/5 + 2/9 * 1/3 = 52/135.
    assert m["fwiou"] == pytest.approx(52 / 135)
    # p_o = 45/81, p_e = (4*3 + 3*4 + 2*2) / 81 = 28/81  =>  kappa = 17/53.
    assert m["kappa"] == pytest.approx(17 / 53)
    # F1 = 2 TP / (R + P): 4/7, 4/7, 1/2.
    assert m["f1"] == pytest.approx([4 / 7, 4 / 7, 1 / 2])
    assert m["mf1"] == pytest.approx((4 / 7 + 4 / 7 + 1 / 2) / 3)
    assert m["support"] == [4, 3, 2]
    assert m["class_names"] == ["a", "b", "c"]


def test_streaming_equals_one_shot() -> None:
    acc = ConfusionMatrix(3)
    acc.update(REF[:4], PRED[:4]).update(REF[4:], PRED[4:])
    np.testing.assert_array_equal(acc.matrix, CM)
    assert acc.compute()["miou"] == pytest.approx(17 / 45)
    other = ConfusionMatrix(3).update(REF, PRED)
    acc.merge(other)
    np.testing.assert_array_equal(acc.matrix, 2 * CM)
    acc.reset()
    assert acc.matrix.sum() == 0


def test_absent_classes_are_nan_aware() -> None:
    # Class 2 is predicted once but absent from the reference; class 3 appears nowhere.
    ref = np.array([[0, 0], [1, 1]])
    pred = np.array([[0, 2], [1, 1]])
    m = metrics_from_confusion(confusion_matrix(ref, pred, 4))
    assert m["pa"][:2] == pytest.approx([1 / 2, 1.0])
    assert math.isnan(m["pa"][2]) and math.isnan(m["pa"][3])
    assert m["iou"][2] == 0.0  # false positives only
    assert math.isnan(m["iou"][3])  # neither present nor predicted
    assert m["mpa"] == pytest.approx(0.75)  # mean over classes 0, 1 only
    assert m["miou"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["fwiou"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert jsonable(m)["iou"][3] is None
    assert "n/a" in metrics_markdown(m)


def test_degenerate_cases() -> None:
    empty = metrics_from_confusion(np.zeros((2, 2), np.int64))
    assert math.isnan(empty["oa"]) and math.isnan(empty["miou"]) and math.isnan(empty["kappa"])
    single = metrics_from_confusion(np.array([[5, 0], [0, 0]]))
    assert single["oa"] == 1.0 and math.isnan(single["kappa"])  # p_e = 1: undefined


def test_ignore_and_strictness() -> None:
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 7]), np.array([0, 1]), 2)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 1]), np.array([0, 9]), 2)
    cm = confusion_matrix(np.array([0, 7, 255]), np.array([0, 1, 1]), 2, strict=False)
    np.testing.assert_array_equal(cm, [[1, 0], [0, 0]])
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros(3), np.zeros(4), 2)
