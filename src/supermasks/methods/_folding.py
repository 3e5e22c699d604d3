"""When a SupSup task's pixel permutation is folded into its first layer (`models.folding`) for training.

Only the fast path folds: bfloat16 products (`training.precision=bfloat16`), whose numbers already
differ from float32's, so that folding (which changes each product's order of summation) leaves
every float32 result bit for bit as it was. It applies where it is exact up to that order: a
network whose first layer is a masked linear layer over the flattened image (an MLP), a task whose
images are its base images read through a pixel permutation (permuted and partially permuted
tasks; a rotation's gather is not one: it repeats pixels and fills corners), no augmentation, and no
probe (an accuracy curve evaluates other tasks in the middle of training, which must see the
canonical layout).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from torch import nn

from supermasks.data.images import Images, TaskImages
from supermasks.data.table_images import TableImages
from supermasks.models import low_mlp
from supermasks.models.bfloat16 import LOW
from supermasks.data.task import Task
from supermasks.models.folding import folded, is_permutation
from supermasks.models.layers import MaskedLinear
from supermasks.models.mlp import MaskedMLP


def folding(model: nn.Module, task: Task, probed: bool) -> tuple[Images, AbstractContextManager[None]]:
    """(the training images to draw batches from, the context to train in): the unpermuted images and
    `models.folding.folded` where the task's permutation folds into the first layer, else the task's
    own images and a context that does nothing."""
    images = task.x_train
    if probed or task.augment is not None or task.pixel_map is None or not isinstance(images, TaskImages):
        return images, nullcontext()
    if not isinstance(model, MaskedMLP):
        return images, nullcontext()
    first = getattr(model, model.layer_names[0])
    if not isinstance(first, MaskedLinear) or first.precision != "bfloat16":
        return images, nullcontext()
    source = images.source
    if (source is None or images.inside is not None or images.base.dim() != 3
            or not is_permutation(source, first.weight.shape[1])):
        return images, nullcontext()
    plain = TaskImages(images.base, rows=images.rows, norm=images.norm)
    if low_mlp.applies([getattr(model, name) for name in model.layer_names], model.norm_names):
        # The whole MLP rounds its input to bfloat16 first, and every folded task reads the same unpermuted
        # images: normalised and rounded once, for all of them (`data.table_images`).
        return TableImages(plain, LOW), folded(first, task.task_id, source)
    return plain, folded(first, task.task_id, source)
