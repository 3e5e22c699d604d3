"""What the resumable-state tests share: the methods and variants they cover (`CASES`), building and stepping a
method as the runner does, bitwise comparisons of two methods' states, and a SupSup run checkpointed task by task."""

import json

import torch

from supermasks.methods import list_methods, method_spec
from supermasks.models import add_task
from supermasks.store.checkpoints import save_state_checkpoint
from supermasks.store.state import capture_state, restore_state
from tests.conftest import make_tasks
from tests.methods.test_registry import config_for


CASES = [(name, scenario, ()) for name in list_methods()
         for scenario in sorted(method_spec(name).scenarios & {"task", "domain"})]
# Variants whose state has more parts: per-task BN and transfer alphas, a reservoir, one running Fisher.
CASES += [("supsup", "task", ("model.batch_norm=true", "supsup.transfer=similar")),
          ("replay", "task", ("replay.budget=40", "replay.selection=uncertain")),
          ("ewc", "domain", ("ewc.mode=online", "ewc.decay=0.5"))]


def build(name, scenario, extra, tmp_path, **overrides):
    config = config_for(scenario, tmp_path, f"method={name}", *extra,
                        *(f"{k}={v}" for k, v in overrides.items()))
    return method_spec(name).build(config), config.scenario.name


def step(method, scenario, task, tasks):
    """What the runner does per task: begin, learn, then evaluate every task it can."""
    method.begin_task(task)
    losses = method.learn(task, progress=False).losses
    for other in tasks:
        task_id = other.task_id if scenario == "task" else None
        if method.can_predict(task_id):
            method.predict(other.x_test, task_id)
    return losses


def assert_same_state(a, b, tasks):
    """Bitwise: every tensor the two methods keep, and the description of everything else."""
    sa, sb = capture_state(a, global_rng=False), capture_state(b, global_rng=False)
    assert json.dumps(sa.tree) == json.dumps(sb.tree)
    assert list(sa.tensors) == list(sb.tensors)
    for key, t in sa.tensors.items():
        u = sb.tensors[key]
        assert t.dtype == u.dtype and t.shape == u.shape, key
        assert t.reshape(-1).view(torch.uint8).equal(u.reshape(-1).view(torch.uint8)), key


def assert_same_predictions(a, b, scenario, tasks):
    for task in tasks:
        task_id = task.task_id if scenario == "task" else None
        assert a.can_predict(task_id) == b.can_predict(task_id)
        if a.can_predict(task_id):
            assert torch.equal(a.predict(task.x_test, task_id), b.predict(task.x_test, task_id))
    assert a.memory_bytes() == b.memory_bytes()


def trained(tmp_path, num_tasks=2, keep=2, directory="ckpt"):
    """A supsup run over `num_tasks` tasks, checkpointed after each; returns (tasks, method, the state after each)."""
    tasks = make_tasks(num_tasks=num_tasks, n_train=64, n_test=32)
    method, _ = build("supsup", "task", (), tmp_path)
    states = []
    for task in tasks:
        step(method, "task", task, tasks)
        save_state_checkpoint(tmp_path / directory, task.task_id, method, {"after": task.task_id}, keep=keep)
        states.append(capture_state(method, global_rng=False))
    return tasks, method, states


def fresh(tmp_path):
    return build("supsup", "task", (), tmp_path)[0]


def fresh_from(state):
    method = build("supsup", "task", (), "unused")[0]
    restore_state(method, state, global_rng=False)
    return method


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def files(directory):
    """Every file under `directory` with what changes when it is (re)written: inode, size and mtime."""
    return {p: (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*") if p.is_file()}


def bytes_written(before, after):
    """Bytes of the files that are new or rewritten; every write replaces a file by a new one, so this is all of it."""
    return sum(size for path, (ino, size, _) in after.items() if before.get(path, (None,))[0] != ino)


def supsup_with_tasks(tmp_path, num_tasks):
    """A supsup method with `num_tasks` finished tasks of random scores, as after training."""
    method = fresh(tmp_path)
    for _ in range(num_tasks):
        grow(method)
    return method


def grow(method):
    task_id = add_task(method.model, method.score_generator_)
    method.end_task(task_id)  # as after training: its mask packed, its scores dropped
    method.alphas_.append({})
    method.similarities_.append({})
