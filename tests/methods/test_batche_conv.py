"""BatchE on the conv nets (lenet5, resnet18): the conv layer's algebra, the invariants, bytes, state, the CLI."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from supermasks.cli import main
from supermasks.config import ConfigError, load_config
from supermasks.data.task import Task
from supermasks.methods.batche import BatchE, build_batche
from supermasks.models import build_multihead
from supermasks.models.batche import BatchEConv2d, BatchELinear, BatchENet, batche_layers, set_batche_task
from supermasks.models.layers import PerTaskBatchNorm
from supermasks.config.records import config_hash
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_tasks


def colour_tasks(num_tasks=2, n_train=96, n_test=48):
    """Three classes of 3x8x8 prototypes plus noise per task (any size fits the ResNets)."""
    g = torch.Generator().manual_seed(0)
    tasks = []
    for t in range(num_tasks):
        protos = torch.randn(3, 3, 8, 8, generator=g) * 2

        def draw(n):
            y = torch.randint(0, 3, (n,), generator=g)
            return protos[y] + 0.3 * torch.randn(n, 3, 8, 8, generator=g), y
        (xtr, ytr), (xte, yte) = draw(n_train), draw(n_test)
        tasks.append(Task(t, f"colour-{t}", xtr, ytr, xte, yte, (0, 1, 2), 3))
    return tasks


def method(arch="lenet5", *, weights="task0", batch_norm=True, steps=20, output_size=4):
    net = build_batche(arch, output_size=output_size, seed=0, batch_norm=batch_norm)
    return BatchE(net, training=TrainingSettings(optimizer="adam", lr=1e-2, batch_size=32, steps_per_task=steps),
                  weights=weights, seed=0)


def learn(m, tasks):
    for task in tasks:
        m.begin_task(task)
        m.learn(task, progress=False)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv_output_equals_the_convolution_with_the_explicit_effective_weight(stride, padding):
    torch.manual_seed(0)
    layer = BatchEConv2d(5, 7, 3, stride=stride, padding=padding)
    layer.add_task(torch.Generator().manual_seed(1))
    with torch.no_grad():  # arbitrary trained values, not just signs
        layer.r[1].mul_(torch.rand(7) + 0.5)
        layer.s[1].mul_(torch.rand(5) + 0.5)
    x = torch.randn(4, 5, 9, 9)
    for t in range(2):
        weight = layer.weight * layer.r[t][:, None, None, None] * layer.s[t][None, :, None, None]
        layer.task_id = t
        expected = F.conv2d(x, weight, stride=stride, padding=padding)
        assert layer(x).shape == expected.shape
        assert torch.allclose(layer(x), expected, atol=1e-5)
    assert not torch.allclose(expected, F.conv2d(x, layer.weight, stride=stride, padding=padding), atol=1e-3)


def test_task_0_of_lenet5_is_the_dense_lenet5_of_the_same_seed():
    x = make_tasks(num_tasks=1)[0].x_test
    dense = build_multihead("lenet5", output_size=4, seed=3)
    assert torch.allclose(build_batche("lenet5", output_size=4, seed=3)(x, 0), dense(x, 0), atol=1e-5)


def test_one_call_sets_the_task_of_every_batche_and_bn_layer():
    net = build_batche("resnet18", output_size=3, seed=0)
    net.add_task(torch.Generator().manual_seed(0))
    set_batche_task(net, 1)
    layers = [m for m in net.modules() if isinstance(m, (BatchEConv2d, BatchELinear, PerTaskBatchNorm))]
    assert len(layers) == 21 + 20 and {m.task_id for m in layers} == {1}  # 20 convs, the 1x1 fc and 20 BNs
    with pytest.raises(IndexError, match="task 2"):
        net(torch.randn(2, 3, 8, 8), 2)


@pytest.mark.parametrize("arch, tasks, output_size, steps", [
    ("lenet5", make_tasks(num_tasks=2, n_train=128, n_test=64), 4, 20),
    ("resnet18", colour_tasks(), 3, 40),  # its BN statistics need more steps to settle
])
def test_training_task_1_leaves_task_0_outputs_bit_identical(arch, tasks, output_size, steps):
    m = method(arch, output_size=output_size, steps=steps)
    learn(m, tasks[:1])
    before = m.predict(tasks[0].x_test, 0).clone()
    state = copy.deepcopy(m.model.state_dict())
    learn(m, tasks[1:])
    assert torch.equal(m.predict(tasks[0].x_test, 0), before)
    changed = [k for k, v in m.model.state_dict().items() if k in state and not torch.equal(v, state[k])]
    # Only task 1's vectors and statistics moved: nothing of task 0, and not the shared weights.
    assert changed == [] and any(k.endswith(".r.1") for k in m.model.state_dict())
    for task in tasks:
        assert accuracy(lambda x: m.predict(x, task.task_id), task.x_test, task.y_test) > 0.6


def test_w_learns_on_task_0_only_and_never_with_random_weights():
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    for weights in ("task0", "random"):
        m = method(weights=weights, steps=5)
        snapshots = [[w.detach().clone() for w in m.model.shared_parameters()]]
        vectors0 = [p.detach().clone() for p in m.model.task_parameters(0)]
        for task in tasks:
            learn(m, [task])
            snapshots.append([w.detach().clone() for w in m.model.shared_parameters()])
        same = [all(torch.equal(a, b) for a, b in zip(x, y)) for x, y in zip(snapshots, snapshots[1:])]
        assert same == ([False, True] if weights == "task0" else [True, True])
        # Either way task 0 trains its own vectors.
        assert not all(torch.equal(a, b) for a, b in zip(vectors0, m.model.task_parameters(0)))


def test_bytes_per_task_counts_the_vectors_and_bn_statistics_of_lenet5():
    out = 4
    # r (c_out) and s (c_in) per conv; r, s and a bias per linear layer.
    vectors = (6 + 1) + (16 + 6) + (120 + 400 + 120) + (84 + 120 + 84) + (out + 84 + out)
    bn = 6 + 16 + 120 + 84  # features of bn1..bn4: a running mean and variance each
    assert method(batch_norm=False, output_size=out).bytes_per_task() == 4 * vectors
    m = method(batch_norm=True, output_size=out)
    assert m.bytes_per_task() == 4 * vectors + 4 * 2 * bn
    before = m.memory_bytes()
    m.begin_task(make_tasks(num_tasks=2)[1])
    # What memory grows by: the task's vectors and statistics, plus each BN's int64 count of batches.
    assert m.memory_bytes() - before == m.bytes_per_task() + 8 * 4


@pytest.mark.parametrize("arch, tasks", [("lenet5", make_tasks(num_tasks=3, n_train=64, n_test=32)),
                                         ("resnet18", colour_tasks(3, n_train=64, n_test=32))])
def test_a_saved_two_task_conv_batche_predicts_and_trains_on_identically(arch, tasks):
    straight = method(arch, steps=5, output_size=4)
    learn(straight, tasks[:2])
    resumed = method(arch, steps=5, output_size=4)
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    assert resumed.model.num_tasks == 2
    for task in tasks[:2]:
        assert torch.equal(resumed.predict(task.x_test, task.task_id), straight.predict(task.x_test, task.task_id))
    learn(straight, tasks[2:])
    learn(resumed, tasks[2:])
    for task in tasks:
        assert torch.equal(resumed.predict(task.x_test, task.task_id), straight.predict(task.x_test, task.task_id))


def test_new_tasks_live_on_the_networks_device():
    net = build_batche("lenet5", output_size=4, seed=0, batch_norm=True).to(torch.device("meta"))
    net.add_task(torch.Generator().manual_seed(0))
    assert {t.device.type for t in (*net.parameters(), *net.buffers())} == {"meta"}


def test_a_network_without_batche_layers_is_refused():
    with pytest.raises(ValueError, match="no BatchE layers"):
        BatchENet(torch.nn.Conv2d(1, 2, 3))


def test_the_weights_setting_is_checked_kept_out_of_the_hash_at_its_default_and_guards_a_resume():
    with pytest.raises(ConfigError, match="batche.weights: unknown value 'frozen'; choose one of task0, random"):
        load_config(None, ["method=[batche]", "batche.weights=frozen"])
    base = ["method=[batche]", "model.output_size=4", "training.steps_per_task=3"]
    default, task0, random = (load_config(None, [*base, *extra]) for extra in
                              ([], ["batche.weights=task0"], ["batche.weights=random"]))
    assert config_hash(default) == config_hash(task0) != config_hash(random)
    from supermasks.methods import method_spec
    built = method_spec("batche").build(random)
    assert built.weights == "random"
    with pytest.raises(ValueError, match="weights='task0' here, 'random' in the state"):
        method_spec("batche").build(default).load_state_dict(built.state_dict())
    with pytest.raises(ValueError, match="unknown weights mode"):
        method(weights="frozen")


def test_resnet18_batche_runs_through_the_cli_without_forgetting(tmp_path, capsys):
    config = tmp_path / "batche-resnet.yaml"  # configs/splitcifar100-smoke.yaml's data and training, with BatchE
    config.write_text("name: batche-resnet\nmethod: batche\n"
                      "data: {benchmark: splitcifar100, source: synthetic-cifar, num_tasks: 2}\n"
                      "model: {arch: resnet18, batch_norm: true, output_size: 5}\n"
                      "training: {optimizer: adam, lr: 0.01, batch_size: 128, epochs: 1}\n"
                      "run: {overlap: false, figures: false}\n")
    code = main(["run", str(config), f"run.out_dir={tmp_path / 'runs'}", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    (run,) = [p for p in (tmp_path / "runs").iterdir() if (p / "splitcifar100").is_dir()]
    r = pd.read_csv(run / "splitcifar100" / "batche" / "accuracy.csv", index_col=0).to_numpy()
    assert r.shape == (2, 2)
    assert r[1, 0] == r[0, 0]  # task 0 keeps its vectors and BN statistics: task 1 leaves its accuracy unchanged
