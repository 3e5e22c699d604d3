"""Small compiled loops: C source, built once per machine with the system's compiler, cached, loaded with ctypes.

Two loops live here: the fused score step of training (`models.fused`: score gradient, RMSprop and
the next mask in one pass) and task inference's inner products with a bit-packed mask bank
(`inference._packing.word_products`, where the compiler targets AVX-512). The library is built with
`cc` (or gcc, clang) on first use, into the platform's cache folder for supermasks
(`~/.cache/supermasks/kernels` on Linux; `$SUPERMASKS_CACHE/kernels` where set), under a name that
holds the source's, the flags' and the CPU's digest (`-march=native` builds are for this CPU), and
built again once if the cached file cannot be loaded. Without a compiler, or with
`SUPERMASKS_KERNELS=off`, nothing is built and every caller runs its torch fallback, whose numbers the
tests compare with the loops'. Floating point is compiled without contraction or reassociation, so a
loop's arithmetic is the one its C code writes.
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
from pathlib import Path
from typing import Any

import torch

from supermasks.cache_folder import ENV_CACHE, cache_root

log = logging.getLogger(__name__)

ENV_KERNELS = "SUPERMASKS_KERNELS"  # "off": never build or load the compiled loop
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
    return cache_root() / "kernels"


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


__all__ = ["ENV_CACHE", "ENV_KERNELS", "KERNELS", "compiled_available", "compiled_bank_products"]
