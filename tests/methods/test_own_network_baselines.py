"""The task-given dense baselines on a user's own network: its dense twin, whose output is one head shared by every
task (`models.user_dense`, `methods._dense`), given in memory or named by import path; the others refused."""

import copy

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supermasks import masked, tasks_from
from supermasks.config import ConfigError, from_dict, load_config
from supermasks.methods import method_spec
from supermasks.models import SharedHeadNet, add_task
from supermasks.models.user_dense import build_own_dense, dense_twin
from supermasks.runner import run
from supermasks.runner.build import with_own
from supermasks.seeds import streams
from tests.methods.test_state_dict import assert_same, predictions, train
from tests.own_network import column_tasks as tasks, small_net as net

ENABLED = ["naive", "joint", "ewc", "replay", "upper_bound"]
REFUSED = {"separate_heads": "no separable trunk and head", "batche": "its own BatchE layers",
           "hopsupsup": "gates the hidden units of a registered MLP"}
FAST = {"training": {"steps_per_task": 10, "batch_size": 16, "lr": 0.01},
        "run": {"figures": False, "report": False, "overlap": False, "checkpoint_state": False}}
SMALL = {"ewc": {"samples": 16}, "replay": {"per_task": 16}}  # each method's section, where it runs

PACKAGE = '''
import torch
from torch import nn


def network(output_size):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, output_size, bias=False))
'''


def flipped_tasks():
    """Two tasks on the same inputs, the second with the first's labels swapped: one shared head cannot fit both."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(100, 1, 6, 6, generator=g)
    y = (x[:, 0, :, 0].sum(1) > 0).long()
    return tasks_from([(x[:80], y[:80]), (x[:80], 1 - y[:80])], [(x[80:], y[80:]), (x[80:], 1 - y[80:])])


def config(tmp_path, methods, **extra):
    sections = {name: values for name, values in SMALL.items() if name in methods}
    return from_dict({**FAST, **sections, "method": methods, "run": {**FAST["run"], "out_dir": str(tmp_path / "runs")},
                      **extra})


def accuracy(result, method):
    return pd.read_csv(result.directory / "own" / method / "accuracy.csv").drop(columns="after").to_numpy()


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A user's package importable from tmp_path, as one on PYTHONPATH is."""
    name = f"densepkg_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_the_dense_twin_trains_the_masked_networks_fixed_weights_and_draws_nothing():
    template = masked(net(3), seed=3)
    rng = torch.random.get_rng_state()
    twin = dense_twin(template)
    assert torch.equal(torch.random.get_rng_state(), rng)  # built without touching the caller's random stream
    conv, norm, fc = twin[0], twin[1], twin[4]
    assert type(conv) is nn.Conv2d and type(fc) is nn.Linear and conv.bias is None and fc.bias is None
    assert conv.padding == (1, 1) and conv.stride == (1, 1)
    assert torch.equal(conv.weight, template[0].weight) and torch.equal(fc.weight, template[4].weight)
    assert conv.weight.requires_grad and fc.weight.requires_grad
    assert type(norm) is nn.BatchNorm2d and norm.affine and norm.num_features == 4  # one BN shared by all tasks
    assert type(template[4]).__name__ == "MaskedLinear"  # the template is left as it is
    # In evaluation a fresh BN divides by sqrt(1 + eps): the forward is conv, BN, ReLU, linear over W itself.
    x = torch.randn(5, 1, 6, 6)
    twin.eval()
    expected = F.linear(torch.relu(F.conv2d(x, conv.weight, padding=1) / (1 + norm.eps) ** 0.5).flatten(1), fc.weight)
    assert torch.allclose(twin(x), expected, atol=1e-6)
    add_task(template, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="holds 1 task"):
        dense_twin(template)


def test_a_shared_head_counts_heads_but_every_head_is_the_modules_output():
    body = dense_twin(masked(net(), seed=0)).eval()
    model = SharedHeadNet(body)
    assert model.num_heads == 1 and model.add_head(123) == 1 and model.num_heads == 2
    x = torch.randn(6, 1, 6, 6)
    assert torch.equal(model(x, 0), body(x)) and torch.equal(model(x, 1), body(x))
    assert torch.equal(model.forward_heads(x, torch.tensor([0, 1, 0, 1, 1, 0])), body(x))
    with pytest.raises(IndexError, match="head 2 does not exist"):
        model(x, 2)
    with pytest.raises(ValueError, match="2 heads already"):
        model.grow_heads(1)
    assert all(key.startswith("body.") for key in model.state_dict())  # a head holds no tensors of its own


def test_the_baselines_start_from_the_weights_supsup_masks(tmp_path):
    base = with_own(config(tmp_path, ["naive"]), model=net())
    built = method_spec("naive").build(base).model
    again = build_own_dense(base.model.arch, output_size=2, seed=streams(base.seed).weights)
    assert torch.equal(built.body[0].weight, again.body[0].weight)
    supsup = masked(net(), seed=streams(base.seed).weights)  # what a plain module given to run() becomes
    assert torch.equal(built.body[0].weight, supsup[0].weight) and torch.equal(built.body[4].weight, supsup[4].weight)


def test_every_enabled_baseline_runs_on_a_given_network_and_upper_bound_keeps_each_tasks_network(tmp_path):
    result = run(config(tmp_path, ["supsup", *ENABLED]), model=net(), tasks=tasks(), progress=False)
    r = {name: accuracy(result, name) for name in ENABLED}
    for name in ENABLED:
        assert r[name].shape == (3, 3) and not pd.isna(r[name][[0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]]).any(), name
    ub = r["upper_bound"]
    assert ub[1, 0] == ub[2, 0] == ub[0, 0] and ub[2, 1] == ub[1, 1]  # a finished task's network never trains again
    # Naive fine-tunes the one network task after task on the batches that upper bound's copies train on, so right
    # after each task the two are the same network: same diagonal.
    assert (r["naive"].diagonal() == ub.diagonal()).all()


def test_every_enabled_baseline_runs_on_a_network_named_by_import_path(tmp_path, package):
    values = {"model": {"arch": f"{package}:network", "output_size": 2}}
    result = run(config(tmp_path, ENABLED, **values), tasks=tasks(2), progress=False)
    for name in ENABLED:
        assert accuracy(result, name).shape == (2, 2), name
    # The same module given plain in memory (masked with the run's weight seed) is the same dense network.
    import importlib
    given = with_own(config(tmp_path, ["naive"]), model=importlib.import_module(package).network(2))
    named = config(tmp_path, ["naive"], **values)
    a, b = method_spec("naive").build(given).model, method_spec("naive").build(named).model
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())


def test_one_shared_head_gives_one_answer_whatever_the_task_and_naive_forgets(tmp_path):
    result = run(config(tmp_path, ENABLED), model=net(), tasks=flipped_tasks(), progress=False)
    for name in ("naive", "joint", "ewc", "replay"):
        r = accuracy(result, name)
        # Task 1 swaps task 0's labels on the same test inputs; the one head answers both alike.
        assert r[1, 0] + r[1, 1] == pytest.approx(1.0, abs=1e-6), name
    ub = accuracy(result, "upper_bound")
    assert ub[1, 0] == ub[0, 0]  # one network per task: task 1's swap leaves task 0's network alone
    base = with_own(config(tmp_path, ["naive"]), model=net())
    naive = method_spec("naive").build(base)
    first, second = tasks()[:2]
    train(naive, first)
    after_first = naive.predict(first.x_test, 0)
    weights = copy.deepcopy(naive.model.state_dict())
    train(naive, second)
    assert not torch.equal(naive.predict(first.x_test, 0), after_first)  # task 1's training moved task 0's answers
    assert not torch.equal(naive.model.state_dict()["body.0.weight"], weights["body.0.weight"])
    assert torch.equal(naive.predict(first.x_test, 0), naive.predict(first.x_test, 1))


@pytest.mark.parametrize("name", ENABLED)
def test_a_loaded_state_predicts_and_trains_on_bit_for_bit(name, tmp_path):
    base = with_own(config(tmp_path, [name]), model=net())
    sequence = tasks()
    straight = method_spec(name).build(base)
    for task in sequence[:2]:
        train(straight, task)
    state = copy.deepcopy(straight.state_dict())
    resumed = method_spec(name).build(base)
    resumed.load_state_dict(state)
    assert_same(predictions(straight, sequence[:2]), predictions(resumed, sequence[:2]))
    assert straight.memory_bytes() == resumed.memory_bytes()
    assert train(straight, sequence[2]) == train(resumed, sequence[2])
    assert_same(predictions(straight, sequence), predictions(resumed, sequence))


@pytest.mark.parametrize("name", REFUSED)
def test_methods_that_need_a_registered_architecture_say_why_in_one_line(name, tmp_path):
    scenario = sorted(method_spec(name).scenarios)[0]
    with pytest.raises(ConfigError) as error:
        run(config(tmp_path, [name], scenario={"name": scenario}), model=net(), tasks=tasks(1), progress=False)
    message = str(error.value)
    assert len(message.splitlines()) == 1 and f"method {name} cannot train it (" in message
    assert REFUSED[name] in message and "use method=supsup, naive, joint, ewc, replay, upper_bound" in message.lower()


@pytest.mark.parametrize("name", ["naive", "ewc"])
def test_the_dense_baselines_train_a_users_network_in_the_task_given_scenario_only(name, tmp_path):
    with pytest.raises(ConfigError, match=rf"method {name} trains your own network .* task-given scenario only.*"
                                          "set scenario.name=task"):
        run(config(tmp_path, [name], scenario={"name": "domain"}), model=net(), tasks=tasks(1), progress=False)
    registered = load_config(None, [f"method={name}", "scenario.name=domain", "data.benchmark=[permuted]"])
    method_spec(name).check(registered)  # a registered architecture runs there as before
