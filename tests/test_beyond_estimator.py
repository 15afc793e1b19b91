"""The estimator's parameters beyond the article: passed to the network and to training, saved, checked."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchnet.estimator import NeuralNetClassifier

MODERN = dict(
    hidden_layer_sizes=(16,),
    epochs=30,
    batch_size=16,
    learning_rate=0.01,
    activation="relu",
    output="softmax",
    loss="cross_entropy",
    init="he",
    optimizer="adam",
    random_state=0,
)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), np.array(["setosa", "versicolor", "virginica"])[y]


def test_defaults_are_the_articles():
    params = NeuralNetClassifier().get_params()
    assert {k: params[k] for k in ("activation", "output", "loss", "init", "optimizer", "schedule")} == {
        "activation": "sigmoid",
        "output": "sigmoid",
        "loss": "mse",
        "init": "normal",
        "optimizer": "sgd",
        "schedule": "constant",
    }
    assert (params["weight_decay"], params["dropout"], params["early_stopping"]) == (0.0, 0.0, False)


def test_a_modern_recipe_fits_and_gives_softmax_probabilities(iris, tmp_path):
    X, y = iris
    est = NeuralNetClassifier(**MODERN, dropout=0.1, weight_decay=1e-4, schedule="cosine").fit(X, y)
    net = est.network_
    assert net.options == {"activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"}
    assert est.score(X, y) > 0.9
    np.testing.assert_allclose(est.predict_scores(X).sum(axis=1), 1.0)
    again = NeuralNetClassifier.load(est.save(tmp_path / "m.npz"))
    assert again.get_params() == est.get_params()
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


def test_early_stopping_through_the_estimator(iris):
    X, y = iris
    est = NeuralNetClassifier(**{**MODERN, "epochs": 200, "learning_rate": 0.05}, early_stopping=True, patience=3).fit(
        X, y
    )
    assert len(est.history_) < 200


def test_grid_search_can_vary_the_activation(iris):
    X, y = iris
    grid = GridSearchCV(NeuralNetClassifier(**MODERN), {"activation": ["relu", "tanh"]}, cv=2).fit(X, y)
    assert grid.best_params_["activation"] in ("relu", "tanh")


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(output="softmax", loss="mse", activation="relu"), None),
        (dict(output="sigmoid", loss="cross_entropy"), "sum to 1"),
        (dict(activation="swish"), "activation"),
        (dict(dropout=1.0), "dropout"),
        (dict(optimizer="adagrad"), "optimizer"),
    ],
)
def test_options_are_checked_by_fit(iris, params, match):
    X, y = iris
    est = NeuralNetClassifier(**{**MODERN, "epochs": 2, **params})
    if match is None:
        est.fit(X, y)
    else:
        with pytest.raises(ValueError, match=match):
            est.fit(X, y)
        assert not hasattr(est, "network_")


def test_saved_estimator_must_match_its_network(iris, tmp_path):
    import json

    from scratchnet.estimator import load_estimator

    X, y = iris
    path = NeuralNetClassifier(**{**MODERN, "epochs": 1}).fit(X, y).save(tmp_path / "m.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"][()]))
    header["estimator"]["params"]["activation"] = "tanh"
    arrays["header"] = np.array(json.dumps(header))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="do not match the stored network"):
        load_estimator(tmp_path / "bad.npz")


@parametrize_with_checks([NeuralNetClassifier(**{**MODERN, "hidden_layer_sizes": (10,), "epochs": 20})])
def test_sklearn_checks_on_a_modern_recipe(estimator, check):
    check(estimator)
