"""Every registered method, in every scenario it declares: `state_dict()` into a fresh method goes on bit for bit."""

import copy

import pytest
import torch

from supermasks.methods import list_methods, method_spec
from supermasks.methods._state import RECORDED_TRAINING
from supermasks.methods.base import InfersPerImage, InfersTasks, Method, Reports
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks
from tests.methods.test_registry import config_for

CASES = [(name, scenario) for name in list_methods() for scenario in sorted(method_spec(name).scenarios)]


def build(name, scenario, tmp_path, *extra):
    config = config_for(scenario, tmp_path, f"method={name}", "training.steps_per_task=10", *extra)
    return method_spec(name).build(config)


def train(method, task):
    method.begin_task(task)
    return method.learn(task, progress=False).losses


def predictions(method, tasks):
    """Each task's test logits, with its task id where the method takes one, else without."""
    out = []
    for task in tasks:
        task_id = task.task_id if method.can_predict(task.task_id) else None
        out.append(method.predict(task.x_test, task_id) if method.can_predict(task_id) else None)
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x is None and y is None) or torch.equal(x, y)


@pytest.mark.parametrize("name, scenario", CASES)
def test_a_loaded_state_predicts_and_trains_on_bit_for_bit(name, scenario, tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    straight = build(name, scenario, tmp_path)
    assert isinstance(straight, Method)
    for task in tasks[:2]:
        train(straight, task)
    state = copy.deepcopy(straight.state_dict())  # the convention: a state dict holds the method's own tensors
    resumed = build(name, scenario, tmp_path)
    resumed.load_state_dict(state)
    assert_same(predictions(straight, tasks[:2]), predictions(resumed, tasks[:2]))
    assert straight.memory_bytes() == resumed.memory_bytes()
    assert train(straight, tasks[2]) == train(resumed, tasks[2])
    assert_same(predictions(straight, tasks), predictions(resumed, tasks))
    if isinstance(straight, InfersTasks):
        assert [straight.infer_task(t.x_test) for t in tasks] == [resumed.infer_task(t.x_test) for t in tasks]


@pytest.mark.parametrize("name", list_methods())
def test_every_setting_is_a_hyperparameter_the_state_checks(name, tmp_path):
    """Public plain attributes are settings: each must be in the state, or a changed one would load silently;
    so must the training settings the method holds as one `TrainingSettings`."""
    scenario = sorted(method_spec(name).scenarios)[0]
    method = build(name, scenario, tmp_path)

    def plain(v):
        return v is None or isinstance(v, (bool, int, float, str))

    settings = {k for k, v in vars(method).items() if not k.startswith("_") and not k.endswith("_") and plain(v)}
    settings.discard("reference_signatures")  # SupSup's two-pass input, saved as state (None without transfer)
    assert settings == set(method.HYPERPARAMETERS)
    assert isinstance(method.training, TrainingSettings)
    assert set(method.state_dict()["hyperparameters"]) == settings | set(RECORDED_TRAINING)


# The hyperparameters each method's state has recorded since the training settings were added: states
# written then must load, so the names (and the values read from the config) stay as they were.
TRAINING = {"optimizer": "adam", "lr": 0.001, "batch_size": 32, "steps_per_task": 10, "epochs": None,
            "schedule": "constant", "weight_decay": 0.0, "amp": False}
WRITTEN = {
    "supsup": {"seed": 0, "task_inference": "oneshot", "inference_objective": "H", "transfer": "random",
               "transfer_protocol": "causal", "transfer_temperature": 0.1, "keep_scores": False,
               "score_init": "independent", "record_initial_masks": False},
    "naive": {"scenario": "class", "seed": 0},
    "joint": {"scenario": "class", "seed": 0},
    "ewc": {"scenario": "class", "seed": 0, "lam": 1000.0, "samples": 200, "fisher_label": "predicted",
            "mode": "separate", "decay": 1.0},
    "replay": {"scenario": "class", "seed": 0, "fraction": 0.5, "per_task": None, "budget": None,
               "selection": "random", "mix": "batch", "eval_batch_size": 1024},
    "separate_heads": {"trunk": "task0", "seed": 0},
    "batche": {"weights": "task0", "weight_lr": None, "seed": 0},
    "hopsupsup": {"seed": 0, "recovery_steps": 50, "recovery_lr": 0.1, "recall_steps": 20, "probe_size": 128},
    "upper_bound": {"seed": 0},
}


@pytest.mark.parametrize("name", list_methods())
def test_the_state_header_records_what_states_have_always_recorded(name, tmp_path):
    scenario = sorted(method_spec(name).scenarios)[0]
    state = build(name, scenario, tmp_path).state_dict()
    assert state["method"] == name
    assert state["hyperparameters"] == TRAINING | WRITTEN[name]


@pytest.mark.parametrize("name", list_methods())
def test_another_learning_rate_is_refused_naming_lr(name, tmp_path):
    scenario = sorted(method_spec(name).scenarios)[0]
    tasks = make_tasks(num_tasks=1, n_train=64, n_test=32)
    method = build(name, scenario, tmp_path)
    train(method, tasks[0])
    other = build(name, scenario, tmp_path, "training.lr=0.5")
    with pytest.raises(ValueError, match=r"lr=0\.5 here, 0\.001 in the state"):
        other.load_state_dict(method.state_dict())


def test_a_state_of_another_method_is_refused(tmp_path):
    naive = build("naive", "task", tmp_path)
    with pytest.raises(ValueError, match="the state is of 'naive', not of 'ewc'"):
        build("ewc", "task", tmp_path).load_state_dict(naive.state_dict())


def test_supsup_and_hopsupsup_report_and_supsup_infers_per_image(tmp_path):
    supsup = build("supsup", "gnu", tmp_path)
    hop = build("hopsupsup", "gnu", tmp_path)
    assert isinstance(supsup, Reports) and isinstance(hop, Reports)
    assert isinstance(supsup, InfersPerImage) and not isinstance(hop, InfersPerImage)
    assert supsup.report().tables == {} and supsup.report().metrics == {}


def test_binary_per_image_inference_equals_binary_search_on_each_image(tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=8)
    method = build("supsup", "gnu", tmp_path, "supsup.task_inference=binary")
    for task in tasks:
        train(method, task)
    x = torch.cat([t.x_test[:3] for t in tasks])
    assert method.infer_task_per_image(x).tolist() == [method.infer_task(x[i:i + 1]) for i in range(len(x))]
