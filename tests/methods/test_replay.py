import re

import pytest
import torch
from scipy import stats

from supermasks.config import ConfigError, load_config
from supermasks.data.task import Task
from supermasks.methods import _selection
from supermasks.methods.replay import SPEC, Replay, from_config
from supermasks.models import mlp_multihead, parameter_bytes
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_conflicting_tasks, make_tasks

def net(seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return mlp_multihead((128,), output_size=4)


def make(scenario="domain", steps=100, seed=0, **kwargs):
    return Replay(net(seed), training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=steps),
                  scenario=scenario, seed=seed, **kwargs)


def train(method, tasks):
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)


def acc(method, task, task_id=None):
    return accuracy(lambda x: method.predict(x, task_id), task.x_test, task.y_test)


def marked_conflict(seed):
    """Task 1 is task 0 with swapped labels and a bright band on top: one shared head can fit both
    only if it keeps seeing task 0, so fine-tuning on task 1 alone flips every task-0 answer."""
    base = make_tasks(num_tasks=1, seed=seed)[0]
    band, swap = torch.zeros(1, 1, 28, 28), torch.tensor([1, 0, 3, 2])
    band[..., :4, :] = 2.0
    second = Task(1, "marked", base.x_train + band, swap[base.y_train], base.x_test + band, swap[base.y_test],
                  base.classes, base.num_classes)
    return [base, second]


def indexed_tasks(num_tasks=4, n=64):
    """Tasks whose image k of task t holds its global id t * n + k in its first pixel."""
    tasks = []
    for t in range(num_tasks):
        x = torch.zeros(n, 1, 28, 28)
        x[:, 0, 0, 0], y = torch.arange(t * n, (t + 1) * n).float(), torch.arange(n) % 4
        tasks.append(Task(t, f"indexed-{t}", x, y, x, y, (0, 1, 2, 3), 4))
    return tasks


@pytest.mark.parametrize("seed", [0, 1])
def test_full_replay_keeps_task_0_and_no_replay_forgets_it(seed):
    tasks = marked_conflict(seed)
    full, none = make(seed=seed, fraction=1.0), make(seed=seed, fraction=0.0)
    train(full, tasks)
    train(none, tasks)
    assert acc(full, tasks[0]) > 0.9 and acc(full, tasks[1]) > 0.9
    assert acc(none, tasks[0]) < 0.5 and acc(none, tasks[1]) > 0.9


def test_task_scenario_routes_replayed_samples_through_their_own_head():
    tasks = make_conflicting_tasks()  # identical inputs, swapped labels: only separate heads fit both
    full, none = make("task", seed=0, fraction=1.0), make("task", seed=0, fraction=0.0)
    head0 = {}
    for name, method in (("full", full), ("none", none)):
        train(method, tasks[:1])
        head0[name] = method.model.heads[0].weight.detach().clone()
        method.begin_task(tasks[1])
        if name == "full":
            _, _, head_ids = method.training_set(tasks[1])
            assert torch.equal(head_ids, torch.cat([torch.ones(256), torch.zeros(256)]).long())
        method.learn(tasks[1], progress=False)
    assert acc(full, tasks[0], 0) > 0.9 and acc(full, tasks[1], 1) > 0.9
    # Only replayed task-0 samples reach head 0 while task 1 is learned.
    assert not torch.equal(full.model.heads[0].weight, head0["full"])
    assert torch.equal(none.model.heads[0].weight, head0["none"])


def test_fraction_per_task_and_learn_fill_the_buffer():
    tasks = make_tasks(num_tasks=2)
    half = make(steps=1, fraction=0.5)
    train(half, tasks)
    assert half.buffer_size() == 256 and half.buffer_task_.bincount().tolist() == [128, 128]
    counted = make(fraction=0.5, per_task=10)
    for task in tasks:
        counted.store(task)
    assert counted.buffer_size() == 20
    within = make(per_task=10, budget=15, selection="balanced")  # the budget draws from the 10 + 10 candidates
    for task in tasks:
        within.store(task)
    assert within.buffer_size() == 15 and within.seen_ == 20
    capped = make(per_task=1000)
    capped.store(tasks[0])
    assert torch.equal(capped.buffer_x_, tasks[0].x_train)  # all of it, in order


@pytest.mark.parametrize("scenario", ["domain", "class"])
def test_shared_head_training_set_is_task_then_buffer(scenario):
    tasks = make_tasks(num_tasks=2)
    method = make(scenario, fraction=0.25)
    method.store(tasks[0])
    x, y, head_ids = method.training_set(tasks[1])
    assert head_ids is None and len(x) == len(y) == 256 + 64
    assert torch.equal(x[:256], tasks[1].x_train) and torch.equal(x[256:], method.buffer_x_)


def test_budget_keeps_every_candidate_equally_likely():
    tasks = indexed_tasks(num_tasks=4, n=64)
    runs, budget = 400, 64
    hits = torch.zeros(256)
    per_task = torch.zeros(4)
    model = net()  # random selection never looks at the network
    for seed in range(runs):
        method = Replay(model, training=TrainingSettings(optimizer="sgd", lr=1e-3, batch_size=32), seed=seed,
                        fraction=1.0, budget=budget)
        for task in tasks:
            method.store(task)
            assert method.buffer_size() == min(budget, 64 * (task.task_id + 1))
        ids = method.buffer_x_[:, 0, 0, 0].long()
        assert len(ids.unique()) == budget and torch.equal(method.buffer_task_, ids // 64)
        hits[ids] += 1
        per_task += method.buffer_task_.bincount(minlength=4)
    # Each of the 256 candidates stays with probability 64 / 256, whichever task it came from.
    assert torch.allclose(per_task / runs, torch.full((4,), 16.0), atol=1.0)
    assert stats.chisquare(hits.numpy()).pvalue > 1e-3
    assert hits.min() > 0.5 * runs / 4 and hits.max() < 1.5 * runs / 4


def sequential_algorithm_r(stream_lengths, budget, seed):
    """Vitter's algorithm R one candidate at a time, using the same uniform draws as `reservoir`."""
    g = torch.Generator().manual_seed(seed)
    buffer, seen = [], 0
    for m in stream_lengths:
        draws = torch.rand(m, generator=g, dtype=torch.float64).tolist()
        for k in range(m):
            i = seen + k
            if i < budget:
                buffer.append(i)
            elif int(draws[k] * (i + 1)) < budget:
                buffer[int(draws[k] * (i + 1))] = i
        seen += m
    return buffer


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_reservoir_matches_the_sequential_algorithm(seed):
    lengths, budget = [7, 30, 1, 0, 25, 40], 20
    g = torch.Generator().manual_seed(seed)
    buffer, seen = torch.empty(0, dtype=torch.int64), 0
    for m in lengths:
        winner = _selection.reservoir(seen, m, budget, g)
        pool = torch.cat([buffer, torch.arange(seen, seen + m)])
        buffer = pool[torch.where(winner >= 0, len(buffer) + winner, torch.arange(len(winner)))]
        seen += m
    assert buffer.tolist() == sequential_algorithm_r(lengths, budget, seed)


def test_uncertain_keeps_exactly_the_least_confident():
    task = make_tasks(num_tasks=1)[0]
    method = make(per_task=40, selection="uncertain")
    confidence = method.predict(task.x_train, None).softmax(dim=1).max(dim=1).values
    expected = confidence.argsort()[:40].sort().values
    method.store(task)
    assert torch.equal(method.buffer_x_, task.x_train[expected])
    assert method.model.training is False  # ranked in evaluation mode


def test_misclassified_first_then_least_confident():
    task = make_tasks(num_tasks=1)[0]
    probs = make().predict(task.x_train, None).softmax(dim=1)
    wrong = probs.argmax(dim=1) != task.y_train
    # An untrained network gets some right and some wrong: at least the 5 right ones that fill up.
    assert 0 < wrong.sum() <= len(wrong) - 5
    right = (~wrong).nonzero().squeeze(1)
    fill = right[probs[right].max(dim=1).values.argsort()[:5]]  # the 5 least confident correct ones
    expected = torch.cat([wrong.nonzero().squeeze(1), fill]).sort().values
    method = make(per_task=int(wrong.sum()) + 5, selection="misclassified")
    method.store(task)
    assert torch.equal(method.buffer_x_, task.x_train[expected])
    fewer = _selection.select("misclassified", 3, task.y_train, generator=torch.Generator(), logits=probs.log())
    assert wrong[fewer].all()


def test_selection_on_hand_made_logits():
    y = torch.tensor([0, 0, 1, 1])
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [0.0, 0.5], [0.0, 1.0]])  # sample 1 is wrong but confident
    g = torch.Generator()
    assert _selection.select("uncertain", 2, y, generator=g, logits=logits).tolist() == [2, 3]
    assert _selection.select("misclassified", 2, y, generator=g, logits=logits).tolist() == [1, 2]


def test_balanced_gives_equal_class_counts_as_far_as_possible():
    y = torch.cat([torch.full((n,), c) for c, n in zip([2, 3, 7, 9], [50, 30, 10, 5])])
    counts = {}
    for count in (20, 60):
        chosen = _selection.select("balanced", count, y, generator=torch.Generator().manual_seed(0))
        assert len(chosen.unique()) == count
        counts[count] = [(y[chosen] == c).sum().item() for c in (2, 3, 7, 9)]
    assert counts[20] == [5, 5, 5, 5]
    # The two small classes are used up; the remaining 45 split evenly over the large ones.
    assert counts[60][2:] == [10, 5] and sorted(counts[60][:2]) == [22, 23]


def test_random_selection_is_seeded():
    task = make_tasks(num_tasks=1)[0]
    methods = [make(seed=seed, fraction=0.25) for seed in (0, 0, 1)]
    for method in methods:
        method.store(task)
    same, again, other = (m.buffer_x_ for m in methods)
    assert torch.equal(same, again) and not torch.equal(same, other)


def test_memory_grows_by_exactly_the_buffer_bytes():
    tasks, method = make_tasks(num_tasks=2), make(fraction=0.5)
    weights = parameter_bytes(method.model)
    assert method.memory_bytes() == weights and method.buffer_bytes() == 0
    for task in tasks:
        method.store(task)
    assert method.buffer_bytes() == 256 * (784 * 4 + 8 + 8)  # float32 images, int64 labels and task ids
    assert method.memory_bytes() == weights + method.buffer_bytes()


@pytest.mark.parametrize("override, message", [
    ("replay.fraction=1.5", "replay.fraction must be in [0, 1], got 1.5"),
    ("replay.fraction=-0.1", "replay.fraction must be in [0, 1], got -0.1"),
    ("replay.per_task=-1", "replay.per_task must be a non-negative count, got -1"),
    ("replay.budget=0", "replay.budget must be at least 1"),
    ("replay.selection=smart", "choose one of random, uncertain, misclassified, balanced"),
])
def test_bad_settings_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        SPEC.check(load_config(None, ["method=replay", override]))


def test_valid_config_builds_a_replay_method():
    config = load_config(None, ["method=replay", "replay.fraction=1.0", "replay.budget=100", "replay.selection=balanced",
                                "scenario.name=domain", "model.output_size=4"])
    SPEC.check(config)
    method = from_config(config)
    assert (method.fraction, method.budget, method.selection, method.scenario) == (1.0, 100, "balanced", "domain")
    assert SPEC.scenarios == {"task", "domain", "class"}
    with pytest.raises(ValueError, match="fraction must be in"):
        make(fraction=2.0)


@pytest.mark.parametrize("mix", ["batch", "concat"])
def test_both_mixes_keep_the_first_task(mix):
    tasks = marked_conflict(0)
    method = make(seed=0, fraction=1.0, mix=mix)
    train(method, tasks)
    assert acc(method, tasks[0]) > 0.9


def test_batch_mix_adds_as_many_buffer_samples_to_every_batch():
    tasks = make_conflicting_tasks()
    method = make("task", steps=5, seed=0, fraction=0.25, mix="batch")
    train(method, tasks[:1])
    method.begin_task(tasks[1])
    batches = list(method.mixed_batches(tasks[1]))
    assert len(batches) == 5
    for (xb, hb), yb in batches:
        assert len(xb) == len(yb) == 64  # 32 of task 1, 32 from the buffer
        assert hb.tolist() == [1] * 32 + [0] * 32  # replayed samples keep their own head


def test_unknown_mix_is_refused():
    with pytest.raises(ConfigError, match="replay.mix: unknown value 'interleave'; choose one of batch, concat"):
        SPEC.check(load_config(None, ["method=replay", "replay.mix=interleave"]))


def test_told_the_number_of_tasks_the_last_task_stores_nothing_and_results_do_not_change():
    tasks = make_tasks(num_tasks=2)
    told, untold = make(fraction=0.5, steps=5), make(fraction=0.5, steps=5)
    told.expect_tasks(2)
    train(told, tasks)
    train(untold, tasks)
    assert told.buffer_size() == 128 and set(told.buffer_task_.tolist()) == {0}  # half of task 0's 256 images
    assert told.buffer_bytes() == 128 * (784 * 4 + 8 + 8) == 403_456
    assert untold.buffer_bytes() == 2 * told.buffer_bytes()
    for task in tasks:  # the stored samples of the last task would only have served a later task
        assert torch.equal(told.predict(task.x_test, None), untold.predict(task.x_test, None))
