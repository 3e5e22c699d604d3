"""MaskBank: round trip, storage size, mixtures and inner products against dense references."""

from __future__ import annotations

import pytest
import torch

from supermasks.inference import MaskBank
from supermasks.inference.subset import packed_subset
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


# -- packed subsets (binary-search inference re-packs the surviving tasks) --------------------------


def assert_subset_matches(subset, stacks: dict[str, torch.Tensor], tasks: list[int], seed: int = 0) -> None:
    """Every view of `subset` equals the same quantity computed from the unpacked masks of `tasks`."""
    assert subset.tasks.tolist() == tasks and subset.num_tasks == len(tasks)
    assert subset.num_words <= -(-len(tasks) // 16) + 1  # dense: at most one spare word
    gen = torch.Generator().manual_seed(seed)
    for name, stack in stacks.items():
        chosen = stack[tasks].flatten(1).double()  # (t, n) in the subset's order
        for i in range(len(tasks)):
            assert torch.equal(subset.mask(name, i), stack[tasks[i]])
        assert torch.equal(subset.counts_[name], chosen.sum(0).to(torch.int32))
        if not tasks:
            continue
        uniform = subset.mixture(name)  # counts path
        torch.testing.assert_close(uniform.double().reshape(-1), chosen.mean(0), rtol=1e-6, atol=1e-6)
        alphas = torch.rand(len(tasks), generator=gen)
        torch.testing.assert_close(subset.mixture(name, alphas).double().reshape(-1), alphas.double() @ chosen,
                                   rtol=1e-5, atol=1e-5)
        g = torch.randn(stack.shape[1:], generator=gen)
        reference = chosen @ g.reshape(-1).double()
        atol = 1e-6 * float(g.abs().sum())
        torch.testing.assert_close(subset.inner_products(name, g).double(), reference, rtol=0, atol=atol)
        some = torch.tensor([len(tasks) - 1, 0])
        torch.testing.assert_close(subset.inner_products(name, g, some).double(), reference[some], rtol=0, atol=atol)


@pytest.mark.parametrize("k", [1, 5, 16, 37, 90])
def test_packed_subset_matches_unpacked_masks(k: int) -> None:
    bank, stacks = random_bank(k)
    gen = torch.Generator().manual_seed(k)
    picks = [list(range(k)), torch.randperm(k, generator=gen)[:(k + 1) // 2].tolist(), [k - 1], []]
    if k > 16:
        picks.append([k - 1, 3, k - 2, 17, 0])  # tail, words, out of order
    for tasks in picks:
        assert_subset_matches(packed_subset(bank, tasks), stacks, tasks)


def test_packed_subset_over_many_storage_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    import supermasks.inference.bank as bank_module
    monkeypatch.setattr(bank_module, "_BLOCK_ROWS", 2)  # 90 tasks: 5 words in 3 blocks, and a tail
    bank, stacks = random_bank(90, {"a": (40, 9)})
    for tasks in ([75, 2, 40, 88, 41, 16, 64], torch.randperm(90, generator=torch.Generator().manual_seed(1)).tolist()):
        assert_subset_matches(packed_subset(bank, tasks), stacks, tasks)


@pytest.mark.parametrize("reuse", [False, True])
def test_nested_subsets_halving_like_binary_search(reuse: bool) -> None:
    bank, stacks = random_bank(150, {"big": (60, 50), "odd": (5, 3)})
    gen = torch.Generator().manual_seed(3)
    subset, tasks = packed_subset(bank, range(150)), list(range(150))
    while len(tasks) > 1:
        keep = torch.randperm(len(tasks), generator=gen)[:(len(tasks) + 1) // 2]
        previous = subset
        subset = subset.subset(keep, reuse_storage=reuse)
        tasks = [tasks[i] for i in keep.tolist()]
        assert_subset_matches(subset, stacks, tasks, seed=len(tasks))
        if reuse:
            with pytest.raises(RuntimeError, match="reused"):
                previous.mixture("big")
        else:
            assert_subset_matches(previous, stacks, previous.tasks.tolist())


def test_subset_keeping_every_task_gets_its_own_storage() -> None:
    bank, stacks = random_bank(40)
    subset = packed_subset(bank, range(0, 40, 2))  # 20 tasks
    again = subset.subset(torch.arange(20).flip(0), reuse_storage=True)
    assert_subset_matches(again, stacks, list(range(38, -1, -2)))


def test_packed_subset_bad_inputs_raise() -> None:
    bank, _ = random_bank(20)
    with pytest.raises(IndexError):
        packed_subset(bank, [3, 20])
    with pytest.raises(ValueError, match="repeat"):
        packed_subset(bank, [3, 3])
    subset = packed_subset(bank, [1, 2, 19])
    with pytest.raises(IndexError):
        subset.subset([3])
    with pytest.raises(ValueError, match="repeat"):
        subset.subset([0, 0])
    with pytest.raises(IndexError):
        subset.mask("a", 3)
    with pytest.raises(ValueError):
        subset.inner_products("a", torch.zeros(5))


def test_popcount_without_numpy_bitwise_count(monkeypatch: pytest.MonkeyPatch) -> None:
    import supermasks.inference._subset_ops as subset_ops
    words = torch.randint(-32768, 32768, (7, 300), dtype=torch.int16, generator=torch.Generator().manual_seed(0))
    expected = ((words.to(torch.int32).unsqueeze(-1) & 0xFFFF) >> torch.arange(16) & 1).sum((0, 2))
    assert torch.equal(subset_ops._popcount_rows(words), expected.to(torch.int32))
    monkeypatch.setattr(subset_ops, "_BITWISE_COUNT", None)  # numpy < 2: the SWAR fallback
    assert torch.equal(subset_ops._popcount_rows(words), expected.to(torch.int32))
    bank, stacks = random_bank(37)
    assert_subset_matches(packed_subset(bank, [36, 0, 20, 5]), stacks, [36, 0, 20, 5])


def test_bank_does_not_import_subset() -> None:
    """The subset module builds on the bank; the bank must not reach back (no import cycle)."""
    import ast
    import inspect

    import supermasks.inference.bank as bank_module
    tree = ast.parse(inspect.getsource(bank_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name and name.endswith("subset") for name in imported)


def test_word_products_by_bytes_and_by_lookups_match_each_slot() -> None:
    """Both ways of `<g, bits>` per word slot, on words holding every high and low byte value
    (negative words included), against sums written out: slot b is bit 15 - b."""
    from supermasks.inference._packing import word_lookup_products, word_products

    values = torch.arange(-(1 << 15), 1 << 15, 97, dtype=torch.int32)  # 676 words over the whole int16 range
    words = torch.stack([values, values.flip(0)]).to(torch.int16)  # (2, n)
    g = torch.linspace(-1.0, 2.0, values.numel())
    unsigned = words.to(torch.int64) & 0xFFFF
    expected = torch.stack([torch.stack([g.double()[((row >> (15 - b)) & 1).bool()].sum() for b in range(16)])
                            for row in unsigned]).reshape(-1)
    atol = 1e-6 * float(g.abs().sum())
    for products in (word_products, word_lookup_products, _byte_histograms):
        got = products(words, g)
        assert got.shape == (32,) and got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected, rtol=0, atol=atol)
    assert torch.equal(word_products(words[:0], g), torch.zeros(0))


def _byte_histograms(words: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """`word_products` without the compiled AVX-512 loop (as on a CPU or build without it)."""
    from supermasks.inference._packing import word_products
    from supermasks.compute import kernels as fused

    fused.KERNELS.load()
    saved, fused.KERNELS.bank_products = fused.KERNELS.bank_products, None
    try:
        return word_products(words, g)
    finally:
        fused.KERNELS.bank_products = saved


@pytest.mark.parametrize("n", [1, 15, 16, 31, 32, 33, 1000, 2100])
def test_the_compiled_bank_products_cover_every_column(n: int) -> None:
    """The AVX-512 loop takes 32 columns at a time (in blocks of 1,024) and the rest one by one: widths against the histograms."""
    from supermasks.compute.kernels import compiled_bank_products

    g = torch.Generator().manual_seed(n)
    words = torch.randint(-(1 << 15), 1 << 15, (3, n), dtype=torch.int16, generator=g)
    weights = torch.randn(n, generator=g)
    got = compiled_bank_products(words, weights)
    if got is None:
        pytest.skip("the compiled loop is not built here (no compiler, or no AVX-512)")
    torch.testing.assert_close(got, _byte_histograms(words, weights), rtol=1e-5, atol=1e-5 * float(weights.abs().sum()))
