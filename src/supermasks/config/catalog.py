"""Names and one-line descriptions of what the library offers, readable without importing torch.

`supermasks list` prints these. Each table copies a registry that lives beside its code
(`methods.list_methods`, `data.list_benchmarks`, `data.list_sources`, `models.list_models`);
tests/test_catalog.py checks that every copy equals its registry, so they cannot drift apart.
"""

from __future__ import annotations

from supermasks.scenarios import SCENARIOS

METHODS: dict[str, str] = {
    "supsup": "SupSup: one learned binary mask per task over fixed random weights; task given (GG), "
              "inferred (GNs, GNu) or detected on a stream (NNs)",
    "naive": "naive fine-tuning of one dense network, task after task (lower bound; in the task scenario "
             "one head per task on the shared fine-tuned trunk)",
    "joint": "one dense network trained on the union of all tasks seen so far (upper bound for one network)",
    "ewc": "elastic weight consolidation: a Fisher-weighted pull towards earlier tasks' weights",
    "replay": "experience replay: stored samples of earlier tasks mixed into training",
    "separate_heads": "separate heads: one head per task on a trunk trained on task 0 (or random)",
    "batche": "BatchE: shared weights (trained on task 0, or random) times per-task rank-one r s^T",
    "hopsupsup": "HopSupSup: binary gates on hidden units stored in Hopfield networks (Storkey rule) and "
                 "recovered from unlabelled test batches (GNs, GNu)",
    "upper_bound": "upper bound: one dense network per task, each starting from the previous task's "
                   "trained network (task id given)",
}

BENCHMARKS: dict[str, str] = {
    "permuted": "task i shuffles the pixels by RandomState(seed + i).permutation(H*W), or with permute_fraction "
                "f < 1 moves a random round(f * H*W) of them (every one of them); with permute_subsets nested, task i "
                "moves the first round(f_i * H*W) positions of one seeded order, f_i evenly spaced over "
                "permute_fraction_range, so pairs share 1 - max(f_i, f_j) of the pixels; all classes",
    "rotated": "task i turns images i * rotation_step degrees anticlockwise (default 360 // num_tasks); all classes",
    "split": "task i keeps classes_per_task classes: consecutive groups when they suffice, else distinct seeded subsets",
    "pair": "two tasks: the source's data, then pair_source's (MNIST then Fashion-MNIST)",
    "splitcifar100": "task i keeps classes perm[5i:5i+5] of RandomState(seed).permutation(100), remapped to 0..4 "
                     "(up to 20 tasks; source cifar100 or synthetic-cifar); training batches randomly cropped "
                     "(4-pixel padding) and flipped",
    "splitimagenet": "task i keeps classes perm[10i:10i+10] of RandomState(seed).permutation(classes) of a local "
                     "ImageNet folder (source imagenet, data.data_dir), remapped to 0..9 (up to 100 tasks); JPEGs "
                     "decoded per batch, training crops random-resized and flipped",
    "partitioned": "alias of split",
}

SOURCES: dict[str, str] = {
    "mnist-5k": "MNIST subset: 5,000 of the 70,000 digits (500 per class) shipped with supermasks, "
                "split 400 train / 100 test per class",
    "fashion-mnist": "Fashion-MNIST: 60,000 train / 10,000 test clothing images, 10 classes",
    "mnist": "MNIST: 60,000 train / 10,000 test handwritten digits",
    "kmnist": "Kuzushiji-MNIST: 60,000 train / 10,000 test cursive Japanese characters, 10 classes",
    "synthetic": "synthetic: 600 train / 200 test generated 28x28 images in 10 well-separated classes (for tests)",
    "cifar100": "CIFAR-100: 50,000 train / 10,000 test 32x32 colour images, 100 classes",
    "synthetic-cifar": "synthetic-cifar: GENERATED, not CIFAR: 1,600 train / 400 test 32x32 colour images in 100 "
                       "classes shaped like CIFAR-100 (for smoke runs and tests)",
    "imagenet": "ImageNet (ILSVRC-2012) from a local folder: 1,281,167 train / 50,000 val colour images, 1,000 "
                "classes, decoded per batch",
}

MODELS: dict[str, str] = {
    'fc-300-300': 'MLP 784-300-300-s; input 1x28x28',
    'lenet-300-100': 'MLP 784-300-100-s; input 1x28x28',
    'fc-1024-1024': 'MLP 784-1024-1024-s; input 1x28x28',
    'fc-500-300': 'MLP 784-500-300-s; input 1x28x28',
    'lenet5': 'LeNet-5-style conv net (conv 5x5 6, 16 with max-pool; fc 120-84-s); input 1x28x28',
    'resnet18': 'reduced ResNet-18 of SplitCIFAR100 (20 base filters, blocks 2-2-2-2, per-task BN); input 3xHxW (any size)',
    'resnet50': 'ResNet-50 of SplitImageNet (bottlenecks 3-4-6-3, ImageNet stem, per-task BN); input 3xHxW (any size)',
}


# A user's own network and tasks, named by import path (docs/own-network.md); not registries, so not names to choose.
OWN: dict[str, str] = {
    "model.arch: PKG.MOD:FN": "your network: FN returns an nn.Module (called with output_size= where it takes it); "
                              "SupSup masks its Linear and Conv2d layers, the dense baselines train it",
    "data.source: PKG.MOD:FN": "your tasks: FN returns supermasks.tasks_from(...)'s list of tasks, or its "
                               "(train_sets, test_sets); with data.benchmark: [own] they are used as given",
}


def sections() -> dict[str, dict[str, str]]:
    """Every table, titled, in the order `supermasks list` prints them."""
    return {"benchmarks": BENCHMARKS, "data sources": SOURCES, "models": MODELS, "methods": METHODS,
            "scenarios": SCENARIOS, "your own (docs/own-network.md)": OWN}
