"""Per-layer gradient diagnostics: measured by the network's own backward, kept on the network and in model files."""

import numpy as np
import pytest

from scratchnet import diagnostics
from scratchnet.cli import main
from scratchnet.errors import InvalidValueError
from scratchnet.losses import int_to_onehot
from scratchnet.modelio import save_network
from scratchnet.network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier
from scratchnet.training import train


def test_measure_matches_backward(digits_split):
    X, _, y, _ = digits_split
    net = MultilayerNeuralNetClassifier([64, 10, 10, 10], random_seed=1)
    record = diagnostics.measure(net, X[:200], y[:200], epoch=3)
    grads, _ = net.backward(X[:200], int_to_onehot(y[:200], 10), net.forward(X[:200]))
    assert record["epoch"] == 3
    assert list(record) == diagnostics.columns(3)
    for k, g in enumerate(grads, start=1):
        assert record[f"grad_norm_{k}"] == pytest.approx(np.linalg.norm(g))
    for k in (1, 2):
        assert 0.0 <= record[f"saturated_{k}"] <= 1.0


def test_saturated_share_by_activation():
    a = np.array([[0.001, 0.5, 0.995, 0.3]])
    assert diagnostics.saturated_share("sigmoid", a) == 0.5
    assert diagnostics.saturated_share("tanh", np.array([[-0.999, 0.0]])) == 0.5
    assert np.isnan(diagnostics.saturated_share("relu", a))


def test_train_records_one_entry_per_epoch_and_history_unchanged(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    net = MultilayerNeuralNetClassifier([64, 10, 10, 10, 10], random_seed=2)
    history = train(
        net, X_train, y_train, X_test, y_test, epochs=3, seed=1, verbose=False, progress=False, diagnostics=True
    )
    assert list(history.columns) == HISTORY_COLUMNS
    assert [r["epoch"] for r in net.diagnostics] == [0, 1, 2]
    # the article's vanishing gradients: deep sigmoid layers near the input get far smaller gradients
    last = net.diagnostics[-1]
    assert last["grad_norm_1"] < last["grad_norm_4"]
    train(net, X_train, y_train, epochs=2, seed=1, verbose=False, progress=False, diagnostics=True)
    assert [r["epoch"] for r in net.diagnostics] == [0, 1, 2, 3, 4]


def test_train_without_diagnostics_records_nothing(digits_split):
    X_train, _, y_train, _ = digits_split
    net = MultilayerNeuralNetClassifier([64, 10, 10], random_seed=2)
    train(net, X_train, y_train, epochs=1, verbose=False, progress=False)
    assert not getattr(net, "diagnostics", [])


def test_relu_has_no_saturation_and_diagnostics_round_trip_the_model_file(digits_split, tmp_path):
    X_train, _, y_train, _ = digits_split
    net = MultilayerNeuralNetClassifier([64, 16, 10], random_seed=2, activation="relu", init="he")
    train(net, X_train, y_train, epochs=2, verbose=False, progress=False, diagnostics=True)
    assert np.isnan(net.diagnostics[0]["saturated_1"])
    path = save_network(net, tmp_path / "m.npz")
    loaded = MultilayerNeuralNetClassifier.load(path)
    assert len(loaded.diagnostics) == 2
    for a, b in zip(loaded.diagnostics, net.diagnostics):
        assert a.keys() == b.keys()
        np.testing.assert_allclose([a[k] for k in a], [b[k] for k in b], equal_nan=True)
    plain = MultilayerNeuralNetClassifier.load(
        save_network(MultilayerNeuralNetClassifier([64, 5, 10]), tmp_path / "plain.npz")
    )
    assert plain.diagnostics == []


def test_malformed_diagnostics_array_is_refused():
    with pytest.raises(InvalidValueError, match="diagnostics"):
        diagnostics.from_array(np.zeros((2, 3)), ["epoch", "grad_norm_1", "x"], 1)


def test_train_command_writes_gradients_png(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                "--dataset",
                "digits",
                "--hidden",
                "8,8",
                "--epochs",
                "2",
                "--quiet",
                "--diagnostics",
                "--out",
                str(out),
            ]
        )
    assert exit_info.value.code == 0
    assert (out / "gradients.png").stat().st_size > 1000
    assert len(MultilayerNeuralNetClassifier.load(out / "model.npz").diagnostics) == 2
