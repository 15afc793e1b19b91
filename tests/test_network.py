import itertools
import warnings

import numpy as np
import pytest

from scratchnet import MultilayerNeuralNetClassifier, int_to_onehot, sigmoid
from scratchnet.gradcheck import check_gradients, random_problem


def test_parameter_count_of_the_article_network():
    net = MultilayerNeuralNetClassifier([784, 50, 10], random_seed=1)
    assert net.n_parameters == 39_760
    assert [w.shape for w in net.weights] == [(784, 50), (50, 10)]
    assert [b.shape for b in net.biases] == [(50,), (10,)]


@pytest.mark.parametrize("layers", [[2, 3], [7, 5, 3, 2, 4], [3, 1, 1, 2]])
def test_parameter_count_formula(layers):
    net = MultilayerNeuralNetClassifier(layers)
    assert net.n_parameters == sum(n * (m + 1) for m, n in itertools.pairwise(layers))


def test_sigmoid_is_stable_and_exact():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sigmoid(-1000.0) == 0.0
        assert sigmoid(1000.0) == 1.0
        assert sigmoid(0) == 0.5
        z = np.array([-1e308, -745.0, -30.0, 0.0, 30.0, 1e308])
        out = sigmoid(z)
    assert np.all((out >= 0) & (out <= 1))
    mid = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(sigmoid(mid), 1 / (1 + np.exp(-mid)), rtol=1e-14)
    assert sigmoid(np.float32([1.0])).dtype == np.float32
    assert isinstance(sigmoid(2.0), float)


def test_int_to_onehot():
    out = int_to_onehot(np.array([0, 2, 1]), 3)
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="0..2"):
        int_to_onehot(np.array([0, 3]), 3)


def test_forward_shapes_and_one_sample():
    net = MultilayerNeuralNetClassifier([6, 5, 4, 3], random_seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 6))
    acts = net.forward(x)
    assert [a.shape for a in acts] == [(8, 5), (8, 4), (8, 3)]
    one = net.forward(x[0])
    assert [a.shape for a in one] == [(1, 5), (1, 4), (1, 3)]
    np.testing.assert_allclose(one[-1][0], acts[-1][0])
    assert net.predict(x).shape == (8,)


def test_forward_matches_article_formula():
    net = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=3)
    x = np.random.default_rng(1).normal(size=(5, 4))
    a1 = 1 / (1 + np.exp(-(x @ net.weights[0] + net.biases[0])))
    a2 = 1 / (1 + np.exp(-(a1 @ net.weights[1] + net.biases[1])))
    np.testing.assert_allclose(net.forward(x)[-1], a2, rtol=1e-13)


def test_backward_shapes_equal_parameters():
    net = MultilayerNeuralNetClassifier([6, 5, 4, 3], random_seed=0)
    x, y = random_problem(net, 4, 0)
    wg, bg = net.backward(x, y, net.forward(x))
    assert [g.shape for g in wg] == [w.shape for w in net.weights]
    assert [g.shape for g in bg] == [b.shape for b in net.biases]


@pytest.mark.parametrize(
    "layers, samples",
    [([50, 40, 30, 10], 5), ([784, 20, 10], 3), ([5, 4, 4, 4, 4, 4, 3], 6), ([3, 7, 2], 1), ([10, 1, 5], 2)],
)
def test_analytic_gradients_equal_numerical(layers, samples):
    net = MultilayerNeuralNetClassifier(layers, random_seed=42)
    # give biases non-zero values so their gradients are exercised away from the start point
    for b in net.biases:
        b[:] = np.random.default_rng(1).normal(0, 0.5, b.shape)
    x, y = random_problem(net, samples, seed=7)
    results = check_gradients(net, x, y)
    assert [r.layer for r in results] == list(range(len(layers) - 1, 0, -1))
    for r in results:
        assert r.ok, (r.layer, r.worst)


def test_gradient_check_detects_a_wrong_gradient(monkeypatch):
    net = MultilayerNeuralNetClassifier([6, 5, 3], random_seed=0)
    x, y = random_problem(net, 4, 0)
    original = net.backward

    def off_by_a_bit(x, y, acts):
        wg, bg = original(x, y, acts)
        wg[0] = wg[0] * 1.01
        return wg, bg

    monkeypatch.setattr(net, "backward", off_by_a_bit)
    results = check_gradients(net, x, y)
    assert results[0].ok  # layer 2 untouched
    assert not results[1].ok and results[1].worst


def test_numerical_gradient_layer_is_one_based():
    net = MultilayerNeuralNetClassifier([3, 2, 2], random_seed=0)
    x, y = random_problem(net, 2, 0)
    w, b = net.backward_numerical(x, y, layer=2)
    assert w.shape == (2, 2) and b.shape == (2,)
    with pytest.raises(ValueError, match="between 1 and 2"):
        net.backward_numerical(x, y, layer=3)
    with pytest.raises(ValueError):
        net.backward_numerical(x, y, layer=0)


def test_seeded_initialisation_is_deterministic():
    a = MultilayerNeuralNetClassifier([10, 8, 3], random_seed=5)
    b = MultilayerNeuralNetClassifier([10, 8, 3], random_seed=5)
    c = MultilayerNeuralNetClassifier([10, 8, 3], random_seed=6)
    for wa, wb, wc in zip(a.weights, b.weights, c.weights):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)


def test_float32_network_computes_in_float32():
    net = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0, dtype=np.float32)
    assert all(w.dtype == np.float32 for w in net.weights)
    assert net.forward(np.ones((2, 4)))[-1].dtype == np.float32


@pytest.mark.parametrize(
    "layers, error",
    [([784], ValueError), ([784, 0, 10], ValueError), ("784,10", TypeError), ([784, 2.5, 10], TypeError)],
)
def test_bad_layers_are_refused(layers, error):
    with pytest.raises(error):
        MultilayerNeuralNetClassifier(layers)


def test_bad_inputs_to_forward_are_refused():
    net = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0)
    with pytest.raises(ValueError, match="expects 4"):
        net.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        net.forward(np.array([[1.0, np.nan, 0, 0]]))
    with pytest.raises(TypeError):
        net.forward(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match="0..1"):
        net.accuracy(np.ones((2, 4)), [0, 2])
