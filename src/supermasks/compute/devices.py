"""Where a run computes: the `run.device` setting resolved to a `torch.device`, and batches moved there.

`auto` is CUDA when `torch.cuda.is_available()`, else the CPU; `cpu`, `cuda` and `cuda:N` name a
device. A run resolves its setting once (`resolve_device`); models, per-task state and optimiser
state live there, while data stays on the CPU and moves one batch at a time (`to_device`: from
pinned memory, without blocking, on CUDA). Random draws never happen on the device: every
generator is a CPU `torch.Generator`, and what it draws (initial scores, batch order) is moved,
so a CUDA run starts from the same masks and sees the same batches as a CPU run.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from supermasks.errors import ConfigError, shown

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_CUDA = re.compile(r"cuda(?::(\d+))?")


def check_device_name(name: str) -> None:
    """ValueError unless `name` is one of auto, cpu, cuda, cuda:N (whether the machine has it is not checked)."""
    if not isinstance(name, str) or not (name in ("auto", "cpu") or _CUDA.fullmatch(name)):
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)} (N: a GPU index), got {shown(name)}")


def resolve_device(name: str) -> torch.device:
    """The `torch.device` that `run.device` names on this machine; ConfigError for a device it lacks.

    `auto`: `cuda` (the current CUDA device) when CUDA is available, else `cpu`.
    """
    try:
        check_device_name(name)
    except ValueError as error:
        raise ConfigError(f"run.{error}") from None
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise ConfigError(f"run.device={name}: CUDA is not available here ({built}); use run.device=cpu or auto")
    index = _CUDA.fullmatch("cuda" if name == "auto" else name).group(1)  # type: ignore[union-attr]
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise ConfigError(f"run.device={name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", int(index) if index is not None else torch.cuda.current_device())


def device_info(device: torch.device) -> dict[str, Any]:
    """What meta.json records of the device a run computed on: its name and, for a GPU, the GPU's name."""
    info: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        info["gpu_name"] = torch.cuda.get_device_name(device)
        info["cuda_version"] = torch.version.cuda
    return info


def check_amp(amp: bool, device: torch.device) -> None:
    """ConfigError for mixed precision off CUDA: autocast to bfloat16 is offered on CUDA only."""
    if amp and device.type != "cuda":
        raise ConfigError(f"training.amp=true runs the forward pass in bfloat16 on CUDA, but this run computes on "
                          f"{device}: set training.amp=false, or run.device=cuda on a machine with a GPU")


def check_device(name: str, *, amp: bool) -> None:
    """ConfigError for a `run.device` this machine lacks, or one that `training.amp` cannot run on."""
    check_amp(amp, resolve_device(name))


# CPU flags of native bfloat16 matrix products: AMX tiles (Sapphire Rapids on) or AVX512-BF16 dot products.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (`cpuinfo`: its text, for tests); empty where unreadable."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bfloat16_note(device: torch.device, flags: frozenset[str] | None = None) -> str | None:
    """Why bfloat16 products may be slow on `device` (None where it has native support or it cannot be told).

    CPU: native where its flags list amx_bf16 or avx512_bf16; elsewhere torch emulates the products,
    correct but usually slower than float32. CUDA: `torch.cuda.is_bf16_supported()`.
    """
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else (
            f"{torch.cuda.get_device_name(device)} has no native bfloat16: its products are emulated")
    if device.type != "cpu":
        return None
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return None  # not Linux, or no flags to read: nothing to say
    if any(flag in flags for flag in BF16_CPU_FLAGS):
        return None
    return ("this CPU lists neither amx_bf16 nor avx512_bf16 among its flags: torch emulates bfloat16 products, "
            "correct but usually slower than float32 (training.precision=float32 is the faster choice here)")


def module_device(module: nn.Module) -> torch.device:
    """The device of `module`'s first parameter or buffer (the CPU for a module without tensors)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def to_device(tensor: torch.Tensor, device: torch.device | None) -> torch.Tensor:
    """`tensor` on `device` (None: where it is). A CPU batch bound for CUDA is copied from pinned memory
    without blocking, so the copy overlaps the host's next work."""
    if device is None or tensor.device == device:
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


__all__ = ["BF16_CPU_FLAGS", "DEVICE_CHOICES", "bfloat16_note", "check_amp", "check_device", "cpu_flags", "check_device_name", "device_info", "module_device", "resolve_device",
           "to_device"]
