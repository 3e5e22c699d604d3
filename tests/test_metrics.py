import numpy as np
import pytest

from supermasks.analysis import metrics

R = np.array([
    [0.9, 0.1, 0.2],
    [0.6, 0.8, 0.3],
    [0.7, 0.5, 0.95],
])
B = np.array([0.1, 0.2, 0.25])


def test_acc_bwt_fwt_by_hand():
    assert metrics.average_accuracy(R) == pytest.approx((0.7 + 0.5 + 0.95) / 3)
    assert metrics.backward_transfer(R) == pytest.approx(((0.7 - 0.9) + (0.5 - 0.8)) / 2)
    assert metrics.forward_transfer(R, B) == pytest.approx(((0.1 - 0.2) + (0.3 - 0.25)) / 2)


def test_forgetting_uses_the_max_not_the_first():
    # task 0: first 0.6 (R[0,0] is 0.9? no: make first < max) -> see matrix below
    r = np.array([
        [0.5, 0.0, 0.0],
        [0.9, 0.8, 0.0],
        [0.4, 0.6, 0.7],
    ])
    # max-based: task0 max(0.5, 0.9) - 0.4 = 0.5; task1 max(0.8) - 0.6 = 0.2 -> 0.35
    assert metrics.forgetting(r) == pytest.approx(0.35)
    # first-minus-last would give ((0.5 - 0.4) + (0.8 - 0.6)) / 2 = 0.15: a different number
    assert -metrics.backward_transfer(r) == pytest.approx(0.15)


def test_single_task_and_shape_errors():
    assert np.isnan(metrics.backward_transfer(np.array([[0.5]])))
    assert metrics.average_accuracy(np.array([[0.5]])) == 0.5
    with pytest.raises(ValueError, match="square"):
        metrics.average_accuracy(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one entry per task"):
        metrics.forward_transfer(R, np.zeros(2))


def test_summarize_names_every_metric():
    out = metrics.summarize(R, B)
    assert set(out) == {"ACC", "BWT", "FWT", "forgetting"}
    assert set(metrics.DEFINITIONS) == set(out)
