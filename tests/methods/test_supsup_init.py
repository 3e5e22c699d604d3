"""SupSup's score initialisation (independent or shared) and its recorded initial masks.

docs/algorithms.md section 2.
"""

import copy

import numpy as np
import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.methods import method_spec
from supermasks.methods.base import KnowsInitialMasks, Masked, SharesInitialScores
from supermasks.methods.supsup import SupSup
from supermasks.methods.supsup_settings import records_initial_masks, task_bits
from supermasks.models import build_model, masked_layers
from supermasks.models.layers import score_init as random_scores
from supermasks.models.masks import compute_mask, threshold_distance
from supermasks.seeds import streams
from supermasks.store.checkpoints import load_latest_state, save_state_checkpoint
from supermasks.training import TrainingSettings
from tests.conftest import make_tasks

SEED = 3


def make(rule="threshold", transfer="random", batch_norm=False, **kwargs):
    model = build_model("fc-300-300", output_size=4, rule=rule, density=0.1, batch_norm=batch_norm, seed=0)
    return SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=32, steps_per_task=8), seed=SEED,
                  transfer=transfer, **kwargs)


def stream_draws(method, count):
    """The first `count` draws of the run's score stream from a fresh generator (one dict per task), and the generator."""
    generator = torch.Generator().manual_seed(streams(SEED).scores)
    layers = masked_layers(method.model)
    draws = [{name: random_scores(tuple(m.weight.shape), m.fan_in, generator) for name, m in layers.items()}
             for _ in range(count)]
    return draws, generator


def initial_scores(method, tasks):
    """Each task's scores right after `begin_task` (before any training), then trains it."""
    out = []
    for task in tasks:
        method.begin_task(task)
        out.append({name: m.task_scores(task.task_id).detach().clone() for name, m in masked_layers(method.model).items()})
        method.learn(task, progress=False)
    return out


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_independent_init_starts_task_t_from_the_t_th_draw_of_the_score_stream(rule):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    method = make(rule)
    scores = initial_scores(method, tasks)
    draws, generator = stream_draws(method, 3)
    for got, expected in zip(scores, draws):
        assert all(torch.equal(got[name], expected[name]) for name in expected)
    assert not torch.equal(scores[0]["fc1"], scores[1]["fc1"])
    # one draw per task: the stream is where a fresh generator is after three draws
    assert torch.equal(method.score_generator_.get_state(), generator.get_state())


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_recording_initial_masks_leaves_the_default_run_unchanged(rule):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    plain, explicit, recording = make(rule), make(rule, score_init="independent"), make(rule, record_initial_masks=True)
    for task in tasks:
        losses = [m.learn(task, progress=False).losses for m in (plain, explicit, recording)]
        assert losses[0] == losses[1] == losses[2]
    for t in range(3):
        for name, mask in plain.masks(t).items():
            assert np.array_equal(explicit.masks(t)[name], mask) and np.array_equal(recording.masks(t)[name], mask)
    assert torch.equal(plain.score_generator_.get_state(), recording.score_generator_.get_state())


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_shared_init_starts_every_task_from_the_first_draw_so_initial_masks_are_identical(rule):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    shared, independent = make(rule, score_init="shared", record_initial_masks=True), make(rule)
    scores = initial_scores(shared, tasks)
    initial_scores(independent, tasks)
    first = stream_draws(shared, 1)[0][0]
    for task_scores in scores:
        assert all(torch.equal(task_scores[name], first[name]) for name in first)
    # the stream is consumed as in the independent run
    assert torch.equal(shared.score_generator_.get_state(), independent.score_generator_.get_state())
    initial = [shared.initial_masks(t) for t in range(3)]
    for name, layer in masked_layers(shared.model).items():
        expected = compute_mask(first[name], layer.rule, layer.density).numpy()
        assert all(np.array_equal(masks[name], expected) for masks in initial)
    # training moves the tasks apart from their common start
    assert not np.array_equal(shared.masks(1)["fc1"], initial[1]["fc1"])
    assert not np.array_equal(shared.masks(1)["fc1"], shared.masks(2)["fc1"])


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_shared_init_margins_are_the_shared_scores_distance_to_the_threshold(rule):
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    shared = make(rule, score_init="shared", record_initial_masks=True)
    scores = initial_scores(shared, tasks)  # trained afterwards: the margins come from the seed, not the live scores
    assert isinstance(shared, SharesInitialScores)
    margins = shared.initial_score_margins()
    layers = masked_layers(shared.model)
    assert margins.keys() == layers.keys()
    for name, layer in layers.items():
        assert np.array_equal(margins[name], threshold_distance(scores[0][name], rule, layer.density).numpy())
        if rule == "threshold":
            assert np.array_equal(margins[name], scores[0][name].abs().numpy())
    assert make(rule).initial_score_margins() is None  # independent init: no one s0


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_initial_masks_are_the_initial_scores_through_the_mask_rule(rule):
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    method = make(rule, record_initial_masks=True)
    scores = initial_scores(method, tasks)
    assert isinstance(method, KnowsInitialMasks) and isinstance(method, Masked)
    for t in range(2):
        initial = method.initial_masks(t)
        assert initial.keys() == method.masks(t).keys()
        for name, layer in masked_layers(method.model).items():
            assert initial[name].dtype == np.bool_ and initial[name].shape == tuple(layer.weight.shape)
            assert np.array_equal(initial[name], compute_mask(scores[t][name], rule, layer.density).numpy())
        if rule == "topk":
            assert initial["fc1"].sum() == round(0.1 * initial["fc1"].size)


def test_initial_masks_are_stored_bit_packed():
    tasks = make_tasks(num_tasks=2, n_train=64, n_test=32)
    method = make(record_initial_masks=True)
    for task in tasks:
        method.learn(task, progress=False)
    packed = method.state_dict()["initial_masks"]
    assert set(packed) == {"fc1", "fc2", "fc3"}
    for name, layer in masked_layers(method.model).items():
        assert set(packed[name]) == {"0", "1"}
        for t in packed[name].values():
            assert t.dtype == torch.uint8 and t.numel() == (layer.weight.numel() + 7) // 8


@pytest.mark.parametrize("through", ["dict", "files"])
def test_initial_masks_round_trip_through_the_state_and_the_resumed_run_goes_on(through, tmp_path):
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    straight = make(score_init="shared", record_initial_masks=True)
    for task in tasks[:2]:
        straight.learn(task, progress=False)
    resumed = make(score_init="shared", record_initial_masks=True)
    if through == "dict":
        resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    else:  # a checkpoint file, as the runner writes after every task
        save_state_checkpoint(tmp_path, 1, straight, {})
        assert load_latest_state(tmp_path, resumed).task_id == 1
    for t in range(2):
        for name, mask in straight.initial_masks(t).items():
            assert np.array_equal(resumed.initial_masks(t)[name], mask)
    assert straight.learn(tasks[2], progress=False).losses == resumed.learn(tasks[2], progress=False).losses
    for name, mask in straight.initial_masks(2).items():
        assert np.array_equal(resumed.initial_masks(2)[name], mask)
        assert np.array_equal(mask, straight.initial_masks(0)[name])  # still the shared start
        assert np.array_equal(resumed.masks(2)[name], straight.masks(2)[name])


def test_a_state_written_before_score_init_and_initial_masks_loads_as_independent():
    tasks = make_tasks(num_tasks=3, n_train=64, n_test=32)
    old, straight = make(), make(record_initial_masks=True)
    for task in tasks[:2]:
        old.learn(task, progress=False)
        straight.learn(task, progress=False)
    state = old.state_dict()
    del state["initial_masks"]
    for key in ("score_init", "record_initial_masks"):
        del state["hyperparameters"][key]
    resumed = make(record_initial_masks=True)
    resumed.load_state_dict(copy.deepcopy(state))
    with pytest.raises(ValueError, match=r"no initial mask of task 1 was recorded.*recorded tasks: \[\]"):
        resumed.initial_masks(1)
    assert resumed.learn(tasks[2], progress=False).losses == straight.learn(tasks[2], progress=False).losses
    for name, mask in straight.initial_masks(2).items():
        assert np.array_equal(resumed.initial_masks(2)[name], mask)
    with pytest.raises(ValueError, match=r"score_init='shared' here, 'independent' in the state"):
        make(score_init="shared").load_state_dict(copy.deepcopy(state))


def test_initial_masks_without_recording_are_a_clear_error():
    method = make()
    method.learn(make_tasks(num_tasks=1, n_train=64, n_test=32)[0], progress=False)
    with pytest.raises(ValueError, match="initial masks were not recorded: build SupSup with record_initial_masks"):
        method.initial_masks(0)
    assert method.state_dict()["initial_masks"] == {"fc1": {}, "fc2": {}, "fc3": {}}


@pytest.mark.parametrize("transfer", ["mean", "similar", "soft"])
def test_shared_init_with_a_transfer_from_earlier_scores_is_refused(transfer, tmp_path):
    with pytest.raises(ValueError, match=f"score_init='shared'.*transfer='{transfer}' starts later tasks from earlier"):
        make(transfer=transfer, batch_norm=True, score_init="shared")
    config = load_config(None, ["model.batch_norm=true", f"supsup.transfer={transfer}", "supsup.score_init=shared",
                                f"run.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=f"supsup.score_init=shared .*supsup.transfer={transfer} starts later tasks"):
        method_spec("supsup").check(config)


def test_an_unknown_score_init_is_refused():
    with pytest.raises(ValueError, match="unknown score init 'same'; choose one of independent, shared"):
        make(score_init="same")
    with pytest.raises(ConfigError):
        load_config(None, ["supsup.score_init=same"])


def test_shared_init_is_refused_under_nns(tmp_path):
    config = load_config(None, ["scenario.name=nns", "supsup.score_init=shared", f"run.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="nns scenario .* supsup.score_init='shared' is not supported"):
        method_spec("supsup").check(config)


def test_the_config_records_initial_masks_where_the_run_analyses_overlap(tmp_path):
    def build(*extra):
        config = load_config(None, ["training.steps_per_task=2", f"run.out_dir={tmp_path}", *extra])
        return config, method_spec("supsup").build(config)

    config, method = build("run.overlap=true", "supsup.score_init=shared")
    assert records_initial_masks(config) and method.record_initial_masks and method.score_init == "shared"
    config, method = build("run.overlap=false")
    assert not records_initial_masks(config) and not method.record_initial_masks
    assert method.score_init == "independent"
    assert task_bits(load_config(None, ["run.overlap=true"])) == task_bits(load_config(None, ["run.overlap=false"])) + 1
    assert not records_initial_masks(load_config(None, ["run.overlap=true", "scenario.name=nns"]))
