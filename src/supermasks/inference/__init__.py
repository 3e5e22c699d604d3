"""Task inference with supermasks in superposition: bit-packed mask bank, one-shot (H, G) and binary search."""

from supermasks.inference.bank import MaskBank
from supermasks.inference.binary import infer_per_image_binary, infer_task_binary
from supermasks.inference.evaluate import task_inference_accuracy
from supermasks.inference.nns import NNsLearner, boundary_report, detect_new_task, random_masks
from supermasks.inference.oneshot import OBJECTIVES, PRECISIONS, alpha_gradient, inference_objective, infer_per_image, infer_task
from supermasks.inference.subset import PackedSubset, packed_subset
from supermasks.inference.superpose import check_superposable, superposed, superposed_forward
from supermasks.inference.signature import (batch_signature, infer_per_image_signature, infer_task_signature,
                                            probe_similarity, signature_scores)

__all__ = [
    "OBJECTIVES", "PRECISIONS", "MaskBank", "NNsLearner", "PackedSubset", "packed_subset", "alpha_gradient", "boundary_report", "detect_new_task", "random_masks", "check_superposable", "infer_per_image", "infer_per_image_binary",
    "infer_task", "infer_task_binary", "inference_objective", "superposed", "superposed_forward",
    "task_inference_accuracy",
    "batch_signature", "infer_per_image_signature", "infer_task_signature", "probe_similarity", "signature_scores",
]
