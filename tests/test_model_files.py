"""Model files: one safe format for the network and the estimator; every broken file is a clear ValueError."""

import json
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from scratchnet import MultilayerNeuralNetClassifier, __version__, train
from scratchnet.estimator import NeuralNetClassifier, load_estimator
from scratchnet.modelio import FORMAT_VERSION, read_model_file

load_network = MultilayerNeuralNetClassifier.load

QUICK = dict(hidden_layer_sizes=(6,), epochs=5, batch_size=10, learning_rate=2.0, random_state=0)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture
def net_file(tmp_path, iris):
    X, y = iris
    net = MultilayerNeuralNetClassifier([4, 5, 3], random_seed=1)
    train(net, X, y, X, y, epochs=2, batch_size=10, learning_rate=1.0, seed=1, verbose=False, progress=False)
    return net, net.save(tmp_path / "net.npz")


def rewrite(path, header_change=None, arrays_change=None):
    """Copy of a model file with its JSON header and/or arrays changed."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"][()]))
    if header_change:
        header_change(header)
    arrays["header"] = np.array(json.dumps(header))
    if arrays_change:
        arrays_change(arrays)
    out = path.with_name("changed.npz")
    np.savez(out, **arrays)
    return out


def test_network_round_trip(net_file):
    net, path = net_file
    again = MultilayerNeuralNetClassifier.load(path)
    assert again.layers == net.layers and again.dtype == net.dtype
    for a, b in zip(again.weights + again.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
    assert again.history.equals(net.history)
    header, _ = read_model_file(path)
    assert header["format_version"] == FORMAT_VERSION and header["scratchnet_version"] == __version__


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "eel"]),
        np.array([3, 10, 42]),
        np.array([-1.0, 0.5 * 2, 7.0]),
        np.array(["a", "b", "c"], dtype=object),
    ],
)
def test_estimator_round_trip_keeps_classes_and_predictions(tmp_path, iris, labels):
    X, y = iris
    est = NeuralNetClassifier(**QUICK).fit(X, labels[y])
    again = NeuralNetClassifier.load(est.save(tmp_path / "est"))
    assert again.classes_.tolist() == est.classes_.tolist()
    assert [type(v) for v in again.classes_.tolist()] == [type(v) for v in est.classes_.tolist()]
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert again.get_params() == est.get_params()
    assert again.history_.equals(est.history_)


def test_bool_labels_and_feature_names_round_trip(tmp_path, iris):
    import pandas as pd

    X, y = iris
    df = pd.DataFrame(X, columns=list("abcd"))
    est = NeuralNetClassifier(**QUICK).fit(df, y == 0)
    again = load_estimator(est.save(tmp_path / "b.npz"))
    assert again.classes_.dtype == bool and list(again.feature_names_in_) == list("abcd")
    np.testing.assert_array_equal(again.predict(df), est.predict(df))


def test_one_format_for_both(tmp_path, iris, net_file):
    X, y = iris
    net, path = net_file
    as_est = NeuralNetClassifier.load(path)
    assert as_est.classes_.tolist() == [0, 1, 2] and as_est.hidden_layer_sizes == (5,)
    np.testing.assert_array_equal(as_est.predict(X), net.predict(X))
    est = NeuralNetClassifier(**QUICK).fit(X, y)
    as_net = MultilayerNeuralNetClassifier.load(est.save(tmp_path / "e.npz"))
    np.testing.assert_array_equal(as_net.predict(X), est.predict(X))


def test_an_unfitted_estimator_cannot_be_saved(tmp_path):
    with pytest.raises(NotFittedError):
        NeuralNetClassifier().save(tmp_path / "x.npz")


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_network(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.95])
def test_truncated_file(net_file, keep):
    _, path = net_file
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    for loader in (load_network, load_estimator):
        with pytest.raises(ValueError, match="not a readable scratchnet model file|not a usable"):
            loader(path)


def test_not_an_npz(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text("hello")
    with pytest.raises(ValueError, match="truncated or not an .npz"):
        load_network(path)


def test_foreign_npz(tmp_path):
    np.savez(tmp_path / "foreign.npz", W1=np.ones((2, 2)))
    with pytest.raises(ValueError, match="no scratchnet header"):
        load_network(tmp_path / "foreign.npz")
    np.savez(tmp_path / "other.npz", header=np.array(json.dumps({"format": "keras"})))
    with pytest.raises(ValueError, match="foreign"):
        load_estimator(tmp_path / "other.npz")


def test_newer_format_version(net_file):
    _, path = net_file
    newer = rewrite(path, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="newer than this scratchnet understands"):
        load_network(newer)


class _Payload:
    """Unpickling this would create a marker file: the test proves it never happens."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_object_arrays_are_refused_and_nothing_runs(tmp_path, net_file):
    _, path = net_file
    _Payload.marker = tmp_path / "PWNED"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload()
    for name in ("W1", "extra", "header"):
        out = rewrite(path, arrays_change=lambda a, name=name: a.__setitem__(name, evil))
        for loader in (load_network, load_estimator):
            with pytest.raises(ValueError, match="[Oo]bject arrays"):
                loader(out)
    assert not _Payload.marker.exists()
    pickle.loads(pickle.dumps(_Payload()))  # the payload is live: unpickling it does create the file
    assert _Payload.marker.exists()


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda h: h.update(layers=[4, 6, 3]), "W1.*shape"),
        (lambda h: h.update(layers=[4, 5, 3, 2]), "missing the array 'W3'"),
        (lambda h: h.update(layers="4,5,3"), "invalid header"),
        (lambda h: h.update(dtype="object"), "invalid header"),
        (lambda h: h.update(activation="swish"), "does not provide"),
        (lambda h: h.update(output="softmax", loss="binary_cross_entropy"), "does not provide"),
        (lambda h: h.update(init=7), "invalid header"),
        (lambda h: h.pop("layers"), "invalid header"),
        (lambda h: h.update(classes={"kind": "int", "values": [0, 1]}), "2 labels for a network with 3 outputs"),
        (lambda h: h.update(classes={"kind": "int", "values": [2, 1, 0]}), "unique and sorted"),
        (lambda h: h.update(classes={"kind": "int", "values": ["0", 1, 2]}), "not a int label"),
        (lambda h: h.update(classes={"kind": "pickle", "values": [0, 1, 2]}), "invalid classes"),
    ],
)
def test_tampered_header(net_file, change, match):
    _, path = net_file
    with pytest.raises(ValueError, match=match):
        load_estimator(rewrite(path, change))


def test_corrupt_header_json(net_file):
    _, path = net_file
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["header"] = np.array("{not json")
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="corrupt header"):
        load_network(path)


def test_nan_weights_are_refused(net_file):
    _, path = net_file

    def poison(arrays):
        arrays["W2"] = arrays["W2"].copy()
        arrays["W2"][0, 0] = np.nan

    with pytest.raises(ValueError, match="'W2' contains NaN"):
        load_network(rewrite(path, arrays_change=poison))


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda h: h["estimator"]["params"].update(epochs=0), "invalid estimator parameters"),
        (lambda h: h["estimator"]["params"].update(evil="x"), "invalid estimator parameters"),
        (lambda h: h["estimator"]["params"].update(hidden_layer_sizes=[7]), "do not match"),
        (lambda h: h["estimator"].update(n_features_in=5), "n_features_in"),
        (lambda h: h["estimator"].update(feature_names_in=["a"]), "feature_names_in"),
        (lambda h: h["estimator"].update({"class": "os.system"}), "invalid estimator entry"),
    ],
)
def test_tampered_estimator_header(tmp_path, iris, change, match):
    X, y = iris
    path = NeuralNetClassifier(**QUICK).fit(X, y).save(tmp_path / "e.npz")
    with pytest.raises(ValueError, match=match):
        load_estimator(rewrite(path, change))
