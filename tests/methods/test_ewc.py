import pytest
import torch
import torch.nn.functional as F

from supermasks.config import ConfigError, load_config
from supermasks.data.task import Task
from supermasks.methods import ewc
from supermasks.methods.ewc import EWC, SPEC, fisher_diagonal
from supermasks.methods.naive import Naive
from supermasks.models import mlp_multihead, build_multihead, parameter_bytes
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_tasks

TRAINING = dict(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=100)




def make(cls=EWC, scenario="domain", seed=0, **overrides):
    model = build_multihead("fc-300-300", output_size=4, seed=seed)
    training = TrainingSettings(**{**TRAINING, **{k: v for k, v in overrides.items() if k in TRAINING}})
    own = {k: v for k, v in overrides.items() if k not in TRAINING}  # the method's own settings
    return cls(model, training=training, scenario=scenario, seed=seed, **own)


def run(method, tasks):
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)


def tiny_model(hidden=3, outputs=2, heads=1):
    torch.manual_seed(0)
    return mlp_multihead((hidden,), outputs, num_heads=heads)


def loop_fisher(model, head, x, y):
    """The reference: one backward pass per sample, squared gradients averaged."""
    sums = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for xi, yi in zip(x, y):
        model.zero_grad()
        F.log_softmax(model(xi[None], head), dim=1)[0, yi].backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                sums[n] += p.grad.square()
    return {n: s / len(x) for n, s in sums.items()}


def test_fisher_of_the_head_by_hand():
    model = tiny_model()
    x, y = torch.randn(5, 1, 28, 28), torch.tensor([0, 1, 1, 0, 1])
    fisher = fisher_diagonal(model, 0, x, y, [n for n, _ in model.named_parameters()])
    with torch.no_grad():
        h = model.features(x)  # (5, 3)
        residual = F.one_hot(y, 2) - torch.softmax(model(x), dim=1)  # d log p(y) / d logits: (5, 2)
    per_sample = residual[:, :, None] * h[:, None, :]  # d log p(y) / d W for each sample: (5, 2, 3)
    assert torch.allclose(fisher["heads.0.weight"], per_sample.square().mean(0), atol=1e-7)
    assert torch.allclose(fisher["heads.0.bias"], residual.square().mean(0), atol=1e-7)
    # the mean of squares, not the square of the mean gradient
    assert not torch.allclose(fisher["heads.0.bias"], residual.mean(0).square())


def test_vmap_fisher_matches_a_per_sample_loop(monkeypatch):
    monkeypatch.setattr(ewc, "FISHER_CHUNK", 3)  # several chunks, the last one short
    model = tiny_model(hidden=8, outputs=3, heads=2)
    x, y = torch.randn(7, 1, 28, 28), torch.randint(0, 3, (7,))
    names = [n for n, _ in model.named_parameters() if not n.startswith("heads.0.")]
    fisher = fisher_diagonal(model, 1, x, y, names)
    reference = loop_fisher(model, 1, x, y)
    assert sorted(fisher) == sorted(names)
    for n in names:
        assert torch.allclose(fisher[n], reference[n], rtol=1e-5, atol=1e-9), n


def test_fisher_covers_the_trunk_and_the_tasks_own_head():
    method = make(scenario="task", steps_per_task=2, samples=16)
    run(method, make_tasks(num_tasks=2))
    assert len(method.fisher_) == len(method.anchors_) == 2
    assert {n for n in method.fisher_[1] if n.startswith("heads.")} == {"heads.1.weight", "heads.1.bias"}
    assert {n for n in method.fisher_[1] if n.startswith("trunk.")} == {n for n in method.fisher_[0]
                                                                        if n.startswith("trunk.")}


def test_predicted_and_true_labels_give_different_fishers():
    task = make_tasks(num_tasks=1)[0]
    fishers = {}
    for label in ("predicted", "true"):
        method = make(samples=64, fisher_label=label)  # untrained: its predictions are mostly wrong
        method.begin_task(task)
        fishers[label] = method.task_fisher(task)["heads.0.weight"]
    assert not torch.allclose(fishers["predicted"], fishers["true"])


def test_penalty_by_hand():
    lam = 7.0
    method = make(steps_per_task=3, samples=32, lam=lam)
    tasks = make_tasks(num_tasks=2)
    run(method, tasks[:1])
    assert method.penalty().item() == 0.0  # at the anchors
    params = dict(method.model.named_parameters())
    with torch.no_grad():
        for p in params.values():
            p += 1.0
    total = sum(f.sum() for f in method.fisher_[0].values())
    assert method.penalty().item() == pytest.approx(lam / 2 * total.item(), rel=1e-5)  # lam/2, not lam

    run(method, tasks[1:])
    with torch.no_grad():
        for p in params.values():
            p += 0.1 * torch.randn_like(p)
    # the merged quadratic equals the sum of the separate terms, in value and in gradient
    by_hand = lam / 2 * sum((f * (params[n] - a[n]).square()).sum()
                            for term, a in zip(method.fisher_, method.anchors_) for n, f in term.items())
    value = method.penalty()
    assert value.item() == pytest.approx(by_hand.item(), rel=1e-4)
    names = list(method.fisher_[0])
    expected = torch.autograd.grad(by_hand, [params[n] for n in names])
    got = torch.autograd.grad(value, [params[n] for n in names])
    for e, g in zip(expected, got):
        assert torch.allclose(e, g, rtol=1e-4, atol=1e-6)


def test_online_keeps_one_decayed_running_fisher_anchored_at_the_latest_weights():
    tasks = make_tasks(num_tasks=2)
    separate = make(steps_per_task=3, samples=32)
    online = make(steps_per_task=3, samples=32, mode="online", decay=0.5)
    run(separate, tasks)  # with one earlier task both modes train alike, so its Fishers are the parts
    run(online, tasks)
    assert len(online.fisher_) == len(online.anchors_) == 1
    for n, f in online.fisher_[0].items():
        assert torch.allclose(f, 0.5 * separate.fisher_[0][n] + separate.fisher_[1][n])
        assert torch.equal(online.anchors_[0][n], dict(online.model.named_parameters())[n].detach())


def test_memory_grows_per_task_when_separate_and_stays_constant_online():
    tasks = make_tasks(num_tasks=3)
    params = parameter_bytes(make().model)
    for mode in ("separate", "online"):
        method = make(steps_per_task=1, samples=8, mode=mode)
        assert method.memory_bytes() == params
        sizes = []
        for task in tasks:
            run(method, [task])
            sizes.append(method.memory_bytes())
        if mode == "online":  # one Fisher and one anchor per parameter
            assert sizes == [3 * params] * 3
        else:  # a Fisher and anchors per task, plus the merged pair once there are two
            assert sizes == [3 * params, 7 * params, 9 * params]


@pytest.mark.parametrize("override, key", [
    ("ewc.lambda=-1", "ewc.lambda"), ("ewc.lambda=.nan", "ewc.lambda"), ("ewc.samples=0", "ewc.samples"),
    ("ewc.fisher_label=guess", "ewc.fisher_label"),
    ("ewc.mode=both", "ewc.mode"), ("ewc.decay=1.5", "ewc.decay"), ("ewc.decay=-0.1", "ewc.decay"),
])
def test_config_errors_name_the_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key}[: ]") as info:  # online: where decay applies, its range is checked
        SPEC.check(load_config(None, ["method=ewc", "ewc.mode=online", override]))
    assert "does nothing" not in str(info.value)


def test_config_errors_list_the_valid_choices():
    with pytest.raises(ConfigError, match="predicted, true"):
        SPEC.check(load_config(None, ["ewc.fisher_label=guess"]))
    with pytest.raises(ConfigError, match="separate, online"):
        SPEC.check(load_config(None, ["ewc.mode=both"]))


@pytest.mark.parametrize("overrides", [[], ["ewc.lambda=0", "ewc.mode=online", "ewc.decay=0", "ewc.samples=1"],
                                       ["ewc.mode=online", "ewc.fisher_label='true'", "ewc.decay=1"]])
def test_valid_configs_pass_and_build(overrides):
    config = load_config(None, ["method=ewc", "model.output_size=4", *overrides])
    SPEC.check(config)
    method = SPEC.build(config)
    assert isinstance(method, EWC)
    s = config.settings("ewc")
    assert (method.lam, method.samples, method.mode) == (s.lam, s.samples, s.mode)
    assert SPEC.scenarios == {"task", "domain", "class"}


def test_zero_lambda_trains_exactly_like_naive():
    tasks = make_tasks(num_tasks=2)
    method, naive = make(steps_per_task=10, lam=0.0, samples=8), make(Naive, steps_per_task=10)
    run(method, tasks)
    run(naive, tasks)
    assert torch.equal(method.predict(tasks[0].x_test, None), naive.predict(tasks[0].x_test, None))


def uncertain_conflicting_tasks(seed, dims=8, noise=1.0, n_train=512, n_test=256):
    """Task 1 swaps task 0's labels on the same inputs: noisy prototypes in a few pixels.

    The classes overlap, so the network stays unsure; on perfectly separable data it becomes
    certain and the Fisher (a squared gradient of log p) vanishes, leaving EWC nothing to protect.
    """
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(4, dims, generator=g)

    def draw(n):
        y = torch.randint(0, 4, (n,), generator=g)
        x = torch.zeros(n, 784)
        x[:, :dims] = protos[y] + noise * torch.randn(n, dims, generator=g)
        return x.view(n, 1, 28, 28), y

    (xtr, ytr), (xte, yte) = draw(n_train), draw(n_test)
    swap = torch.tensor([1, 0, 3, 2])
    return [Task(0, "noisy", xtr, ytr, xte, yte, (0, 1, 2, 3), 4),
            Task(1, "noisy-swapped", xtr, swap[ytr], xte, swap[yte], (0, 1, 2, 3), 4)]


@pytest.mark.parametrize("seed", [0, 1])
def test_forgets_less_than_naive_with_a_large_lambda(seed):
    tasks = uncertain_conflicting_tasks(seed)
    method, naive = make(seed=seed, lam=1e5, samples=200), make(Naive, seed=seed)
    run(method, tasks)
    run(naive, tasks)

    def task0(m):
        return accuracy(lambda x: m.predict(x, None), tasks[0].x_test, tasks[0].y_test)

    assert task0(naive) < 0.2  # naive follows the swap
    assert task0(method) > task0(naive) + 0.3


def test_told_the_number_of_tasks_the_last_task_adds_no_fisher_and_results_do_not_change():
    tasks = make_tasks(num_tasks=3)
    told, untold = make(steps_per_task=2, samples=8), make(steps_per_task=2, samples=8)
    told.expect_tasks(3)
    params = parameter_bytes(told.model)
    # fc-300-300, 4 outputs: 784*300+300 + 300*300+300 + 300*4+4 = 327,004 float32 parameters.
    assert params == 327_004 * 4
    sizes = []
    for task in tasks:
        run(told, [task])
        run(untold, [task])
        sizes.append(told.memory_bytes())
    assert sizes == [3 * params, 7 * params, 7 * params] and untold.memory_bytes() == 9 * params
    assert len(told.fisher_) == 2 and len(untold.fisher_) == 3
    for task in tasks:
        assert torch.equal(told.predict(task.x_test, None), untold.predict(task.x_test, None))
