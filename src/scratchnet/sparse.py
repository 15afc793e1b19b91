"""Sparse inputs for the engine's first layer: multiply only the pixels that have ink.

MNIST scaled to [−1, 1] is mostly background: 81 % of its pixels are exactly −1.
Write every input row as its background plus a sparse rest,

    X = P + 1·c          c (n⁰,): the background of each feature (its minimum over the data),
                         P (N, n⁰): X − c, zero wherever a pixel is background (19 % non-zero on MNIST),

and keep the first layer's negated weights ``V = −W⁽¹⁾`` (n⁰, H) as ``V = M + cᵀ·u``
(M (n⁰, H), u (H,)). Then, with ``r = P·cᵀ`` (N,) and ``q = c·M`` (H,),

    forward   X·V + v_b = P·M + r ⊗ u + 1 ⊗ (q + (c·cᵀ) u + v_b)
    update    V += Xᵀ·D  ⇔  M += Pᵀ·D,  u += 1ᵀ·D,  q += rᵀ·D        (D = η∂L/∂Z⁽¹⁾, N × H)

(v_b = −b⁽¹⁾, updated by ``v_b += 1ᵀ·D`` as before). ``P·M`` and ``Pᵀ·D`` touch
only the non-zeros of P — five times fewer multiply-adds than the dense products
on MNIST — and the rank-1 terms cost O(N·H), still ~150× less than P·M. The two sparse products are the
kernels below (compiled by Numba; ``P`` in CSR form). ``fold`` moves u back into
M (``M += cᵀ u``, ``u = 0``) and recomputes q exactly, so that V is plain again
whenever the engine hands the weights back to the networks.
"""

from __future__ import annotations

import types

import numpy as np

MAX_DENSITY = 0.35
"""The sparse first layer is used (``first_layer="auto"``) when at most this share of X − c is non-zero."""


def _jit(function, fastmath=False):
    from numba import njit

    return njit(fastmath=fastmath, cache=True, boundscheck=False, nogil=True, error_model="numpy")(function)


def _spmm_init(indptr, indices, data, M, r, u, w, out):  # pragma: no cover - compiled
    """``out[i] = Σ_k data[k]·M[indices[k]] + r[i]·u + w`` over the non-zeros k of row i (CSR)."""
    n, h = out.shape
    for i in range(n):
        o = out[i]
        ri = r[i]
        for c in range(h):
            o[c] = w[c] + ri * u[c]
        _axpy_rows(indptr[i], indptr[i + 1], indices, data, M, o)


def _spmm_t_add(indptr, indices, data, D, M):  # pragma: no cover - compiled
    """``M[j] += Σ_k data[k]·D[indices[k]]`` over the non-zeros k of row j of a CSR matrix (that is Pᵀ)."""
    for j in range(M.shape[0]):
        if indptr[j] < indptr[j + 1]:
            _axpy_rows(indptr[j], indptr[j + 1], indices, data, D, M[j])


def _axpy_rows(k, end, indices, data, B, o):  # pragma: no cover - compiled
    """``o += Σ_k data[k]·B[indices[k]]`` for k in [k, end): eight rows of B per sweep over o."""
    h = o.shape[0]
    while k + 8 <= end:
        a0, a1, a2, a3 = data[k], data[k + 1], data[k + 2], data[k + 3]
        a4, a5, a6, a7 = data[k + 4], data[k + 5], data[k + 6], data[k + 7]
        b0, b1, b2, b3 = B[indices[k]], B[indices[k + 1]], B[indices[k + 2]], B[indices[k + 3]]
        b4, b5, b6, b7 = B[indices[k + 4]], B[indices[k + 5]], B[indices[k + 6]], B[indices[k + 7]]
        for c in range(h):
            o[c] += (a0 * b0[c] + a1 * b1[c] + a2 * b2[c] + a3 * b3[c]) + (
                a4 * b4[c] + a5 * b5[c] + a6 * b6[c] + a7 * b7[c]
            )
        k += 8
    while k < end:
        a0 = data[k]
        b0 = B[indices[k]]
        for c in range(h):
            o[c] += a0 * b0[c]
        k += 1


def _gather_transpose(indptr, indices, data, rows, n_cols, t_indptr, t_indices, t_data):  # pragma: no cover
    """The rows ``rows`` of a CSR matrix, transposed: CSR of (n_cols, len(rows)) into the ``t_*`` arrays.

    Returns the number of non-zeros. ``t_indptr`` has n_cols + 1 entries; the
    column indices of the result are positions in ``rows`` (ascending per row).
    """
    for j in range(n_cols + 1):
        t_indptr[j] = 0
    for i in range(rows.shape[0]):
        row = rows[i]
        for k in range(indptr[row], indptr[row + 1]):
            t_indptr[indices[k] + 1] += 1
    for j in range(n_cols):
        t_indptr[j + 1] += t_indptr[j]
    fill = t_indptr[:n_cols].copy()
    for i in range(rows.shape[0]):
        row = rows[i]
        for k in range(indptr[row], indptr[row + 1]):
            j = indices[k]
            t_indices[fill[j]] = i
            t_data[fill[j]] = data[k]
            fill[j] += 1
    return t_indptr[n_cols]


def _gather_rows(indptr, indices, data, rows, g_indptr, g_indices, g_data):  # pragma: no cover - compiled
    """The rows ``rows`` of a CSR matrix as a CSR matrix into the ``g_*`` arrays; returns the non-zeros."""
    g_indptr[0] = 0
    p = 0
    for i in range(rows.shape[0]):
        row = rows[i]
        for k in range(indptr[row], indptr[row + 1]):
            g_indices[p] = indices[k]
            g_data[p] = data[k]
            p += 1
        g_indptr[i + 1] = p
    return p


_KERNELS = {}

FMA_DTYPES = (np.float32,)
"""Dtypes whose two products are compiled with fused multiply-adds (Numba's ``fastmath={"contract"}``).

A multiply-add then rounds once instead of twice: float32 results move in their last bits,
and the products run ~15 % faster on an AVX-512 Xeon (their multiplies and adds were the
bottleneck, issue 15). float64 keeps the separate roundings, so float64 results (the
article's grid) stay those of before, to the last bit."""


def _renamed(function, name, namespace):
    """``function`` under another ``name``, resolving its globals in ``namespace``.

    Numba's disk cache keys a compiled function by its name and line, not by its
    ``fastmath`` flags: the FMA variants need names of their own, and their products
    must call the FMA ``_axpy_rows`` (through ``namespace``)."""
    copy = types.FunctionType(function.__code__.replace(co_name=name, co_qualname=name), namespace, name)
    copy.__qualname__ = copy.__name__ = name
    return copy


def kernels(dtype=None):
    """The compiled kernels (Numba compiles on first use and caches on disk).

    ``spmm_init`` and ``spmm_t_add`` are those for ``dtype``: with fused multiply-adds
    for the ``FMA_DTYPES``, the exact separate roundings otherwise (and when None)."""
    if not _KERNELS:
        try:
            global _axpy_rows
            plain_axpy = _axpy_rows
            _axpy_rows = _jit(_axpy_rows)  # called by the two products: compiled first
            for name, function in [
                ("spmm_init", _spmm_init),
                ("spmm_t_add", _spmm_t_add),
                ("gather_transpose", _gather_transpose),
                ("gather_rows", _gather_rows),
            ]:
                _KERNELS[name] = _jit(function)
            namespace = dict(globals())
            namespace["_axpy_rows"] = _jit(_renamed(plain_axpy, "_axpy_rows_fma", namespace), {"contract"})
            for name, function in [("spmm_init", _spmm_init), ("spmm_t_add", _spmm_t_add)]:
                _KERNELS[f"{name}_fma"] = _jit(_renamed(function, f"_{name}_fma", namespace), {"contract"})
        except ImportError:  # pragma: no cover - numba is a dependency
            raise ImportError("the sparse first layer needs numba: pip install numba") from None
    if dtype is not None and np.dtype(dtype).type in FMA_DTYPES:
        return {**_KERNELS, "spmm_init": _KERNELS["spmm_init_fma"], "spmm_t_add": _KERNELS["spmm_t_add_fma"]}
    return _KERNELS


def background(X):
    """``c`` (n⁰,): each feature's minimum over the rows of X — the value most MNIST pixels hold."""
    return X.min(axis=0)


def density(X, c):
    """The share of non-zeros of ``X − c`` (counted a chunk of rows at a time: no boolean copy of X)."""
    nonzero = sum(
        int(np.count_nonzero(X[lo : lo + ROWS_PER_CHUNK] != c)) for lo in range(0, X.shape[0], ROWS_PER_CHUNK)
    )
    return float(nonzero) / max(X.size, 1)


ROWS_PER_CHUNK = 4096
"""Rows of X turned into CSR at a time (the dense X − c of a chunk is the only temporary)."""


class SparseRows:
    """``P = X − c`` of a data set in CSR form, and ``r = P·cᵀ`` per row."""

    def __init__(self, X, c):
        from scipy.sparse import csr_matrix

        # P = X − c in CSR, built a chunk of rows at a time into arrays of the final size: no dense copy of X
        # and no second copy of P (the same arrays as csr_matrix(X − c): row-major order, sorted indices)
        n = X.shape[0]
        chunks = range(0, n, ROWS_PER_CHUNK)
        counts = np.zeros(n, dtype=np.int64)
        for lo in chunks:
            counts[lo : lo + ROWS_PER_CHUNK] = np.count_nonzero(X[lo : lo + ROWS_PER_CHUNK] != c, axis=1)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        self.indices = np.empty(int(self.indptr[-1]), dtype=np.int32)  # column numbers: half the bytes of int64
        self.data = np.empty(int(self.indptr[-1]), dtype=X.dtype)
        r = np.empty(n, dtype=np.float64)
        c64 = c.astype(np.float64)
        for lo in chunks:
            hi = min(lo + ROWS_PER_CHUNK, n)
            D = X[lo:hi] - c
            rows, cols = np.nonzero(D)
            a, b = self.indptr[lo], self.indptr[hi]
            self.indices[a:b] = cols
            self.data[a:b] = D[rows, cols]
            part = csr_matrix((self.data[a:b], self.indices[a:b], self.indptr[lo : hi + 1] - a), shape=D.shape)
            r[lo:hi] = part @ c64  # r = P·cᵀ row by row, as the whole product gives it
        self.n_rows, self.n_cols = X.shape
        self.r = r.astype(X.dtype, copy=False)
        self.max_row_nnz = int(np.diff(self.indptr).max(initial=0))

    def rows(self, start, stop):
        """Rows ``start:stop`` as ``(indptr, indices, data, r)``, views where possible."""
        indptr = self.indptr[start : stop + 1]
        lo, hi = indptr[0], indptr[-1]
        return indptr - lo, self.indices[lo:hi], self.data[lo:hi], self.r[start:stop]


class SparseBatch:
    """One minibatch of a ``SparseRows``: its rows (CSR), their transpose (CSR) and ``r``; buffers reused."""

    def __init__(self, rows, batch_size):
        self.source = rows
        dt = rows.data.dtype
        cap = batch_size * max(rows.max_row_nnz, 1)
        self.indptr = np.zeros(batch_size + 1, dtype=np.int64)
        self.indices = np.zeros(cap, dtype=np.int64)
        self.data = np.zeros(cap, dtype=dt)
        self.t_indptr = np.zeros(rows.n_cols + 1, dtype=np.int64)
        self.t_indices = np.zeros(cap, dtype=np.int64)
        self.t_data = np.zeros(cap, dtype=dt)
        self.r = np.zeros(batch_size, dtype=dt)
        self.nnz = 0

    def take(self, idx):
        """Load the rows ``idx`` of the source."""
        k = kernels()
        s = self.source
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        self.nnz = k["gather_rows"](s.indptr, s.indices, s.data, idx, self.indptr, self.indices, self.data)
        k["gather_transpose"](s.indptr, s.indices, s.data, idx, s.n_cols, self.t_indptr, self.t_indices, self.t_data)
        np.take(s.r, idx, out=self.r)


class SparseFirstLayer:
    """The first layer of an engine, ``V = M + cᵀu`` over the columns of ``V1`` (see the module docstring).

    ``V1`` is the engine's (n⁰ + 1, H) array ``−[W⁽¹⁾; b⁽¹⁾]``: its first n⁰ rows
    are M, its last row v_b, both updated in place.
    """

    def __init__(self, V1, c):
        self.V1 = V1
        self.n_in = V1.shape[0] - 1
        self.M = V1[: self.n_in]
        self.vb = V1[self.n_in]
        dt = V1.dtype
        self.c = np.ascontiguousarray(c, dtype=dt)
        self.cc = dt.type(np.dot(self.c.astype(np.float64), self.c.astype(np.float64)))
        self.u = np.zeros(V1.shape[1], dtype=dt)
        self.q = np.zeros(V1.shape[1], dtype=dt)
        self.w = np.zeros(V1.shape[1], dtype=dt)
        self.kernels = kernels(dt)
        self.fold()

    def fold(self):
        """Make V plain again: ``M += cᵀu``, ``u = 0``; recompute ``q = c·M``."""
        if self.u.any():
            self.M += np.outer(self.c, self.u)
            self.u[:] = 0
        np.matmul(self.c, self.M, out=self.q)

    def forward(self, indptr, indices, data, r, out):
        """``out ← X·V + v_b`` (= −Z⁽¹⁾) for the rows given in CSR form (P) with their ``r``."""
        np.multiply(self.u, self.cc, out=self.w)
        self.w += self.q
        self.w += self.vb
        self.kernels["spmm_init"](indptr, indices, data, self.M, r, self.u, self.w, out)
        return out

    def gradient(self, batch, D, out):
        """``out ← [X | 1]ᵀ·D`` (n⁰ + 1, H) for the batch's rows: ``Pᵀ·D + cᵀ(1ᵀD)`` and the bias row ``1ᵀD``."""
        g = D.sum(axis=0)
        G = out[: self.n_in]
        np.multiply(self.c[:, None], g, out=G)
        self.kernels["spmm_t_add"](batch.t_indptr, batch.t_indices, batch.t_data, D, G)
        out[self.n_in] = g
        return out

    def update(self, batch, D):
        """``V += Xᵀ·D`` and ``v_b += 1ᵀ·D`` for the batch's rows (``D`` = η∂L/∂Z⁽¹⁾ in the engine's sign)."""
        g = D.sum(axis=0)
        self.kernels["spmm_t_add"](batch.t_indptr, batch.t_indices, batch.t_data, D, self.M)
        self.u += g
        self.vb += g
        self.q += batch.r[: D.shape[0]] @ D
