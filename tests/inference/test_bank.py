"""MaskBank: round trip, storage size, mixtures and inner products against dense references."""

from __future__ import annotations

import pytest
import torch

from supermasks.inference import MaskBank
from supermasks.models import add_task, build_model, masked_layers

SHAPES = {"a": (12, 7), "b": (5, 3)}  # odd sizes: neither is a multiple of 8


def random_bank(k: int, shapes: dict = SHAPES, seed: int = 0) -> tuple[MaskBank, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    bank = MaskBank(shapes)
    stacks = {name: torch.rand(k, *s, generator=g) < 0.5 for name, s in shapes.items()}  # (k, *shape)
    for t in range(k):
        assert bank.add({name: stack[t] for name, stack in stacks.items()}) == t
    return bank, stacks


@pytest.mark.parametrize("k", [1, 5, 16, 17, 40])
def test_round_trip(k: int) -> None:
    bank, stacks = random_bank(k)
    assert bank.num_tasks == k
    for name, stack in stacks.items():
        for t in range(k):
            assert torch.equal(bank.mask(name, t), stack[t])
        assert torch.equal(bank.counts_[name], stack.flatten(1).sum(0).to(torch.int32))


@pytest.mark.parametrize("k", [3, 16, 37])
def test_nbytes_at_most_1_05_bits_per_weight_per_task(k: int) -> None:
    shapes = {"fc1": (300, 784), "fc2": (100, 300), "fc3": (500, 100)}
    bank, _ = random_bank(k, shapes)
    weights = sum(h * w for h, w in shapes.values())
    assert bank.nbytes() * 8 <= 1.05 * weights * k


def test_from_model_selected_tasks() -> None:
    model = build_model("fc-300-300", output_size=4, seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        add_task(model, gen)
    bank = MaskBank.from_model(model, task_ids=[0, 2])
    assert bank.num_tasks == 2
    for name, layer in masked_layers(model).items():
        assert torch.equal(bank.mask(name, 1), layer.mask(2))


@pytest.mark.parametrize("k", [4, 16, 37])
def test_mixture_matches_naive_sum(k: int) -> None:
    bank, stacks = random_bank(k)
    alphas = torch.rand(k, generator=torch.Generator().manual_seed(1))
    for name, stack in stacks.items():
        naive = (alphas.double().view(-1, 1, 1) * stack.double()).sum(0)
        torch.testing.assert_close(bank.mixture(name, alphas).double(), naive, rtol=1e-6, atol=1e-6)
        uniform = bank.mixture(name)  # counts path
        torch.testing.assert_close(uniform.double(), stack.double().mean(0), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(bank.mixture(name, torch.full((k,), 1.0 / k)), uniform)


def test_mixture_over_subset_and_one_hot() -> None:
    bank, stacks = random_bank(37)
    tasks = torch.tensor([36, 3, 20, 17])  # tail, two words, out of order
    alphas = torch.tensor([0.1, 0.2, 0.3, 0.4])
    for name, stack in stacks.items():
        naive = (alphas.view(-1, 1, 1) * stack[tasks].float()).sum(0)
        torch.testing.assert_close(bank.mixture(name, alphas, tasks), naive)
        for t in (0, 20, 36):
            one_hot = torch.zeros(37)
            one_hot[t] = 1.0
            assert torch.equal(bank.mixture(name, one_hot), stack[t].float())


@pytest.mark.parametrize("k", [5, 16, 40])
def test_inner_products_match_dense_reference(k: int) -> None:
    shapes = {"big": (300, 100), "odd": (5, 3)}
    bank, stacks = random_bank(k, shapes)
    gen = torch.Generator().manual_seed(2)
    for name, stack in stacks.items():
        g = torch.randn(shapes[name], generator=gen)
        reference = stack.flatten(1).double() @ g.reshape(-1).double()  # (k,)
        got = bank.inner_products(name, g)
        assert got.shape == (k,)
        # float32 accumulation: the error grows with sum |g_j|, not with the result.
        atol = 1e-6 * float(g.abs().sum())
        torch.testing.assert_close(got.double(), reference, rtol=0, atol=atol)
        tasks = torch.tensor([k - 1, 0, k // 2])
        torch.testing.assert_close(bank.inner_products(name, g, tasks).double(), reference[tasks], rtol=0, atol=atol)


def test_bad_inputs_raise() -> None:
    bank, _ = random_bank(3)
    with pytest.raises(ValueError):
        bank.add({"a": torch.zeros(12, 7, dtype=torch.bool)})
    with pytest.raises(ValueError):
        bank.inner_products("a", torch.zeros(5))
    with pytest.raises(IndexError):
        bank.inner_products("a", torch.zeros(12, 7), torch.tensor([3]))
    with pytest.raises(IndexError):
        bank.mask("a", 3)


def test_many_storage_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import supermasks.inference.bank as bank_module
    monkeypatch.setattr(bank_module, "_BLOCK_ROWS", 2)  # 90 tasks: 5 words in 3 blocks, and a tail
    bank, stacks = random_bank(90, {"a": (40, 9)})
    stack = stacks["a"]
    assert len(bank.blocks_["a"]) == 3
    for t in (0, 33, 70, 89):
        assert torch.equal(bank.mask("a", t), stack[t])
    g = torch.randn(40, 9, generator=torch.Generator().manual_seed(4))
    reference = stack.flatten(1).double() @ g.reshape(-1).double()
    atol = 1e-6 * float(g.abs().sum())
    torch.testing.assert_close(bank.inner_products("a", g).double(), reference, rtol=0, atol=atol)
    tasks = torch.tensor([75, 2, 40, 88, 41])  # words 4, 0, 2 (blocks 2, 0, 1) and the tail
    torch.testing.assert_close(bank.inner_products("a", g, tasks).double(), reference[tasks], rtol=0, atol=atol)
    alphas = torch.rand(5, generator=torch.Generator().manual_seed(5))
    naive = (alphas.view(-1, 1, 1) * stack[tasks].float()).sum(0)
    torch.testing.assert_close(bank.mixture("a", alphas, tasks), naive)
