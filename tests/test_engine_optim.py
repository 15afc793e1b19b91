"""The fused engine trains every optimiser option exactly as the reference loop does.

Optimisers (SGD, momentum, Nesterov, Adam) × weight decay × schedules, dropout,
mixed in one ``train_many`` call; the optimiser state carried across calls
(hot start) in both paths; early stopping through ``train``; bad options.
"""

import copy
import itertools
import pickle

import numpy as np
import pytest

from scratchnet import engine
from scratchnet.engine import train_many
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.optimizers import OPTIMIZERS as TABLE
from scratchnet.training import train, train_reference

METRICS = ["loss_training", "accuracy_training", "loss_test", "accuracy_test"]
TOL = 1e-10
OPTIMIZERS = list(TABLE)  # every optimiser of the table: a new one is tested here without an edit
STATEFUL = [name for name, cls in TABLE.items() if cls.state_names]
# depth 0–3 hidden layers, shared prefixes, so buckets split; the rate is scaled for Adam below
SHAPES = [[64, 12, 10], [64, 10], [64, 12, 8, 10], [64, 16, 10], [64, 12, 8, 8, 10]]
KW = dict(batch_size=32, seed=4)


@pytest.fixture(scope="module")
def digits():
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    X_train, X_val, y_train, y_val = split(X, y, test_size=0.25, seed=7)
    return X_train[:300], y_train[:300], X_val[:100], y_val[:100]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def _net(i, activation="sigmoid", dtype=np.float64, **kw):
    return MultilayerNeuralNetClassifier(
        SHAPES[i % len(SHAPES)], random_seed=i, dtype=dtype, activation=activation, **kw
    )


def _rate(options, i):
    return (0.01 if TABLE[options.get("optimizer", "sgd")].adaptive else 0.3) * (1 + 0.25 * (i % 3))


def _assert_same(net, ref, hist, ref_hist, tol=TOL, what=""):
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert a.dtype == b.dtype and _rel(a, b) <= tol, what
    assert hist.epoch.tolist() == ref_hist.epoch.tolist()
    for col in METRICS:
        assert _rel(hist[col], ref_hist[col]) <= tol, (what, col)


def _check_many(nets, options, data, epochs=3, tol=TOL):
    """Train ``nets`` together with per-network ``options``; each copy alone by train_reference; compare."""
    refs = [copy.deepcopy(n) for n in nets]
    lrs = [_rate(o, i) for i, o in enumerate(options)]
    hists = train_many(nets, *data, epochs=epochs, learning_rates=lrs, options=options, **KW)
    for i, (net, ref, hist, o, lr) in enumerate(zip(nets, refs, hists, options, lrs)):
        start = [w.copy() for w in ref.weights]
        ref_hist = train_reference(
            ref, *data, epochs=epochs, learning_rate=lr, verbose=False, progress=False, **o, **KW
        )
        _assert_same(net, ref, hist, ref_hist, tol, what=(i, o))
        assert not np.allclose(net.weights[0], start[0])  # it learned
    return hists


GRID = [
    dict(optimizer=o, weight_decay=wd, schedule=s)
    for o, wd, s in itertools.product(OPTIMIZERS, [0.0, 1e-3], ["constant", "step", "cosine"])
]


def test_every_optimizer_decay_and_schedule_mixed_in_one_call(digits):
    """24 option sets, two networks each (different shapes and rates, so one engine holds several)."""
    options = [o for o in GRID for _ in range(2)]
    nets = [_net(i, "tanh" if i % 4 == 1 else "sigmoid") for i in range(len(options))]
    _check_many(nets, options, digits)


def test_the_options_really_change_the_training(digits):
    """Every option set of the grid ends elsewhere than plain SGD at the same rate (the test above could not pass
    by ignoring options)."""
    finals = []
    for o in GRID:
        net = _net(0)
        train_many([net], *digits, epochs=3, learning_rates=0.3, options=o, **KW)
        finals.append(net.weights[0])
    for (i, a), (j, b) in itertools.combinations(enumerate(finals), 2):
        assert not np.allclose(a, b), (GRID[i], GRID[j])


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_dropout_equals_the_reference(digits, activation):
    options = [
        dict(dropout=0.2),
        dict(dropout=0.2),
        dict(dropout=0.2, optimizer="adam", schedule="cosine"),
        dict(dropout=0.5, optimizer="momentum"),
        dict(dropout=0.2),
    ]
    nets = [_net(i, activation) for i in range(len(options))]
    hists = _check_many(nets, options, digits)
    # dropout really acted: the same network without it trains differently
    plain = _net(0, activation)
    (h,) = train_many([plain], *digits, epochs=3, learning_rates=_rate({}, 0), **KW)
    assert not np.allclose(plain.weights[0], nets[0].weights[0])
    assert h.loss_training.iloc[0] != hists[0].loss_training.iloc[0]


def test_softmax_cross_entropy_with_adam_and_dropout(digits):
    kw = dict(output="softmax", loss="cross_entropy", init="he")
    options = [dict(optimizer="adam", dropout=0.2, schedule="cosine", weight_decay=1e-4)] * 3
    _check_many([_net(i, "relu", **kw) for i in range(3)], options, digits)


def test_float32_adam_with_dropout_is_close_to_the_float32_reference(digits):
    options = [dict(optimizer="adam", dropout=0.2)] * 2
    nets = [_net(i, "relu", dtype=np.float32) for i in range(2)]
    _check_many(nets, options, digits, tol=1e-4)


def test_results_do_not_depend_on_the_order_of_the_networks(digits):
    options = [GRID[i] for i in (0, 7, 13, 20, 23)] + [dict(dropout=0.3)]
    lrs = [_rate(o, i) for i, o in enumerate(options)]
    a = [_net(i) for i in range(len(options))]
    train_many(a, *digits, epochs=2, learning_rates=lrs, options=options, **KW)
    perm = [3, 5, 0, 2, 4, 1]
    b = [_net(i) for i in range(len(options))]
    train_many(
        [b[i] for i in perm],
        *digits,
        epochs=2,
        learning_rates=[lrs[i] for i in perm],
        options=[options[i] for i in perm],
        **KW,
    )
    for x, y in zip(a, b):
        for p, q in zip(x.weights + x.biases, y.weights + y.biases):
            assert _rel(p, q) <= TOL


@pytest.mark.parametrize("optimizer", STATEFUL)
def test_hot_start_ten_plus_five_equals_fifteen_in_both_paths(digits, optimizer):
    o = dict(optimizer=optimizer, weight_decay=1e-3)
    lr = _rate(o, 0)
    kw = dict(learning_rate=lr, verbose=False, progress=False, **o, **KW)
    once_ref, twice_ref = _net(2), _net(2)
    train_reference(once_ref, *digits, epochs=15, **kw)
    train_reference(twice_ref, *digits, epochs=10, **kw)
    assert twice_ref.optimizer_state["key"][0] == optimizer
    train_reference(twice_ref, *digits, epochs=5, **kw)
    once, twice = _net(2), _net(2)
    train(once, *digits, epochs=15, **kw)
    train(twice, *digits, epochs=10, **kw)
    train(twice, *digits, epochs=5, **kw)
    for a, b in zip(twice_ref.weights + twice_ref.biases, once_ref.weights + once_ref.biases):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(twice.weights + twice.biases, once.weights + once.biases):
        np.testing.assert_array_equal(a, b)
    _assert_same(twice, once_ref, twice.history, once_ref.history)
    if optimizer == "adam":
        assert twice.optimizer_state["t"] == once_ref.optimizer_state["t"] == 15 * (300 // 32)
    # the state matters: forgetting it between the calls ends elsewhere
    forgot = _net(2)
    train(forgot, *digits, epochs=10, **kw)
    forgot.optimizer_state = None
    train(forgot, *digits, epochs=5, **kw)
    assert not np.allclose(forgot.weights[0], once.weights[0], rtol=1e-6, atol=0)


def test_engine_continues_the_state_of_the_reference_and_back(digits):
    o = dict(optimizer="adam")
    kw = dict(verbose=False, progress=False, learning_rate=0.01, **o, **KW)
    mixed, ref = _net(0), _net(0)
    train_reference(mixed, *digits, epochs=2, **kw)
    train_many([mixed], *digits, epochs=2, learning_rates=0.01, options=o, **KW)
    train_reference(mixed, *digits, epochs=1, **kw)
    train_reference(ref, *digits, epochs=5, **kw)
    _assert_same(mixed, ref, mixed.history, ref.history)


def test_another_optimizer_starts_afresh_and_plain_sgd_keeps_no_state(digits):
    kw = dict(verbose=False, progress=False, **KW)
    net = _net(0)
    train(net, *digits, epochs=1, learning_rate=0.3, optimizer="momentum", **kw)
    assert net.optimizer_state["key"] == ("momentum", 0.9)
    train(net, *digits, epochs=1, learning_rate=0.01, optimizer="adam", **kw)
    assert net.optimizer_state["key"][0] == "adam" and net.optimizer_state["t"] == 300 // 32
    train(net, *digits, epochs=1, learning_rate=0.3, **kw)
    assert net.optimizer_state is None
    # momentum with another μ: fresh velocities, as a new network's
    a, b = _net(1), _net(1)
    train(a, *digits, epochs=1, learning_rate=0.3, optimizer="momentum", momentum=0.5, **kw)
    train(a, *digits, epochs=1, learning_rate=0.3, optimizer="momentum", momentum=0.8, **kw)
    train(b, *digits, epochs=1, learning_rate=0.3, optimizer="momentum", momentum=0.5, **kw)
    b.optimizer_state = None
    train(b, *digits, epochs=1, learning_rate=0.3, optimizer="momentum", momentum=0.8, **kw)
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_array_equal(p, q)


def test_state_survives_pickle_not_model_files_or_clone(digits, tmp_path):
    from sklearn.base import clone

    from scratchnet.estimator import NeuralNetClassifier

    net = _net(0)
    train(net, *digits, epochs=2, learning_rate=0.01, optimizer="adam", verbose=False, progress=False, **KW)
    back = pickle.loads(pickle.dumps(net))
    assert back.optimizer_state["t"] == net.optimizer_state["t"]
    for a, b in zip(back.optimizer_state["m"], net.optimizer_state["m"]):
        np.testing.assert_array_equal(a, b)
    net.save(tmp_path / "net.npz")
    assert MultilayerNeuralNetClassifier.load(tmp_path / "net.npz").optimizer_state is None
    X, y = digits[0], digits[1]
    est = NeuralNetClassifier(
        hidden_layer_sizes=(12,), learning_rate=0.01, optimizer="adam", epochs=3, batch_size=32, random_state=0
    ).fit(X, y)
    assert est.network_.optimizer_state["t"] == 3 * (300 // 32)
    assert not hasattr(clone(est), "network_")
    # partial_fit continues the state: three calls equal fit's three epochs
    inc = NeuralNetClassifier(
        hidden_layer_sizes=(12,), learning_rate=0.01, optimizer="adam", batch_size=32, random_state=0
    )
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.unique(y))
    for a, b in zip(inc.network_.weights, est.network_.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_plain_sgd_never_takes_the_optimizer_path(digits, monkeypatch):
    """The article's hot loop stays as it was: η folded into ∂L/∂Z⁽ᴸ⁾, no ``_update`` calls (also with a schedule
    and dropout, which do not change the update rule)."""

    def refuse(*args, **kwargs):
        raise AssertionError("plain SGD went through _update")

    monkeypatch.setattr(engine._Engine, "_update", refuse)
    nets = [_net(i) for i in range(3)]
    train_many(
        nets, *digits, epochs=2, learning_rates=0.3, options=[None, dict(schedule="cosine"), dict(dropout=0.2)], **KW
    )
    with pytest.raises(AssertionError, match="_update"):
        train_many([_net(0)], *digits, epochs=1, options=dict(weight_decay=1e-4), **KW)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_early_stopping_through_the_engine_equals_the_reference(digits, monkeypatch, optimizer, capsys):
    from scratchnet import training

    kw = dict(
        epochs=40,
        learning_rate=1.0 if optimizer == "sgd" else 0.01,
        optimizer=optimizer,
        early_stopping=True,
        patience=2,
        validation_fraction=0.3,
        verbose=True,
        progress=False,
        **KW,
    )
    ref = MultilayerNeuralNetClassifier(
        [64, 40, 10], random_seed=3, activation="relu", output="softmax", loss="cross_entropy", init="he"
    )
    net = copy.deepcopy(ref)
    ref_hist = train_reference(ref, *digits, **kw)
    ref_out = capsys.readouterr().out

    def refuse(*args, **kwargs):
        raise AssertionError("train() used train_reference")

    monkeypatch.setattr(training, "train_reference", refuse)
    hist = train(net, *digits, **kw)
    out = capsys.readouterr().out
    assert len(hist) < 40  # it did stop early
    _assert_same(net, ref, hist, ref_hist)  # the restored best weights, every epoch of the history
    assert hist.attrs["best_epoch"] == ref_hist.attrs["best_epoch"] < hist.epoch.iloc[-1]
    assert _rel(hist.attrs["validation_loss"], ref_hist.attrs["validation_loss"]) <= TOL
    assert net.epochs_trained == ref.epochs_trained == len(hist)
    assert out.splitlines()[-1].startswith("early stopping: stopped early after epoch")
    assert len(out.splitlines()) == len(ref_out.splitlines())
    if optimizer == "adam":  # the state of the best epoch comes back with its weights
        assert net.optimizer_state["t"] == ref.optimizer_state["t"] == (hist.attrs["best_epoch"] + 1) * (210 // 32)


def test_on_epoch_returning_true_stops_training(digits):
    nets = [_net(0), _net(1)]
    hists = train_many(nets, *digits, epochs=5, learning_rates=0.3, on_epoch=lambda e, r: e == 1, **KW)
    assert [h.epoch.tolist() for h in hists] == [[0, 1], [0, 1]]
    assert [n.epochs_trained for n in nets] == [2, 2]


@pytest.mark.parametrize(
    "options, error, match",
    [
        (dict(nesterov=True), TypeError, r"unknown option\(s\) \['nesterov'\]"),
        (dict(early_stopping=True), TypeError, "early stopping is done by training.train"),
        ([dict(), dict(), dict()], ValueError, "3 option dicts for 2 networks"),
        ([dict(), "adam"], TypeError, r"options\[1\] must be a dict"),
        ("adam", TypeError, "options must be None, a dict or one dict per network"),
        (dict(optimizer="adagrad"), ValueError, "unknown optimizer 'adagrad'"),
        (dict(schedule="linear"), ValueError, "unknown schedule 'linear'"),
        (dict(optimizer="momentum", momentum=1.0), ValueError, "momentum must be"),
        ([dict(), dict(weight_decay=-1)], ValueError, "weight_decay must be"),
        (dict(dropout=1.0), ValueError, r"dropout must lie in \[0, 1\)"),
        (dict(dropout="half"), TypeError, "dropout must be a number"),
    ],
)
def test_bad_options_are_refused(digits, options, error, match):
    nets = [_net(0), _net(1)]
    with pytest.raises(error, match=match):
        train_many(nets, *digits, epochs=1, learning_rates=0.1, options=options, **KW)
    assert all(n.epochs_trained == 0 and n.optimizer_state is None for n in nets)
