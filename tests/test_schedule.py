"""Epochs, the cosine schedule, weight decay: values by hand, defaults unchanged, and resumes that change nothing."""

import copy
import math

import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model
from supermasks.training.optimizers import sgd, adam
from supermasks.training.schedule import cosine_factor, rate_factors, task_steps
from supermasks.training import TrainingSettings, fit, iterate_batches
from tests.conftest import make_tasks


def test_cosine_per_step_by_hand():
    rates = rate_factors("cosine", 4)
    # (1 + cos(pi t / 4)) / 2 for t = 0..3
    assert [rates(t) for t in range(4)] == pytest.approx([1.0, 0.8535533905932737, 0.5, 0.14644660940672624],
                                                         rel=1e-15)


def test_cosine_per_epoch_changes_at_each_epoch_start_only():
    rates = rate_factors("cosine", 6, steps_per_epoch=2)  # 3 epochs: (1 + cos(pi e / 3)) / 2
    assert [rates(t) for t in range(6)] == pytest.approx([1.0, 1.0, 0.75, 0.75, 0.25, 0.25], rel=1e-15)


def test_constant_schedule_leaves_the_rates_alone():
    assert rate_factors("constant", 10) is None
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        rate_factors("linear", 10)


def test_cosine_factor_formula():
    assert cosine_factor(0, 7) == 1.0
    assert cosine_factor(7, 7) == pytest.approx(0.0, abs=1e-16)
    assert cosine_factor(3, 7) == 0.5 * (1 + math.cos(math.pi * 3 / 7))


def test_epochs_become_steps():
    assert task_steps(1000, 128, None, 3) == 3 * 7  # floor(1000 / 128) = 7 full batches per epoch
    assert task_steps(100, 128, None, 2) == 2  # a task smaller than a batch still takes one per epoch
    assert task_steps(1000, 128, 50, None) == 50
    with pytest.raises(ValueError, match="not both or neither"):
        task_steps(1000, 128, 50, 3)
    with pytest.raises(ValueError, match="not both or neither"):
        task_steps(1000, 128, None, None)


def test_epochs_and_steps_per_task_together_are_a_config_error():
    with pytest.raises(ConfigError, match="training.steps_per_task does nothing here.*not both"):
        load_config(None, ["training.epochs=3", "training.steps_per_task=100"])
    config = load_config(None, ["training.epochs=3"])
    assert config.training.steps_per_task is None and config.training.epochs == 3
    assert load_config(None, []).training.steps_per_task == 1000


@pytest.mark.parametrize("override, message", [("training.epochs=0", "epochs must be a positive number"),
                                               ("training.weight_decay=-1", "weight_decay must be a finite number >= 0"),
                                               ("training.schedule=linear", "schedule")])
def test_bad_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_the_supsup_cifar_regime_is_expressible_in_yaml():
    config = load_config(None, ["training.optimizer=adam", "training.lr=1e-3", "training.weight_decay=1e-4",
                                "training.schedule=cosine", "training.epochs=250"])
    training = config.training
    assert (training.steps_per_task, training.epochs, training.schedule, training.weight_decay, training.amp) == (
        None, 250, "cosine", 1e-4, False)


class RecordingOptimizer:
    """Records each group's rate at every step (what `fit` set), and steps nothing."""

    def __init__(self, rates):
        self.param_groups = [{"lr": r} for r in rates]
        self.seen = []

    def zero_grad(self, set_to_none=True):
        pass

    def step(self):
        self.seen.append([g["lr"] for g in self.param_groups])

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_fit_scales_every_group_by_the_schedule():
    w = torch.zeros(3, requires_grad=True)
    x, y = torch.randn(8, 3), torch.zeros(8, dtype=torch.long)
    batches = [(x[i:i + 2], y[i:i + 2]) for i in range(0, 8, 2)]
    optimizer = RecordingOptimizer([1e-2, 1e-4])
    fit(lambda xb: torch.stack([xb @ w, -(xb @ w)], dim=1), optimizer, batches, progress=False,
        rates=rate_factors("cosine", 4, steps_per_epoch=2))
    assert optimizer.seen == [[1e-2, 1e-4], [1e-2, 1e-4], [0.5 * 1e-2, 0.5 * 1e-4], [0.5 * 1e-2, 0.5 * 1e-4]]


def test_weight_decay_one_sgd_step_by_hand():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2, bias=False)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    w0 = model.weight.detach().clone()
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ w0.requires_grad_().t(), y), w0)[0]
    lr, wd = 0.1, 0.01
    fit(model, sgd(model.parameters(), lr=lr, weight_decay=wd), [(x, y)], progress=False)
    torch.testing.assert_close(model.weight.detach(), w0.detach() - lr * (g + wd * w0.detach()), rtol=0, atol=1e-7)


def make(**training):
    """SupSup at rate 1e-3 and batch 32, trained as `training` (`TrainingSettings` fields) says."""
    model = build_model("fc-300-300", output_size=4, seed=0)
    return SupSup(model, training=TrainingSettings(**{"lr": 1e-3, "batch_size": 32, **training}), seed=0,
                  keep_scores=True)


def test_supsup_applies_weight_decay_to_its_scores():
    task = make_tasks(num_tasks=1)[0]
    plain, decayed = make(optimizer="sgd", steps_per_task=1), make(optimizer="sgd", steps_per_task=1,
                                                                    weight_decay=0.5)
    start = make(optimizer="sgd", steps_per_task=1)
    start.begin_task(task)
    s0 = {n: p.detach().clone() for n, p in start.model.named_parameters() if ".scores." in n}
    for method in (plain, decayed):
        method.learn(task, progress=False)
    a = dict(plain.model.named_parameters())
    b = dict(decayed.model.named_parameters())
    for name, initial in s0.items():  # the same gradient, plus lr * wd * s0 taken off
        # float32 rounding of two nearly equal scores: about 1e-9 against differences of about 1e-5
        torch.testing.assert_close(a[name].detach() - b[name].detach(), 1e-3 * 0.5 * initial, rtol=1e-3, atol=1e-8)


def test_default_training_settings_are_the_old_behaviour_bit_for_bit():
    tasks = make_tasks(num_tasks=2)
    old = make(steps_per_task=12)
    new = make(steps_per_task=12, epochs=None, schedule="constant", weight_decay=0.0, amp=False)
    for method in (old, new):
        for task in tasks:
            method.learn(task, progress=False)
    for (name, p), (_, q) in zip(old.model.named_parameters(), new.model.named_parameters()):
        assert torch.equal(p, q), name


def test_supsup_trains_epochs_of_full_batches():
    task = make_tasks(num_tasks=1, n_train=200)[0]
    result = make(steps_per_task=None, epochs=2, schedule="cosine").learn(task, progress=False)
    assert result.steps == 2 * (200 // 32)


def test_a_task_resumed_mid_way_gets_the_rates_and_the_result_of_the_whole_task():
    torch.manual_seed(1)
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    start = torch.nn.Linear(5, 3)
    rates = rate_factors("cosine", 12, steps_per_epoch=4)

    def batches():
        return list(iterate_batches(x, y, 16, 12, torch.Generator().manual_seed(0)))

    whole = copy.deepcopy(start)
    fit(whole, adam(whole.parameters(), lr=1e-2, weight_decay=1e-4), batches(), progress=False, rates=rates)

    first = copy.deepcopy(start)
    opt = adam(first.parameters(), lr=1e-2, weight_decay=1e-4)
    fit(first, opt, batches()[:5], progress=False, rates=rates)
    saved_model, saved_opt = copy.deepcopy(first.state_dict()), copy.deepcopy(opt.state_dict())
    resumed = torch.nn.Linear(5, 3)
    resumed.load_state_dict(saved_model)
    opt = adam(resumed.parameters(), lr=1e-2, weight_decay=1e-4)
    opt.load_state_dict(saved_opt)
    opt.param_groups[0]["lr"] = 1e-2  # the base rate, as a fresh optimiser of the task has it
    fit(resumed, opt, batches()[5:], progress=False, rates=lambda step: rates(step + 5))
    for p, q in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_supsup_resumed_between_tasks_with_cosine_and_epochs_equals_the_uninterrupted_run():
    tasks = make_tasks(num_tasks=3)
    settings = dict(steps_per_task=None, epochs=2, schedule="cosine", weight_decay=1e-4, optimizer="adam")
    straight = make(**settings)
    for task in tasks:
        straight.learn(task, progress=False)
    first = make(**settings)
    first.learn(tasks[0], progress=False)
    resumed = make(**settings)
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    for task in tasks[1:]:
        resumed.learn(task, progress=False)
    for (name, p), (_, q) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(p, q), name


def test_a_state_written_before_the_new_settings_loads_as_their_defaults():
    task = make_tasks(num_tasks=1)[0]
    method = make(steps_per_task=5)
    method.learn(task, progress=False)
    state = method.state_dict()
    for key in ("epochs", "schedule", "weight_decay", "amp"):
        del state["hyperparameters"][key]
    make(steps_per_task=5).load_state_dict(state)
    with pytest.raises(ValueError, match="weight_decay=0.1 here, 0.0 in the state"):
        make(steps_per_task=5, weight_decay=0.1).load_state_dict(state)


def test_the_nns_stream_refuses_the_per_task_regime():
    from supermasks.runner.checks import validate

    for override in ("training.schedule=cosine", "training.epochs=2", "training.weight_decay=1e-4"):
        config = load_config(None, ["scenario.name=nns", "model.batch_norm=false", "run.device=cpu", override])
        with pytest.raises(ConfigError, match="the nns scenario trains on one stream"):
            validate(config)
    validate(load_config(None, ["scenario.name=nns", "model.batch_norm=false", "run.device=cpu"]))


@pytest.mark.parametrize("method, scenario", [("supsup", "task"), ("naive", "task"), ("ewc", "task"),
                                              ("replay", "task"), ("joint", "task"), ("separate_heads", "task"),
                                              ("batche", "task"), ("hopsupsup", "gnu")])
def test_every_method_trains_epochs_with_the_schedule(method, scenario):
    from supermasks.methods import method_spec

    config = load_config(None, [f"method={method}", f"scenario.name={scenario}", "model.output_size=4",
                                "training.epochs=2", "training.schedule=cosine", "training.weight_decay=1e-4",
                                "training.batch_size=32"])
    built = method_spec(method).build(config)
    assert built.training is config.training
    assert (built.training.epochs, built.training.schedule, built.training.weight_decay) == (2, "cosine", 1e-4)
    task = make_tasks(num_tasks=1, n_train=200)[0]
    built.begin_task(task)
    assert built.learn(task, progress=False).steps == 2 * (200 // 32)


@pytest.mark.parametrize("method, scenario", [("supsup", "task"), ("naive", "task"), ("ewc", "task"),
                                              ("replay", "task"), ("separate_heads", "task"), ("batche", "task"),
                                              ("hopsupsup", "gnu")])
def test_amp_runs_forward_in_bfloat16_and_keeps_float32_state(method, scenario, monkeypatch):
    """The autocast path, run on the CPU's bfloat16 autocast (the runner allows it on CUDA only)."""
    import supermasks.training.loop as training
    from supermasks.methods import method_spec

    monkeypatch.setattr(training, "AMP_DEVICE_TYPE", "cpu")
    seen = []
    monkeypatch.setattr(training.nn, "CrossEntropyLoss", lambda: lambda logits, y: (
        seen.append(logits.dtype), torch.nn.functional.cross_entropy(logits, y))[1])
    losses = {}
    for amp in (False, True):
        config = load_config(None, [f"method={method}", f"scenario.name={scenario}", "model.output_size=4",
                                    "training.steps_per_task=4", "training.batch_size=32",
                                    f"training.amp={str(amp).lower()}"])
        built = method_spec(method).build(config)
        task = make_tasks(num_tasks=1)[0]
        built.begin_task(task)
        losses[amp] = built.learn(task, progress=False).losses
        assert all(p.dtype == torch.float32 for p in built.model.parameters())
    assert set(seen[:4]) == {torch.float32}
    # BatchE's logits are bfloat16 products scaled by float32 vectors: float32 again, yet computed in bfloat16
    assert set(seen[4:]) == ({torch.float32} if method == "batche" else {torch.bfloat16})
    assert losses[True] != losses[False]
