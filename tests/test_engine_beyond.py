"""The fused engine trains the options beyond the article exactly as the reference loop does.

Hidden activations (tanh, ReLU, leaky ReLU, identity, sigmoid) and every
output/loss pair of ``losses.PAIRS``, alone and mixed in one ``train_many`` call.
"""

import copy
import itertools

import numpy as np
import pytest

from scratchnet.activations import ACTIVATIONS
from scratchnet.engine import train_many
from scratchnet.losses import PAIRS
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train, train_reference

METRICS = ["loss_training", "accuracy_training", "loss_test", "accuracy_test"]
TOL = 1e-10

# Mixed depths (0–3 hidden layers, so the output may follow the first product), widths and learning rates.
SHAPES = [
    ([64, 20, 10], 0.5),
    ([64, 10], 0.3),
    ([64, 20, 15, 10], 0.2),
    ([64, 20, 10], 0.8),
    ([64, 12, 12, 12, 10], 0.4),
]
PAIR_LIST = sorted(PAIRS)


@pytest.fixture(scope="module")
def digits():
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    X_train, X_val, y_train, y_val = split(X, y, test_size=0.25, seed=7)
    return X_train[:600], y_train[:600], X_val[:200], y_val[:200]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / (scale if scale > 0 else 1.0)


def _net(layers, seed, activation, output, loss, dtype=np.float64):
    return MultilayerNeuralNetClassifier(
        layers, random_seed=seed, dtype=dtype, activation=activation, output=output, loss=loss, init="glorot"
    )


def _check(nets, lrs, data, *, epochs=2, batch_size=32, seed=4, tol=TOL):
    """Train ``nets`` together and copies of them one by one with the reference; assert they agree."""
    refs = [copy.deepcopy(n) for n in nets]
    hists = train_many(nets, *data, epochs=epochs, batch_size=batch_size, learning_rates=lrs, seed=seed)
    for net, ref, hist, lr in zip(nets, refs, hists, lrs):
        start = [w.copy() for w in ref.weights]
        ref_hist = train_reference(
            ref, *data, epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed, verbose=False, progress=False
        )
        for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
            assert a.dtype == b.dtype and _rel(a, b) <= tol, net
        for col in METRICS:
            assert _rel(hist[col], ref_hist[col]) <= tol, (net, col)
        assert not np.allclose(net.weights[0], start[0])  # it learned


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_each_hidden_activation_equals_the_reference(digits, activation):
    nets = [_net(layers, i, activation, "sigmoid", "mse") for i, (layers, _) in enumerate(SHAPES)]
    _check(nets, [lr for _, lr in SHAPES], digits)


@pytest.mark.parametrize("output, loss", PAIR_LIST)
def test_each_output_and_loss_equals_the_reference(digits, output, loss):
    nets = [_net(layers, i, "tanh", output, loss) for i, (layers, _) in enumerate(SHAPES)]
    _check(nets, [lr for _, lr in SHAPES], digits)


def test_every_recipe_mixed_in_one_call(digits):
    """All 5 × 4 recipes at once, in shuffled order, widths and rates varying: one engine per recipe."""
    recipes = list(itertools.product(sorted(ACTIVATIONS), PAIR_LIST))
    rng = np.random.default_rng(0)
    nets, lrs = [], []
    for i, (activation, (output, loss)) in enumerate(recipes):
        layers, lr = SHAPES[i % len(SHAPES)]
        nets.append(_net(layers, i, activation, output, loss))
        lrs.append(lr * (0.5 if activation in ("relu", "identity") else 1.0))
    order = rng.permutation(len(nets))
    _check([nets[i] for i in order], [lrs[i] for i in order], digits, epochs=2, batch_size=25, seed=9)


def test_hot_start_and_no_validation_set(digits):
    X_train, y_train, *_ = digits
    nets = [_net([64, 16, 10], 0, "relu", "softmax", "cross_entropy"), _net([64, 10], 1, "tanh", "sigmoid", "bce")]
    refs = [copy.deepcopy(n) for n in nets]
    train_many(nets, X_train, y_train, None, None, epochs=1, batch_size=30, learning_rates=0.2, seed=2)
    hists = train_many(nets, X_train, y_train, None, None, epochs=2, batch_size=30, learning_rates=0.2, seed=2)
    assert hists[0].epoch.tolist() == [1, 2] and hists[0].loss_test.isna().all()
    for net, ref in zip(nets, refs):
        train_reference(
            ref, X_train, y_train, epochs=3, batch_size=30, learning_rate=0.2, seed=2, verbose=False, progress=False
        )
        for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
            assert _rel(a, b) <= TOL
        assert _rel(net.history.loss_training, ref.history.loss_training) <= TOL


@pytest.mark.parametrize(
    "activation, output, loss",
    [
        ("relu", "softmax", "cross_entropy"),
        ("leaky_relu", "sigmoid", "binary_cross_entropy"),
        ("tanh", "softmax", "mse"),
    ],
)
def test_float32_matches_float32_reference(digits, activation, output, loss):
    nets = [_net(layers, i, activation, output, loss, np.float32) for i, (layers, _) in enumerate(SHAPES[:3])]
    _check(nets, [lr for _, lr in SHAPES[:3]], digits, tol=1e-4)
    assert all(w.dtype == np.float32 for n in nets for w in n.weights)


def test_saturated_outputs_give_the_reference_clipped_losses(digits):
    """Huge weights saturate A⁽ᴸ⁾ to 0 and 1: the cross-entropies are clipped exactly as losses._clip does."""
    nets = []
    for i, (output, loss) in enumerate([("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]):
        net = _net([64, 10], i, "identity", output, loss)
        net.weights[0] *= 400
        nets.append(net)
    refs = [copy.deepcopy(n) for n in nets]
    hists = train_many(nets, *digits, epochs=1, batch_size=50, learning_rates=1e-6, seed=0)
    for ref, hist in zip(refs, hists):
        ref_hist = train_reference(
            ref, *digits, epochs=1, batch_size=50, learning_rate=1e-6, seed=0, verbose=False, progress=False
        )
        assert np.isfinite(hist.loss_training).all() and hist.loss_training.iloc[0] > 10
        for col in METRICS:
            assert _rel(hist[col], ref_hist[col]) <= TOL, col


@pytest.mark.parametrize(
    "activation, output, loss",
    [
        ("relu", "softmax", "cross_entropy"),
        ("tanh", "sigmoid", "binary_cross_entropy"),
        ("leaky_relu", "softmax", "mse"),
    ],
)
def test_train_routes_plain_sgd_through_the_engine(digits, monkeypatch, activation, output, loss):
    from scratchnet import training

    net = _net([64, 24, 16, 10], 3, activation, output, loss)
    ref = copy.deepcopy(net)
    kw = dict(epochs=2, batch_size=20, learning_rate=0.2, seed=6, verbose=False, progress=False)
    ref_hist = train_reference(ref, *digits, **kw)

    def refuse(*args, **kwargs):
        raise AssertionError("train() used train_reference")

    monkeypatch.setattr(training, "train_reference", refuse)
    hist = train(net, *digits, **kw)
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        assert _rel(a, b) <= TOL
    for col in METRICS:
        assert _rel(hist[col], ref_hist[col]) <= TOL
    train(net, *digits, dropout=0.1, optimizer="adam", schedule="cosine", **kw)  # every option: the engine too


def test_train_refuses_an_option_the_engine_does_not_know(digits):
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['nesterov'\]"):
        train(_net([64, 3, 10], 0, "sigmoid", "sigmoid", "mse"), *digits, epochs=1, nesterov=True)


def test_divergence_in_one_recipe_restores_the_networks_of_every_recipe(digits):
    import warnings

    from scratchnet.training import TrainingDivergedError

    nets = [
        _net([64, 16, 10], 0, "sigmoid", "sigmoid", "mse"),
        _net([64, 16, 16, 10], 1, "identity", "softmax", "cross_entropy"),
        _net([64, 12, 10], 2, "relu", "softmax", "cross_entropy"),
    ]
    train_many(nets, *digits, epochs=1, batch_size=30, learning_rates=0.1, seed=0)
    before = [[p.copy() for p in n.weights + n.biases] for n in nets]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDivergedError, match=r"epoch 1: .*nets\[1\]") as info:
            train_many(nets, *digits, epochs=2, batch_size=30, learning_rates=[0.1, 1e200, 0.1], seed=0)
    assert info.value.networks == [1]
    for net, old in zip(nets, before):
        assert net.epochs_trained == 1
        for p, q in zip(net.weights + net.biases, old):
            np.testing.assert_array_equal(p, q)
