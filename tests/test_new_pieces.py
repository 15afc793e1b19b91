"""The door works: the ELU and RMSprop, each added as one table entry, work everywhere.

Each was added as one definition (``activations.ACTIVATIONS["elu"]``,
``optimizers.OPTIMIZERS["rmsprop"]``) plus its tests, with no other edit; here
they go through every public door: the reference network's gradient check, the
engine against the reference loop, ``train``, a ``tune`` grid with its store,
report and refit, the estimator, ``gradcheck``, model files and the command
line's choices.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from scratchnet import cli
from scratchnet.activations import ACTIVATIONS
from scratchnet.engine import train_many
from scratchnet.estimator import NeuralNetClassifier
from scratchnet.gradcheck import check_gradients, random_problem
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.optimizers import OPTIMIZERS
from scratchnet.training import train_reference

NEW = {"activation": "elu", "optimizer": "rmsprop"}


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out = capsys.readouterr()
    assert exit_info.value.code in (0, None), out.err
    return out.out


def test_they_are_table_entries():
    assert "elu" in ACTIVATIONS and "rmsprop" in OPTIMIZERS
    for command in (cli.train_command, cli.gradcheck, cli.tune_command):
        names = {p.name: p for p in command.params}
        field = "activation" if "activation" in names else "activations"
        assert "elu" in names[field].type.choices or "elu" in str(names[field].type.name)
    assert "rmsprop" in {p.name: p for p in cli.train_command.params}["optimizer"].type.choices


def test_elu_gradients_through_central_differences():
    net = MultilayerNeuralNetClassifier([6, 5, 4, 3], random_seed=2, activation="elu", output="softmax", loss="ce")
    for w in net.weights:
        w *= 8  # enough negative pre-activations to exercise the exponential branch
    x, y = random_problem(net, 5, 3)
    assert any((a < 0).any() for a in net.forward(x)[:-1])
    assert all(r.ok for r in check_gradients(net, x, y))


def test_the_engine_equals_the_reference_with_both(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    kw = dict(epochs=3, batch_size=25, seed=7)
    ref = MultilayerNeuralNetClassifier([64, 16, 10], random_seed=1, activation="elu", output="softmax", loss="ce")
    net = MultilayerNeuralNetClassifier([64, 16, 10], random_seed=1, activation="elu", output="softmax", loss="ce")
    href = train_reference(ref, X_train, y_train, X_test, y_test, learning_rate=0.003, optimizer="rmsprop",
                           weight_decay=1e-4, verbose=False, progress=False, **kw)  # fmt: skip
    (hist,) = train_many([net], X_train, y_train, X_test, y_test, learning_rates=0.003,
                         options={"optimizer": "rmsprop", "weight_decay": 1e-4}, **kw)  # fmt: skip
    for a, b in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hist.loss_training, href.loss_training, rtol=1e-10)
    assert hist.accuracy_test.iloc[-1] > 0.85


def test_cli_train_gradcheck_and_model_file(tmp_path, capsys):
    out = run_cli(["gradcheck", "--layers", "8,6,4", "--activation", "elu", "--output", "softmax", "--loss",
                   "cross-entropy"], capsys)  # fmt: skip
    assert "Gradients look in order!" in out
    out = run_cli(["train", "--dataset", "digits", "--hidden", "24", "--epochs", "3", "--activation", "elu",
                   "--output", "softmax", "--loss", "cross-entropy", "--optimizer", "rmsprop", "--learning-rate",
                   "0.003", "--quiet", "--out", str(tmp_path / "run")], capsys)  # fmt: skip
    assert "activation elu" in out and "optimizer rmsprop" in out
    net = MultilayerNeuralNetClassifier.load(tmp_path / "run" / "model.npz")
    assert net.activation == "elu" and net.epochs_trained == 3


def test_tune_grid_store_report_and_refit(tmp_path, capsys):
    store = tmp_path / "t.sqlite"
    run_cli(["tune", "--dataset", "digits", "--hidden-layers", "1", "--hidden-nodes", "16", "--learning-rates",
             "0.003", "--activations", "elu,relu", "--heads", "softmax/cross-entropy", "--optimizers", "rmsprop,adam",
             "--folds", "2", "--epochs", "2", "--batch-size", "25", "--workers", "1", "--no-progress", "--store",
             str(store)], capsys)  # fmt: skip
    rows = sqlite3.connect(store).execute("SELECT activation, optimizer FROM runs").fetchall()
    assert sorted(set(rows)) == [("elu", "adam"), ("elu", "rmsprop"), ("relu", "adam"), ("relu", "rmsprop")]
    assert "elu" in run_cli(["report", str(store), "--no-figures"], capsys)
    assert "hold-out accuracy" in run_cli(["refit", str(store), "--quiet", "--no-progress"], capsys)


def test_the_estimator_and_its_file(tmp_path, digits_split):
    X_train, X_test, y_train, y_test = digits_split
    clf = NeuralNetClassifier(hidden_layer_sizes=(16,), learning_rate=0.003, epochs=3, batch_size=25,
                              random_state=0, output="softmax", loss="cross_entropy", **NEW)  # fmt: skip
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.8
    clf.save(tmp_path / "clf.npz")
    back = NeuralNetClassifier.load(tmp_path / "clf.npz")
    assert back.get_params()["activation"] == "elu" and back.get_params()["optimizer"] == "rmsprop"
    np.testing.assert_array_equal(back.predict(X_test), clf.predict(X_test))
