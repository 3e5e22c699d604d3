"""HopSupSup: per-neuron task gates stored in Hopfield networks and recovered from unlabelled test data."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.layers import signed_constant
from supermasks.training.optimizers import adam


class HopfieldStore:
    """A `d x d` Hopfield matrix `psi_` holding +-1 patterns with the Storkey rule (Storkey 1997).

    Each `store(z)` applies, with `h = psi z` the field of the matrix before the update,
    `psi += (z z^T - I - z h^T - h z^T) / d`, the matrix form used by SupSup (Wortsman et al.,
    NeurIPS 2020, section on Hopfield storage). Storkey's published rule takes the local field
    `h_ij = sum_{k != i, j} psi_ik z_k`; the matrix form uses the full field `h_i = sum_k psi_ik z_k`,
    which is what is implemented here. The `- I` keeps the Hebbian term `z z^T` off the diagonal.
    """

    def __init__(self, d: int, device: torch.device | str | None = None) -> None:
        if d < 1:
            raise ValueError(f"d must be positive, got {d}")
        self.d = d
        self.psi_ = torch.zeros(d, d, device=device)  # on the device of the network whose gates it holds
        self.num_patterns_ = 0

    def _check(self, s: torch.Tensor) -> torch.Tensor:
        if s.shape[-1] != self.d:
            raise ValueError(f"state of size {s.shape[-1]} for a Hopfield store of size {self.d}")
        return s.to(device=self.psi_.device, dtype=self.psi_.dtype)

    def store(self, z: torch.Tensor) -> None:
        """Add the +-1 pattern `z` (shape (d,)) with one Storkey update."""
        z = self._check(z.reshape(-1))
        if not bool(((z == 1) | (z == -1)).all()):
            raise ValueError("Hopfield patterns must be +-1 (use z = 2 * mask - 1)")
        h = self.psi_ @ z  # (d,), the field before this pattern is added
        outer = torch.outer
        self.psi_ += (outer(z, z) - torch.eye(self.d, device=z.device) - outer(z, h) - outer(h, z)) / self.d
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

    def state_dict(self) -> dict[str, object]:
        return {"d": self.d, "psi": self.psi_, "num_patterns": self.num_patterns_}

    def load_state_dict(self, state: dict) -> None:
        if state["d"] != self.d:
            raise ValueError(f"a saved Hopfield store of size {state['d']} for one of size {self.d}")
        self.psi_ = state["psi"].detach().to(self.psi_.device, copy=True)  # a copy: `store` updates it in place
        self.num_patterns_ = state["num_patterns"]


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
    Scores start in `U(-score_scale, score_scale)`. The scale is small on purpose: with Adam or
    RMSprop a score moves about `lr` per step, so a scale larger than the distance training travels
    leaves most gates at their random initial sign. Such gates say nothing about the task, and the
    output entropy that recovers a gate at test time then has nothing to find.
    """

    def __init__(self, sizes: tuple[int, ...] = (784, 128, 4), *, seed: int = 0, score_scale: float = 1e-3) -> None:
        super().__init__()
        if len(sizes) < 3:
            raise ValueError(f"need at least one hidden layer, got sizes {sizes}")
        if score_scale <= 0:
            raise ValueError(f"score_scale must be positive, got {score_scale}")
        self.sizes = tuple(sizes)
        self.score_scale = score_scale
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

    def weight_bytes(self) -> int:
        """Bytes of the fixed float32 weights."""
        return sum(4 * w.numel() for w in self.buffers())

    def new_scores(self, generator: torch.Generator | None = None) -> nn.ParameterList:
        """Fresh scores for one task, one (d_l,) per hidden layer, not registered with the model.

        About half of each layer's units start on. `generator` defaults to the model's own stream
        (CPU generators: drawn on the CPU, then moved to the network's device).
        """
        g = self._generator if generator is None else generator
        device = self.weight0.device
        return nn.ParameterList([nn.Parameter(torch.empty(d).uniform_(-self.score_scale, self.score_scale,
                                                                      generator=g).to(device))
                                 for d in self.hidden_sizes])

    def add_task(self) -> int:
        """Register fresh scores for a new task (see `new_scores`); returns its task id."""
        self.scores.append(self.new_scores())
        return self.num_tasks - 1

    def grow_tasks(self, count: int) -> None:
        """Add tasks until there are `count`, so saved scores can be loaded (their draws are overwritten)."""
        if self.num_tasks > count:
            raise ValueError(f"the network has {self.num_tasks} tasks already, the state {count}")
        while self.num_tasks < count:
            self.scores.append(self.new_scores(torch.Generator()))  # leaves the network's own stream alone

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        """The network's own generator (it draws `add_task`'s scores), saved with its tensors by `state_dict`."""
        return {"generator": self._generator.get_state()}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self._generator.set_state(state["generator"].clone())

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
    opt = adam(model.scores[task_id].parameters(), lr=lr)  # torch.optim.Adam's arithmetic, no torch._dynamo import
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


def gate_pattern(mask: torch.Tensor) -> torch.Tensor:
    """The +-1 Hopfield pattern `[2 m - 1, +1]` of a bool gate (d,): the always-on unit last."""
    return _with_bias(2.0 * mask.float() - 1.0)


def store_gates(model: NeuronMaskMLP) -> list[HopfieldStore]:
    """One Hopfield store per hidden layer holding every task's gate as `[2 m - 1, +1]`.

    A Hopfield energy is even (`E(z) = E(-z)`), so each stored gate's complement is an attractor
    too; one extra unit fixed at +1 breaks that symmetry, and its column of `psi` accumulates a
    superposition of the stored gates, the natural starting point for recovery (as SupSup starts
    its task inference from the superposition of all masks).
    """
    stores = [HopfieldStore(d + 1, device=model.weight0.device) for d in model.hidden_sizes]
    for task_id in range(model.num_tasks):
        for store, mask in zip(stores, model.gates(task_id)):
            store.store(gate_pattern(mask))
    return stores


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1).mean()


def _always_on(store: HopfieldStore) -> torch.Tensor:
    """The state (d,) with only the always-on unit set: its field is the superposition of the stored gates."""
    u = torch.zeros(store.d, device=store.psi_.device)
    u[-1] = 1.0
    return u


def _field(store: HopfieldStore, u: torch.Tensor) -> torch.Tensor:
    """The field `psi u` on the gated units, rescaled by `d / patterns` so a stored z has about unit size.

    With `u` the always-on unit alone this is the superposition of the stored gates.
    """
    return (store.psi_ @ u)[:-1] * store.d / max(store.num_patterns_, 1)


def _recall_gates(stores: list[HopfieldStore], states: list[torch.Tensor], steps: int) -> list[torch.Tensor]:
    """`recall` from `sign(state)` in every layer with the always-on unit held at +1; bool gates."""
    gates = []
    for store, s in zip(stores, states):
        fixed = torch.zeros(store.d, dtype=torch.bool, device=store.psi_.device)
        fixed[-1] = True
        z = store.recall(_with_bias(torch.where(s.detach() >= 0, 1.0, -1.0)), steps, fixed)
        gates.append(z[:-1] > 0)
    return gates


def _descend(model: NeuronMaskMLP, stores: list[HopfieldStore], x: torch.Tensor, *, in_span: bool,
             steps: int, lr: float, recall_steps: int, every: int) -> list[list[torch.Tensor]]:
    """One annealed descent from the superposition `s_0`; the recalled gates every `every` steps and at the end.

    Step k minimises `(1 - a) H(p(y|x)) + a sum_l E_l([z^l, 1]) / d_l`, `a = k / (steps - 1)`,
    with `z^l = 2 * 1[s^l >= 0] - 1` through the straight-through gate, so the energy term pulls
    `s` along the Hopfield field as recall does. Dividing by `d_l` puts it on the entropy's scale.

    `in_span=False`: `s^l` itself is learned and gates the network as `1[s^l >= 0]` (SupSup's
    HopSupSup). `in_span=True`: `s^l = s_0^l + psi v^l` moves by the field of a learned state `v^l`
    (zero at the start) and gates the network softly as `clip((1 + s^l) / 2, 0, 1)`. The soft
    start is the average of the stored gates, as SupSup's one-shot inference mixes all masks with
    weight 1/k, so no stored gate is favoured (a binary start is the nearest stored gate, with two
    gates the last one stored); and a step in `v` moves `s` only along what the matrix holds, so the
    entropy cannot lead it to a confident gate that is no stored gate at all.
    """
    start = [_field(store, _always_on(store)) for store in stores]
    if in_span:
        params = [torch.zeros(store.d, requires_grad=True, device=store.psi_.device) for store in stores]

        def states() -> list[torch.Tensor]:
            # psi z ~ z for a stored z, so a step of size lr along a stored gate moves s by about lr,
            # as a step on s itself does in the other descent.
            return [s0 + (store.psi_ @ v)[:-1] for store, s0, v in zip(stores, start, params)]

        def network_gates(s: list[torch.Tensor]) -> list[torch.Tensor]:
            return [((1 + v) / 2).clamp(0, 1) for v in s]
    else:
        params = [s0.clone().requires_grad_(True) for s0 in start]

        def states() -> list[torch.Tensor]:
            return params

        def network_gates(s: list[torch.Tensor]) -> list[torch.Tensor]:
            return [straight_through_gate(v) for v in s]

    opt = adam(params, lr=lr)
    candidates = []
    for k in range(steps):
        a = k / max(steps - 1, 1)
        s = states()
        if k % every == 0:
            candidates.append(_recall_gates(stores, s, recall_steps))
        loss = (1 - a) * _entropy(model(x, gates=network_gates(s)))
        energy = sum(st.energy(_with_bias(2 * straight_through_gate(v) - 1)) / st.d for st, v in zip(stores, s))
        loss = loss + a * energy
        opt.zero_grad()
        loss.backward()
        opt.step()
    candidates.append(_recall_gates(stores, states(), recall_steps))
    return candidates


def recover_gates(model: NeuronMaskMLP, stores: list[HopfieldStore], x: torch.Tensor, *,
                  steps: int = 50, lr: float = 0.1, recall_steps: int = 20, every: int = 5) -> list[torch.Tensor]:
    """Infer the gates of an unlabelled batch `x`: annealed descents, recall, then the most confident attractor.

    SupSup's HopSupSup (Wortsman et al., NeurIPS 2020, section on Hopfield storage) descends a
    loss that anneals from the output entropy to the Hopfield energy, starting from the
    superposition held in the always-on unit's column. Two such descents run here (see
    `_descend`): one on the binary gate, as in SupSup, and one on a soft gate confined to the
    span of the matrix. Neither alone is reliable: the entropy can be lowered far from every stored
    gate, and which descent stays near the right one depends on how strongly the gates were
    trained. Every `every` steps each descent's state is cleaned up by `recall` with the always-on
    unit held at +1, which snaps it to the attractor whose basin it is in; of the attractors
    reached that lie on the superposition's side (not the mirror image of a stored gate), the one
    whose gates give the lowest output entropy on `x` is returned, the criterion that SupSup's
    one-shot task inference minimises. Returns bool gates, one (d_l,) per hidden layer. Needs at
    least one stored gate.
    """
    if not stores or stores[0].num_patterns_ == 0:
        raise ValueError("no gates are stored, so there is nothing to recover")
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be positive, got {steps} and {every}")
    x = x.to(model.weight0.device)
    candidates = []
    for in_span in (True, False):
        candidates += _descend(model, stores, x, in_span=in_span, steps=steps, lr=lr, recall_steps=recall_steps,
                               every=every)
    unique = {b"".join(bytes(g.cpu().numpy()) for g in gates): gates for gates in candidates}
    # The complement of a stored gate is an attractor too, and turning on the units a gate leaves
    # off often makes outputs more confident, so the entropy alone can prefer it. Through the
    # always-on unit's couplings its energy is higher by a positive multiple of z . superposition:
    # keep the side that agrees with the superposition (every stored gate does unless the gates
    # are anti-correlated).
    superposition = [_field(store, _always_on(store)) for store in stores]
    same_side = {key: gates for key, gates in unique.items()
                 if sum(float((2 * g.float() - 1) @ s) for g, s in zip(gates, superposition)) >= 0}
    unique = same_side or unique
    with torch.no_grad():
        entropies = {key: _entropy(model(x, gates=[g.float() for g in gates])).item() for key, gates in unique.items()}
    return unique[min(entropies, key=entropies.__getitem__)]


def nearest_gates(recovered: list[torch.Tensor], reference: list[list[torch.Tensor]]) -> tuple[int, list[int]]:
    """The index of the Hamming-nearest gates in `reference` (over all layers), and every distance."""
    if not reference:
        raise ValueError("no reference gates to compare with")
    rec = torch.cat([r.reshape(-1) for r in recovered]).cpu()
    distances = [int((torch.cat([m.reshape(-1) for m in gates]).cpu() != rec).sum()) for gates in reference]
    return min(range(len(distances)), key=distances.__getitem__), distances


def recovery_report(recovered: list[torch.Tensor], true_gates: list[list[torch.Tensor]],
                    task_id: int) -> dict[str, float | int | bool]:
    """Bit accuracy against task `task_id`'s gates and the Hamming-nearest task (over all layers)."""
    nearest, distances = nearest_gates(recovered, true_gates)
    bits = sum(r.numel() for r in recovered)
    return {"bit_accuracy": 1.0 - distances[task_id] / bits, "nearest_task": nearest,
            "correct": nearest == task_id, "hamming": distances[task_id]}


def storkey_capacity(d: int) -> float:
    """Storkey's estimate `d / sqrt(2 ln d)` of how many random patterns his rule stores in `d` units.

    Storkey, "Increasing the capacity of a Hopfield network without sacrificing functionality"
    (ICANN 1997). Task gates are correlated rather than random, so this is a guide, not a bound.
    """
    return d / math.sqrt(2 * math.log(d)) if d > 1 else 1.0


def storage_bytes(stores: list[HopfieldStore], num_tasks: int) -> dict[str, int]:
    """Bytes of the Hopfield stores (float32 `(d + 1)^2` per layer) and of `num_tasks` bit-packed gates.

    The Hopfield matrices do not grow with the number of tasks but cost 32 d bits per unit, so
    they only pay off in bytes once far more than `32 d` tasks share them, and a Hopfield network
    stops recalling reliably long before that (about 0.1-0.2 d patterns): the point is a fixed
    reservoir whose recall needs no task id, not compression.
    """
    per_task_bits = sum(st.d - 1 for st in stores)  # minus the always-on unit
    return {"hopfield": sum(st.nbytes() for st in stores), "direct": num_tasks * ((per_task_bits + 7) // 8)}
