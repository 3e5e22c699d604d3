"""Task similarity from per-task BatchNorm signatures (E1, E2) and the mixing weights (alphas) it suggests.

docs/algorithms.md section 3 (the seed study's "Experiments 2 and 3"). A task's signature is, per
normalised layer, the per-unit mean of the layer's input to its BatchNorm, i.e. the task's BN
running mean. Two tasks are similar when their signatures point the same way:
`S[i, j] = |cos(mean_i, mean_j)|` (the absolute value follows the seed study).

Tasks without a signature (None) are skipped: their rows and columns stay 0, their diagonal
included. So a task has a signature in `S` exactly when `S[t, t] > 0` (its own similarity is 1),
which is how the alpha rules below tell skipped tasks apart without extra arguments.

Two edge cases differ from the seed study's code, each with an option that does as the seed does:
- E1's layer: the seed reads `bn_means[task][1]`, whatever its per-task dict holds under key 1;
  `e1_matrix` reads the first BN layer in the network's order. They are the same layer when the
  seed's key 1 is its first BN layer (as when keys number the layers from 1, like our `bn1,
  bn2, ...`). `e1_matrix(signatures, layer=1)` reads key 1 of signatures keyed as the seed's.
- E2's layers: the seed takes the layers of task 0's signature, so when task 0 has no statistics
  it returns no matrix at all; `e2_matrices` takes every layer any task has, and skips the tasks
  without a signature in each. `e2_matrices(signatures, layers_from="task0")` does as the seed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np
import torch

Vector = torch.Tensor | np.ndarray
# Layer name (ours: "bn1", "bn2", ...; the seed's dicts: integers) -> 1-D per-unit means, or None (no signature).
Signature = Mapping[Hashable, Vector] | None
LAYERS_FROM = ("any_task", "task0")


def _vector(value: Vector) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"a signature holds 1-D per-unit means per layer, got shape {array.shape}")
    return array


def abs_cosine(a: Vector, b: Vector) -> float:
    """`|cos(a, b)|` of two 1-D vectors; 0 when either is all zeros (no direction to compare)."""
    a, b = _vector(a), _vector(b)
    if a.shape != b.shape:
        raise ValueError(f"signatures of different sizes: {a.shape} vs {b.shape}")
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return float(abs(a @ b) / norms) if norms > 0 else 0.0


def layer_names(signatures: Sequence[Signature]) -> list[Hashable]:
    """The BN layer names found in `signatures`, in order of first appearance."""
    names: dict[Hashable, None] = {}
    for signature in signatures:
        names.update(dict.fromkeys(signature or {}))
    return list(names)


def similarity_matrix(signatures: Sequence[Signature], layer: Hashable) -> np.ndarray:
    """`S[i, j] = |cos(mean_i, mean_j)|` in `layer`: (T, T); tasks lacking a signature there stay 0."""
    vectors = [None if not signature or layer not in signature else _vector(signature[layer])
               for signature in signatures]
    count = len(vectors)
    matrix = np.zeros((count, count))
    for i in range(count):
        for j in range(i, count):
            if vectors[i] is not None and vectors[j] is not None:
                matrix[i, j] = matrix[j, i] = abs_cosine(vectors[i], vectors[j])
    return matrix


def e1_matrix(signatures: Sequence[Signature], layer: Hashable | None = None) -> np.ndarray:
    """E1: the similarity matrix of the FIRST BN layer (or of `layer`): (T, T) numpy array.

    "First" is the first layer name in order of appearance over the signatures (the network's
    order). The seed reads its key 1 instead: pass `layer=1` on signatures keyed as the seed's
    (see the module docstring). All zeros when no task has a signature.
    """
    if layer is None:
        names = layer_names(signatures)
        if not names:
            return np.zeros((len(signatures), len(signatures)))
        layer = names[0]
    return similarity_matrix(signatures, layer)


def e2_matrices(signatures: Sequence[Signature],
                layers_from: Literal["any_task", "task0"] = "any_task") -> dict[Hashable, np.ndarray]:
    """E2: one (T, T) similarity matrix per BN layer, by layer name.

    `layers_from="any_task"`: every layer that any task's signature has. `"task0"`: the layers of
    task 0's signature, as the seed study does, hence an empty dict when task 0 has none.
    """
    if layers_from not in LAYERS_FROM:
        raise ValueError(f"layers_from must be one of {', '.join(LAYERS_FROM)}, got {layers_from!r}")
    if layers_from == "task0":
        layers = list(signatures[0] or {}) if signatures else []
    else:
        layers = layer_names(signatures)
    return {layer: similarity_matrix(signatures, layer) for layer in layers}


def one_hot_alphas(similarities: np.ndarray) -> np.ndarray:
    """A one-hot vector at the most similar entry (the first one on ties)."""
    similarities = np.asarray(similarities, dtype=np.float64)
    if similarities.size == 0:
        raise ValueError("no candidate task to put the alpha on")
    alphas = np.zeros(similarities.shape)
    alphas[int(np.argmax(similarities))] = 1.0
    return alphas


def softmax_alphas(similarities: np.ndarray, temperature: float) -> np.ndarray:
    """`softmax(similarities / temperature)`: small temperatures approach `one_hot_alphas`."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = np.asarray(similarities, dtype=np.float64) / temperature
    if z.size == 0:
        raise ValueError("no candidate task to put the alphas on")
    e = np.exp(z - z.max())  # shifted by the maximum so the exponentials never overflow
    return e / e.sum()


def determine_alphas_seed(S: np.ndarray, task: int) -> np.ndarray:
    """The seed study's rule: one-hot at `argmax S[task, :]` over ALL T tasks.

    Kept for reproduction. The current task takes part, and its own similarity is 1, so it is
    picked whenever no other task is exactly as similar (ties go to the lower index, as numpy's
    argmax does). A skipped task's row is all zeros, so the seed's argmax lands on task 0.
    """
    S = _square(S)
    return one_hot_alphas(S[task])


def _earlier(S: np.ndarray, task: int) -> np.ndarray:
    """Indices of the earlier tasks (0..task-1) that have a signature; errors when there are none."""
    S = _square(S)
    if not 0 <= task < len(S):
        raise IndexError(f"task {task} is not in a {len(S)}-task similarity matrix")
    if task == 0:
        raise ValueError("task 0 has no earlier task to transfer from")
    if S[task, task] <= 0:
        raise ValueError(f"task {task} has no signature, so nothing is similar to it")
    candidates = np.flatnonzero(np.diag(S)[:task] > 0)
    if candidates.size == 0:
        raise ValueError(f"no task before task {task} has a signature")
    return candidates


def determine_alphas(S: np.ndarray, task: int) -> np.ndarray:
    """One-hot alphas over the earlier tasks 0..task-1 at the most similar one: shape (task,).

    Unlike the seed's rule the task itself never takes part, and earlier tasks without a
    signature never receive the alpha. ValueError for task 0, for a task without a signature,
    and when no earlier task has one.
    """
    candidates = _earlier(S, task)
    alphas = np.zeros(task)
    alphas[candidates] = one_hot_alphas(np.asarray(S)[task, candidates])
    return alphas


def soft_alphas(S: np.ndarray, task: int, temperature: float) -> np.ndarray:
    """`softmax(S[task, :task] / temperature)` over the earlier tasks: shape (task,).

    Earlier tasks without a signature get alpha 0 and take no part in the softmax; errors as
    in `determine_alphas`.
    """
    candidates = _earlier(S, task)
    alphas = np.zeros(task)
    alphas[candidates] = softmax_alphas(np.asarray(S)[task, candidates], temperature)
    return alphas


def determine_alphas_seed_per_layer(matrices: Mapping[str, np.ndarray], task: int) -> dict[str, np.ndarray]:
    """`determine_alphas_seed` for every layer's matrix (E2): layer -> (T,)."""
    return {layer: determine_alphas_seed(S, task) for layer, S in matrices.items()}


def determine_alphas_per_layer(matrices: Mapping[str, np.ndarray], task: int) -> dict[str, np.ndarray]:
    """`determine_alphas` for every layer's matrix (E2): layer -> (task,)."""
    return {layer: determine_alphas(S, task) for layer, S in matrices.items()}


def soft_alphas_per_layer(matrices: Mapping[str, np.ndarray], task: int,
                          temperature: float) -> dict[str, np.ndarray]:
    """`soft_alphas` for every layer's matrix (E2): layer -> (task,)."""
    return {layer: soft_alphas(S, task, temperature) for layer, S in matrices.items()}


def _square(S: np.ndarray) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"a similarity matrix is square (T, T), got shape {S.shape}")
    return S
