"""The sparse first layer: its kernels equal the dense products, and the engine trains alike with it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet import engine, sparse
from scratchnet.engine import train_many
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train_reference

TOL = 1e-10


def _sparse_data(rng, n, d, density, dtype=np.float64, low=-1.0):
    """Rows of ``low`` (background) with a ``density`` share of other values, like scaled MNIST."""
    X = np.full((n, d), low, dtype=dtype)
    mask = rng.random((n, d)) < density
    X[mask] = rng.uniform(low, 1.0, mask.sum())
    return X


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    d=st.integers(1, 30),
    h=st.integers(1, 37),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
    split=st.booleans(),
)
def test_forward_and_update_equal_the_dense_products(n, d, h, density, seed, dtype, split):
    """Also with some columns multiplied densely (``split``: a random set of them, any dtype)."""
    rng = np.random.default_rng(seed)
    X = _sparse_data(rng, n, d, density, dtype)
    c = rng.uniform(-1, 0, d).astype(dtype)  # any background, not only the data's minimum
    V1 = rng.standard_normal((d + 1, h)).astype(dtype)
    D = rng.standard_normal((n, h)).astype(dtype)
    dense_V1 = V1.copy()
    columns = np.flatnonzero(rng.random(d) < 0.5) if split else None
    columns = columns if columns is None or columns.size else None
    layer = sparse.SparseFirstLayer(V1, c, columns)
    rows = sparse.SparseRows(X, c, columns)
    batch = sparse.SparseBatch(rows, n)
    order = rng.permutation(n)
    batch.take(order)
    X1 = np.hstack([X[order], np.ones((n, 1), dtype=dtype)])
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for _ in range(2):  # the second round runs with u ≠ 0 (V = M + cᵀu not yet folded)
        out = np.empty((n, h), dtype=dtype)
        layer.forward(*batch.rows(), out)
        assert _rel(out, X1 @ dense_V1) <= tol
        G = np.empty_like(V1)
        assert _rel(layer.gradient(batch, D, G), X1.T @ D) <= tol
        layer.update(batch, D)
        dense_V1 += X1.T @ D
    layer.fold()
    assert not layer.u.any()
    assert _rel(V1, dense_V1) <= tol
    assert _rel(layer.q, c @ V1[:d]) <= tol


def _plain_products(rows, batch, M, u, w, D, G):
    """The two products in Python with NumPy scalars: every multiply and add rounded on its own."""
    axpy = sparse._axpy_rows.py_func  # the compiled kernels' own loop, run by the interpreter
    out = np.empty((rows.n_rows, M.shape[1]), dtype=M.dtype)
    for i in range(rows.n_rows):
        out[i] = w + rows.r[i] * u
        axpy(rows.indptr[i], rows.indptr[i + 1], rows.indices, rows.data, M, out[i])
    for j in range(G.shape[0]):
        axpy(batch.t_indptr[j], batch.t_indptr[j + 1], batch.t_indices, batch.t_data, D, G[j])
    return out, G


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_products_fuse_multiply_adds_and_float64_round_each_step(dtype):
    """float64: the compiled products round every multiply and add (the results of before, to the last bit);
    float32: they fuse multiply-adds (issue 15) — other last bits, as close to the exact products."""
    from llvmlite import binding

    if dtype == np.float32 and "+fma" not in binding.get_host_cpu_features().flatten():
        pytest.skip("this CPU has no fused multiply-add")
    rng = np.random.default_rng(7)
    n, d, h = 24, 40, 19
    X = _sparse_data(rng, n, d, 0.5, dtype)
    c = X.min(axis=0)
    rows = sparse.SparseRows(X, c)
    M = rng.standard_normal((d, h)).astype(dtype)
    u, w = rng.standard_normal(h).astype(dtype), rng.standard_normal(h).astype(dtype)
    D = rng.standard_normal((n, h)).astype(dtype)
    G0 = rng.standard_normal((d, h)).astype(dtype)
    k = sparse.kernels(dtype)
    out = np.empty((n, h), dtype=dtype)
    k["spmm_init"](rows.indptr, rows.indices, rows.data, M, rows.r, u, w, out)
    batch = sparse.SparseBatch(rows, n)
    batch.take(np.arange(n))
    G = G0.copy()
    k["spmm_t_add"](batch.t_indptr, batch.t_indices, batch.t_data, D, G)
    plain_out, plain_G = _plain_products(rows, batch, M, u, w, D, G0.copy())
    if dtype == np.float64:
        np.testing.assert_array_equal(out, plain_out)
        np.testing.assert_array_equal(G, plain_G)
        return
    assert not np.array_equal(out, plain_out) and not np.array_equal(G, plain_G)  # fused: other roundings
    P = (X - c).astype(np.float64)
    exact_out = P @ M + np.outer(rows.r, u) + w
    exact_G = G0 + P.T @ D
    for got, plain, exact in [(out, plain_out, exact_out), (G, plain_G, exact_G)]:
        assert _rel(got, exact) <= 1e-6 and _rel(plain, exact) <= 1e-6  # both a float32 rounding's worth


@pytest.mark.parametrize("columns", [None, np.array([0, 4, 5, 11])])
def test_rows_slices_and_gathers_like_the_dense_rows(rng, columns):
    """The CSR rows, their transpose and the dense columns together give X − c back."""
    X = _sparse_data(rng, 30, 12, 0.3)
    c = sparse.background(X)
    rows = sparse.SparseRows(X, c, columns)
    cols = [] if columns is None else columns

    def assembled(indptr, indices, data, dense, n):
        out = np.zeros((n, 12))
        for i in range(n):
            out[i, indices[indptr[i] : indptr[i + 1]]] = data[indptr[i] : indptr[i + 1]]
        assert not out[:, cols].any()  # the dense columns are not in the CSR form
        out[:, cols] = dense if dense is not None else 0
        return out

    indptr, indices, data, r, dense = rows.rows(5, 17)
    assert (dense is None) == (columns is None)
    np.testing.assert_array_equal(assembled(indptr, indices, data, dense, 12), X[5:17] - c)
    np.testing.assert_allclose(r, (X[5:17] - c) @ c)
    batch = sparse.SparseBatch(rows, 7)
    idx = np.array([29, 0, 3, 3, 17, 8, 21])
    batch.take(idx)
    np.testing.assert_array_equal(assembled(*batch.rows()[:3], batch.dense, 7), X[idx] - c)
    P = np.zeros((12, 7))  # the transpose, rebuilt from its CSR
    for j in range(12):
        P[j, batch.t_indices[batch.t_indptr[j] : batch.t_indptr[j + 1]]] = batch.t_data[
            batch.t_indptr[j] : batch.t_indptr[j + 1]
        ]
    P[cols] = 0 if columns is None else batch.dense.T
    np.testing.assert_array_equal(P.T, X[idx] - c)
    assert batch.nnz == np.count_nonzero((X[idx] - c)[:, np.setdiff1d(np.arange(12), cols)])


def test_dense_columns_are_the_inky_ones_and_only_for_float32():
    X = np.zeros((10, 4), dtype=np.float32)
    X[:5, 1] = 1  # ink in half of the rows: above DENSE_COLUMN_DENSITY
    X[:3, 2] = 1  # in 30 %: below
    c = np.zeros(4, dtype=np.float32)
    np.testing.assert_array_equal(sparse.dense_columns(X, c), [1])
    assert sparse.dense_columns(X.astype(np.float64), c.astype(np.float64)) is None  # float64: as before
    assert sparse.dense_columns(X[:, 2:], c[2:]) is None


def test_background_and_density():
    X = np.array([[-1.0, 0.0, 2.0], [-1.0, 0.5, 2.0], [0.3, 0.0, 2.0], [-1.0, 0.0, 2.0]])
    c = sparse.background(X)
    np.testing.assert_array_equal(c, [-1.0, 0.0, 2.0])
    assert sparse.density(X, c) == pytest.approx(2 / 12)


SPECS = [([40, 12, 10], 0.5), ([40, 10], 1.0), ([40, 12, 8, 10], 0.3), ([40, 12, 10], 1.5), ([40, 7, 7, 7, 10], 2.0)]


@pytest.fixture(scope="module")
def inky(rng=None):
    """MNIST-like data: 40 features, 15 % ink, classes readable from the ink."""
    rng = np.random.default_rng(3)
    X = _sparse_data(rng, 600, 40, 0.15)
    y = (np.argmax(X[:, :10], axis=1) + (X[:, 10:20] > 0).sum(axis=1)) % 10
    return X[:450], y[:450], X[450:], y[450:]


@pytest.mark.parametrize(
    "recipe",
    [
        {},
        {"activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"},
        {"activation": "tanh", "output": "sigmoid", "loss": "binary_cross_entropy"},
    ],
)
def test_sparse_engine_equals_dense_engine_and_reference(inky, recipe):
    scale = 1.0 if not recipe else 0.1  # the cross-entropies take smaller steps (at 1.0 rounding grows chaotically)
    lrs = [lr * scale for _, lr in SPECS]
    runs = {}
    for first_layer in ("sparse", "dense"):
        nets = [MultilayerNeuralNetClassifier(layers, random_seed=i, **recipe) for i, (layers, _) in enumerate(SPECS)]
        hists = train_many(nets, *inky, epochs=2, batch_size=32, learning_rates=lrs, seed=4, first_layer=first_layer)
        hists += train_many(
            nets, *inky, epochs=1, batch_size=32, learning_rates=lrs, seed=4, first_layer=first_layer
        )  # hot start across calls
        runs[first_layer] = nets, hists
    for i, ((layers, _), lr) in enumerate(zip(SPECS, lrs)):
        ref = MultilayerNeuralNetClassifier(layers, random_seed=i, **recipe)
        ref_hist = train_reference(
            ref, *inky, epochs=3, batch_size=32, learning_rate=lr, seed=4, verbose=False, progress=False
        )
        for nets, hists in runs.values():
            for a, b in zip(nets[i].weights + nets[i].biases, ref.weights + ref.biases):
                assert _rel(a, b) <= TOL
            hist = np.concatenate([hists[i].iloc[:, 1:5].to_numpy(), hists[len(SPECS) + i].iloc[:, 1:5].to_numpy()])
            assert _rel(hist, ref_hist.iloc[:, 1:5].to_numpy()) <= TOL


def test_validation_rows_below_the_background_and_no_validation_set(inky):
    X, y, Xv, yv = inky
    Xv = Xv.copy()
    Xv[:, 0] = -3.0  # lower than any training value: P has negative entries there
    nets = {}
    for first_layer in ("sparse", "dense"):
        nets[first_layer] = [MultilayerNeuralNetClassifier([40, 9, 10], random_seed=1)]
        h = train_many(
            nets[first_layer],
            X,
            y,
            Xv,
            yv,
            epochs=2,
            batch_size=50,
            learning_rates=1.0,
            seed=2,
            first_layer=first_layer,
        )[0]
        nets[first_layer + "-noval"] = [MultilayerNeuralNetClassifier([40, 9, 10], random_seed=1)]
        h2 = train_many(
            nets[first_layer + "-noval"],
            X,
            y,
            None,
            None,
            epochs=2,
            batch_size=50,
            learning_rates=1.0,
            seed=2,
            first_layer=first_layer,
        )[0]
        assert h2.loss_test.isna().all()
        nets[first_layer + "-hist"] = h
    assert _rel(nets["sparse-hist"].iloc[:, 1:5].to_numpy(), nets["dense-hist"].iloc[:, 1:5].to_numpy()) <= TOL
    for a, b in zip(nets["sparse-noval"][0].weights, nets["dense-noval"][0].weights):
        assert _rel(a, b) <= TOL


def test_measure_picks_sparse_only_for_sparse_inputs_when_it_measures_faster(inky, monkeypatch):
    """``measure`` times a few steps of each first layer (engine.choose_first_layer); dense inputs never try
    the sparse layer. Here the sparse steps are made to measure faster, so it trains with the sparse layer."""
    used = []
    real = sparse.SparseFirstLayer

    def spy(*args, **kwargs):
        used.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "SparseFirstLayer", spy)
    monkeypatch.setattr(
        engine._FusedRun, "time_steps", lambda self, steps, seed: [1.0 if self.batch is None else 1e-6] * steps
    )
    X, y, Xv, yv = inky
    (history,) = train_many(
        [MultilayerNeuralNetClassifier([40, 5, 10], random_seed=0)],
        X,
        y,
        Xv,
        yv,
        epochs=4,
        batch_size=50,
        learning_rates=0.5,
        seed=0,
        first_layer="measure",
    )
    assert history.attrs["first_layer"] == "sparse" and used == [True, True]  # 15 % ink: measured, then trained
    used.clear()
    dense = np.random.default_rng(0).uniform(-1, 1, X.shape)
    (history,) = train_many(
        [MultilayerNeuralNetClassifier([40, 5, 10], random_seed=0)],
        dense,
        y,
        None,
        None,
        epochs=4,
        batch_size=50,
        learning_rates=0.5,
        seed=0,
    )
    assert used == [] and history.attrs["first_layer"] == "dense"  # dense data: one GEMM, nothing measured


def test_first_layer_must_be_known(inky):
    with pytest.raises(ValueError, match="first_layer must be 'auto', 'measure', 'dense' or 'sparse'"):
        train_many([MultilayerNeuralNetClassifier([40, 5, 10])], *inky, epochs=1, first_layer="csr")


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_divergence_restores_the_parameters_with_the_sparse_layer(inky):
    from scratchnet.training import TrainingDivergedError

    net = MultilayerNeuralNetClassifier(
        [40, 6, 10], random_seed=0, activation="identity", output="softmax", loss="cross_entropy"
    )
    train_many([net], *inky, epochs=1, batch_size=50, learning_rates=0.01, seed=0, first_layer="sparse")
    before = [w.copy() for w in net.weights]
    with pytest.raises(TrainingDivergedError):
        train_many([net], *inky, epochs=3, batch_size=50, learning_rates=1e30, seed=0, first_layer="sparse")
    for a, b in zip(net.weights, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.mnist
@pytest.mark.parametrize("options", [None, {"optimizer": "adam", "weight_decay": 1e-3}])
def test_float32_sparse_engine_with_dense_columns_equals_the_dense_engine(options):
    """float32 with inky columns (multiplied by BLAS, the rest sparse): the dense engine's numbers to rounding,
    plain SGD (dense rows of M kept aside between folds) and an optimiser (the whole gradient) alike."""
    rng = np.random.default_rng(5)
    X = _sparse_data(rng, 500, 40, 0.15, np.float32)
    X[:, 5:9] = rng.uniform(-1, 1, (500, 4))  # four inky columns
    y = (np.argmax(X[:, :10], axis=1) + (X[:, 10:20] > -1).sum(axis=1)) % 10
    columns = sparse.dense_columns(X[:400], sparse.background(X[:400]))
    np.testing.assert_array_equal(columns, [5, 6, 7, 8])
    out = {}
    for first_layer in ("sparse", "dense"):
        nets = [MultilayerNeuralNetClassifier([40, *h, 10], random_seed=3, dtype=np.float32) for h in ([12], [9, 7])]
        histories = train_many(nets, X[:400], y[:400], X[400:], y[400:], epochs=3, batch_size=20,
                               learning_rates=[0.5, 0.2] if options is None else 0.01, seed=2, options=options,
                               first_layer=first_layer)  # fmt: skip
        out[first_layer] = nets, histories
    assert out["sparse"][1][0].attrs["first_layer"] == "sparse"
    for a, b in zip(out["sparse"][0], out["dense"][0]):
        for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
            assert _rel(wa, wb) < 1e-4
    for a, b in zip(out["sparse"][1], out["dense"][1]):
        np.testing.assert_allclose(a.loss_test, b.loss_test, rtol=1e-4)


def test_sparse_engine_on_real_mnist_float32(mnist_split):
    """On MNIST in float32 the sparse and dense first layers agree to rounding over one epoch."""
    X_train, X_test, y_train, y_test = mnist_split
    X, y = X_train[:6000].astype(np.float32), y_train[:6000]
    Xv, yv = X_test[:2000].astype(np.float32), y_test[:2000]
    assert sparse.density(X, sparse.background(X)) < 0.25
    out = {}
    for first_layer in ("sparse", "dense"):
        nets = [MultilayerNeuralNetClassifier([784, w, 10], random_seed=w, dtype=np.float32) for w in (10, 30)]
        out[first_layer] = (
            nets,
            train_many(
                nets, X, y, Xv, yv, epochs=2, batch_size=200, learning_rates=[0.3, 0.1], seed=1, first_layer=first_layer
            ),
        )
    for a, b in zip(out["sparse"][0], out["dense"][0]):
        assert _rel(a.weights[0], b.weights[0]) < 1e-4
    for a, b in zip(out["sparse"][1], out["dense"][1]):
        assert np.abs(a.accuracy_test.to_numpy() - b.accuracy_test.to_numpy()).max() <= 2 / 2000


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "momentum", "weight_decay": 1e-3},
        {"optimizer": "nesterov", "schedule": "cosine"},
        {"optimizer": "adam", "weight_decay": 1e-3, "dropout": 0.2},
        {"optimizer": "sgd", "schedule": "step", "dropout": 0.1},
    ],
)
def test_sparse_first_layer_under_every_optimiser_equals_the_reference(inky, options):
    specs = SPECS[:3]
    lr = 0.01 if options["optimizer"] == "adam" else 0.2
    nets = [MultilayerNeuralNetClassifier(layers, random_seed=i) for i, (layers, _) in enumerate(specs)]
    hists = train_many(
        nets, *inky, epochs=3, batch_size=32, learning_rates=lr, seed=4, options=options, first_layer="sparse"
    )
    for i, (layers, _) in enumerate(specs):
        ref = MultilayerNeuralNetClassifier(layers, random_seed=i)
        ref_hist = train_reference(
            ref, *inky, epochs=3, batch_size=32, learning_rate=lr, seed=4, verbose=False, progress=False, **options
        )
        for a, b in zip(nets[i].weights + nets[i].biases, ref.weights + ref.biases):
            assert _rel(a, b) <= TOL
        assert _rel(hists[i].iloc[:, 1:5].to_numpy(), ref_hist.iloc[:, 1:5].to_numpy()) <= TOL
