import pytest

from supermasks.config import load_config
from supermasks.data.task import Task
from supermasks.methods.joint import SPEC, Joint
from supermasks.methods.naive import Naive
from supermasks.models import build_multihead, parameter_bytes
from supermasks.training import TrainingSettings, accuracy
from tests.conftest import make_conflicting_tasks, make_tasks

TRAINING = dict(optimizer="adam", lr=1e-3, batch_size=32, steps_per_task=100)




def make(cls=Joint, scenario="domain", seed=0, **overrides):
    model = build_multihead("fc-300-300", output_size=4, seed=seed)
    training = TrainingSettings(**{**TRAINING, **{k: v for k, v in overrides.items() if k in TRAINING}})
    own = {k: v for k, v in overrides.items() if k not in TRAINING}  # the method's own settings
    return cls(model, training=training, scenario=scenario, seed=seed, **own)


def run(method, tasks):
    for task in tasks:
        method.begin_task(task)
        method.learn(task, progress=False)


def task_accuracy(method, task, task_id):
    return accuracy(lambda x: method.predict(x, task_id), task.x_test, task.y_test)


def shifted_conflicting_tasks(seed):
    """Task 1 swaps task 0's labels on the same images brightened by 1.

    One head can tell the two apart (the union is learnable), but a network trained on task 1
    alone also maps the original images to the swapped labels.
    """
    first, second = make_conflicting_tasks(seed=seed)
    second = Task(1, "shifted", second.x_train + 1, second.y_train, second.x_test + 1, second.y_test,
                  second.classes, second.num_classes)
    return [first, second]


@pytest.mark.parametrize("seed", [0, 1])
def test_domain_keeps_task0_where_naive_forgets(seed):
    tasks = shifted_conflicting_tasks(seed)
    joint, naive = make(seed=seed), make(Naive, seed=seed)
    run(joint, tasks)
    run(naive, tasks)
    assert task_accuracy(naive, tasks[0], None) < 0.2
    assert task_accuracy(joint, tasks[0], None) > 0.9
    assert task_accuracy(joint, tasks[1], None) > 0.9


def test_task_scenario_sends_each_sample_through_its_own_head():
    # The same images under swapped labels: only per-task heads can serve both at once.
    tasks = make_conflicting_tasks()
    method = make(scenario="task")
    run(method, tasks)
    assert len(method.model.heads) == 2
    for task in tasks:
        assert task_accuracy(method, task, task.task_id) > 0.9


def test_keeps_references_and_counts_the_stored_data():
    tasks = make_tasks(num_tasks=2)
    method = make(steps_per_task=2)
    assert method.memory_bytes() == parameter_bytes(method.model)
    run(method, tasks)
    for task in tasks:  # the very tensors of the Task: nothing was copied
        assert method.seen_[task.task_id][0] is task.x_train
    data = sum(t.x_train.nbytes + t.y_train.nbytes for t in tasks)
    assert method.memory_bytes() == parameter_bytes(method.model) + data


def test_images_shared_by_two_tasks_count_once():
    tasks = make_conflicting_tasks()
    assert tasks[1].x_train is tasks[0].x_train
    method = make(steps_per_task=2)
    run(method, tasks)
    expected = tasks[0].x_train.nbytes + tasks[0].y_train.nbytes + tasks[1].y_train.nbytes
    assert method.data_bytes() == expected


def test_trains_on_the_union_for_steps_per_task():
    tasks = make_tasks(num_tasks=2, n_train=64)
    method = make(steps_per_task=5, batch_size=16)
    method.begin_task(tasks[0])
    method.learn(tasks[0], progress=False)
    method.begin_task(tasks[1])
    result = method.learn(tasks[1], progress=False)
    assert result.steps == 5 and result.samples == 5 * 16
    assert list(method.seen_) == [0, 1]


def test_from_config():
    config = load_config(None, ["method=joint", "scenario.name=domain", "model.output_size=4", "training.lr=0.01", "training.steps_per_task=7"])
    method = SPEC.build(config)
    assert isinstance(method, Joint)
    assert (method.scenario, method.training.lr, method.training.steps_per_task) == ("domain", 0.01, 7)
    assert SPEC.scenarios == {"task", "domain", "class"}
