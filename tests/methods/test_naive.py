import torch

from supermasks.methods.naive import Naive
from supermasks.models import build_multihead
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_conflicting_tasks


def acc(method, task, task_id):
    return accuracy(lambda x: method.predict(x, task_id), task.x_test, task.y_test)


def test_naive_forgets_conflicting_tasks_with_a_shared_head():
    first, second = make_conflicting_tasks()
    method = Naive(build_multihead("fc-300-300", output_size=4, seed=0),
                   training=TrainingSettings(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=100),
                   scenario="domain")
    for task in (first, second):
        method.begin_task(task)
        method.learn(task, progress=False)
        if task is first:
            before = acc(method, first, None)
    assert before > 0.9
    assert acc(method, first, None) < 0.2  # the second task's labels overwrote the first's
    assert acc(method, second, None) > 0.9


def test_task_scenario_adds_one_head_per_task_and_memory_grows_by_it():
    model = build_multihead("fc-300-300", output_size=4, seed=0)
    method = Naive(model, training=TrainingSettings(optimizer="sgd", lr=1e-3, batch_size=32, steps_per_task=1),
                   scenario="task")
    first, second = make_conflicting_tasks()
    method.begin_task(first)
    before = method.memory_bytes()
    method.begin_task(second)
    assert len(model.heads) == 2
    assert method.memory_bytes() - before == (300 * 4 + 4) * 4
    assert method.can_predict(1) and not method.can_predict(2) and not method.can_predict(None)


def test_same_seed_same_head_init():
    a, b = (build_multihead("fc-300-300", output_size=4, seed=3) for _ in range(2))
    a.add_head(7)
    b.add_head(7)
    assert torch.equal(a.heads[1].weight, b.heads[1].weight)
