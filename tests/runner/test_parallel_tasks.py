"""SupSup's tasks learned apart (`run.parallel_tasks`) in this process: the same numbers as in sequence; the
refusals; how a run plans its cores (`plan_cores`).

Each task learned by a fresh SupSup from the replayed stream states (`task_starts`, `learn_alone`)
and installed in order (`learned_apart`) must leave the method exactly as `learn` in sequence does:
masks, BN statistics, generator states and losses. Worker processes are in test_parallel_tasks_local.py,
the Ray side in test_parallel_tasks_ray.py.
"""

import sys

import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.data import load_source
from supermasks.methods.supsup import from_config
from supermasks.models import num_tasks
from supermasks.runner import validate
from supermasks.runner.build import build_tasks
from supermasks.runner.parallel import plan_cores
from supermasks.training import iterate_batches, skip_batches

TINY = ["data.source=synthetic", "data.num_tasks=3", "training.steps_per_task=7", "training.batch_size=32",
        "training.lr=1e-2", "model.arch=lenet-300-100", "run.figures=false"]


def tiny(*extra):
    return load_config(None, [*TINY, *extra])


@pytest.mark.parametrize("n, batch_size, steps", [(100, 32, 7), (10, 32, 3), (64, 32, 2)])
def test_skip_batches_moves_the_generator_as_drawing_the_batches_does(n, batch_size, steps):
    drawn, skipped = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x = torch.arange(n)
    assert len(list(iterate_batches(x, x, batch_size, steps, drawn))) == steps
    skip_batches(n, batch_size, steps, skipped)
    assert torch.equal(drawn.get_state(), skipped.get_state())


@pytest.mark.parametrize("extra", [[], ["model.batch_norm=true", "supsup.score_init=shared"]])
def test_tasks_learned_apart_and_installed_in_order_equal_sequential_training(extra):
    config = tiny("data.benchmark=permuted", *extra)
    tasks = build_tasks(config, "permuted", load_source("synthetic", None))
    in_sequence, apart = from_config(config), from_config(config)
    starts = apart.task_starts(tasks)
    assert len(starts) == len(tasks) + 1 and num_tasks(apart.model) == 0  # the replay trains nothing
    # Learned in any order, each by a fresh copy.
    learned = {task.task_id: from_config(config).learn_alone(task, starts[task.task_id]) for task in reversed(tasks)}
    fits = [in_sequence.learn(task, progress=False) for task in tasks]
    for task in tasks:
        apart.begin_task(task)
        apart.learned_apart(task, learned[task.task_id], starts[task.task_id + 1])
    assert [learned[t].fit.losses for t in range(len(tasks))] == [fit.losses for fit in fits]
    for t in range(len(tasks)):
        mine, theirs = apart.masks(t), in_sequence.masks(t)
        assert mine.keys() == theirs.keys() and all((mine[k] == theirs[k]).all() for k in mine)
    a, b = apart.state_dict(), in_sequence.state_dict()
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])  # packed masks, BN, weights
    for key in ("score_generator", "batch_generator"):
        assert torch.equal(a[key], b[key])
    assert (a["finished"], a["num_classes"]) == (b["finished"], b["num_classes"]) == (3, b["num_classes"])


@pytest.mark.parametrize("override, named", [
    ("method=[supsup,ewc]", "method ewc learns each task on top of the earlier ones"),
    ("scenario.name=gnu", "scenario gnu is not supported"),
    ("supsup.transfer=mean", "supsup.transfer=mean starts each task from earlier tasks' trained scores"),
    ("run.eval_every=5", "set run.eval_every=0"),
])
def test_dependent_tasks_are_refused_before_any_work(override, named):
    validate(tiny())
    validate(tiny("run.parallel_tasks=true"))
    with pytest.raises(ConfigError, match="run.parallel_tasks") as refused:
        validate(tiny("run.parallel_tasks=true", override))
    assert named in str(refused.value)
    validate(tiny(override))  # without parallel_tasks the same config runs


def test_parallel_tasks_need_no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    config = tiny("run.parallel_tasks=true")
    validate(config)
    plan = plan_cores(config, threads=1, cpus=3, ray="none", wait_policy="PASSIVE")
    assert (plan.backend, plan.workers, plan.threads) == ("processes", 3, 1)


@pytest.mark.parametrize("overrides, threads, ray, policy, expected", [
    # auto: worker processes where the tasks are independent and the run has threads to spare, one per thread
    ([], 2, "none", "PASSIVE", ("processes", 2, 1)),
    ([], 4, "none", None, ("processes", 4, 1)),
    ([], 1, "none", "PASSIVE", ("sequence", 0, None)),
    # true with one thread: one worker per CPU of the machine (3 here)
    (["run.parallel_tasks=true"], 1, "none", "PASSIVE", ("processes", 3, 1)),
    # a Ray the caller started takes the tasks; inside a Ray task they train in sequence with the task's threads
    ([], 2, "driver", "PASSIVE", ("ray", 0, None)),
    (["run.parallel_tasks=true"], 2, "task", "PASSIVE", ("sequence", 0, None)),
    # dependent tasks of a small FC net under passive waits: one thread, whatever was asked
    (["supsup.transfer=mean"], 2, "none", "PASSIVE", ("sequence", 0, 1)),
    (["run.parallel_tasks=false"], 2, "none", "passive", ("sequence", 0, 1)),
    # ... but threads as asked where OpenMP spins (the user's OMP_WAIT_POLICY) or the network is large
    (["supsup.transfer=mean"], 2, "none", "ACTIVE", ("sequence", 0, None)),
    (["supsup.transfer=mean", "model.arch=fc-1024-1024"], 2, "none", "PASSIVE", ("sequence", 0, None)),
])
def test_a_run_plans_its_cores(overrides, threads, ray, policy, expected):
    plan = plan_cores(tiny(*overrides), threads=threads, cpus=3, ray=ray, wait_policy=policy)
    assert (plan.backend, plan.workers, plan.threads) == expected
    if plan.threads == 1 and plan.backend == "sequence":
        assert f"{threads} threads asked for, training uses one" in plan.note and "OMP_WAIT_POLICY=PASSIVE" in plan.note
        assert ("depend on each other" in plan.note) == ("supsup.transfer=mean" in overrides)
    if plan.backend == "processes":
        assert f"up to {plan.workers} worker processes of one thread each" in plan.note


def test_parallel_tasks_is_auto_by_default_and_reads_true_false_auto():
    assert tiny().run.parallel_tasks == "auto"
    assert [tiny(f"run.parallel_tasks={v}").run.parallel_tasks for v in ("true", "false", "auto")] == [True, False, "auto"]
    with pytest.raises(ConfigError, match="run.parallel_tasks: expected bool or one of auto, got 'sometimes'"):
        tiny("run.parallel_tasks=sometimes")
    validate(tiny("supsup.transfer=mean"))  # auto with dependent tasks: sequential training, no refusal


def test_the_run_hash_does_not_depend_on_parallel_tasks():
    from supermasks.config.records import config_hash

    assert config_hash(tiny("run.parallel_tasks=true")) == config_hash(tiny())
