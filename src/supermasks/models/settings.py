"""What network a run builds: architecture, output size, and how scores become masks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.conditional import Capability, complete, only_when
from supermasks.errors import require_number, shown
from supermasks.models.networks import ARCHITECTURES
from supermasks.models.user import is_own_arch

MaskRule = Literal["threshold", "topk"]


# The methods that read the mask rule: those that learn masks, as the method registry declares them.
MASKED_METHODS = Capability("masks")

DensityBudget = Literal["global", "er"]


@dataclass(frozen=True)
class ModelSettings:
    """The `model` section of an experiment config."""

    # A name of `ARCHITECTURES` (`supermasks list` shows each one's input), or a user's own network: an import path
    # `package.module:function` returning an nn.Module (`models.user`)
    arch: str = "fc-300-300"
    output_size: int = 10
    # "threshold": keep s >= 0; "topk": keep the top `density` of |s|. Only a method that learns masks reads it.
    mask_rule: MaskRule | None = field(default=None, metadata=only_when(
        "method", MASKED_METHODS, "methods that learn a mask per task (supsup)", default="threshold",
        fix="add supsup to method"))
    density: float | None = field(default=None, metadata=only_when(  # fraction kept (required); er: the scale
        "mask_rule", "topk", "mask_rule topk", fix="set model.mask_rule=topk"))
    # How top-k density is spread over layers: "global", `density` in every layer; "er", the layer-wise
    # Erdos-Renyi budget min(0.5, density (c_out + c_in) / (c_out c_in kh kw)), where density is a scale
    # that may exceed 1 (SupSup's SplitCIFAR100 values 1..32).
    density_budget: DensityBudget | None = field(default=None, metadata=only_when(
        "mask_rule", "topk", "mask_rule topk", default="global", fix="set model.mask_rule=topk"))
    batch_norm: bool = False  # per-task non-affine BatchNorm after each hidden layer (resnets: required)

    def __post_init__(self) -> None:
        complete(self, "model")
        own = isinstance(self.arch, str) and is_own_arch(self.arch)
        if self.arch not in ARCHITECTURES and not own:
            raise ValueError(f"arch: unknown value {shown(self.arch)}; choose one of {', '.join(ARCHITECTURES)}, or "
                             "an import path package.module:function returning your own nn.Module")
        if own and self.batch_norm:
            raise ValueError(f"batch_norm adds BatchNorm to the library's networks; the network {self.arch} has "
                             "the BatchNorm layers its module has (made per-task): remove model.batch_norm")
        if self.output_size < 1:
            raise ValueError(f"output_size must be a positive number, got {self.output_size}")
        if self.density_budget not in (None, "global", "er"):
            raise ValueError(f"density_budget: unknown value {shown(self.density_budget)}; choose one of global, er")
        if self.mask_rule == "topk":
            if self.density is None:
                raise ValueError("density is required by mask_rule topk (the fraction of weights kept, in (0, 1])")
            require_number("density", self.density, maximum=None if self.density_budget == "er" else 1.0)
        if not own and ARCHITECTURES[self.arch].always_norm and not self.batch_norm:
            raise ValueError(f"arch {self.arch} has per-task BatchNorm after every convolution: set batch_norm=true")


__all__ = ["DensityBudget", "MaskRule", "ModelSettings"]
