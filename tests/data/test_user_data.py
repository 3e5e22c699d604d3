"""tasks_from(): a user's train and test sets as Tasks, every kind of bad input refused with a message naming it."""

import pytest
import torch
from torch.utils.data import TensorDataset

from supermasks import tasks_from
from supermasks.data.user import tasks_fingerprint
from supermasks.errors import ConfigError, DataError


def pair(n=6, shape=(2, 3), labels=(0, 1, 2)):
    y = torch.tensor([labels[i % len(labels)] for i in range(n)])
    return torch.arange(n * 6, dtype=torch.float64).reshape(n, *shape), y


def test_pairs_and_datasets_make_the_same_tasks():
    x, y = pair()
    tasks = tasks_from([(x, y), TensorDataset(x, y)], [(x[:3], y[:3]), (x[:3], y[:3])])
    assert [t.task_id for t in tasks] == [0, 1] and [t.name for t in tasks] == ["task-0", "task-1"]
    for task in tasks:
        assert task.x_train.dtype == torch.float32 and task.y_train.dtype == torch.int64
        assert torch.equal(task.x_train, x.float()) and torch.equal(task.y_test, y[:3])
        assert task.num_classes == 3 and task.classes == (0, 1, 2)


def test_num_classes_sets_the_width_and_the_range():
    x, y = pair(labels=(1, 3))
    (task,) = tasks_from([(x, y)], [(x, y)], num_classes=5)
    assert task.num_classes == 5 and task.classes == (1, 3)
    with pytest.raises(DataError, match=r"task 0's training labels run from 1 to 3, outside \[0, 3\)"):
        tasks_from([(x, y)], [(x, y)], num_classes=3)


def test_fingerprint_changes_with_one_value():
    x, y = pair()
    base = tasks_fingerprint(tasks_from([(x, y)], [(x, y)]))
    x2 = x.clone()
    x2[0, 0, 0] += 1
    assert tasks_fingerprint(tasks_from([(x2, y)], [(x, y)])) != base
    assert tasks_fingerprint(tasks_from([(x, y)], [(x, y)])) == base


@pytest.mark.parametrize("train, test, error, message", [
    ([pair()], [], ConfigError, "1 training sets but 0 test sets: give one of each per task"),
    ([], [], ConfigError, "no task given"),
    ([pair()[0]], [pair()], ConfigError, "task 0's training set is a Tensor: give an (x, y) pair"),
    ([(pair()[0].long(), pair()[1])], [pair()], DataError, "task 0's training set: inputs are torch.int64, not "
                                                           "floating point"),
    ([(pair()[0], pair()[1].float())], [pair()], DataError, "task 0's training set: labels are torch.float32; they "
                                                            "must be integer class indices"),
    ([pair()], [(pair()[0], pair()[1][:2])], DataError, "task 0's test set: 6 inputs but labels of shape (2,)"),
    ([pair()], [(torch.zeros(0, 2, 3), torch.zeros(0, dtype=torch.long))], DataError, "task 0's test set is empty"),
    ([pair(), pair(shape=(3, 2))], [pair(), pair()], DataError, "task 1's training inputs are of shape (3, 2), task "
                                                                "0's training inputs of (2, 3)"),
    ([pair()], [pair(labels=(0, -1))], DataError, "task 0's test labels run from -1 to 0, outside [0, 3)"),
    ([(torch.full((2, 3), float("nan")), torch.tensor([0, 1]))], [pair()], DataError, "task 0's training set: "
                                                                                     "inputs hold NaN"),
])
def test_bad_sets_are_refused_with_what_is_wrong(train, test, error, message):
    with pytest.raises(error) as caught:
        tasks_from(train, test)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_dataset_of_items_that_are_not_pairs_is_refused():
    class Singles(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return torch.zeros(3)

    with pytest.raises(DataError, match=r"^task 0's training set: item 0 is a Tensor, not an \(x, y\) pair"):
        tasks_from([Singles()], [pair()])
