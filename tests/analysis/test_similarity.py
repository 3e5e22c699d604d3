"""E1/E2 similarity matrices and alpha rules on hand-made signatures, values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from supermasks.analysis.similarity import (
    abs_cosine,
    determine_alphas,
    determine_alphas_per_layer,
    determine_alphas_seed,
    determine_alphas_seed_per_layer,
    e1_matrix,
    e2_matrices,
    soft_alphas,
    soft_alphas_per_layer,
    softmax_alphas,
)

# Task 1 has no signature (the seed study skips such tasks). Cosines by hand:
# bn1: t0=(1,0) t2=(0,2) t3=(3,4) t4=(-1,0)  -> |cos|(0,2)=0, (0,3)=3/5, (2,3)=8/10, (0,4)=1, (2,4)=0, (3,4)=3/5
# bn2: t0=(1,0,0) t2=(1,1,0) t3=(0,0,-1) t4=(0,0,2) -> (0,2)=1/sqrt2, (3,4)=1, every other pair 0
SIGNATURES = [
    {"bn1": torch.tensor([1.0, 0.0]), "bn2": torch.tensor([1.0, 0.0, 0.0])},
    None,
    {"bn1": torch.tensor([0.0, 2.0]), "bn2": torch.tensor([1.0, 1.0, 0.0])},
    {"bn1": np.array([3.0, 4.0]), "bn2": np.array([0.0, 0.0, -1.0])},  # numpy works too
    {"bn1": torch.tensor([-1.0, 0.0]), "bn2": torch.tensor([0.0, 0.0, 2.0])},
]
E1 = np.array([
    [1.0, 0, 0.0, 0.6, 1.0],
    [0.0, 0, 0.0, 0.0, 0.0],
    [0.0, 0, 1.0, 0.8, 0.0],
    [0.6, 0, 0.8, 1.0, 0.6],
    [1.0, 0, 0.0, 0.6, 1.0],
])
R = 1 / math.sqrt(2)
E2_BN2 = np.array([
    [1.0, 0, R, 0.0, 0.0],
    [0.0, 0, 0, 0.0, 0.0],
    [R, 0, 1.0, 0.0, 0.0],
    [0.0, 0, 0, 1.0, 1.0],
    [0.0, 0, 0, 1.0, 1.0],
])


def test_abs_cosine_ignores_sign_and_zero_vectors():
    assert abs_cosine(torch.tensor([1.0, 1.0]), torch.tensor([-2.0, -2.0])) == pytest.approx(1.0)
    assert abs_cosine(np.zeros(3), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match="different sizes"):
        abs_cosine(np.ones(2), np.ones(3))


def test_e1_uses_the_first_bn_layer_and_skips_tasks_without_signature():
    np.testing.assert_allclose(e1_matrix(SIGNATURES), E1, atol=1e-12)
    np.testing.assert_allclose(e1_matrix(SIGNATURES, layer="bn2"), E2_BN2, atol=1e-12)
    assert e1_matrix([None, None]).shape == (2, 2) and not e1_matrix([None, None]).any()


def test_e2_gives_one_matrix_per_layer():
    matrices = e2_matrices(SIGNATURES)
    assert list(matrices) == ["bn1", "bn2"]
    np.testing.assert_allclose(matrices["bn1"], E1, atol=1e-12)
    np.testing.assert_allclose(matrices["bn2"], E2_BN2, atol=1e-12)


def test_a_task_missing_one_layer_is_skipped_in_that_layer_only():
    signatures = [{"bn1": torch.ones(2), "bn2": torch.ones(2)}, {"bn1": torch.ones(2)}]
    matrices = e2_matrices(signatures)
    np.testing.assert_allclose(matrices["bn1"], np.ones((2, 2)))
    np.testing.assert_allclose(matrices["bn2"], [[1, 0], [0, 0]])


def test_seed_rule_picks_the_task_itself_ours_the_most_similar_earlier_task():
    # Row 3 of E1 is (0.6, 0, 0.8, 1, 0.6): the seed's argmax is task 3 itself.
    np.testing.assert_array_equal(determine_alphas_seed(E1, 3), [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(determine_alphas(E1, 3), [0, 0, 1])  # task 2 (0.8) beats task 0 (0.6)
    # Task 4 is as similar to task 0 as to itself: the seed's argmax takes the first (task 0).
    np.testing.assert_array_equal(determine_alphas_seed(E1, 4), [1, 0, 0, 0, 0])


def test_seed_rule_on_a_skipped_task_lands_on_task_0():
    np.testing.assert_array_equal(determine_alphas_seed(E1, 1), [1, 0, 0, 0, 0])


def test_our_rule_refuses_what_has_no_earlier_signature():
    with pytest.raises(ValueError, match="task 0 has no earlier task"):
        determine_alphas(E1, 0)
    with pytest.raises(ValueError, match="task 1 has no signature"):
        determine_alphas(E1, 1)
    late = e1_matrix([None, {"bn1": torch.ones(3)}])
    with pytest.raises(ValueError, match="no task before task 1 has a signature"):
        determine_alphas(late, 1)
    with pytest.raises(ValueError, match="no task before task 1"):
        soft_alphas(late, 1, 0.1)


def test_skipped_earlier_tasks_never_get_alpha():
    # Row 2: task 0 has similarity 0 and task 1 no signature; the one-hot still goes to task 0.
    np.testing.assert_array_equal(determine_alphas(E1, 2), [1, 0])
    soft = soft_alphas(E1, 4, temperature=0.1)
    assert soft[1] == 0.0


def test_soft_alphas_are_a_softmax_over_earlier_tasks():
    # Task 3: earlier candidates 0 (0.6) and 2 (0.8); at T=0.1 weights are softmax(6, 8).
    expected0 = 1 / (1 + math.exp(2))
    np.testing.assert_allclose(soft_alphas(E1, 3, temperature=0.1), [expected0, 0, 1 - expected0])
    # Equal similarities share equally; a large temperature tends to uniform.
    np.testing.assert_allclose(softmax_alphas(np.array([0.5, 0.5]), 0.01), [0.5, 0.5])
    np.testing.assert_allclose(softmax_alphas(np.array([0.0, 1.0, 0.5]), 1e6), np.full(3, 1 / 3), atol=1e-6)
    with pytest.raises(ValueError, match="temperature must be positive"):
        soft_alphas(E1, 3, temperature=0.0)


def test_per_layer_alphas():
    matrices = e2_matrices(SIGNATURES)
    ours = determine_alphas_per_layer(matrices, 4)
    np.testing.assert_array_equal(ours["bn1"], [1, 0, 0, 0])  # bn1: task 0 (|cos| = 1)
    np.testing.assert_array_equal(ours["bn2"], [0, 0, 0, 1])  # bn2: task 3 (|cos| = 1)
    seed = determine_alphas_seed_per_layer(matrices, 4)
    np.testing.assert_array_equal(seed["bn1"], [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(seed["bn2"], [0, 0, 0, 1, 0])  # ties with itself: the earlier index wins
    soft = soft_alphas_per_layer(matrices, 2, temperature=1.0)
    np.testing.assert_allclose(soft["bn2"], [1, 0])  # only task 0 is an earlier task with a signature


# The seed study keys each task's BN means by integers and its E1 reads key 1. Here key 0 comes
# first, so our default (the first layer in order) and the seed's key differ: t0=(1,0) t1=(1,1)
# at key 0 give |cos| = 1/sqrt2; t0=(0,1,0) t1=(0,2,0) at key 1 give 1.
SEED_KEYED = [{0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0, 0.0])},
              {0: np.array([1.0, 1.0]), 1: np.array([0.0, 2.0, 0.0])}]


def test_e1_reads_the_first_layer_in_order_and_the_seeds_key_1_on_request():
    np.testing.assert_allclose(e1_matrix(SEED_KEYED), [[1, R], [R, 1]], atol=1e-12)
    np.testing.assert_allclose(e1_matrix(SEED_KEYED, layer=1), [[1, 1], [1, 1]], atol=1e-12)
    # Keys numbered from 1 (as our bn1, bn2, ...): the first layer IS key 1, so both readings agree.
    from_one = [{k + 1: v for k, v in s.items()} for s in SEED_KEYED]
    np.testing.assert_array_equal(e1_matrix(from_one), e1_matrix(from_one, layer=1))
    np.testing.assert_allclose(e1_matrix(from_one), [[1, R], [R, 1]], atol=1e-12)


def test_e2_without_task0_statistics_gives_every_layer_by_default_and_nothing_the_seeds_way():
    signatures = [None, *SIGNATURES[2:]]  # task 0 has no statistics; tasks 1..3 have bn1 and bn2
    matrices = e2_matrices(signatures)
    assert list(matrices) == ["bn1", "bn2"]
    np.testing.assert_allclose(matrices["bn1"], [[0, 0, 0, 0], [0, 1, 0.8, 0], [0, 0.8, 1, 0.6], [0, 0, 0.6, 1]],
                               atol=1e-12)
    assert e2_matrices(signatures, layers_from="task0") == {}


def test_e2_the_seeds_way_takes_task0_layers_only():
    signatures = [{"bn1": torch.ones(2)}, {"bn1": torch.ones(2), "bn2": torch.ones(3)}]
    assert list(e2_matrices(signatures)) == ["bn1", "bn2"]
    seed_way = e2_matrices(signatures, layers_from="task0")
    assert list(seed_way) == ["bn1"]
    np.testing.assert_allclose(seed_way["bn1"], np.ones((2, 2)))
    np.testing.assert_allclose(e2_matrices(SIGNATURES, layers_from="task0")["bn2"], E2_BN2, atol=1e-12)
    with pytest.raises(ValueError, match="layers_from must be one of any_task, task0"):
        e2_matrices(signatures, layers_from="first")
