"""A state saved from one device loads onto the device of the network it is loaded into.

Without a GPU the other device is PyTorch's "meta" device (tensors with shapes, no data): a method
whose network was moved there must put everything it reads from a CPU-saved state there too, by
the same code that moves a CPU checkpoint onto a GPU when a run resumes on another machine.
"""

import pytest
import torch

from supermasks.config import load_config
from supermasks.compute.devices import module_device
from supermasks.methods import method_spec
from supermasks.store.state import capture_state, restore_state
from tests.conftest import make_tasks

META = torch.device("meta")

# EWC is left out: loading merges its Fisher terms into one quadratic with `.item()`, which needs
# values that meta tensors do not have.
CASES = {
    "supsup": ["supsup.transfer=mean"],
    "batche": [],
    "hopsupsup": ["scenario.name=gnu", "model.output_size=4"],
}


def _config(method, extra):
    return load_config(None, [f"method={method}", "model.output_size=4", "training.steps_per_task=3",
                              "training.batch_size=16", *extra])


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _tensors(value)
    elif isinstance(tree, (list, tuple)):
        for value in tree:
            yield from _tensors(value)


@pytest.mark.parametrize("method", list(CASES))
def test_a_cpu_state_loads_onto_the_networks_device(method):
    config = _config(method, CASES[method])
    trained = method_spec(method).build(config)
    for task in make_tasks(num_tasks=2):
        trained.learn(task, progress=False)
    saved = capture_state(trained, global_rng=False)
    assert all(t.device.type == "cpu" for t in saved.tensors.values())

    moved = method_spec(method).build(config)
    moved.model.to(META)
    restore_state(moved, saved, global_rng=False)
    assert module_device(moved.model) == META
    # A network's extra state (HopSupSup's CPU generator) stays where generators live.
    elsewhere = [key for key, t in moved.model.state_dict().items() if key != "_extra_state" and t.device != META]
    assert not elsewhere
    for name in ("score_sum_",):
        for t in _tensors(getattr(moved, name, {})):
            assert t.device == META, name
    for store in getattr(moved, "stores_", []):
        assert store.psi_.device == META
