"""One pass per masked layer and step: score gradient, RMSprop update and the next step's mask together.

Unfused, a step of a masked linear layer makes the score gradient `g = (dL/dW_eff) * W` (one pass
over the layer), RMSprop's update (`v = alpha v + (1 - alpha) g^2`, `s -= lr g / (sqrt(v) + eps)`:
five passes as torch ops) and, at the next forward, the mask `1[s >= 0]` times the weight (two
passes). `FusedScoreRMSprop` does all of it in one pass over `(dL/dW_eff, W, v, s)`, writing the
next forward's `W * M` (or, in bfloat16 precision, `S * M`) into the layer's workspace, so that
forward fills nothing.

The loop is a small C function compiled once per machine with the system's C compiler (`cc`),
cached in the platform's cache folder (`~/.cache/supermasks/kernels` on Linux; `$SUPERMASKS_CACHE/kernels`
where set) and loaded with ctypes;
without a compiler, or with `SUPERMASKS_KERNELS=off`, the same update runs as torch ops. Both give
the same bits: both perform the same float32 operations in the same order, each correctly
rounded: `v = alpha v + ((1 - alpha) g) g` (no fused multiply-add), `d = sqrt(v) + eps` (a
correctly rounded square root), `s = s + (-lr g) / d`; the C loop is compiled without
floating-point contraction or reassociation, and tests compare the two bit for bit. These are
RMSprop's operations, but not bit for bit `torch.optim.RMSprop`'s (whose addcmul fuses a
multiply-add where the CPU has FMA, and whose float sqrt may be an ulp off): so the fused step is
used with bfloat16 products only, and float32 training keeps `optimizers.rmsprop`'s exact numbers.

The same library holds, where the compiler targets AVX-512, task inference's inner products with a
bit-packed mask bank (`compiled_bank_products`, used by `inference._packing.word_products`).

The layer's autograd function hands `dL/dW_eff` to its `DeferredScores` instead of returning a
score gradient (the scores' `.grad` stays None), and `step()` consumes it. Applies to masked linear
layers under the threshold rule, RMSprop without momentum or weight decay, on the CPU; other
parameters of the same optimiser take the ordinary update.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

from supermasks.optimizers import EagerOptimizer, _rmsprop

log = logging.getLogger(__name__)

ENV_KERNELS = "SUPERMASKS_KERNELS"  # "off": never build or load the compiled loop
ENV_CACHE = "SUPERMASKS_CACHE"  # where compiled loops are kept (a folder `kernels` below it)
_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-fno-trapping-math", "-shared", "-fPIC")

_SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <math.h>

static inline float widen(uint16_t h) { uint32_t u = ((uint32_t)h) << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t narrow_exact(float f) { uint32_t u; memcpy(&u, &f, 4); return (uint16_t)(u >> 16); }

#define STEP_BODY(GRAD, STORE_MASK)                                            \
    for (int64_t i = 0; i < n; ++i) {                                          \
        float g = (GRAD);                                                      \
        float vi = v[i] * alpha;                                               \
        vi = vi + (one_minus_alpha * g) * g;                                   \
        v[i] = vi;                                                             \
        float d = sqrtf(vi) + eps;                                             \
        float si = s[i] + (neg_lr * g) / d;                                    \
        s[i] = si;                                                             \
        float m = si >= 0.0f ? 1.0f : 0.0f;                                    \
        STORE_MASK;                                                            \
    }

/* g = (G * c) * U: U = W and c = 1 in float32; U = S (+-1) in bfloat16, where W = c * S makes it G * W
   exactly (rounding to nearest is symmetric), and c = 1 where G already stands for dL/d(S M). */
void step_f32_f32(int64_t n, const float* restrict gw, float c, float* restrict v,
                  float* restrict s, float alpha, float one_minus_alpha, float eps, float neg_lr,
                  float* restrict mask, const float* restrict unit) {
    STEP_BODY(gw[i] * c * unit[i], mask[i] = m * unit[i])
}

void step_bf16_bf16(int64_t n, const uint16_t* restrict gw, float c, float* restrict v,
                    float* restrict s, float alpha, float one_minus_alpha, float eps, float neg_lr,
                    uint16_t* restrict mask, const uint16_t* restrict unit) {
    STEP_BODY(widen(gw[i]) * c * widen(unit[i]), mask[i] = narrow_exact(m * widen(unit[i])))
}

#ifdef __AVX512F__
#include <immintrin.h>
/* Task inference's inner products with a bit-packed bank (inference._packing.word_products): out[16 r + k] =
   sum_i g[i] * bit (15 - k) of words[r, i], for rows of int16 words holding 16 tasks' bits each. Thirty-two
   weights at a time: one test of their words per slot gives the 32 weights' bits of that slot, and two masked
   adds put their g into that slot's two accumulators. The slots go in two halves of 8 (16 accumulators each,
   so all stay in registers) over blocks of the row small enough to be read twice from L1. */
#define BANK_BLOCK 1024
static inline void bank_half(const int16_t* row, const float* g, int64_t i0, int64_t i1, int k0, __m512* acc) {
    for (int64_t i = i0; i < i1; i += 32) {
        __m512i w = _mm512_loadu_si512((const void*)(row + i));
        __m512 g0 = _mm512_loadu_ps(g + i), g1 = _mm512_loadu_ps(g + i + 16);
        for (int j = 0; j < 8; ++j) {
            __mmask32 m = _mm512_test_epi16_mask(w, _mm512_set1_epi16((short)(1 << (15 - k0 - j))));
            acc[2 * j] = _mm512_mask_add_ps(acc[2 * j], (__mmask16)m, acc[2 * j], g0);
            /* the upper 16 bits by a mask-register shift: through a general register costs three moves */
            acc[2 * j + 1] = _mm512_mask_add_ps(acc[2 * j + 1], (__mmask16)_kshiftri_mask32(m, 16), acc[2 * j + 1], g1);
        }
    }
}

void bank_products(int64_t rows, int64_t n, const int16_t* restrict words, const float* restrict g,
                   float* restrict out) {
    int64_t full = n - n % 32;
    for (int64_t r = 0; r < rows; ++r) {
        const int16_t* row = words + r * n;
        __m512 lo[16], hi[16];
        for (int k = 0; k < 16; ++k) { lo[k] = _mm512_setzero_ps(); hi[k] = _mm512_setzero_ps(); }
        for (int64_t b = 0; b < full; b += BANK_BLOCK) {
            int64_t e = b + BANK_BLOCK < full ? b + BANK_BLOCK : full;
            bank_half(row, g, b, e, 0, lo);
            bank_half(row, g, b, e, 8, hi);
        }
        for (int k = 0; k < 16; ++k) {
            __m512* a = k < 8 ? lo : hi;
            int j = k % 8;
            float sum = _mm512_reduce_add_ps(_mm512_add_ps(a[2 * j], a[2 * j + 1]));
            for (int64_t i = full; i < n; ++i) sum += (((uint16_t)row[i] >> (15 - k)) & 1) ? g[i] : 0.0f;
            out[r * 16 + k] = sum;
        }
    }
}
#endif
"""


def _cache_dir() -> Path:
    """`$SUPERMASKS_CACHE/kernels`, else `kernels` in the platform's cache folder for supermasks (as downloads use)."""
    base = os.environ.get(ENV_CACHE)
    if not base:
        import pooch  # only where a library is built or looked up

        base = str(pooch.os_cache("supermasks"))
    return Path(base).expanduser() / "kernels"


def _cpu_key() -> str:
    """What a `-march=native` build depends on: the CPU's model and flags."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = [platform.processor(), platform.machine()]
    return "\n".join(lines)


def _build(path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src = Path(tmp) / "fused.c"
        src.write_text(_SOURCE)
        out = Path(tmp) / path.name
        subprocess.run([compiler, *_FLAGS, str(src), "-o", str(out), "-lm"], check=True, capture_output=True,
                       timeout=120)
        os.replace(out, path)  # atomic: a concurrent build leaves one whole library


class _Kernels:
    """The compiled loop, built and loaded on first use; `library` None where it cannot be (then torch ops run)."""

    def __init__(self) -> None:
        self.tried = False
        self.library: ctypes.CDLL | None = None
        self.bank_products: Any = None  # the AVX-512 inner products with a packed bank, where built
        self.reason = ""

    def load(self) -> ctypes.CDLL | None:
        if self.tried:
            return self.library
        self.tried = True
        if os.environ.get(ENV_KERNELS, "").strip().lower() in ("off", "0", "false", "no"):
            self.reason = f"{ENV_KERNELS}=off"
            return None
        key = hashlib.sha256((_SOURCE + " ".join(_FLAGS) + _cpu_key()).encode()).hexdigest()[:16]
        path = _cache_dir() / f"fused-{key}.so"
        try:
            if not path.exists():
                _build(path)
            try:
                library = ctypes.CDLL(str(path))
            except OSError:  # a damaged cache entry (a truncated file): built again, once
                path.unlink(missing_ok=True)
                _build(path)
                library = ctypes.CDLL(str(path))
        except (OSError, subprocess.SubprocessError) as error:
            detail = error.stderr.decode(errors="replace").strip().splitlines()[-1:] if isinstance(
                error, subprocess.CalledProcessError) and error.stderr else [str(error)]
            self.reason = f"the fused loop could not be built ({'; '.join(detail)[:200]})"
            log.info("  %s: the score update runs as torch ops (same numbers, slower)", self.reason)
            return None
        f32, ptr = ctypes.c_float, ctypes.c_void_p
        library.step_f32_f32.restype = library.step_bf16_bf16.restype = None
        for fn in (library.step_f32_f32, library.step_bf16_bf16):
            fn.argtypes = [ctypes.c_int64, ptr, f32, ptr, ptr, f32, f32, f32, f32, ptr, ptr]
        try:  # built only where the compiler targets AVX-512 (-march=native on such a CPU)
            self.bank_products = library.bank_products
        except AttributeError:
            self.bank_products = None
        else:
            self.bank_products.restype = None
            self.bank_products.argtypes = [ctypes.c_int64, ctypes.c_int64, ptr, ptr, ptr]
        self.library = library
        return library


KERNELS = _Kernels()


def compiled_available() -> bool:
    """Whether the compiled loop is in use in this process (building it on first call)."""
    return KERNELS.load() is not None


def compiled_bank_products(words: torch.Tensor, g: torch.Tensor) -> torch.Tensor | None:
    """`inference._packing.word_products` of a (rows, n) int16 CPU block and float32 `g` by the compiled AVX-512
    loop: (rows * 16,) float32; None where it is not built (no compiler, no AVX-512, `SUPERMASKS_KERNELS=off`)."""
    KERNELS.load()
    fn = KERNELS.bank_products
    if fn is None or words.device.type != "cpu" or g.device.type != "cpu" or words.dtype != torch.int16:
        return None
    words, g = words.contiguous(), g.to(torch.float32).contiguous()
    rows, n = words.shape
    if g.shape != (n,):
        raise ValueError(f"g of shape {tuple(g.shape)} for words of {n} columns")
    out = torch.empty(rows * 16)
    fn(rows, n, words.data_ptr(), g.data_ptr(), out.data_ptr())
    return out


class DeferredScores:
    """Where a masked linear layer's backward leaves `dL/dW_eff` for the fused step, and what the step
    left for the next forward: the mask buffer it filled, valid for the scores' (storage, version)."""

    def __init__(self) -> None:
        self.grad_weight: torch.Tensor | None = None  # G of the last backward, float32 or bfloat16
        # The score gradient is (G * grad_scale) * S: c where G is dL/dW_eff (W = c S), 1 where G is dL/d(S M).
        self.grad_scale = 1.0
        self.filled: tuple[int, int] | None = None  # (scores.data_ptr(), scores._version) the buffer matches

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]


def _contiguous(*tensors: torch.Tensor) -> bool:
    return all(t.is_contiguous() and t.device.type == "cpu" for t in tensors)


def fused_update(grad_weight: torch.Tensor, unit: torch.Tensor, scale: float, square_avg: torch.Tensor,
                 scores: torch.Tensor, mask_out: torch.Tensor, alpha: float, eps: float, lr: float,
                 compiled: bool = True) -> None:
    """RMSprop on `scores` with gradient `(grad_weight * scale) * unit`, then `mask_out = 1[scores >= 0] * unit`.

    float32: `grad_weight`, `unit` (= W, with `scale` 1) and `mask_out` float32. bfloat16: all three
    bfloat16, `unit` = S of a signed-constant weight `W = c S` (`bfloat16.unit_and_scale`): with
    `scale = c` and `grad_weight = dL/dW_eff` the gradient is `dL/dW_eff * W` exactly; the compiled
    loop reads the 2-byte `unit` instead of the 4-byte weight. In place; the compiled loop where
    `compiled` and available, else torch ops, with the same bits.
    """
    low = grad_weight.dtype == torch.bfloat16
    want = torch.bfloat16 if low else torch.float32
    if mask_out.dtype != want or unit.dtype != want:
        raise ValueError(f"grad_weight {grad_weight.dtype}, unit {unit.dtype} and mask_out {mask_out.dtype} must all "
                         "be float32 or all bfloat16")
    library = KERNELS.load() if compiled else None
    tensors = (grad_weight, unit, square_avg, scores, mask_out)
    if library is not None and _contiguous(*tensors) and scores.dtype == torch.float32:
        fn = library.step_bf16_bf16 if low else library.step_f32_f32
        fn(scores.numel(), grad_weight.data_ptr(), scale, square_avg.data_ptr(), scores.data_ptr(), alpha, 1 - alpha,
           eps, -lr, mask_out.data_ptr(), unit.data_ptr())
        return
    grad = grad_weight.to(torch.float32, copy=True).mul_(scale).mul_(unit)
    square_avg.mul_(alpha).add_(grad.mul(1 - alpha).mul_(grad))
    # A correctly rounded float32 square root, as the C loop's sqrtf (torch's float sqrt may differ by an ulp).
    denominator = square_avg.double().sqrt_().float().add_(eps)
    scores.add_(grad.mul_(-lr).div_(denominator))
    torch.ge(scores, 0.0, out=mask_out).mul_(unit)


class FusedScoreRMSprop(EagerOptimizer):
    """RMSprop (no momentum, no weight decay) whose masked-linear scores take the fused step.

    `layers` maps each fused parameter (a layer's scores of the task in training) to its layer; the
    layer's backward leaves `dL/dW_eff` in `layer.deferred` and `step` updates scores, RMSprop state
    and the next mask in one pass. Other parameters get `optimizers._rmsprop`. `state_dict` has
    RMSprop's layout (`square_avg` per parameter), so checkpoints read either way.
    """

    def __init__(self, params: list[torch.Tensor], layers: dict[torch.Tensor, Any], lr: float,
                 alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, _rmsprop, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": 0.0,
                                            "momentum": 0.0}, counts_steps=True)
        self.layers = layers

    @torch.no_grad()
    def step(self) -> None:
        for hook in list(_global_optimizer_pre_hooks.values()):  # as `EagerOptimizer.step` and torch.optim run them
            hook(self, (), {})
        self._step()
        for hook in list(_global_optimizer_post_hooks.values()):
            hook(self, (), {})

    def _step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                layer = self.layers.get(p)
                deferred = None if layer is None else layer.deferred
                if deferred is None or deferred.grad_weight is None:
                    if p.grad is not None:
                        self.steps[p] += 1
                        self.update(p, p.grad, self.state[p], group, self.steps[p])
                    continue
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.steps[p] += 1
                mask_out, unit = layer.next_mask_buffer()
                fused_update(deferred.grad_weight, unit, deferred.grad_scale, state["square_avg"], p, mask_out,
                             group["alpha"], group["eps"], group["lr"])
                deferred.grad_weight = None
                deferred.filled = (p.data_ptr(), p._version)


def fusable(optimizer: str, weight_decay: float) -> bool:
    """Whether the optimiser settings allow the fused step: RMSprop (no momentum) without weight decay."""
    return optimizer == "rmsprop" and weight_decay == 0


@contextmanager
def deferring(layers: dict[torch.Tensor, Any]) -> Iterator[None]:
    """While inside, each of `layers` hands its score gradient to the fused step (`layer.deferred`)."""
    for layer in layers.values():
        layer.deferred = DeferredScores()
    try:
        yield
    finally:
        for layer in layers.values():
            layer.deferred = None


__all__ = ["DeferredScores", "ENV_KERNELS", "FusedScoreRMSprop", "compiled_available", "compiled_bank_products",
           "deferring", "fused_update", "fusable"]
