"""The fused engine equals training each network alone with the reference loop."""

import copy
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnet.activations import sigmoid, sigmoid_
from scratchnet.engine import train_many
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import TrainingDivergedError, train, train_reference

METRICS = ["loss_training", "accuracy_training", "loss_test", "accuracy_test"]
TOL = 1e-10


@pytest.fixture(scope="module")
def digits():
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    X_train, X_val, y_train, y_val = split(X, y, test_size=0.25, seed=7)
    return X_train, y_train, X_val, y_val


# Mixed depths (0–4 hidden layers), widths and learning rates; shared prefixes and a
# hidden width equal to the number of classes, so buckets split and merge.
SPECS = [
    ([64, 20, 10], 0.5),
    ([64, 10], 1.0),
    ([64, 20, 15, 10], 0.3),
    ([64, 20, 10], 1.5),
    ([64, 10, 10, 10], 2.0),
    ([64, 10, 10], 0.8),
    ([64, 30, 30, 30, 10], 1.0),
    ([64, 20, 15, 12, 10], 0.7),
    ([64, 20, 15, 12, 9, 10], 0.9),
]


def _nets(specs, dtype=np.float64):
    return [MultilayerNeuralNetClassifier(layers, random_seed=i, dtype=dtype) for i, (layers, _) in enumerate(specs)]


def _rel(a, b):
    """max |a − b| / max |b|: the relative difference of two arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def _assert_same(net, ref, hist, ref_hist, tol=TOL):
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert _rel(a, b) <= tol
    assert list(hist.columns) == list(ref_hist.columns)
    assert hist.epoch.tolist() == ref_hist.epoch.tolist()
    for col in METRICS:
        assert _rel(hist[col], ref_hist[col]) <= tol, col
    assert net.epochs_trained == ref.epochs_trained


def _reference(specs, data, *, epochs, batch_size, seed, dtype=np.float64, nets=None):
    refs = nets if nets is not None else _nets(specs, dtype)
    hists = [
        train_reference(
            r, *data, epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed, verbose=False, progress=False
        )
        for r, (_, lr) in zip(refs, specs)
    ]
    return refs, hists


def test_engine_equals_reference_for_mixed_networks(digits):
    nets = _nets(SPECS)
    hists = train_many(nets, *digits, epochs=3, batch_size=32, learning_rates=[lr for _, lr in SPECS], seed=5)
    refs, ref_hists = _reference(SPECS, digits, epochs=3, batch_size=32, seed=5)
    for net, ref, h, rh in zip(nets, refs, hists, ref_hists):
        _assert_same(net, ref, h, rh)
        # The networks really learned something different from their start.
        start = MultilayerNeuralNetClassifier(net.layers, random_seed=net.random_seed)
        assert not np.allclose(net.weights[0], start.weights[0])


def test_results_do_not_depend_on_the_order_of_the_networks(digits):
    lrs = [lr for _, lr in SPECS]
    a = _nets(SPECS)
    train_many(a, *digits, epochs=2, batch_size=50, learning_rates=lrs, seed=1)
    perm = np.random.default_rng(0).permutation(len(SPECS))
    b = _nets(SPECS)
    train_many([b[i] for i in perm], *digits, epochs=2, batch_size=50, learning_rates=[lrs[i] for i in perm], seed=1)
    for x, y in zip(a, b):
        for p, q in zip(x.weights + x.biases, y.weights + y.biases):
            assert _rel(p, q) <= TOL
        assert x.history.drop(columns="seconds").equals(y.history.drop(columns="seconds"))


@settings(max_examples=12, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.integers(1, 12), min_size=0, max_size=3), st.sampled_from([0.1, 0.5, 1.0, 3.0])),
        min_size=1,
        max_size=6,
    ),
    st.integers(5, 60),
    st.integers(0, 2**16),
)
def test_engine_equals_reference_for_any_architectures(digits, hidden_lrs, batch_size, seed):
    X_train, y_train, X_val, y_val = digits
    data = (X_train[:300], y_train[:300], X_val[:100], y_val[:100])
    specs = [([64, *hidden, 10], lr) for hidden, lr in hidden_lrs]
    nets = _nets(specs)
    hists = train_many(nets, *data, epochs=2, batch_size=batch_size, learning_rates=[lr for _, lr in specs], seed=seed)
    refs, ref_hists = _reference(specs, data, epochs=2, batch_size=batch_size, seed=seed)
    for net, ref, h, rh in zip(nets, refs, hists, ref_hists):
        _assert_same(net, ref, h, rh)


def test_hot_start_twice_equals_once(digits):
    lrs = [lr for _, lr in SPECS]
    twice = _nets(SPECS)
    h1 = train_many(twice, *digits, epochs=2, batch_size=40, learning_rates=lrs, seed=3)
    h2 = train_many(twice, *digits, epochs=1, batch_size=40, learning_rates=lrs, seed=3)
    assert h1[0].epoch.tolist() == [0, 1] and h2[0].epoch.tolist() == [2]
    once = _nets(SPECS)
    train_many(once, *digits, epochs=3, batch_size=40, learning_rates=lrs, seed=3)
    refs, _ = _reference(SPECS, digits, epochs=3, batch_size=40, seed=3)
    for a, b, r in zip(twice, once, refs):
        assert a.epochs_trained == 3 and a.history.epoch.tolist() == [0, 1, 2]
        for p, q, s in zip(a.weights + a.biases, b.weights + b.biases, r.weights + r.biases):
            np.testing.assert_array_equal(p, q)
            assert _rel(p, s) <= TOL
        assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
        for col in METRICS:
            assert _rel(a.history[col], r.history[col]) <= TOL


def test_hot_start_after_reference_training(digits):
    """Networks trained by the reference loop continue in the engine where they stopped."""
    specs = SPECS[:4]
    nets, _ = _reference(specs, digits, epochs=2, batch_size=30, seed=8)
    train_many(nets, *digits, epochs=2, batch_size=30, learning_rates=[lr for _, lr in specs], seed=8)
    refs, _ = _reference(specs, digits, epochs=4, batch_size=30, seed=8)
    for net, ref in zip(nets, refs):
        _assert_same(net, ref, net.history, ref.history)


def test_float32_is_close_to_float64_with_exact_counts(digits):
    specs = SPECS[:5]
    lrs = [lr for _, lr in specs]
    n32, n64 = _nets(specs, np.float32), _nets(specs)
    h32 = train_many(n32, *digits, epochs=3, batch_size=32, learning_rates=lrs, seed=2)
    h64 = train_many(n64, *digits, epochs=3, batch_size=32, learning_rates=lrs, seed=2)
    X_train, _y_train, X_val, y_val = digits
    n_seen = (X_train.shape[0] // 32) * 32
    for a, b, ha, hb in zip(n32, n64, h32, h64):
        assert all(w.dtype == np.float32 for w in a.weights + a.biases)
        for p, q in zip(a.weights, b.weights):
            assert _rel(p, q) < 1e-3
        for col in ("loss_training", "loss_test"):
            assert _rel(ha[col], hb[col]) < 1e-3
        # Accuracies are integer counts over the samples, not float32 sums.
        for acc, n in ((ha.accuracy_training, n_seen), (ha.accuracy_test, X_val.shape[0])):
            counts = acc.to_numpy() * n
            np.testing.assert_allclose(counts, np.round(counts), rtol=0, atol=1e-9)
        assert abs(ha.accuracy_test.iloc[-1] - a.accuracy(X_val, y_val)) <= 2 / X_val.shape[0]
        assert abs(ha.accuracy_test.iloc[-1] - hb.accuracy_test.iloc[-1]) <= 3 / X_val.shape[0]


def test_float32_engine_matches_float32_reference(digits):
    specs = SPECS[:3]
    nets = _nets(specs, np.float32)
    hists = train_many(nets, *digits, epochs=2, batch_size=32, learning_rates=[lr for _, lr in specs], seed=2)
    refs, ref_hists = _reference(specs, digits, epochs=2, batch_size=32, seed=2, dtype=np.float32)
    for net, ref, h, rh in zip(nets, refs, hists, ref_hists):
        _assert_same(net, ref, h, rh, tol=1e-4)


def test_train_uses_the_engine_and_equals_the_reference(digits, capsys):
    net = MultilayerNeuralNetClassifier([64, 30, 20, 10], random_seed=4)
    ref = copy.deepcopy(net)
    hist = train(net, *digits, epochs=3, batch_size=25, learning_rate=0.9, seed=6, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    ref_hist = train_reference(
        ref, *digits, epochs=3, batch_size=25, learning_rate=0.9, seed=6, verbose=False, progress=False
    )
    _assert_same(net, ref, hist, ref_hist)
    assert len(lines) == 3 and lines[0].startswith("epoch 0: loss_training=")


def test_on_epoch_sees_one_record_per_network_after_the_update(digits):
    nets = _nets(SPECS[:3])
    calls = []

    def on_epoch(epoch, records):
        calls.append(
            (epoch, [dict(r) for r in records], [n.weights[0].copy() for n in nets], [n.epochs_trained for n in nets])
        )

    hists = train_many(
        nets, *digits, epochs=3, batch_size=50, learning_rates=[0.1, 0.5, 1.0], seed=0, on_epoch=on_epoch
    )
    assert [c[0] for c in calls] == [0, 1, 2]
    for e, (_epoch, records, weights, trained) in enumerate(calls):
        assert len(records) == 3 and trained == [e + 1] * 3
        for i, rec in enumerate(records):
            assert rec == hists[i].iloc[e].to_dict()
            assert rec == nets[i].history_records[e]
            assert set(rec) == {"epoch", *METRICS, "seconds"} and rec["seconds"] > 0
        if e:  # the networks were updated before the call
            assert not np.array_equal(weights[0], calls[e - 1][2][0])


def test_blas_threads_and_progress_options_do_not_change_results(digits):
    a, b = _nets(SPECS[:3]), _nets(SPECS[:3])
    train_many(a, *digits, epochs=1, batch_size=50, learning_rates=0.5, seed=0)
    train_many(b, *digits, epochs=1, batch_size=50, learning_rates=0.5, seed=0, blas_threads=1, progress=True)
    for x, y in zip(a, b):
        for p, q in zip(x.weights, y.weights):
            assert _rel(p, q) <= TOL


def _poison(monkeypatch, net_index, after_steps):
    """Make the engine put a NaN into the first-layer weights of ``nets[net_index]`` after some steps."""
    from scratchnet import engine

    real_step = engine._Engine.step
    calls = [0]

    def step(self, *args):
        real_step(self, *args)
        calls[0] += 1
        if calls[0] == after_steps:
            for i, k, W, _, _ in self._views():
                if i == net_index and k == 0:
                    W[0, 0] = np.nan

    monkeypatch.setattr(engine._Engine, "step", step)


def test_divergence_names_the_epoch_and_restores_every_network(digits, monkeypatch):
    nets = _nets(SPECS[:3])
    train_many(nets, *digits, epochs=1, batch_size=50, learning_rates=0.5, seed=1)
    before = [[p.copy() for p in n.weights + n.biases] for n in nets]
    steps_per_epoch = digits[0].shape[0] // 50
    _poison(monkeypatch, 1, steps_per_epoch + 3)  # in the second epoch of this call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDivergedError, match=r"epoch 2.*nets\[1\].*smaller learning rate") as info:
            train_many(nets, *digits, epochs=3, batch_size=50, learning_rates=0.5, seed=1)
    assert info.value.epoch == 2 and info.value.networks == [1]
    for net, old in zip(nets, before):  # epoch 1 was fine and is kept; epoch 2 is undone for all
        assert net.epochs_trained == 2
        assert all(np.isfinite(p).all() for p in net.weights + net.biases)
        assert any(not np.array_equal(p, q) for p, q in zip(net.weights + net.biases, old))
    redo = _nets(SPECS[:3])
    monkeypatch.undo()
    train_many(redo, *digits, epochs=2, batch_size=50, learning_rates=0.5, seed=1)
    for net, ref in zip(nets, redo):
        for p, q in zip(net.weights + net.biases, ref.weights + ref.biases):
            np.testing.assert_array_equal(p, q)


def test_train_divergence_keeps_the_reference_message(digits, monkeypatch):
    net = MultilayerNeuralNetClassifier([64, 30, 10], random_seed=3)
    _poison(monkeypatch, 0, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDivergedError, match=r"epoch 0.*smaller learning rate than 0.5"):
            train(net, *digits, epochs=1, batch_size=50, learning_rate=0.5, seed=1, verbose=False, progress=False)
    assert net.epochs_trained == 0
    np.testing.assert_array_equal(net.weights[0], MultilayerNeuralNetClassifier([64, 30, 10], random_seed=3).weights[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_in_place_is_finite_and_warning_free(dtype):
    big = np.finfo(dtype).max
    z = np.array([-big, -1e4, -100, -30, -1, 0, 1, 30, 100, 1e4, big], dtype=dtype)
    a = z.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid_(a)
    assert out is a and a.dtype == dtype and np.all(np.isfinite(a))
    assert a[0] == 0 and a[-1] == 1 and a[5] == 0.5
    # Below −log(max) the true value is under the smallest normal number; it comes out 0.
    zl = z.astype(np.longdouble)
    with np.errstate(over="ignore"):
        exact = np.where(zl >= 0, 1 / (1 + np.exp(-np.abs(zl))), np.exp(-np.abs(zl)) / (1 + np.exp(-np.abs(zl))))
    np.testing.assert_allclose(a, exact.astype(dtype), rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    np.testing.assert_array_equal(sigmoid(z), a)  # the public function is the same kernel


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40))
def test_sigmoid_in_place_matches_a_more_precise_reference(values):
    z = np.array(values)
    zl = z.astype(np.longdouble)  # the stable two-sided form, in extended precision
    exact = np.where(zl >= 0, 1 / (1 + np.exp(-np.abs(zl))), np.exp(-np.abs(zl)) / (1 + np.exp(-np.abs(zl))))
    np.testing.assert_allclose(sigmoid_(z.copy()), exact.astype(np.float64), rtol=4e-16, atol=np.finfo(np.float64).tiny)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda n, d: dict(nets=[]), ValueError, "empty"),
        (lambda n, d: dict(nets=n[0]), TypeError, r"\[net\]"),
        (lambda n, d: dict(nets=[n[0], "net"]), TypeError, r"nets\[1\] is str"),
        (lambda n, d: dict(nets=[n[0], n[0]]), ValueError, "more than once"),
        (lambda n, d: dict(nets=[n[0], MultilayerNeuralNetClassifier([32, 5, 10])]), ValueError, "32 inputs"),
        (lambda n, d: dict(nets=[n[0], MultilayerNeuralNetClassifier([64, 5, 3])]), ValueError, "3 classes"),
        (
            lambda n, d: dict(nets=[n[0], MultilayerNeuralNetClassifier([64, 5, 10], dtype=np.float32)]),
            ValueError,
            "dtype float32",
        ),
        (lambda n, d: dict(learning_rates=[0.1]), ValueError, "1 learning rates for 2 networks"),
        (lambda n, d: dict(learning_rates=[0.1, -1]), ValueError, r"learning_rates\[1\]"),
        (lambda n, d: dict(learning_rates="fast"), TypeError, "learning_rates"),
        (lambda n, d: dict(epochs=0), ValueError, "epochs"),
        (lambda n, d: dict(batch_size=10**6), ValueError, "larger than"),
        (lambda n, d: dict(seed=-1), ValueError, "seed"),
        (lambda n, d: dict(on_epoch=3), TypeError, "on_epoch"),
        (lambda n, d: dict(blas_threads=0), ValueError, "blas_threads"),
        (lambda n, d: dict(X_train=d[0][:, :10]), ValueError, "X_train has 10 features"),
        (lambda n, d: dict(y_val=d[3] + 10), ValueError, "y_val must lie in 0..9"),
        (lambda n, d: dict(y_train=d[1][:-1]), ValueError, "labels but X has"),
    ],
)
def test_bad_inputs_are_refused(digits, make, error, match):
    nets = _nets(SPECS[:2])
    X_train, y_train, X_val, y_val = digits
    kwargs = dict(
        nets=nets,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        epochs=1,
        batch_size=50,
        learning_rates=0.1,
        seed=0,
    )
    kwargs.update(make(nets, digits))
    with pytest.raises(error, match=match):
        train_many(**kwargs)
    assert all(n.epochs_trained == 0 for n in nets)


def test_networks_at_different_epochs_are_refused(digits):
    a, b = _nets(SPECS[:2])
    train_many([a], *digits, epochs=1, batch_size=50, seed=0)
    with pytest.raises(ValueError, match="1 epochs trained while nets\\[0\\] has 0"):
        train_many([b, a], *digits, epochs=1, batch_size=50, seed=0)
