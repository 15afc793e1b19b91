"""The single-network speed-ups give the same bits as the whole-array NumPy they replace (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.network import draw_dropout_mask_
from scratchnet.optimizers import Adam, _adam_fused

SHAPES = [  # (parameter, step factors): the engine's V1 (per column), a stacked bucket (per network), one array
    ((785, 64), (1, 64)),
    ((3, 50, 10), (3, 1, 1)),
    ((3, 1, 10), (3, 1, 1)),
    ((512,), None),
    ((7, 5), None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "factor_shape"), SHAPES)
def test_adam_kernel_is_bit_identical_to_numpy(dtype, shape, factor_shape):
    rng = np.random.default_rng(3)
    opt = Adam()
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    m = (rng.standard_normal(shape) * 0.1).astype(dtype)
    v = (rng.random(shape) * 0.01).astype(dtype)
    # the hard cases: subnormal moments (a unit that stopped learning), zero and tiny gradients
    tiny = np.finfo(dtype).tiny
    m.ravel()[::3] *= dtype(tiny * 5)  # subnormal now or within a few steps
    g.ravel()[::5] = 0
    g.ravel()[1::7] *= dtype(1e-21)
    factors = opt.step_factors(0.001, 7)
    if factor_shape is not None:
        factors = tuple((rng.random(factor_shape) * f).astype(dtype) for f in factors)
    want = [a.copy() for a in (p, m, v)]
    got = [a.copy() for a in (p, m, v)]
    for _ in range(40):
        opt.apply_numpy(want[0], g.copy(), want[1:], factors, np.empty_like(p))
        assert _adam_fused(got[0], g.copy(), got[1], got[2], factors, opt.beta1, opt.beta2)
    assert np.count_nonzero((m != 0) & (np.abs(m) < tiny)) > 0
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()


def test_adam_float32_kernel_takes_no_slow_path_on_subnormal_moments():
    """With every m subnormal (units that stopped learning) the float32 sweep costs about what it costs on
    normal numbers; before the run-time ``one`` (see ``_adam_kernel_f32``) LLVM turned its float64 operations
    back into float32 ones and the sweep took 12–18× longer on this Xeon. Fastest of interleaved repeats, so
    that other work on the machine only ever adds time."""
    import time

    shape, dt = (256, 512), np.float32
    rng = np.random.default_rng(0)
    opt = Adam()
    factors = tuple(np.full((1, 512), f, dt) for f in opt.step_factors(0.001, 50))
    p = rng.standard_normal(shape).astype(dt)
    states = {
        "normal": (np.full(shape, 1e-3, dt), np.full(shape, 1e-6, dt), (rng.standard_normal(shape) * 1e-3).astype(dt)),
        "subnormal": (np.full(shape, 1e-40, dt), np.full(shape, 1e-6, dt), np.zeros(shape, dt)),
    }  # fmt: skip
    best = dict.fromkeys(states, np.inf)
    for _ in range(15):
        for name, (m, v, g) in states.items():
            args = (p.copy(), g.copy(), m.copy(), v.copy())
            t = time.perf_counter()
            assert _adam_fused(*args, factors, opt.beta1, opt.beta2)
            best[name] = min(best[name], time.perf_counter() - t)
    assert best["subnormal"] < 3 * best["normal"], best


def test_adam_falls_back_to_numpy_for_strided_arrays():
    p = np.ones((4, 6), np.float32)[:, ::2]
    assert not _adam_fused(p, p.copy(), np.zeros_like(p), np.zeros_like(p), (0.1, 1e-8), 0.9, 0.999)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_into_a_scratch_buffer_is_the_same_draw(dtype):
    a, b = np.empty((64, 30), dtype), np.empty((64, 30), dtype)
    r1, r2 = np.random.default_rng([1, 2, 1]), np.random.default_rng([1, 2, 1])
    scratch = np.empty((64, 30))
    for _ in range(3):
        draw_dropout_mask_(a, r1, 0.2)
        draw_dropout_mask_(b, r2, 0.2, scratch)
        assert a.tobytes() == b.tobytes()
    assert 0.7 < np.mean(a > 0) < 0.9


# ---------------------------------------------------------------- the dense first layer's batch and tally
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_gather_rows_writes_the_rows_into_a_wider_buffer_and_nothing_else(dtype):
    from scratchnet.batching import gather_rows

    rng = np.random.default_rng(0)
    X = rng.integers(-1000, 1000, (500, 37)).astype(dtype)
    out = np.full((64, 38), 7, dtype)  # [X | 1]'s layout: one column more
    idx = rng.permutation(500)[:64]
    assert gather_rows(X, idx, out) is True  # every value copied is finite
    assert out[:, :37].tobytes() == X[idx].tobytes()
    assert (out[:, 37] == 7).all()
    if dtype != np.int64:
        for bad in (np.nan, np.inf, -np.inf):
            Xb = X.copy()
            Xb[idx[-1], 36] = bad  # the last value copied
            assert gather_rows(Xb, idx, out) is False
            assert gather_rows(Xb, idx[:-1], out) is True  # the row left out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [[30], [20, 12]])
def test_the_compiled_gather_trains_to_the_same_bits(monkeypatch, dtype, hidden):
    """The compiled gather (a large training set) and NumPy's (a small one) give the same history and weights;
    26 steps an epoch is not a multiple of the tally's ``HIT_BLOCK``, so the last partial block counts too."""
    from scratchnet import MultilayerNeuralNetClassifier, engine
    from scratchnet.data import load_digits, split
    from scratchnet.training import train

    X_train, X_test, y_train, y_test = split(*load_digits(), test_size=0.25, seed=7)
    X_train, y_train = X_train[:1040].astype(dtype), y_train[:1040]
    assert (X_train.shape[0] // 40) % engine.HIT_BLOCK != 0
    runs = []
    for limit in (engine.COMPILED_GATHER_BYTES, 0):
        monkeypatch.setattr(engine, "COMPILED_GATHER_BYTES", limit)
        net = MultilayerNeuralNetClassifier([64, *hidden, 10], random_seed=1, dtype=dtype)
        h = train(net, X_train, y_train, X_test, y_test, epochs=3, batch_size=40, learning_rate=2.0, seed=2)
        runs.append((h.drop(columns="seconds").to_numpy(), [w.tobytes() for w in net.weights + net.biases]))
    assert runs[0][0].tobytes() == runs[1][0].tobytes()
    assert runs[0][1] == runs[1][1]
    losses = runs[0][0][:, 1]  # loss_training (after the epoch column)
    assert losses[-1] < losses[0]  # it trained


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", [[[30]], [[30], [30], [20, 12]]])
def test_the_loss_summed_per_block_of_steps_is_the_loss_summed_step_by_step(monkeypatch, dtype, hidden):
    """MSE's training loss from one einsum per ``HIT_BLOCK`` steps, added in step order, has the bits of the
    per-step sums (what a batch too large for NumPy's buffer still takes): one network, and three of two
    depths; 26 steps an epoch."""
    from scratchnet import MultilayerNeuralNetClassifier, engine
    from scratchnet.data import load_digits, split

    X_train, X_test, y_train, y_test = split(*load_digits(), test_size=0.25, seed=7)
    X_train, y_train = X_train[:1040].astype(dtype), y_train[:1040]
    runs, blocked = [], []
    init = engine._Tally.__init__

    def spy(self, *args):
        init(self, *args)
        blocked.append(self.blocked)

    monkeypatch.setattr(engine._Tally, "__init__", spy)
    for per_step in (False, True):
        if per_step:
            monkeypatch.setattr(engine.np, "getbufsize", lambda: 0)
        nets = [MultilayerNeuralNetClassifier([64, *h, 10], random_seed=i, dtype=dtype) for i, h in enumerate(hidden)]
        lrs = [0.5, 2.0, 1.0][: len(nets)]
        hs = engine.train_many(
            nets, X_train, y_train, X_test, y_test, epochs=3, batch_size=40, learning_rates=lrs, seed=2
        )
        runs.append([h.drop(columns="seconds").to_numpy().tobytes() for h in hs])
        assert set(blocked) == {not per_step}
        blocked.clear()
    assert runs[0] == runs[1]


def test_training_on_a_small_data_set_does_not_load_numba():
    """The compiled gather is for large sets only: the digits train with NumPy's, and Numba (0.1 GB, 0.2 s) stays
    unloaded. In a fresh interpreter, so that no other test's import counts."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from scratchnet import MultilayerNeuralNetClassifier\n"
        "from scratchnet.data import load_digits\n"
        "from scratchnet.training import train\n"
        "X, y = load_digits()\n"
        "train(MultilayerNeuralNetClassifier([64, 30, 10], random_seed=0), X, y, epochs=2, batch_size=20, seed=0)\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- the first layer, chosen by measurement
def sparse_data(n=600, features=64, seed=0):
    """Inputs mostly at their background −1 (about 15 % ink), labels from the ink: the sparse layer applies."""
    rng = np.random.default_rng(seed)
    X = np.full((n, features), -1.0)
    ink = rng.random((n, features)) < 0.15
    X[ink] = rng.uniform(-0.5, 1.0, ink.sum())
    y = (X[:, : features // 2].sum(axis=1) > X[:, features // 2 :].sum(axis=1)).astype(np.int64)
    return X, y


def _net(seed=0):
    from scratchnet import MultilayerNeuralNetClassifier

    return MultilayerNeuralNetClassifier([64, 16, 2], random_seed=seed)


@pytest.mark.parametrize(("dense", "sparse", "want"), [(1.0, 0.1, "sparse"), (0.1, 1.0, "dense")])
def test_auto_takes_the_first_layer_that_measured_faster(monkeypatch, dense, sparse, want):
    from scratchnet import engine
    from scratchnet.training import train

    def fake(self, steps, seed):  # the dense run has no sparse batch
        return [dense if self.batch is None else sparse] * steps

    monkeypatch.setattr(engine._FusedRun, "time_steps", fake)
    X, y = sparse_data()
    history = train(_net(), X, y, epochs=3, batch_size=20, learning_rate=0.5, seed=1, first_layer="measure")
    choice = history.attrs["first_layer_choice"]
    assert history.attrs["first_layer"] == want == choice["first_layer"]
    assert (choice["dense_step"], choice["sparse_step"]) == (dense, sparse)
    assert choice["sparse_setup"] > 0 and choice["reason"].startswith("measured")
    assert choice["density"] < engine.MAX_DENSITY


def test_auto_measures_real_steps_and_dense_data_skips_the_measurement():
    from scratchnet.training import train

    X, y = sparse_data()
    history = train(_net(), X, y, epochs=3, batch_size=20, learning_rate=0.5, seed=1, first_layer="measure")
    choice = history.attrs["first_layer_choice"]
    assert choice["dense_step"] > 0 and choice["sparse_setup"] > 0
    if choice["sparse_step"] is None:  # its set-up alone outweighed the dense epochs: not timed, not loaded
        assert choice["first_layer"] == "dense" and "set-up alone" in choice["reason"]
    else:
        assert choice["sparse_step"] > 0
    X_dense = np.random.default_rng(1).uniform(-1, 1, X.shape)
    choice = train(_net(), X_dense, y, epochs=3, batch_size=20, learning_rate=0.5, seed=1, first_layer="measure").attrs[
        "first_layer_choice"
    ]
    assert choice["first_layer"] == "dense" and choice["dense_step"] is None and choice["reason"].startswith("density")
    given = train(_net(), X, y, epochs=1, batch_size=20, learning_rate=0.5, seed=1, first_layer="sparse")
    assert given.attrs["first_layer"] == "sparse" and given.attrs["first_layer_choice"]["reason"] == "given"


def test_the_measurement_leaves_the_numbers_of_the_chosen_layer():
    """Timing copies of the networks does not touch the networks: auto = the layer it chose, to the bit."""
    from scratchnet.training import train

    X, y = sparse_data()
    auto_net = _net()
    chosen = train(auto_net, X, y, epochs=2, batch_size=20, learning_rate=0.5, seed=1, first_layer="measure").attrs[
        "first_layer"
    ]
    given_net = _net()
    train(given_net, X, y, epochs=2, batch_size=20, learning_rate=0.5, seed=1, first_layer=chosen)
    for a, b in zip(auto_net.weights + auto_net.biases, given_net.weights + given_net.biases):
        assert a.tobytes() == b.tobytes()


def test_tune_records_the_first_layer_and_its_timings_in_the_store(tmp_path):
    import json
    import sqlite3

    from scratchnet.tuning import make_folds, make_grid, run_group
    from test_tune import new_store

    X, y = sparse_data(n=900)
    payload = {"X": X, "y": y, "folds": make_folds(y, 3, 7)}
    settings = {"epochs": 3, "batch_size": 20, "seed": 7, "n_classes": 2, "blas_threads": 1}
    configs = make_grid([1], [8, 16], [0.5])
    with new_store(tmp_path / "s.sqlite", X, y) as store:
        results = run_group(payload, 0, configs, settings, None, None)
        assert store.add_runs(results) == 2
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        stored = [json.loads(v) for (v,) in conn.execute("SELECT first_layer FROM runs")]
    assert len(stored) == 2 and stored[0] == stored[1]  # one decision for the job
    assert stored[0]["first_layer"] == "dense" and stored[0]["reason"].startswith("2 network(s) <")


def test_auto_is_a_rule_one_network_dense_a_grid_of_sparse_inputs_sparse():
    """``auto`` decides the same way on every run (the two layers round differently): no timing."""
    from scratchnet import engine

    X, y = sparse_data()
    for n, want in [(1, "dense"), (engine.SPARSE_MIN_NETWORKS - 1, "dense"), (engine.SPARSE_MIN_NETWORKS, "sparse")]:
        nets = [_net(seed) for seed in range(n)]
        histories = engine.train_many(nets, X, y, None, None, epochs=1, batch_size=20, learning_rates=0.5, seed=1)
        assert all(h.attrs["first_layer"] == want for h in histories), n
        assert histories[0].attrs["first_layer_choice"]["dense_step"] is None  # nothing timed
    dense = np.random.default_rng(1).uniform(-1, 1, X.shape)
    nets = [_net(seed) for seed in range(engine.SPARSE_MIN_NETWORKS)]
    (h, *_) = engine.train_many(nets, dense, y, None, None, epochs=1, batch_size=20, learning_rates=0.5, seed=1)
    assert h.attrs["first_layer"] == "dense" and h.attrs["first_layer_choice"]["reason"].startswith("density")


def test_auto_skips_the_sparse_steps_when_their_set_up_alone_cannot_pay(monkeypatch):
    from scratchnet import engine
    from scratchnet.training import train

    timed = []

    def fake(self, steps, seed):
        timed.append("dense" if self.batch is None else "sparse")
        return [1e-9] * steps  # dense epochs that take no time: nothing can pay back a set-up

    monkeypatch.setattr(engine._FusedRun, "time_steps", fake)
    X, y = sparse_data()
    choice = train(_net(), X, y, epochs=3, batch_size=20, learning_rate=0.5, seed=1, first_layer="measure").attrs[
        "first_layer_choice"
    ]
    assert choice["first_layer"] == "dense" and choice["sparse_step"] is None and "set-up alone" in choice["reason"]
    assert timed == ["dense"]
