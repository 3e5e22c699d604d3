"""From a config to what a run trains: its source, the task sequence of a benchmark, and each method built for it.

A source is either a `Dataset` held in memory (uint8 tensors) or an `ImageFolder` of files decoded
per batch (ImageNet); `load_data` reads either and `build_tasks` takes either, so every caller (a run, a Ray
task of `run.parallel_tasks`, the transfer study) reads its tasks the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from supermasks.config import ConfigError, ExperimentConfig, updated
from supermasks.data import Dataset, Task, load_source, make_benchmark
from supermasks.data.imagenet import CLASSES_PER_TASK, ImageFolder, make_splitimagenet
from supermasks.data.settings import crop_size
from supermasks.data.sources import Source, open_source
from supermasks.data.user import OWN_BENCHMARK, OwnTasks, give_tasks, is_own_source, own_source, own_tasks
from supermasks.errors import DataError
from supermasks.models import build_model, image_shape, input_problem
from supermasks.models.user import check_fits, give_network, is_own_arch
from supermasks.methods import Method, method_spec
from supermasks.seeds import streams

log = logging.getLogger(__name__)


def load_data(config: ExperimentConfig) -> Source:
    """The config's `data.source`, from `data.data_dir` where given: a Dataset in memory or an image folder
    (whether it fits in memory is `checks.check_source_memory`'s to say)."""
    if is_own_source(config.data.source):  # a user's own tasks (`data.user`)
        return own_source(config.data.source, config.data.num_tasks)
    data_dir = Path(config.data.data_dir) if config.data.data_dir else None
    return open_source(config.data.source, data_dir)


def with_own(config: ExperimentConfig, model: object = None, tasks: object = None) -> ExperimentConfig:
    """`config` running on a user's own network (an `nn.Module`, masked with the run's weight seed where it is not
    masked yet) and tasks (a list of `Task`s, or a pair `(train_sets, test_sets)`), where given: each is held in
    this process and named, with its fingerprint, by `model.arch` and `data.source` (benchmark `own`)."""
    changes: dict[str, object] = {}
    if model is not None:
        changes["model.arch"] = give_network(model, streams(config.seed).weights)
    if tasks is not None:
        source = give_tasks(tasks)  # type: ignore[arg-type]
        changes |= {"data.source": source, "data.benchmark": [OWN_BENCHMARK],
                    "data.num_tasks": len(own_tasks(source))}
    return updated(config, changes) if changes else config


def build_tasks(config: ExperimentConfig, benchmark: str, data: Source) -> list[Task]:
    """The tasks of `benchmark` on `data` (a Dataset or an ImageFolder), checked against the model's input and
    output sizes, the methods' needs and the batch size (`check_task_sizes`)."""
    if isinstance(data, OwnTasks):
        tasks = data.tasks
    elif isinstance(data, ImageFolder):
        tasks = _folder_tasks(config, benchmark, data)
    else:
        tasks = _dataset_tasks(config, benchmark, data)
    needed = max(t.num_classes for t in tasks)
    if config.model.output_size < needed and not is_own_arch(config.model.arch):
        raise ConfigError(f"output_size {config.model.output_size} is smaller than the {needed} classes of {benchmark}")
    if isinstance(data, OwnTasks) or is_own_arch(config.model.arch):  # a forward pass says whether they fit
        check_fits(build_model(config.model.arch, output_size=config.model.output_size,
                               batch_norm=config.model.batch_norm, seed=streams(config.seed).weights),
                   tasks[0].x_train[:2], needed, f"model.arch {config.model.arch}")
    for name in config.method:
        method_spec(name).check_tasks(config, tasks)
    check_task_sizes(config, tasks)
    return tasks


def check_task_sizes(config: ExperimentConfig, tasks: list[Task]) -> None:
    """Refuse tasks without training or test images, and warn, naming the smallest task and the fix, where a task
    has fewer training images than one batch.

    Such a task still trains, but every step on all of its images: a smaller batch than
    training.batch_size says (and fewer steps per epoch), so the warning names the batch size that
    would run as configured. A warning, not a refusal: a few images short of a batch (the
    synthetic sources' split tasks hold 120 against the default 128) change little, and the
    line says what happened where it matters (a training set of one image).
    """
    if not tasks:
        return
    for split, count in (("training", lambda t: len(t.y_train)), ("test", lambda t: len(t.y_test))):
        empty = next((t for t in tasks if count(t) == 0), None)
        if empty is not None:
            raise ConfigError(f"task {empty.task_id} ({empty.name}) has no {split} image: data.source="
                              f"{config.data.source} holds none of its classes {list(empty.classes)}; use data that "
                              f"holds images of every class in both splits")
    batch = config.training.batch_size
    smallest = min(tasks, key=lambda t: len(t.y_train))
    size = len(smallest.y_train)
    if size < batch:
        log.warning("warning: task %d (%s) has %d training image%s, fewer than one batch (training.batch_size=%d): "
                    "every step trains on all %d. Set training.batch_size=%d or smaller to train as configured, or "
                    "use a source with more training images", smallest.task_id, smallest.name, size,
                    "s" * (size > 1), batch, size, size)


def _dataset_tasks(config: ExperimentConfig, benchmark: str, dataset: Dataset) -> list[Task]:
    second = None
    if benchmark == "pair":
        second = load_source(config.data.pair_source, None)
    for data in (dataset, second):
        if data is not None:
            check_image_size(config, data)
    # None where the config's benchmarks have no split (or permuted) one: make_benchmark's own defaults, unused, stand.
    own = {"classes_per_task": config.data.classes_per_task, "label_mode": config.data.label_mode,
           "permute_fraction": config.data.permute_fraction, "permute_subsets": config.data.permute_subsets,
           "permute_fraction_range": config.data.permute_fraction_range}
    return make_benchmark(benchmark, dataset, num_tasks=config.data.num_tasks, seed=config.seed, second=second,
                          rotation_step=config.data.rotation_step,
                          **{key: value for key, value in own.items() if value is not None})


def _folder_tasks(config: ExperimentConfig, benchmark: str, folder: ImageFolder) -> list[Task]:
    if benchmark != "splitimagenet":  # refused when the config is built; kept for configs made by hand
        raise ConfigError(f"benchmark {benchmark} cannot read the image folder {folder.root}: use splitimagenet")
    crop = crop_size(config.data)
    _check_shape(config, (3, crop, crop), f"{folder.description} (crops of data.image_size={crop})")
    most = len(folder.classes) // CLASSES_PER_TASK
    if config.data.num_tasks > most:
        raise ConfigError(f"data.num_tasks={config.data.num_tasks}: the {len(folder.classes)} class folders of "
                          f"{folder.root / 'train'} make at most {most} tasks of {CLASSES_PER_TASK} classes: set "
                          f"data.num_tasks={most} or fewer")
    return make_splitimagenet(folder, config.data.num_tasks, config.seed, workers=config.data.workers or 1,
                              image_size=crop)


def check_image_size(config: ExperimentConfig, dataset: Dataset) -> None:
    """Refuse images the network cannot take (`models.input_problem`): an MLP or LeNet-5 reads 1x28x28
    images, a ResNet any size of 3 channels. Images are (N, H, W) (one channel) or (N, C, H, W)."""
    for x in (dataset.x_train, dataset.x_test):
        _check_shape(config, image_shape(tuple(x.shape)), dataset.description)


def _check_shape(config: ExperimentConfig, shape: tuple[int, ...], what: str) -> None:
    problem = input_problem(config.model.arch, shape)
    if problem:
        raise DataError(f"{what}: {problem} (channels x height x width): use a source of such "
                        "images, or another model.arch (`supermasks list` shows what each takes)")


def build_method(config: ExperimentConfig, method_name: str, tasks: list[Task], *, progress: bool = True) -> Method:
    """The method of `method_name` for `tasks`, from the whole sequence where its registry entry asks for it."""
    spec = method_spec(method_name)
    if spec.build_for_tasks is not None:
        return spec.build_for_tasks(config, tasks, progress)
    return spec.build(config)
