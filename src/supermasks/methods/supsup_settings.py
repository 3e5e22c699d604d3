"""SupSup's settings: the `supsup` config section, the checks on it and on the arguments of a SupSup, and what a
config implies for SupSup before one is built (kept scores, recorded initial masks, memory bits, the reference run)."""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from supermasks.conditional import complete, only_when
from supermasks.data.task import Task
from supermasks.errors import ConfigError, require_choice, require_number
from supermasks.inference import OBJECTIVES
from supermasks.methods._warm_start import GUIDED, PROTOCOLS, TRANSFERS
from supermasks.scenarios import INFERRED

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig

TASK_INFERENCE = ("oneshot", "binary", "signature")
SUPERPOSING = ("oneshot", "binary")  # task inference by superposed masks: no per-task BatchNorm
SCORE_INITS = ("independent", "shared")


@dataclass(frozen=True)
class SupSupSettings:
    """The `supsup` section: task inference (scenarios gns/gnu) and transfer (docs/algorithms.md sections 1.5 and 3)."""

    # How a test batch's task is found: "oneshot", "binary", or "signature" (nearest BN signature,
    # needs batch_norm), and the objective: "H" (output entropy) or "G" (logsumexp through the extra
    # s-neurons). The config fills them in for the scenarios that infer tasks (gns, gnu).
    task_inference: Literal["oneshot", "binary", "signature"] | None = field(default=None, metadata=only_when(
        "scenario.name", INFERRED, "scenarios gns and gnu", default="oneshot", fix="set scenario.name to gns or gnu"))
    inference_objective: Literal["H", "G"] | None = field(default=None, metadata=only_when(
        "scenario.name", INFERRED, "scenarios gns and gnu", default="H", fix="set scenario.name to gns or gnu"))
    transfer: Literal["random", "mean", "similar", "soft"] = "random"  # "similar"/"soft" need batch_norm
    # Guided transfer's similarities: "causal" (a probe batch) or "two_pass" (a reference run's signatures).
    transfer_protocol: Literal["causal", "two_pass"] | None = field(default=None, metadata=only_when(
        "transfer", GUIDED, "supsup.transfer similar or soft", default="causal",
        fix="set supsup.transfer to similar or soft"))
    # "soft": softmax(|cos| / temperature); |cos| differences are small.
    transfer_temperature: float | None = field(default=None, metadata=only_when(
        "transfer", "soft", "supsup.transfer soft", default=0.1, fix="set supsup.transfer=soft"))
    # How tasks that start random start: "independent" draws (SupSup) or one "shared" draw for every
    # task (docs/algorithms.md section 2: what differs between masks is then learned); shared needs transfer random.
    score_init: Literal["independent", "shared"] = "independent"

    def __post_init__(self) -> None:
        complete(self, "supsup")
        if self.transfer_temperature is not None:
            require_number("transfer_temperature", self.transfer_temperature)


def given(settings: SupSupSettings, *names: str) -> dict[str, Any]:
    """The conditional settings that apply (not None); SupSup's own defaults stand for the others, unused."""
    return {name: getattr(settings, name) for name in names if getattr(settings, name) is not None}


def keeps_scores(config: "MethodConfig") -> bool:
    """Whether finished tasks keep float scores: guided transfer mixes them, and NNs trains a mask again
    when its data comes back (`NNsLearner`); otherwise a finished task keeps its packed mask only."""
    return config.settings("supsup").transfer in GUIDED or config.scenario.name == "nns"


def records_initial_masks(config: "MethodConfig") -> bool:
    """Whether each task's initial mask is kept (bit-packed) for the learned-change analysis: where the
    run analyses mask overlap (`run.overlap`), except under NNs, whose learner allocates masks itself."""
    return config.run.overlap and config.scenario.name != "nns"


def task_bits(config: "MethodConfig") -> int:
    """Bits per network weight each task adds in memory: 32 for kept float scores, else 1 for the packed
    mask; plus 1 for the bit-packed bank that task inference (gns, gnu) and NNs detection read, and 1
    for the recorded initial mask."""
    bank = 1 if config.scenario.name in (*INFERRED, "nns") else 0
    return (32 if keeps_scores(config) else 1) + bank + int(records_initial_masks(config))


def needs_reference(config: "MethodConfig") -> bool:
    """Whether the config's transfer reads a reference model's signatures (two_pass, similar or soft)."""
    settings: SupSupSettings = config.settings("supsup")
    return settings.transfer in GUIDED and settings.transfer_protocol == "two_pass"


def reference_config(config: "MethodConfig") -> "MethodConfig":
    """The config of the two_pass reference: the same SupSup ("classic") with random init.

    With the same seed its fixed weights, batch order and every task's random init equal the
    guided model's (the random init is drawn in every transfer mode), so the reference is
    exactly the `supsup.transfer=random` run of the same config.
    """
    settings = dataclasses.replace(config.settings("supsup"), transfer="random", transfer_protocol=None,
                                   transfer_temperature=None)  # the guided transfer's own settings do nothing here
    return config.with_settings("supsup", settings)


def check(config: "MethodConfig") -> None:
    """Task-inference and transfer settings that cannot work, refused before training."""
    settings: SupSupSettings = config.settings("supsup")
    batch_norm = config.model.batch_norm
    if config.scenario.name == "nns" and settings.transfer != "random":
        raise ConfigError("the nns scenario allocates masks as it detects tasks and starts them random: "
                          f"supsup.transfer={settings.transfer!r} is not supported there")
    if config.scenario.name == "nns" and settings.score_init != "independent":
        raise ConfigError("the nns scenario allocates masks as it detects tasks, each from its own random draw: "
                          f"supsup.score_init={settings.score_init!r} is not supported there")
    if settings.score_init == "shared" and settings.transfer != "random":
        raise ConfigError(f"supsup.score_init=shared starts every task from the same random scores, but "
                          f"supsup.transfer={settings.transfer} starts later tasks from earlier tasks' scores: "
                          "set supsup.transfer=random, or supsup.score_init=independent")
    if batch_norm and config.scenario.name in ("gns", "gnu") and settings.task_inference in SUPERPOSING:
        raise ConfigError(f"{settings.task_inference} task inference superposes masks, which per-task BatchNorm "
                          "statistics do not allow: set model.batch_norm=false for the gns/gnu scenarios, or use "
                          "supsup.task_inference=signature")
    if settings.task_inference == "signature" and not batch_norm:
        raise ConfigError("supsup.task_inference=signature compares per-task BatchNorm signatures: "
                          "set model.batch_norm=true")
    if settings.transfer in GUIDED and not batch_norm:
        raise ConfigError(f"supsup.transfer={settings.transfer} compares per-task BatchNorm signatures: "
                          "set model.batch_norm=true")


def check_tasks(config: "MethodConfig", tasks: list[Task]) -> None:
    """The G objective reads the extra output neurons (s-neurons): there must be some past every task's classes."""
    if config.settings("supsup").inference_objective != "G":
        return
    needed = max(task.num_classes for task in tasks)
    if config.model.output_size <= needed:
        raise ConfigError(f"inference_objective G needs extra output neurons: output_size ({config.model.output_size}) "
                          f"must exceed the {needed} classes of a task")


def tasks_apart(config: "MethodConfig") -> str | None:
    """Why SupSup's tasks under `config` cannot be learned apart (one line with the fix), or None: with random
    transfer each task starts from nothing but the two random streams (`_supsup_apart`)."""
    transfer = config.settings("supsup").transfer
    if transfer != "random":
        return (f"run.parallel_tasks needs independent tasks, but supsup.transfer={transfer} starts each task from "
                "earlier tasks' trained scores: set supsup.transfer=random, or run.parallel_tasks=false")
    return None


def check_arguments(*, has_norms: bool, task_inference: str, inference_objective: str, transfer: str,
                    transfer_protocol: str, transfer_temperature: float, reference_signatures: object | None,
                    keep_scores: bool, score_init: str) -> None:
    """ValueError for SupSup arguments that cannot work together (`has_norms`: the network has BatchNorm)."""
    require_choice("task inference", task_inference, TASK_INFERENCE)
    require_choice("inference objective", inference_objective, OBJECTIVES)
    require_choice("transfer", transfer, TRANSFERS)
    require_choice("transfer protocol", transfer_protocol, PROTOCOLS)
    require_choice("score init", score_init, SCORE_INITS)
    if score_init == "shared" and transfer != "random":
        raise ValueError(f"score_init='shared' starts every task from the same random scores, but "
                         f"transfer={transfer!r} starts later tasks from earlier tasks' scores: use "
                         "transfer='random' with shared init, or score_init='independent'")
    if not transfer_temperature > 0:
        raise ValueError(f"transfer_temperature must be positive, got {transfer_temperature}")
    if transfer in GUIDED and not has_norms:
        raise ValueError(f"{transfer!r} transfer compares BatchNorm signatures: build the model with batch_norm=True")
    if task_inference == "signature" and not has_norms:
        raise ValueError("signature task inference compares BatchNorm signatures: build the model with "
                         "batch_norm=True")
    if transfer in GUIDED and transfer_protocol == "two_pass" and reference_signatures is None:
        raise ValueError("two_pass transfer needs reference_signatures: the signatures of a SupSup model "
                         "with random init trained on all tasks first")
    if transfer in GUIDED and not keep_scores:
        raise ValueError(f"{transfer!r} transfer mixes every earlier task's float scores: it needs keep_scores=True")
