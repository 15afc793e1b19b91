"""A LayeredNetwork whose special case is the article's network: same weights, batches, dropout masks, numbers."""

import numpy as np
import pytest

from scratchnet.data import load_split
from scratchnet.errors import InvalidTypeError
from scratchnet.model import LayeredNetwork, mlp_arch, train_layered
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train, train_reference

COLUMNS = ["loss_training", "accuracy_training", "loss_test", "accuracy_test"]


@pytest.fixture(scope="module")
def digits():
    X_train, X_test, y_train, y_test = load_split("digits", None, None, 1, "float64")
    return X_train[:600], y_train[:600], X_test[:200], y_test[:200]


CASES = {
    "article": (dict(), dict(learning_rate=0.5)),
    "relu_softmax_dropout_adam": (
        dict(activation="relu", output="softmax", loss="cross_entropy", init="he"),
        dict(learning_rate=0.005, optimizer="adam", dropout=0.3, weight_decay=1e-4, schedule="cosine"),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_layered_mlp_trains_to_the_numbers_of_the_article_network(digits, case):
    X_train, y_train, X_test, y_test = digits
    net_options, train_options = CASES[case]
    lr = train_options.pop("learning_rate")
    dropout = train_options.pop("dropout", 0.0)
    layers = [64, 20, 12, 10]
    ref = MultilayerNeuralNetClassifier(layers, random_seed=7, **net_options)
    fused = MultilayerNeuralNetClassifier(layers, random_seed=7, **net_options)
    model = LayeredNetwork.from_mlp(layers, random_seed=7, **net_options, dropout=dropout)
    # same initial draws, bit for bit
    dense = [layer for layer in model.layers if layer.kind == "dense"]
    for layer, W, b in zip(dense, ref.weights, ref.biases):
        np.testing.assert_array_equal(layer.params["W"], W)
        np.testing.assert_array_equal(layer.params["b"], b)
    common = dict(epochs=3, batch_size=50, learning_rate=lr, seed=11)
    h_ref = train_reference(ref, X_train, y_train, X_test, y_test, **common, dropout=dropout, **train_options)
    h_fused = train(fused, X_train, y_train, X_test, y_test, **common, dropout=dropout, **train_options)
    h_layered = train_layered(model, X_train, y_train, X_test, y_test, **common,
                              optimizer=train_options.get("optimizer", "sgd"),
                              **{k: v for k, v in train_options.items() if k != "optimizer"})  # fmt: skip
    # the readable loop: bit for bit; the fused engine: up to its rounding
    np.testing.assert_array_equal(h_layered[COLUMNS].to_numpy(), h_ref[COLUMNS].to_numpy())
    np.testing.assert_allclose(h_layered[COLUMNS].to_numpy(), h_fused[COLUMNS].to_numpy(), rtol=0, atol=1e-12)
    for layer, W, b, Wf in zip(dense, ref.weights, ref.biases, fused.weights):
        np.testing.assert_array_equal(layer.params["W"], W)
        np.testing.assert_array_equal(layer.params["b"], b)
        np.testing.assert_allclose(layer.params["W"], Wf, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X_test), ref.predict_proba(X_test), rtol=0, atol=1e-12)
    if dropout:  # the masks mattered: without them the numbers differ
        other = LayeredNetwork.from_mlp(layers, random_seed=7, **net_options, dropout=dropout)
        h_other = train_layered(other, X_train, y_train, **{**common, "seed": 12}, optimizer="adam")
        assert not np.allclose(h_other.loss_training, h_ref.loss_training)


def test_mlp_arch_reads_as_the_article_network():
    assert mlp_arch([784, 50, 10]) == "dense(50, init='normal') sigmoid dense(10, init='normal')"
    assert mlp_arch([4, 3, 3, 2], activation="ReLU", init="xavier", dropout=0.2) == (
        "dense(3, init='glorot') relu dropout(0.2) dense(3, init='glorot') relu dropout(0.2) dense(2, init='glorot')"
    )


def test_from_network_copies_the_weights(digits):
    X_train, y_train, X_test, _ = digits
    net = MultilayerNeuralNetClassifier([64, 16, 10], random_seed=3, activation="tanh", output="softmax")
    train(net, X_train, y_train, epochs=1, batch_size=50, learning_rate=0.3, seed=0)
    model = LayeredNetwork.from_network(net)
    np.testing.assert_allclose(model.predict_proba(X_test), net.predict_proba(X_test), rtol=0, atol=1e-13)
    assert len(model.history_records) == 1
    with pytest.raises(InvalidTypeError):
        LayeredNetwork.from_network("net")
