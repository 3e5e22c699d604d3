"""HopSupSup: per-neuron task gates stored in Hopfield networks and recovered from unlabelled test data."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.layers import signed_constant


class HopfieldStore:
    """A `d x d` Hopfield matrix `psi_` holding +-1 patterns with the Storkey rule (Storkey 1997).

    Each `store(z)` applies, with `h = psi z` the field of the matrix before the update,
    `psi += (z z^T - I - z h^T - h z^T) / d`, the matrix form used by SupSup (Wortsman et al.,
    NeurIPS 2020, section on Hopfield storage). Storkey's published rule takes the local field
    `h_ij = sum_{k != i, j} psi_ik z_k`; the matrix form uses the full field `h_i = sum_k psi_ik z_k`,
    which is what is implemented here. The `- I` keeps the Hebbian term `z z^T` off the diagonal.
    """

    def __init__(self, d: int) -> None:
        if d < 1:
            raise ValueError(f"d must be positive, got {d}")
        self.d = d
        self.psi_ = torch.zeros(d, d)
        self.num_patterns_ = 0

    def _check(self, s: torch.Tensor) -> torch.Tensor:
        if s.shape[-1] != self.d:
            raise ValueError(f"state of size {s.shape[-1]} for a Hopfield store of size {self.d}")
        return s.to(self.psi_.dtype)

    def store(self, z: torch.Tensor) -> None:
        """Add the +-1 pattern `z` (shape (d,)) with one Storkey update."""
        z = self._check(z.reshape(-1))
        if not bool(((z == 1) | (z == -1)).all()):
            raise ValueError("Hopfield patterns must be +-1 (use z = 2 * mask - 1)")
        h = self.psi_ @ z  # (d,), the field before this pattern is added
        outer = torch.outer
        self.psi_ += (outer(z, z) - torch.eye(self.d) - outer(z, h) - outer(h, z)) / self.d
        self.num_patterns_ += 1

    def energy(self, s: torch.Tensor) -> torch.Tensor:
        """`-1/2 s^T psi s` for a state (d,) or a batch of states (n, d); differentiable in `s`."""
        s = self._check(s)
        return -0.5 * ((s @ self.psi_) * s).sum(-1)

    def recall(self, s0: torch.Tensor, steps: int = 20, fixed: torch.Tensor | None = None) -> torch.Tensor:
        """Synchronous sign updates `s <- sign(psi s)` from `s0`, until a fixed point or `steps` sweeps.

        A zero field leaves the unit as it is, so the state stays +-1; units where the bool `fixed`
        is true keep their value from `s0`.
        """
        s = torch.where(self._check(s0) >= 0, 1.0, -1.0)
        for _ in range(steps):
            field = s @ self.psi_
            new = torch.where(field > 0, 1.0, torch.where(field < 0, -1.0, s))
            if fixed is not None:
                new = torch.where(fixed, s, new)
            if torch.equal(new, s):
                break
            s = new
        return s

    def nbytes(self) -> int:
        """Bytes of the float32 matrix: `4 d^2`, whatever the number of stored patterns."""
        return 4 * self.d * self.d


class _StraightThroughGate(torch.autograd.Function):
    """`1[s >= 0]` forward, identity backward (the straight-through estimator of SupSup)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return (scores >= 0).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad_out


def straight_through_gate(scores: torch.Tensor) -> torch.Tensor:
    """Binary gate `1[scores >= 0]` whose gradient passes straight through to `scores`."""
    return _StraightThroughGate.apply(scores)


class NeuronMaskMLP(nn.Module):
    """A ReLU MLP with fixed signed-constant weights whose hidden units are gated per task.

    Task t multiplies hidden layer l by `m_t^l = 1[scores_t^l >= 0]` (one bit per unit, not per
    weight), which keeps each mask to `d` bits so that a `d x d` Hopfield matrix can hold it.
    """

    def __init__(self, sizes: tuple[int, ...] = (784, 128, 4), *, seed: int = 0) -> None:
        super().__init__()
        if len(sizes) < 3:
            raise ValueError(f"need at least one hidden layer, got sizes {sizes}")
        self.sizes = tuple(sizes)
        self._generator = torch.Generator().manual_seed(seed)
        weights = [signed_constant((fan_out, fan_in), fan_in, self._generator)
                   for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
        # Fixed weights: buffers, so no optimiser can ever change them.
        for i, w in enumerate(weights):
            self.register_buffer(f"weight{i}", w)
        self.scores = nn.ModuleList()  # scores[task] is a ParameterList over hidden layers

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.sizes[1:-1]

    @property
    def num_tasks(self) -> int:
        return len(self.scores)

    def add_task(self) -> int:
        """New per-task scores, uniform in (-0.1, 0.1): about half of each layer's units start on."""
        per_layer = [nn.Parameter(torch.empty(d).uniform_(-0.1, 0.1, generator=self._generator))
                     for d in self.hidden_sizes]
        self.scores.append(nn.ParameterList(per_layer))
        return self.num_tasks - 1

    def gates(self, task_id: int) -> list[torch.Tensor]:
        """The task's binary gates, one bool tensor (d_l,) per hidden layer."""
        return [s.detach() >= 0 for s in self.scores[task_id]]

    def forward(self, x: torch.Tensor, task_id: int | None = None,
                gates: list[torch.Tensor] | None = None) -> torch.Tensor:  # (batch, ...) -> (batch, out)
        """Logits under the gates of `task_id`, or under explicit float `gates` (one (d_l,) per layer)."""
        if gates is None:
            if task_id is None:
                raise ValueError("give task_id or gates")
            gates = [straight_through_gate(s) for s in self.scores[task_id]]
        h = x.flatten(1)
        for i, gate in enumerate(gates):
            h = torch.relu(F.linear(h, getattr(self, f"weight{i}"))) * gate  # (batch, d_l)
        return F.linear(h, getattr(self, f"weight{len(gates)}"))


def train_task_gates(model: NeuronMaskMLP, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 30,
                     lr: float = 0.05, batch_size: int = 64, seed: int = 0) -> int:
    """Add a task to `model` and train only its scores on (x, y); returns the new task id."""
    task_id = model.add_task()
    opt = torch.optim.Adam(model.scores[task_id].parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            loss = F.cross_entropy(model(x[idx], task_id), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return task_id


def _with_bias(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, z.new_ones(1)])  # (d + 1,), the always-on unit last


def store_gates(model: NeuronMaskMLP) -> list[HopfieldStore]:
    """One Hopfield store per hidden layer holding every task's gate as `[2 m - 1, +1]`.

    A Hopfield energy is even (`E(z) = E(-z)`), so each stored gate's complement is an attractor
    too; one extra unit fixed at +1 breaks that symmetry, and its column of `psi` accumulates a
    superposition of the stored gates, the natural starting point for recovery (as SupSup starts
    its task inference from the superposition of all masks).
    """
    stores = [HopfieldStore(d + 1) for d in model.hidden_sizes]
    for task_id in range(model.num_tasks):
        for store, mask in zip(stores, model.gates(task_id)):
            store.store(_with_bias(2.0 * mask.float() - 1.0))
    return stores


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1).mean()


def recover_gates(model: NeuronMaskMLP, stores: list[HopfieldStore], x: torch.Tensor, *,
                  steps: int = 50, lr: float = 0.1, recall_steps: int = 20) -> list[torch.Tensor]:
    """Infer the gates of an unlabelled batch `x`: descend an annealed loss, then clean up by recall.

    A real gate `s^l` per layer starts at the superposition held in the always-on unit's column
    (about the mean of the stored `z`) and acts through the straight-through gate `m = 1[s >= 0]`.
    Step k of `steps` minimises `(1 - a) H(p(y|x)) + a sum_l E_l([2 m^l - 1, 1]) / d_l` with
    `a = k / (steps - 1)`: the output entropy first moves the gate toward units that make this batch
    confident, then the Hopfield energy pulls it into the nearest stored attractor (SupSup, section
    on Hopfield storage). Dividing by `d_l` puts the energies on the scale of the entropy. Finally
    `sign(s)` is cleaned up by `recall` with the always-on unit held at +1, which snaps it to a
    stored gate when it lies in that gate's basin. Returns bool gates, one (d_l,) per hidden layer.
    """
    s = [(st.psi_[:-1, -1] * st.d / max(st.num_patterns_, 1)).clone().requires_grad_(True) for st in stores]
    opt = torch.optim.Adam(s, lr=lr)
    for k in range(steps):
        a = k / max(steps - 1, 1)
        gates = [straight_through_gate(v) for v in s]
        loss = (1 - a) * _entropy(model(x, gates=gates))
        loss = loss + a * sum(st.energy(_with_bias(2 * g - 1)) / st.d for st, g in zip(stores, gates))
        opt.zero_grad()
        loss.backward()
        opt.step()
    recovered = []
    for st, v in zip(stores, s):
        fixed = torch.zeros(st.d, dtype=torch.bool)
        fixed[-1] = True
        z = st.recall(_with_bias(torch.where(v.detach() >= 0, 1.0, -1.0)), recall_steps, fixed)
        recovered.append(z[:-1] > 0)
    return recovered


def recovery_report(recovered: list[torch.Tensor], true_gates: list[list[torch.Tensor]],
                    task_id: int) -> dict[str, float | int | bool]:
    """Bit accuracy against task `task_id`'s gates and the Hamming-nearest task (over all layers)."""
    rec = torch.cat([r.reshape(-1) for r in recovered])
    distances = [int((torch.cat([m.reshape(-1) for m in gates]) != rec).sum()) for gates in true_gates]
    nearest = min(range(len(distances)), key=distances.__getitem__)
    return {"bit_accuracy": 1.0 - distances[task_id] / rec.numel(), "nearest_task": nearest,
            "correct": nearest == task_id, "hamming": distances[task_id]}


def storage_bytes(stores: list[HopfieldStore], num_tasks: int) -> dict[str, int]:
    """Bytes of the Hopfield stores (float32 `(d + 1)^2` per layer) and of `num_tasks` bit-packed gates.

    The Hopfield matrices do not grow with the number of tasks but cost 32 d bits per unit, so
    they only pay off in bytes once far more than `32 d` tasks share them, and a Hopfield network
    stops recalling reliably long before that (about 0.1-0.2 d patterns): the point is a fixed
    reservoir whose recall needs no task id, not compression.
    """
    per_task_bits = sum(st.d - 1 for st in stores)  # minus the always-on unit
    return {"hopfield": sum(st.nbytes() for st in stores), "direct": num_tasks * ((per_task_bits + 7) // 8)}
