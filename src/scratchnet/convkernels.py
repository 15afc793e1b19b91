"""Numba kernels of the image layers: im2col / col2im and max pooling, one pass each, no pixel loop in Python.

The unrolled input is kept *transposed*, ``X̃ᵀ`` of shape (C·kh·kw, N·Hₒ·Wₒ): row
``k = (c·kh + i)·kw + j`` holds input channel c shifted by kernel offset (i, j) for
every output pixel, so both kernels read and write long contiguous runs, and the
GEMMs of the conv layer (``W̃ · X̃ᵀ``, ``∂Z̃ · X̃``, ``W̃ᵀ · ∂Z̃``) run in BLAS.
Loops run over rows (im2col) or over (sample, channel) pairs (col2im, pooling), one thread: BLAS
has the cores.
"""

from __future__ import annotations

prange = range
"""The loops below are written for ``numba.prange`` (no two iterations write the same element) but compiled
serial: on a 2-core Xeon a conv step with BLAS on 2 threads took 13.6 ms (im2col + GEMM) when Numba's pool ran
im2col on 2 threads, 9.2 ms when it ran on one — the two pools' spinning threads fight for the cores, and
im2col alone was no faster in parallel (benchmarks/RESULTS.md, "bench_cnn … 2026-12-03"). BLAS keeps the threads."""
_COMPILED: dict = {}


def compiled(kernel):
    """The Numba-compiled form of one of the kernels below, made on first use: importing scratchnet never
    loads Numba (about 0.1 GB of memory with its compiler and 0.2 s of start-up, more when it compiles)."""
    fast = _COMPILED.get(kernel.__name__)
    if fast is None:
        import numba

        fast = _COMPILED[kernel.__name__] = numba.njit(cache=True)(kernel)
    return fast


def run(kernel, work, *args):
    """``kernel(*args)``, compiled (``work``, the elements it touches, is kept for callers that size work)."""
    return compiled(kernel)(*args)


def im2col_t(x, kh, kw, sh, sw, ph, pw, Ho, Wo, cols):
    """``cols[k, (n·Hₒ + oy)·Wₒ + ox] = x[n, c, oy·sh + i − ph, ox·sw + j − pw]`` (0 in the padding)."""
    N, C, H, W = x.shape
    for k in prange(C * kh * kw):
        c = k // (kh * kw)
        i = (k // kw) % kh
        j = k % kw
        for n in range(N):
            base = n * Ho * Wo
            for oy in range(Ho):
                y = oy * sh + i - ph
                r = base + oy * Wo
                if y < 0 or y >= H:
                    for ox in range(Wo):
                        cols[k, r + ox] = 0
                    continue
                for ox in range(Wo):
                    xx = ox * sw + j - pw
                    if 0 <= xx < W:
                        cols[k, r + ox] = x[n, c, y, xx]
                    else:
                        cols[k, r + ox] = 0


def col2im_t(cols, kh, kw, sh, sw, ph, pw, Ho, Wo, dx):
    """The adjoint of ``im2col_t``: ``dx[n, c, y, x] += cols[k, pixel]`` over every (offset, pixel) that read it.

    ``dx`` (N, C, H, W) must be zeroed by the caller.
    """
    N, C, H, W = dx.shape
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        base = n * Ho * Wo
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                for oy in range(Ho):
                    y = oy * sh + i - ph
                    if y < 0 or y >= H:
                        continue
                    r = base + oy * Wo
                    for ox in range(Wo):
                        xx = ox * sw + j - pw
                        if 0 <= xx < W:
                            dx[n, c, y, xx] += cols[k, r + ox]


def maxpool_forward(x, kh, kw, sh, sw, Ho, Wo, out, idx):
    """``out`` = maximum of each window; ``idx`` = its offset ``i·kw + j`` in the window, the first
    maximum in row-major order (as PyTorch)."""
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oy in range(Ho):
            for ox in range(Wo):
                y0 = oy * sh
                x0 = ox * sw
                best = x[n, c, y0, x0]
                arg = 0
                for i in range(kh):
                    for j in range(kw):
                        v = x[n, c, y0 + i, x0 + j]
                        if v > best:
                            best = v
                            arg = i * kw + j
                out[n, c, oy, ox] = best
                idx[n, c, oy, ox] = arg


def maxpool_backward(grad_out, idx, kh, kw, sh, sw, dx):
    """``dx[window's argmax] += grad_out`` for every window; ``dx`` zeroed by the caller."""
    N, C, Ho, Wo = grad_out.shape
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oy in range(Ho):
            for ox in range(Wo):
                a = idx[n, c, oy, ox]
                dx[n, c, oy * sh + a // kw, ox * sw + a % kw] += grad_out[n, c, oy, ox]


def avgpool_forward(x, kh, kw, sh, sw, Ho, Wo, out):
    """``out`` = mean of each kh×kw window (stride sh, sw; no padding)."""
    N, C = x.shape[0], x.shape[1]
    scale = 1.0 / (kh * kw)
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oy in range(Ho):
            for ox in range(Wo):
                s = 0.0
                for i in range(kh):
                    for j in range(kw):
                        s += x[n, c, oy * sh + i, ox * sw + j]
                out[n, c, oy, ox] = s * scale


def avgpool_backward(grad_out, kh, kw, sh, sw, dx):
    """``dx[window] += grad_out / (kh·kw)`` for every window; ``dx`` zeroed by the caller."""
    N, C, Ho, Wo = grad_out.shape
    scale = 1.0 / (kh * kw)
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oy in range(Ho):
            for ox in range(Wo):
                g = grad_out[n, c, oy, ox] * scale
                for i in range(kh):
                    for j in range(kw):
                        dx[n, c, oy * sh + i, ox * sw + j] += g
