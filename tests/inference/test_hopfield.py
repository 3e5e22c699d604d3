"""Tests for HopSupSup: the Storkey rule, Hopfield recall and energy, and gate recovery end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.inference.hopfield import (HopfieldStore, NeuronMaskMLP, gate_pattern, nearest_gates, recover_gates,
                                           recovery_report, storage_bytes, store_gates, storkey_capacity,
                                           train_task_gates)
from tests.conftest import make_tasks


def _random_patterns(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n, d), generator=g).float() * 2 - 1  # (n, d) of +-1


def _storkey_reference(patterns: np.ndarray) -> np.ndarray:
    """Element by element: `w_ij += (z_i z_j - [i == j] - z_i h_j - h_i z_j) / d`, `h_i = sum_k w_ik z_k`."""
    d = patterns.shape[1]
    w = np.zeros((d, d))
    for z in patterns:
        h = [sum(w[i, k] * z[k] for k in range(d)) for i in range(d)]
        new = w.copy()
        for i in range(d):
            for j in range(d):
                new[i, j] += (z[i] * z[j] - (i == j) - z[i] * h[j] - h[i] * z[j]) / d
        w = new
    return w


def test_storkey_rule_by_hand_on_three_units() -> None:
    store = HopfieldStore(3)
    store.store(torch.tensor([1.0, -1.0, 1.0]))
    # First pattern: h = 0, so psi = (z z^T - I) / 3.
    expected = torch.tensor([[0.0, -1.0, 1.0], [-1.0, 0.0, -1.0], [1.0, -1.0, 0.0]]) / 3
    torch.testing.assert_close(store.psi_, expected)
    store.store(torch.tensor([1.0, 1.0, -1.0]))
    # Second: h = psi z = (-2/3, 0, 0); worked out by hand, in ninths.
    expected = torch.tensor([[4.0, 2.0, -2.0], [2.0, 0.0, -6.0], [-2.0, -6.0, 0.0]]) / 9
    torch.testing.assert_close(store.psi_, expected)
    assert store.num_patterns_ == 2


def test_storkey_rule_matches_elementwise_reference() -> None:
    patterns = _random_patterns(4, 7, seed=1)
    store = HopfieldStore(7)
    for z in patterns:
        store.store(z)
    np.testing.assert_allclose(store.psi_.numpy(), _storkey_reference(patterns.numpy()), atol=1e-5)
    np.testing.assert_allclose(store.psi_.numpy(), store.psi_.numpy().T, atol=1e-6)  # symmetric


def test_stored_patterns_are_fixed_points_and_attract_corrupted_states() -> None:
    patterns = _random_patterns(4, 64, seed=0)
    store = HopfieldStore(64)
    for z in patterns:
        store.store(z)
    for z in patterns:
        torch.testing.assert_close(store.recall(z, steps=10), z)
        noisy = z.clone()
        noisy[:6] *= -1  # ~10% of the bits flipped
        torch.testing.assert_close(store.recall(noisy, steps=10), z)


def test_energy_of_stored_pattern_is_lower_than_of_random_states() -> None:
    patterns = _random_patterns(3, 64, seed=2)
    store = HopfieldStore(64)
    for z in patterns:
        store.store(z)
    random_states = _random_patterns(50, 64, seed=3)
    stored_energy = store.energy(patterns)  # (3,)
    assert stored_energy.max() < store.energy(random_states).min()
    # The energy is -1/2 s^T psi s, also for a single state.
    s = random_states[0]
    torch.testing.assert_close(store.energy(s), -0.5 * s @ store.psi_ @ s)


def test_store_rejects_non_binary_and_wrong_size() -> None:
    store = HopfieldStore(4)
    with pytest.raises(ValueError, match="\\+-1"):
        store.store(torch.tensor([1.0, 0.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="size"):
        store.store(torch.ones(5))


def test_nbytes_and_storage_by_hand() -> None:
    assert HopfieldStore(64).nbytes() == 4 * 64 * 64
    # Two layers of 128 units: each store has one extra always-on unit, (129 x 129) float32.
    stores = [HopfieldStore(129), HopfieldStore(129)]
    assert storage_bytes(stores, num_tasks=3) == {"hopfield": 2 * 4 * 129 * 129, "direct": 3 * 256 // 8}


def test_neuron_mask_gates_are_per_unit_and_only_scores_train() -> None:
    model = NeuronMaskMLP((784, 32, 16, 4), seed=0)
    assert model.add_task() == 0
    assert [g.shape for g in model.gates(0)] == [torch.Size([32]), torch.Size([16])]
    assert [n for n, p in model.named_parameters()] == ["scores.0.0", "scores.0.1"]
    # A gate of all zeros silences the network.
    out = model(torch.randn(5, 1, 28, 28), gates=[torch.zeros(32), torch.zeros(16)])
    assert out.shape == (5, 4) and bool((out == 0).all())


def _is_attractor(store: HopfieldStore, gate: torch.Tensor) -> bool:
    """Whether `[2 m - 1, +1]` is a fixed point of recall with the always-on unit held at +1."""
    fixed = torch.zeros(store.d, dtype=torch.bool)
    fixed[-1] = True
    z = gate_pattern(gate)
    return torch.equal(store.recall(z, steps=1, fixed=fixed), z)


def test_gates_are_recovered_from_unlabelled_test_batches_at_a_rate_over_seeds() -> None:
    """Recovery is a search that now and then ends in the wrong basin, so no single seed is asserted.

    Over seeds 0-99 (300 batches) 265 batches recovered their task's gates exactly on one thread,
    264 on two threads with inputs perturbed by 1e-6 relative noise, though the noise moved single
    outcomes both ways (seed 1 misses task 0 on one setting only). In each of the 12 misses of
    seeds 0-39 neither descent ever reached the right gate, which had the lowest entropy of the
    stored gates: the search misses, not the entropy criterion. Blocks of 20 seeds (0-99, some on
    two threads with noise) gave 50 to 57 of 60, seeds 0-19 51. The bound of 42 is 4 binomial
    standard deviations below the rate, and 22 above the 20 that picking a stored gate at random
    would give. What every seed must show is asserted batch by batch.
    """
    exact, accuracies = 0, []
    for seed in range(20):
        tasks = make_tasks(num_tasks=3, seed=seed)
        model = NeuronMaskMLP((784, 128, 4), seed=seed)
        for task in tasks:
            train_task_gates(model, task.x_train, task.y_train, epochs=10, seed=seed)
        stores = store_gates(model)
        true_gates = [model.gates(t) for t in range(model.num_tasks)]
        for task in tasks:
            recovered = recover_gates(model, stores, task.x_test, steps=50)
            # Every seed: the answer is an attractor of the memory (recall leaves it as it is)...
            assert all(_is_attractor(store, gate) for store, gate in zip(stores, recovered)), (seed, task.task_id)
            # ... on the side of the superposition that the always-on unit's column of psi holds,
            # never the mirror image of a stored gate.
            assert float((2 * recovered[0].float() - 1) @ stores[0].psi_[:-1, -1]) >= 0, (seed, task.task_id)
            report = recovery_report(recovered, true_gates, task.task_id)
            exact += report["correct"] and report["hamming"] == 0
            with torch.no_grad():
                pred = model(task.x_test, gates=[g.float() for g in recovered]).argmax(1)
            accuracies.append((pred == task.y_test).float().mean().item())
    assert exact >= 42, f"{exact} of 60 test batches recovered their task's gates exactly"
    # Measured 0.90 (exact recoveries classify as their trained gates do); chance is 0.25.
    assert sum(accuracies) / len(accuracies) > 0.75, accuracies


def test_scores_start_small_and_fresh_scores_stay_unregistered() -> None:
    model = NeuronMaskMLP((784, 32, 16, 4), seed=0, score_scale=0.01)
    scores = model.new_scores(torch.Generator().manual_seed(1))
    assert [s.shape for s in scores] == [torch.Size([32]), torch.Size([16])]
    assert all(bool((s.abs() < 0.01).all()) for s in scores)
    assert model.num_tasks == 0 and list(model.parameters()) == []
    assert model.weight_bytes() == 4 * (784 * 32 + 32 * 16 + 16 * 4)
    with pytest.raises(ValueError, match="score_scale"):
        NeuronMaskMLP((784, 32, 4), score_scale=0.0)


def test_gate_pattern_and_nearest_gates_by_hand() -> None:
    torch.testing.assert_close(gate_pattern(torch.tensor([True, False, True])), torch.tensor([1.0, -1.0, 1.0, 1.0]))
    reference = [[torch.tensor([True, True]), torch.tensor([False])],
                 [torch.tensor([False, True]), torch.tensor([True])]]
    assert nearest_gates([torch.tensor([False, False]), torch.tensor([True])], reference) == (1, [3, 1])
    with pytest.raises(ValueError, match="no reference"):
        nearest_gates([torch.tensor([True])], [])


def test_storkey_capacity_by_hand() -> None:
    assert storkey_capacity(100) == pytest.approx(100 / np.sqrt(2 * np.log(100)))  # about 33 patterns
    assert storkey_capacity(1) == 1.0


def test_recovery_needs_a_stored_gate() -> None:
    model = NeuronMaskMLP((784, 16, 4))
    with pytest.raises(ValueError, match="nothing to recover"):
        recover_gates(model, [HopfieldStore(17)], torch.randn(4, 784))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_briefly_trained_gates_are_told_apart(seed: int) -> None:
    """Two stored gates: a binary start from the superposition is exactly the later gate, and a
    short training leaves the entropy little to go on; recovery must still find the earlier one."""
    tasks = make_tasks(num_tasks=2, n_train=128, n_test=64, seed=seed)
    model = NeuronMaskMLP((784, 300, 300, 4), seed=seed)
    for task in tasks:
        train_task_gates(model, task.x_train, task.y_train, epochs=8, lr=1e-3, batch_size=32, seed=seed)
    stores = store_gates(model)
    true_gates = [model.gates(t) for t in range(model.num_tasks)]
    for task in tasks:
        report = recovery_report(recover_gates(model, stores, task.x_test), true_gates, task.task_id)
        assert report["correct"] and report["bit_accuracy"] == 1.0, report
