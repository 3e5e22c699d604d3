"""From a config to what a run trains: the task sequence of a benchmark, and each method built for it."""

from __future__ import annotations

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.data import Dataset, Task, load_source, make_benchmark
from supermasks.errors import DataError
from supermasks.models import image_shape, input_problem
from supermasks.methods import Method, method_spec


def build_tasks(config: ExperimentConfig, benchmark: str, dataset: Dataset) -> list[Task]:
    """The tasks of `benchmark` on `dataset`, checked against the model's output size."""
    second = None
    if benchmark == "pair":
        second = load_source(config.data.pair_source, None)
    for data in (dataset, second):
        if data is not None:
            check_image_size(config, data)
    # None where the config's benchmarks have no split (or permuted) one: make_benchmark's own defaults, unused, stand.
    own = {"classes_per_task": config.data.classes_per_task, "label_mode": config.data.label_mode,
             "permute_fraction": config.data.permute_fraction}
    tasks = make_benchmark(benchmark, dataset, num_tasks=config.data.num_tasks, seed=config.seed, second=second,
                           rotation_step=config.data.rotation_step,
                           **{key: value for key, value in own.items() if value is not None})
    needed = max(t.num_classes for t in tasks)
    if config.model.output_size < needed:
        raise ConfigError(f"output_size {config.model.output_size} is smaller than the {needed} classes of {benchmark}")
    for name in config.method:
        method_spec(name).check_tasks(config, tasks)
    return tasks


def check_image_size(config: ExperimentConfig, dataset: Dataset) -> None:
    """Refuse images the network cannot take (`models.input_problem`): an MLP or LeNet-5 reads 1x28x28
    images, a ResNet any size of 3 channels. Images are (N, H, W) (one channel) or (N, C, H, W)."""
    for x in (dataset.x_train, dataset.x_test):
        problem = input_problem(config.model.arch, image_shape(tuple(x.shape)))
        if problem:
            raise DataError(f"{dataset.description}: {problem} (channels x height x width): use a source of such "
                            "images, or another model.arch (`supermasks list` shows what each takes)")


def build_method(config: ExperimentConfig, method_name: str, tasks: list[Task], *, progress: bool = True) -> Method:
    """The method of `method_name` for `tasks`, from the whole sequence where its registry entry asks for it."""
    spec = method_spec(method_name)
    if spec.build_for_tasks is not None:
        return spec.build_for_tasks(config, tasks, progress)
    return spec.build(config)
