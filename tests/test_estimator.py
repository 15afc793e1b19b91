"""NeuralNetClassifier: the same network as the reference class, in scikit-learn's tools."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchnet import MultilayerNeuralNetClassifier, train
from scratchnet.estimator import NeuralNetClassifier
from scratchnet.training import TrainingDivergedError, format_epoch

QUICK = dict(hidden_layer_sizes=(8,), epochs=30, batch_size=10, learning_rate=2.0, random_state=3)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_defaults_are_the_article_recipe():
    params = NeuralNetClassifier().get_params()
    assert params["hidden_layer_sizes"] == (50,)
    assert (params["learning_rate"], params["epochs"], params["batch_size"]) == (0.3, 250, 200)
    assert params["dtype"] == "float64" and params["random_state"] is None


def test_fit_is_the_reference_network_trained_by_train(iris):
    """Same seed → bit-identical weights to MultilayerNeuralNetClassifier + train (nothing re-implemented)."""
    X, y = iris
    est = NeuralNetClassifier(**QUICK).fit(X, y)
    net = MultilayerNeuralNetClassifier([4, 8, 3], random_seed=3)
    train(net, X, y, epochs=30, batch_size=10, learning_rate=2.0, seed=3, verbose=False, progress=False)
    for a, b in zip(est.network_.weights + est.network_.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
    assert len(est.history_) == 30 and est.history_["loss_test"].isna().all()
    assert est.score(X, y) > 0.9


@pytest.mark.parametrize(
    "labels",
    [np.array(["setosa", "versicolor", "virginica"]), np.array([-1.0, 0.0, 7.0]), np.array([10, 20, 30])],
)
def test_any_label_type(iris, labels):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).fit(X, labels[y])
    np.testing.assert_array_equal(est.classes_, labels)
    pred = est.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= set(labels)
    assert np.mean(pred == labels[y]) > 0.9


def test_binary_problem_has_two_outputs(iris):
    X, y = iris
    yb = np.where(y == 0, "yes", "no")
    est = NeuralNetClassifier(**QUICK).fit(X, yb)
    assert est.network_.layers == [4, 8, 2] and list(est.classes_) == ["no", "yes"]
    assert est.score(X, yb) == 1.0


def test_predict_proba_rows_sum_to_one_and_keep_the_argmax(iris):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).fit(X, y)
    proba, scores = est.predict_proba(X), est.predict_scores(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert not np.allclose(scores.sum(axis=1), 1.0)  # the raw sigmoid scores are one-vs-all
    np.testing.assert_array_equal(proba.argmax(axis=1), scores.argmax(axis=1))
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))
    assert scores.min() >= 0 and scores.max() <= 1


def test_batch_size_larger_than_the_data_is_clipped(iris):
    X, y = iris
    big = NeuralNetClassifier(**{**QUICK, "batch_size": 10_000}).fit(X, y)
    exact = NeuralNetClassifier(**{**QUICK, "batch_size": len(y)}).fit(X, y)
    np.testing.assert_array_equal(big.network_.weights[0], exact.network_.weights[0])


def test_partial_fit_is_one_epoch_per_call_and_continues(iris):
    X, y = iris
    est = NeuralNetClassifier(**QUICK)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1, 2])
    assert list(est.history_["epoch"]) == [0, 1, 2]
    fitted = NeuralNetClassifier(**{**QUICK, "epochs": 3}).fit(X, y)
    np.testing.assert_array_equal(est.network_.weights[0], fitted.network_.weights[0])
    with pytest.raises(ValueError, match="not among classes_"):
        est.partial_fit(X, np.full(len(y), 7))
    with pytest.raises(ValueError, match="differs from classes_"):
        est.partial_fit(X, y, classes=[0, 1])


def test_partial_fit_allows_labels_missing_from_a_batch(iris):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).partial_fit(X[y == 0], y[y == 0], classes=["a", 0, 1, 2][1:])
    assert est.network_.n_classes == 3


def test_verbose_prints_the_article_line(iris, capsys):
    X, y = iris
    est = NeuralNetClassifier(**{**QUICK, "epochs": 2, "verbose": True}).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [format_epoch(r) for r in est.network_.history_records]
    assert lines[0].startswith("epoch 0: loss_training=")


def test_validation_fraction_fills_the_test_columns(iris):
    X, y = iris
    est = NeuralNetClassifier(**{**QUICK, "validation_fraction": 0.2}).fit(X, y)
    assert est.history_["accuracy_test"].notna().all() and est.history_["accuracy_test"].iloc[-1] > 0.5
    with pytest.raises(ValueError, match="validation_fraction"):
        NeuralNetClassifier(**{**QUICK, "validation_fraction": 0.01}).fit(X[::10], y[::10])


def test_feature_names_from_a_dataframe(iris):
    X, y = iris
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    est = NeuralNetClassifier(**QUICK).fit(df, y)
    assert list(est.feature_names_in_) == ["sl", "sw", "pl", "pw"] and est.n_features_in_ == 4
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df[["pw", "pl", "sw", "sl"]])


def test_pipeline_gridsearch_in_parallel_cross_val_clone_pickle():
    X, y = load_digits(return_X_y=True)
    X, y = X[:400], y[:400]
    pipe = make_pipeline(StandardScaler(), NeuralNetClassifier(epochs=20, batch_size=20, random_state=0))
    grid = GridSearchCV(pipe, {"neuralnetclassifier__learning_rate": [0.1, 4.0]}, cv=2, n_jobs=2)
    grid.fit(X, y)
    assert grid.best_params_["neuralnetclassifier__learning_rate"] == 4.0
    assert grid.best_score_ > 0.8
    scores = cross_val_score(clone(pipe).set_params(neuralnetclassifier__learning_rate=4.0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.75
    best = grid.best_estimator_
    again = pickle.loads(pickle.dumps(best))
    np.testing.assert_array_equal(again.predict_proba(X), best.predict_proba(X))
    fresh = clone(best)
    with pytest.raises(NotFittedError):
        fresh.predict(X)


def test_diverging_fit_raises_and_leaves_no_model(iris):
    """A learning rate float32 cannot hold turns the weights to NaN in epoch 0: refused, nothing kept."""
    X, y = iris
    est = NeuralNetClassifier(epochs=3, batch_size=10, learning_rate=1e50, dtype="float32", random_state=0)
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError, match="epoch 0.*smaller learning rate"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "network_")


def test_diverging_partial_fit_keeps_the_last_finite_network(iris):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).partial_fit(X, y, classes=[0, 1, 2])
    before = [w.copy() for w in est.network_.weights]
    est.set_params(learning_rate=1e300)
    est.network_.weights = [w.astype(np.float32) for w in est.network_.weights]
    est.network_.biases = [b.astype(np.float32) for b in est.network_.biases]
    est.network_.dtype = np.dtype(np.float32)
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError, match="epoch 1"):
        est.partial_fit(X, y)
    for w, old in zip(est.network_.weights, before):
        assert np.all(np.isfinite(w))
        np.testing.assert_allclose(w, old, rtol=1e-6)
    assert len(est.history_) == 1


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"hidden_layer_sizes": (50, 0)}, r"hidden_layer_sizes\[1\]"),
        ({"hidden_layer_sizes": "50"}, "hidden_layer_sizes"),
        ({"dtype": "float16"}, "dtype"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
    ],
)
def test_impossible_hyperparameters(iris, params, match):
    X, y = iris
    with pytest.raises((ValueError, TypeError), match=match):
        NeuralNetClassifier(**{**QUICK, **params}).fit(X, y)


@pytest.mark.parametrize(
    "X, y, exc, match",
    [
        (np.full((4, 2), np.nan), [0, 1, 0, 1], ValueError, "NaN"),
        (np.ones((4, 2)), [0, 1, 0], ValueError, "inconsistent numbers of samples"),
        (np.ones((0, 2)), [], ValueError, "0 sample"),
        (np.ones(4), [0, 1, 0, 1], ValueError, "2D array"),
        ([["a", "b"], ["c", "d"]], [0, 1], ValueError, "could not convert"),
        (np.ones((4, 2)), [0.5, 1.5, 0.2, 3.3], ValueError, "Unknown label type"),
        (np.ones((4, 2)), None, ValueError, "requires y"),
    ],
)
def test_bad_training_data(X, y, exc, match):
    with pytest.raises(exc, match=match):
        NeuralNetClassifier(**QUICK).fit(X, y)


def test_predict_with_the_wrong_feature_count(iris):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but NeuralNetClassifier is expecting 4"):
        est.predict(X[:, :3])


def test_train_restores_the_network_when_an_epoch_diverges(iris):
    X, y = iris
    net = MultilayerNeuralNetClassifier([4, 5, 3], random_seed=0, dtype="float32")
    train(net, X, y, epochs=2, batch_size=10, learning_rate=1.0, seed=0, verbose=False, progress=False)
    before = [p.copy() for p in net.weights + net.biases]
    with pytest.warns(RuntimeWarning), pytest.raises(TrainingDivergedError, match="epoch 2.*smaller learning rate"):
        train(net, X, y, epochs=3, batch_size=10, learning_rate=1e50, seed=0, verbose=False, progress=False)
    for p, old in zip(net.weights + net.biases, before):
        np.testing.assert_array_equal(p, old)
    assert net.epochs_trained == 2


def test_normalise_scores_keeps_the_argmax_and_makes_zero_rows_uniform():
    from scratchnet.estimator import normalise_scores

    scores = np.array([[0.9, 0.3, 0.0], [0.0, 0.0, 0.0], [1e-300, 0.0, 0.0]])
    proba = normalise_scores(scores)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(proba[1], [1 / 3] * 3)
    np.testing.assert_array_equal(proba[2], [1.0, 0.0, 0.0])


def test_training_without_a_test_set_engine_and_reference_agree(iris):
    from scratchnet.training import train_reference

    X, y = iris
    fast = MultilayerNeuralNetClassifier([4, 5, 3], random_seed=2)
    slow = MultilayerNeuralNetClassifier([4, 5, 3], random_seed=2)
    h_fast = train(fast, X, y, epochs=3, batch_size=10, learning_rate=1.0, seed=2, verbose=False, progress=False)
    h_slow = train_reference(
        slow, X, y, epochs=3, batch_size=10, learning_rate=1.0, seed=2, verbose=False, progress=False
    )
    for h in (h_fast, h_slow):
        assert h[["loss_test", "accuracy_test"]].isna().all().all() and h["loss_training"].notna().all()
    np.testing.assert_allclose(h_fast["loss_training"], h_slow["loss_training"], rtol=1e-10)
    for a, b in zip(fast.weights, slow.weights):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="give both"):
        train(fast, X, y, X, None, epochs=1, batch_size=10, progress=False, verbose=False)


def test_train_many_without_a_validation_set(iris):
    from scratchnet.engine import train_many

    X, y = iris
    nets = [MultilayerNeuralNetClassifier(layers, random_seed=0) for layers in ([4, 5, 3], [4, 3, 3, 3])]
    frames = train_many(nets, X, y, None, None, epochs=2, batch_size=10, learning_rates=[1.0, 0.5], seed=0)
    for frame in frames:
        assert len(frame) == 2 and frame["accuracy_test"].isna().all() and frame["accuracy_training"].gt(0).all()
    with pytest.raises(ValueError, match="give both X_val and y_val"):
        train_many(nets, X, y, X, None, epochs=1, batch_size=10)
