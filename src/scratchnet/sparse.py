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

In float32 (``FAST_DTYPES``) the kernels fuse multiply-adds, and the columns of P
with ink in most rows (``dense_columns``) are kept dense and multiplied by BLAS:
``P·M = P_dense·M_dense + P_rest·M_rest`` (docs/engine.md, section 9).
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


def _spmm_add(indptr, indices, data, M, r, u, w, out):  # pragma: no cover - compiled
    """``out[i] += Σ_k data[k]·M[indices[k]] + r[i]·u + w``: ``_spmm_init`` onto the dense columns' product."""
    n, h = out.shape
    for i in range(n):
        o = out[i]
        ri = r[i]
        for c in range(h):
            o[c] += w[c] + ri * u[c]
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

FAST_DTYPES = (np.float32,)
"""Dtypes whose first layer may round otherwise for speed (issue 15): its products are compiled with
fused multiply-adds (Numba's ``fastmath={"contract"}``: a multiply-add rounds once instead of twice;
the kernels ran ~15 % faster on an AVX-512 Xeon, where their multiplies and adds were the bottleneck),
and the inputs' dense columns (``dense_columns``) are multiplied by BLAS. float32 results move in their
last bits; float64 keeps the separate roundings and the one sparse product, so float64 results (the
article's grid) stay those of before, to the last bit."""

DENSE_COLUMN_DENSITY = 0.4
"""A column of ``X − c`` non-zero in more than this share of the rows is multiplied densely (BLAS).

The sparse kernels do one multiply-add per non-zero at about a quarter of the GEMM's rate on an
AVX-512 Xeon (half of it on an AMD Zen 1); a column with ink in 40 % of the rows costs less in
the GEMM on both. On MNIST 196 of the 784 pixels, 72 % of the non-zeros."""


def dense_columns(X, c):
    """The columns of ``X − c`` to multiply densely (sorted indices), or None: only for the ``FAST_DTYPES``."""
    if X.dtype.type not in FAST_DTYPES or X.shape[0] == 0:
        return None
    share = (
        sum(np.count_nonzero(X[lo : lo + ROWS_PER_CHUNK] != c, axis=0) for lo in range(0, X.shape[0], ROWS_PER_CHUNK))
        / X.shape[0]
    )
    columns = np.flatnonzero(share > DENSE_COLUMN_DENSITY)
    return columns if columns.size else None


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

    The products (``spmm_init``, ``spmm_add``, ``spmm_t_add``) are those for ``dtype``: with fused
    multiply-adds for the ``FAST_DTYPES``, the exact separate roundings otherwise (and when None)."""
    if not _KERNELS:
        try:
            global _axpy_rows
            plain_axpy = _axpy_rows
            _axpy_rows = _jit(_axpy_rows)  # called by the two products: compiled first
            for name, function in [
                ("spmm_init", _spmm_init),
                ("spmm_add", _spmm_add),
                ("spmm_t_add", _spmm_t_add),
                ("gather_transpose", _gather_transpose),
                ("gather_rows", _gather_rows),
            ]:
                _KERNELS[name] = _jit(function)
            namespace = dict(globals())
            namespace["_axpy_rows"] = _jit(_renamed(plain_axpy, "_axpy_rows_fma", namespace), {"contract"})
            for name, function in [("spmm_init", _spmm_init), ("spmm_add", _spmm_add), ("spmm_t_add", _spmm_t_add)]:
                _KERNELS[f"{name}_fma"] = _jit(_renamed(function, f"_{name}_fma", namespace), {"contract"})
        except ImportError:  # pragma: no cover - numba is a dependency
            raise ImportError("the sparse first layer needs numba: pip install numba") from None
    if dtype is not None and np.dtype(dtype).type in FAST_DTYPES:
        return {**_KERNELS, **{name: _KERNELS[f"{name}_fma"] for name in ("spmm_init", "spmm_add", "spmm_t_add")}}
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
    """``P = X − c`` of a data set in CSR form, and ``r = P·cᵀ`` per row.

    With ``dense`` columns (``dense_columns``): those columns of P as a dense (n, k) array
    ``self.dense`` and only the other columns in the CSR form."""

    def __init__(self, X, c, dense=None):
        from scipy.sparse import csr_matrix

        # P = X − c in CSR, built a chunk of rows at a time into arrays of the final size: no dense copy of X
        # and no second copy of P (the same arrays as csr_matrix(X − c): row-major order, sorted indices)
        n = X.shape[0]
        chunks = range(0, n, ROWS_PER_CHUNK)
        counts = np.zeros(n, dtype=np.int64)
        self.columns = dense
        self.dense = None if dense is None else np.empty((n, len(dense)), dtype=X.dtype)
        for lo in chunks:
            counts[lo : lo + ROWS_PER_CHUNK] = np.count_nonzero(X[lo : lo + ROWS_PER_CHUNK] != c, axis=1)
            if dense is not None:
                counts[lo : lo + ROWS_PER_CHUNK] -= np.count_nonzero(
                    X[lo : lo + ROWS_PER_CHUNK, dense] != c[dense], axis=1
                )
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        self.indices = np.empty(int(self.indptr[-1]), dtype=np.int32)  # column numbers: half the bytes of int64
        self.data = np.empty(int(self.indptr[-1]), dtype=X.dtype)
        r = np.empty(n, dtype=np.float64)
        c64 = c.astype(np.float64)
        for lo in chunks:
            hi = min(lo + ROWS_PER_CHUNK, n)
            D = X[lo:hi] - c
            if dense is not None:
                self.dense[lo:hi] = D[:, dense]
                D[:, dense] = 0
            rows, cols = np.nonzero(D)
            a, b = self.indptr[lo], self.indptr[hi]
            self.indices[a:b] = cols
            self.data[a:b] = D[rows, cols]
            part = csr_matrix((self.data[a:b], self.indices[a:b], self.indptr[lo : hi + 1] - a), shape=D.shape)
            r[lo:hi] = part @ c64  # r = P·cᵀ row by row, as the whole product gives it
            if dense is not None:
                r[lo:hi] += self.dense[lo:hi] @ c64[dense]
        self.n_rows, self.n_cols = X.shape
        self.r = r.astype(X.dtype, copy=False)
        self.max_row_nnz = int(np.diff(self.indptr).max(initial=0))

    def rows(self, start, stop):
        """Rows ``start:stop`` as ``(indptr, indices, data, r, dense)``, views where possible (dense: None or (m, k))."""
        indptr = self.indptr[start : stop + 1]
        lo, hi = indptr[0], indptr[-1]
        dense = None if self.dense is None else self.dense[start:stop]
        return indptr - lo, self.indices[lo:hi], self.data[lo:hi], self.r[start:stop], dense


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
        self.dense = None if rows.dense is None else np.zeros((batch_size, rows.dense.shape[1]), dtype=dt)
        self.nnz = 0

    def take(self, idx):
        """Load the rows ``idx`` of the source."""
        k = kernels()
        s = self.source
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        self.nnz = k["gather_rows"](s.indptr, s.indices, s.data, idx, self.indptr, self.indices, self.data)
        k["gather_transpose"](s.indptr, s.indices, s.data, idx, s.n_cols, self.t_indptr, self.t_indices, self.t_data)
        np.take(s.r, idx, out=self.r)
        if self.dense is not None:
            np.take(s.dense, idx, axis=0, out=self.dense)

    def rows(self):
        """The batch as ``(indptr, indices, data, r, dense)``, as ``SparseRows.rows`` gives rows."""
        return self.indptr, self.indices, self.data, self.r, self.dense


class SparseFirstLayer:
    """The first layer of an engine, ``V = M + cᵀu`` over the columns of ``V1`` (see the module docstring).

    ``V1`` is the engine's (n⁰ + 1, H) array ``−[W⁽¹⁾; b⁽¹⁾]``: its first n⁰ rows
    are M, its last row v_b, both updated in place.

    With ``dense`` columns (those of ``dense_columns``; the rows then come from a ``SparseRows``
    made with the same): their rows of M are kept contiguous in ``MD`` between folds, so that
    their share of both products is one GEMM, ``P_dense·MD`` and ``MD += P_denseᵀ·D``.
    """

    def __init__(self, V1, c, dense=None):
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
        self.columns = dense
        self.MD = self.GD = None
        self.ahead = False  # MD holds updates that M's dense rows have not yet
        if dense is not None:
            self.MD = np.empty((len(dense), V1.shape[1]), dtype=dt)
            self.GD = np.empty_like(self.MD)
        self.kernels = kernels(dt)
        self.fold()

    def fold(self):
        """Make V plain again: M's dense rows ← MD, ``M += cᵀu``, ``u = 0``; recompute ``q = c·M`` and MD."""
        if self.ahead:
            self.M[self.columns] = self.MD
            self.ahead = False
        if self.u.any():
            self.M += np.outer(self.c, self.u)
            self.u[:] = 0
        np.matmul(self.c, self.M, out=self.q)
        if self.columns is not None:  # (V may have been changed as a whole, by an optimiser or new weights)
            np.take(self.M, self.columns, axis=0, out=self.MD)

    def forward(self, indptr, indices, data, r, dense, out):
        """``out ← X·V + v_b`` (= −Z⁽¹⁾) for the rows given in CSR form (P) with their ``r``
        (and their dense columns ``dense``, None without)."""
        np.multiply(self.u, self.cc, out=self.w)
        self.w += self.q
        self.w += self.vb
        if self.columns is None:
            self.kernels["spmm_init"](indptr, indices, data, self.M, r, self.u, self.w, out)
        else:
            np.matmul(dense, self.MD, out=out)
            self.kernels["spmm_add"](indptr, indices, data, self.M, r, self.u, self.w, out)
        return out

    def gradient(self, batch, D, out):
        """``out ← [X | 1]ᵀ·D`` (n⁰ + 1, H) for the batch's rows: ``Pᵀ·D + cᵀ(1ᵀD)`` and the bias row ``1ᵀD``."""
        g = D.sum(axis=0)
        G = out[: self.n_in]
        np.multiply(self.c[:, None], g, out=G)
        self.kernels["spmm_t_add"](batch.t_indptr, batch.t_indices, batch.t_data, D, G)
        if self.columns is not None:
            G[self.columns] += np.matmul(batch.dense[: D.shape[0]].T, D, out=self.GD)
        out[self.n_in] = g
        return out

    def update(self, batch, D):
        """``V += Xᵀ·D`` and ``v_b += 1ᵀ·D`` for the batch's rows (``D`` = η∂L/∂Z⁽¹⁾ in the engine's sign)."""
        g = D.sum(axis=0)
        self.kernels["spmm_t_add"](batch.t_indptr, batch.t_indices, batch.t_data, D, self.M)
        if self.columns is not None:  # the dense rows of M wait in MD until the next fold
            self.MD += np.matmul(batch.dense[: D.shape[0]].T, D, out=self.GD)
            self.ahead = True
        self.u += g
        self.vb += g
        self.q += batch.r[: D.shape[0]] @ D
