import json
import zipfile

import numpy as np
import pytest

from scratchnet import MultilayerNeuralNetClassifier, train
from scratchnet.modelio import FORMAT_VERSION


@pytest.fixture
def trained(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    net = MultilayerNeuralNetClassifier([64, 12, 10], random_seed=2)
    train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=2,
        batch_size=50,
        learning_rate=0.5,
        seed=1,
        verbose=False,
        progress=False,
    )
    return net, X_test


def test_round_trip_keeps_everything(tmp_path, trained):
    net, X = trained
    path = net.save(tmp_path / "model.npz")
    back = MultilayerNeuralNetClassifier.load(path)
    assert back.layers == net.layers and back.dtype == net.dtype and back.random_seed == 2
    for a, b in zip(net.weights + net.biases, back.weights + back.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.history.equals(net.history)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"][()]))
    assert header["format_version"] == FORMAT_VERSION and header["layers"] == [64, 12, 10]


def test_float32_round_trip(tmp_path):
    net = MultilayerNeuralNetClassifier([5, 3, 2], random_seed=1, dtype=np.float32)
    back = MultilayerNeuralNetClassifier.load(net.save(tmp_path / "m"))
    assert back.dtype == np.float32 and back.weights[0].dtype == np.float32


def _rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"][()]))
    for key, value in changes.pop("header", {}).items():
        header[key] = value
    arrays["header"] = np.array(json.dumps(header))
    arrays.update(changes)
    np.savez(out, **arrays)
    return out


def test_bad_files_give_clear_value_errors(tmp_path, trained):
    net, _ = trained
    good = net.save(tmp_path / "good.npz")
    cases = {
        "missing": tmp_path / "missing.npz",
        "truncated": tmp_path / "truncated.npz",
        "foreign": tmp_path / "foreign.npz",
        "newer": _rewrite(good, tmp_path / "newer.npz", header={"format_version": FORMAT_VERSION + 1}),
        "shape": _rewrite(good, tmp_path / "shape.npz", W1=np.zeros((3, 3))),
        "nan": _rewrite(good, tmp_path / "nan.npz", W2=np.full((12, 10), np.nan)),
        "object": tmp_path / "object.npz",
        "text": tmp_path / "text.npz",
    }
    cases["truncated"].write_bytes(good.read_bytes()[:200])
    np.savez(cases["foreign"], W1=np.zeros(3))
    np.savez(cases["object"], header=np.array([{"a": 1}], dtype=object))
    cases["text"].write_text("hello")
    messages = {
        "missing": "does not exist",
        "truncated": "not a readable",
        "foreign": "no scratchnet header",
        "newer": "newer than",
        "shape": "expected floats of shape",
        "nan": "NaN",
        "object": "object arrays",
        "text": "not a readable",
    }
    for name, path in cases.items():
        with pytest.raises(ValueError, match=messages[name]):
            MultilayerNeuralNetClassifier.load(path)
    assert zipfile.is_zipfile(good)
