"""Elastic weight consolidation (Kirkpatrick et al. 2017) and its online variant (Schwarz et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from supermasks.conditional import complete, only_when
from supermasks.data.task import Task
from supermasks.compute.devices import module_device, to_device
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator, owned
from supermasks.methods.base import MethodSpec
from supermasks.models import DenseNetwork, parameter_bytes
from supermasks.training import FitResult, Probe, TrainingSettings
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig

FisherLabel = Literal["predicted", "true"]
Mode = Literal["separate", "online"]
FISHER_LABELS: tuple[str, ...] = get_args(FisherLabel)
MODES: tuple[str, ...] = get_args(Mode)
FISHER_CHUNK = 16  # samples per vmap call; larger chunks hold more per-sample gradients and ran no faster on CPU


def fisher_diagonal(model: DenseNetwork, head: int, x: torch.Tensor, y: torch.Tensor,
                    names: list[str]) -> dict[str, torch.Tensor]:
    """Mean over the samples of the squared per-sample gradient of log p(y | x) for parameters `names`.

    Each sample's gradient is squared before averaging (the empirical diagonal Fisher), which is
    not the square of the batch-mean gradient.
    """
    params = {n: p.detach() for n, p in model.named_parameters() if n in names}

    def log_likelihood(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, p, (xi.unsqueeze(0), head))  # (1, classes)
        return -F.cross_entropy(logits, yi.unsqueeze(0))

    per_sample = vmap(grad(log_likelihood), in_dims=(None, 0, 0))
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    model.eval()
    device = module_device(model)
    for i in range(0, len(x), FISHER_CHUNK):
        xb, yb = to_device(x[i:i + FISHER_CHUNK], device), to_device(y[i:i + FISHER_CHUNK], device)
        for n, g in per_sample(params, xb, yb).items():
            sums[n] += g.square().sum(0)  # g: (chunk, *parameter shape)
    return {n: s / len(x) for n, s in sums.items()}


class EWC:
    """Dense network whose parameters are pulled towards earlier tasks' solutions, weighted by Fisher.

    While learning a task the loss gains `(lam / 2) * sum_i F_i (theta_i - theta*_i)^2`, summed over
    earlier tasks (`mode="separate"`) or with one running Fisher `F = decay * F + F_new` anchored at
    the latest parameters (`mode="online"`). We use lam/2 as in the paper; the tutorial multiplies the
    sum by `importance` without the 1/2, so lam = 2 x importance gives the tutorial's strength.

    `fisher_[k]` and `anchors_[k]` map parameter names to the Fisher and theta* of term k (one per
    earlier task, or a single running term online); only the trunk and the task's own head are kept.
    The separate terms are also merged into one quadratic, since
    `sum_k F_k (theta - a_k)^2 = A (theta - m)^2 + c` with `A = sum_k F_k`, `m = sum_k F_k a_k / A`,
    `c = sum_k F_k (m - a_k)^2`: a training step then costs the same however many tasks came before.

    Told the number of tasks (`expect_tasks`), the last task adds no Fisher or anchors: no task
    follows to be penalised by them. The runner tells it.
    """

    name = "ewc"
    # Besides the training settings (`_state.RECORDED_TRAINING`).
    HYPERPARAMETERS = ("scenario", "seed", "lam", "samples", "fisher_label", "mode", "decay")

    def __init__(self, model: DenseNetwork, *, training: TrainingSettings = TrainingSettings(), scenario: str = "task",
                 seed: int = 0, lam: float = 1000.0, samples: int = 200, fisher_label: str = "predicted", mode: str = "separate",
                 decay: float = 1.0) -> None:
        self.model = model
        self.training = training
        self.scenario = scenario
        self.seed = seed
        self.lam = lam
        self.samples = samples
        self.fisher_label = fisher_label
        self.mode = mode
        self.decay = decay
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        self.fisher_generator_ = torch.Generator().manual_seed(streams(seed).fisher)
        self.fisher_: list[dict[str, torch.Tensor]] = []
        self.anchors_: list[dict[str, torch.Tensor]] = []
        # The merged quadratic the penalty evaluates, as lists aligned with `penalty_params_`.
        self.penalty_params_: list[torch.nn.Parameter] = []
        self.merged_fisher_: list[torch.Tensor] = []
        self.merged_anchors_: list[torch.Tensor] = []
        self.merged_offset_ = 0.0
        self._num_tasks: int | None = None  # the sequence's length when known: told on every run, not state

    def expect_tasks(self, num_tasks: int | None) -> None:
        """The sequence has `num_tasks` tasks (None: unknown); the last one adds no penalty term."""
        self._num_tasks = num_tasks

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, self.scenario, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        # Fail before training rather than after it, when the Fisher is due.
        for key, value, valid in (("fisher_label", self.fisher_label, FISHER_LABELS), ("mode", self.mode, MODES)):
            if value not in valid:
                raise ValueError(f"{key} must be one of {', '.join(valid)}, got {value!r}")
        penalty = self.penalty if self.fisher_ and self.lam > 0 else None
        result = _dense.train_task(self.model, self.scenario, task, task.x_train, task.y_train,
                                   params=list(self.model.parameters()), training=self.training,
                                   generator=self.batch_generator_, name=self.name, progress=progress, probe=probe,
                                   penalty=penalty)
        if self._num_tasks is None or task.task_id < self._num_tasks - 1:  # no later task to hold to it
            self.consolidate(task)
        return result

    def task_fisher(self, task: Task) -> dict[str, torch.Tensor]:
        """The diagonal Fisher at the current parameters from `samples` training samples of `task` (all if fewer)."""
        head = _dense.head_of(self.model, self.scenario, task.task_id)
        pick = torch.randperm(len(task.x_train), generator=self.fisher_generator_)[:self.samples]
        x = task.x_train[pick]
        y = (task.y_train[pick] if self.fisher_label == "true"
             else _dense.predict(self.model, self.scenario, x, task.task_id).argmax(dim=1))
        # Other tasks' heads play no part in this task's likelihood: their Fisher is zero. (A user's network,
        # `SharedHeadNet`, has no per-task head: every one of its parameters serves every task.)
        names = [n for n, _ in self.model.named_parameters() if not n.startswith("heads.") or
                 n.startswith(f"heads.{head}.")]
        return fisher_diagonal(self.model, head, x, y, names)

    def consolidate(self, task: Task) -> None:
        """Add `task`'s Fisher and anchors (the parameters just learned) to the penalty."""
        fisher = self.task_fisher(task)
        if self.mode == "separate":
            self.fisher_.append(fisher)
        else:
            running = {n: self.decay * f for n, f in (self.fisher_[0] if self.fisher_ else {}).items()}
            for n, f in fisher.items():
                running[n] = running.get(n, 0.0) + f
            self.fisher_ = [running]
        params = dict(self.model.named_parameters())
        anchors = {n: params[n].detach().clone() for n in self.fisher_[-1]}
        self.anchors_ = [anchors] if self.mode == "online" else [*self.anchors_, anchors]
        self._merge()

    def _merge(self) -> None:
        params = dict(self.model.named_parameters())
        names = list(dict.fromkeys(n for term in self.fisher_ for n in term))
        self.penalty_params_, self.merged_fisher_, self.merged_anchors_ = [], [], []
        offset = 0.0
        for n in names:
            terms = [(f[n], a[n]) for f, a in zip(self.fisher_, self.anchors_) if n in f]
            if len(terms) == 1:  # share the term's own tensors rather than store a copy
                total, mean = terms[0]
            else:
                total = sum(f for f, _ in terms)
                weighted = sum(f * a for f, a in terms) / total
                # Where no task cares (A = 0) the term vanishes whatever m is.
                mean = torch.where(total > 0, weighted, terms[-1][1])
                offset += sum((f * (mean - a).square()).sum().item() for f, a in terms)
            self.penalty_params_.append(params[n])
            self.merged_fisher_.append(total)
            self.merged_anchors_.append(mean)
        self.merged_offset_ = offset

    def penalty(self) -> torch.Tensor:
        """`(lam / 2) * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2` at the current parameters."""
        total = sum(((f * (p - a).square()).sum()
                     for p, f, a in zip(self.penalty_params_, self.merged_fisher_, self.merged_anchors_)),
                    torch.zeros((), device=module_device(self.model)))
        return 0.5 * self.lam * (total + self.merged_offset_)

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, self.scenario, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, self.scenario, x, task_id)

    def memory_bytes(self) -> int:
        kept = [*(t for term in (*self.fisher_, *self.anchors_) for t in term.values()),
                *self.merged_fisher_, *self.merged_anchors_]
        unique = {id(t): t for t in kept}  # merged terms may be the stored tensors themselves
        return parameter_bytes(self.model) + sum(t.nbytes for t in unique.values())

    def state_dict(self) -> dict[str, Any]:
        """The network, generators and per-term Fisher and anchors; the merged quadratic is rebuilt from them."""
        return {**header(self, self.HYPERPARAMETERS), "network": _dense.network_state(self.model),
                "batch_generator": self.batch_generator_.get_state(),
                "fisher_generator": self.fisher_generator_.get_state(),
                "fisher": [dict(term) for term in self.fisher_], "anchors": [dict(term) for term in self.anchors_]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        _dense.load_network_state(self.model, state["network"])
        load_generator(self.batch_generator_, state["batch_generator"])
        load_generator(self.fisher_generator_, state["fisher_generator"])
        device = module_device(self.model)  # terms saved from any device are the network's own again
        self.fisher_ = [{n: owned(t).to(device) for n, t in term.items()} for term in state["fisher"]]
        self.anchors_ = [{n: owned(t).to(device) for n, t in term.items()} for term in state["anchors"]]
        self._merge()  # the penalty refers to this network's own parameters, and shares the terms' tensors


@dataclass(frozen=True)
class EWCSettings:
    """The `ewc` section. `lam` is spelled `lambda` in YAML and overrides (a Python keyword)."""

    lam: float = field(default=1000.0, metadata={"key": "lambda"})  # the penalty is (lambda / 2) * sum_i F_i (theta_i - theta*_i)^2
    samples: int = 200  # samples of the finished task used to estimate the diagonal Fisher
    fisher_label: FisherLabel = "predicted"  # "predicted" (model's own prediction) or "true"
    mode: Mode = "separate"  # "separate": one penalty per earlier task; "online": one running Fisher
    decay: float | None = field(default=None, metadata=only_when(  # old Fisher's factor before adding the new one
        "mode", "online", "ewc.mode online", default=1.0, fix="set ewc.mode=online"))

    def __post_init__(self) -> None:
        complete(self, "ewc")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lambda must be a finite number >= 0 (0 turns the penalty off), got {self.lam}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1 (samples per Fisher estimate), got {self.samples}")
        if self.decay is not None and not 0.0 <= self.decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {self.decay}")


def from_config(config: "MethodConfig") -> EWC:
    settings: EWCSettings = config.settings("ewc")
    return EWC(_dense.build_network(config), training=config.training, scenario=config.scenario.name, seed=config.seed,
               lam=settings.lam,
               samples=settings.samples, fisher_label=settings.fisher_label, mode=settings.mode,
               **({} if settings.decay is None else {"decay": settings.decay}))


SPEC = MethodSpec(from_config, "elastic weight consolidation: a Fisher-weighted pull towards earlier tasks' weights",
                  frozenset({"task", "domain", "class"}), settings=EWCSettings,
                  check=_dense.own_network_check("ewc"), own_network=True)
