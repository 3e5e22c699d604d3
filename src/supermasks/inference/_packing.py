"""The word layout shared by `bank` and `subset`: 16 tasks per int16 word, and products with words.

Bit `15 - b` of a word is slot b (most significant bit first, as `pack_mask`); a (rows, n) block of
words times per-slot coefficients is evaluated by table look-up, never by unpacking the bits.
"""

from __future__ import annotations

import functools

import torch

GROUP = 16            # tasks per packed word
_INDICES = 1 << 20    # int32 indices per embedding-bag call: fewest Python round trips while in cache (measured)
_SLOT_BITS = torch.tensor([1 << (GROUP - 1 - b) for b in range(GROUP)], dtype=torch.int64)  # slot b -> its bit


def _word_bits(device: torch.device | str = "cpu") -> torch.Tensor:
    """(65536, 16) float32 on `device`: row v holds the bits of v, most significant first (4 MiB, built once per device)."""
    return _word_bits_on(torch.device(device))


@functools.cache
def _word_bits_on(device: torch.device) -> torch.Tensor:
    v = torch.arange(1 << GROUP, dtype=torch.int32, device=device).unsqueeze(1)
    return ((v >> torch.arange(GROUP - 1, -1, -1, dtype=torch.int32, device=device)) & 1).to(torch.float32)


def _unsigned(words: torch.Tensor) -> torch.Tensor:
    """int16 words as non-negative int32 indices into `_word_bits()`."""
    return words.to(torch.int32).bitwise_and_(0xFFFF)


def _add_block_mixture(block: torch.Tensor, coef: torch.Tensor, out: torch.Tensor) -> None:
    """`out += sum_b coef[w, b] * bit_b(block[w])` over the words w of a (rows, n) int16 block.

    `coef @ bits(v)` is tabulated for every word value v (one small matmul) and then looked up
    per weight: the product with the stack, without unpacking it.
    """
    tables = coef @ _word_bits(coef.device).t()  # (rows, 65536)
    chunk = max(4096, _INDICES // 4 // max(block.shape[0], 1))  # int64 indices here
    for c0 in range(0, out.numel(), chunk):
        idx = _unsigned(block[:, c0:c0 + chunk]).long()
        out[c0:c0 + chunk] += torch.gather(tables, 1, idx).sum(0)


def mixing_weights(alphas: torch.Tensor | None, count: int, num_tasks: int,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """`alphas` as a flat float32 vector of `count` entries on `device` (default: `1 / num_tasks` each)."""
    if alphas is None:
        alphas = torch.full((count,), 1.0 / max(num_tasks, 1), device=device)
    alphas = alphas.detach().to(device, torch.float32).reshape(-1)
    if alphas.numel() != count:
        raise ValueError(f"{alphas.numel()} alphas for {count} tasks")
    return alphas
