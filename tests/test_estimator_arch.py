"""NeuralNetClassifier(arch=…): a network built from layers behind scikit-learn's conventions."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score

from scratchnet.errors import InvalidValueError
from scratchnet.estimator import NeuralNetClassifier
from scratchnet.model import LayeredNetwork, mlp_arch, train_layered
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train

CNN = "conv(4, 3, padding=1) relu maxpool(2) flatten dense(10)"
QUICK = dict(arch=CNN, output="softmax", loss="cross_entropy", optimizer="adam", learning_rate=0.01,
             epochs=3, batch_size=50, random_state=0)  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:600], y[:600], X[600:800], y[600:800]


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return NeuralNetClassifier(**QUICK).fit(X, y)


def test_fit_is_the_layered_network_trained_by_train_layered(digits, fitted):
    """Flat digits rows infer (1, 8, 8); same seed → the same network as LayeredNetwork + train_layered."""
    X, y, X_test, _ = digits
    assert isinstance(fitted.network_, LayeredNetwork) and fitted.network_.input_shape == (1, 8, 8)
    assert fitted.n_features_in_ == 64 and len(fitted.history_) == 3
    net = LayeredNetwork(CNN, (1, 8, 8), output="softmax", loss="cross_entropy", seed=0)
    train_layered(net, X, y, epochs=3, batch_size=50, learning_rate=0.01, seed=0, optimizer="adam")
    # equal up to the rounding of BLAS on differently aligned copies of X
    np.testing.assert_allclose(fitted.predict_proba(X_test), net.predict_proba(X_test), rtol=0, atol=1e-12)
    assert fitted.score(X_test, digits[3]) > 0.7


def test_images_4d_flat_and_given_shape_agree(digits, fitted):
    X, y, X_test, _ = digits
    images = X.reshape(-1, 1, 8, 8)
    est4 = NeuralNetClassifier(**QUICK).fit(images, y)
    assert est4.n_features_in_ == 64
    close = dict(rtol=0, atol=1e-12)
    np.testing.assert_allclose(est4.predict_proba(X_test.reshape(-1, 1, 8, 8)), fitted.predict_proba(X_test), **close)
    np.testing.assert_allclose(est4.predict_proba(X_test), fitted.predict_proba(X_test), **close)  # flat rows
    given = NeuralNetClassifier(**QUICK, input_shape=(1, 8, 8)).fit(X, y)
    np.testing.assert_allclose(given.predict_proba(X_test), fitted.predict_proba(X_test), **close)
    with pytest.raises(InvalidValueError, match=r"images of shape \(1, 4, 16\)"):
        fitted.predict(X_test.reshape(-1, 1, 4, 16))


def test_a_flat_arch_is_the_article_network(digits):
    """Without images in the arch the rows stay flat; mlp_arch + the article's recipe = the MLP path's numbers."""
    X, y, X_test, _ = digits
    est = NeuralNetClassifier(arch=mlp_arch([64, 12, 10]), epochs=2, batch_size=50, learning_rate=0.5,
                              random_state=4).fit(X, y)  # fmt: skip
    assert est.network_.input_shape == (64,)
    net = MultilayerNeuralNetClassifier([64, 12, 10], random_seed=4)
    train(net, X, y, epochs=2, batch_size=50, learning_rate=0.5, seed=4)
    np.testing.assert_allclose(est.predict_scores(X_test), net.predict_proba(X_test), rtol=0, atol=1e-12)


def test_sklearn_conventions(digits, fitted):
    X, y, _, _ = digits
    params = fitted.get_params()
    assert params["arch"] == CNN and params["input_shape"] is None
    copy = clone(fitted)
    assert copy.get_params() == params and not hasattr(copy, "network_")
    copy.set_params(arch="flatten dense(10)", epochs=1)
    assert copy.fit(X, y).network_.arch == "flatten dense(10)"
    scores = cross_val_score(NeuralNetClassifier(**{**QUICK, "epochs": 1}), X, y, cv=2)
    assert scores.shape == (2,)
    part = NeuralNetClassifier(**QUICK)
    part.partial_fit(X, y, classes=np.arange(10)).partial_fit(X, y)
    assert list(part.history_.epoch) == [0, 1]


def test_save_and_load(tmp_path, digits, fitted):
    X_test = digits[2]
    path = fitted.save(tmp_path / "cnn.npz")
    back = NeuralNetClassifier.load(path)
    assert isinstance(back.network_, LayeredNetwork) and back.get_params() == fitted.get_params()
    np.testing.assert_array_equal(back.predict_proba(X_test), fitted.predict_proba(X_test))
    np.testing.assert_array_equal(back.classes_, fitted.classes_)
    assert len(back.history_) == 3


@pytest.mark.parametrize(
    "params, error, message",
    [
        (dict(arch="conv(4, 3) relu flatten dense(7)"), InvalidValueError, r"ends with 7 class scores .* dense\(10\)"),
        (dict(arch="conv(4, 9) flatten dense(10)"), InvalidValueError, "does not fit the input 8×8"),
        (dict(arch="dense(10) bogus"), InvalidValueError, "unknown layer 'bogus'"),
        (dict(arch=CNN, activation="relu"), InvalidValueError, "activation='relu' does not apply with arch"),
        (dict(arch=CNN, dropout=0.2), InvalidValueError, "dropout=0.2 does not apply with arch"),
        (dict(arch=CNN, early_stopping=True), InvalidValueError, "early_stopping is not available with arch"),
        (dict(arch=CNN, input_shape=(1, 4, 4)), InvalidValueError, "holds 16 values, X has 64 features"),
        (dict(arch=CNN, input_shape=(1, 8)), InvalidValueError, r"input_shape must be \(C, H, W\)"),
        (dict(arch=3), ValueError, "'arch' parameter"),  # scikit-learn's InvalidParameterError, as for the others
    ],
)
def test_bad_arch_parameters_are_one_line_errors(digits, params, error, message):
    X, y, _, _ = digits
    with pytest.raises(error, match=message) as info:
        NeuralNetClassifier(epochs=1, **params).fit(X, y)
    assert "\n" not in str(info.value)


def test_3d_X_is_refused_with_arch(digits):
    X, y, _, _ = digits
    with pytest.raises(InvalidValueError, match="4-D"):
        NeuralNetClassifier(arch=CNN, epochs=1).fit(X.reshape(-1, 8, 8), y)
