import numpy as np
import pytest

from scratchnet import MultilayerNeuralNetClassifier, train
from scratchnet.training import TrainingDivergedError, format_epoch, train_reference

COLUMNS = ["epoch", "loss_training", "accuracy_training", "loss_test", "accuracy_test", "seconds"]


def _small(digits_split, seed=3):
    X_train, X_test, y_train, y_test = digits_split
    return MultilayerNeuralNetClassifier([64, 30, 10], random_seed=seed), X_train, y_train, X_test, y_test


def test_history_columns_and_article_line(digits_split, capsys):
    net, *data = _small(digits_split)
    hist = train(net, *data, epochs=2, batch_size=50, learning_rate=0.5, seed=1, verbose=True)
    assert list(hist.columns) == COLUMNS
    assert hist.epoch.tolist() == [0, 1]
    out = capsys.readouterr().out.splitlines()
    assert out == [format_epoch(r) for r in hist.to_dict("records")]
    assert out[0].startswith("epoch 0: loss_training=") and " | accuracy_test=" in out[0]


def test_format_epoch_matches_the_article():
    rec = dict(epoch=0, loss_training=0.0961, accuracy_training=0.2364, loss_test=0.0879, accuracy_test=0.2851)
    assert format_epoch(rec) == (
        "epoch 0: loss_training=0.096 | accuracy_training=0.236 | loss_test=0.088 | accuracy_test=0.285"
    )


def test_seeded_training_is_deterministic(digits_split):
    runs = []
    for _ in range(2):
        net, *data = _small(digits_split)
        hist = train(net, *data, epochs=3, batch_size=32, learning_rate=0.5, seed=9, verbose=False, progress=False)
        runs.append((hist.drop(columns="seconds"), net.weights))
    assert runs[0][0].equals(runs[1][0])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_hot_start_continues_and_equals_one_long_run(digits_split):
    net, *data = _small(digits_split)
    h1 = train(net, *data, epochs=3, batch_size=40, learning_rate=0.8, seed=4, verbose=False, progress=False)
    h2 = train(net, *data, epochs=2, batch_size=40, learning_rate=0.8, seed=4, verbose=False, progress=False)
    assert h1.epoch.tolist() == [0, 1, 2] and h2.epoch.tolist() == [3, 4]
    assert net.epochs_trained == 5 and net.history.epoch.tolist() == [0, 1, 2, 3, 4]
    assert h2.loss_training.iloc[-1] < h1.loss_training.iloc[0]

    once, *data = _small(digits_split)
    h = train(once, *data, epochs=5, batch_size=40, learning_rate=0.8, seed=4, verbose=False, progress=False)
    np.testing.assert_allclose(h.loss_test.to_numpy(), net.history.loss_test.to_numpy(), rtol=1e-12)
    for a, b in zip(once.weights, net.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_digits_training_reaches_090(digits_split):
    net, *data = _small(digits_split, seed=123)
    hist = train(net, *data, epochs=60, batch_size=20, learning_rate=1.0, seed=123, verbose=False, progress=False)
    assert hist.accuracy_test.iloc[-1] >= 0.90
    assert net.accuracy(data[2], data[3]) == pytest.approx(hist.accuracy_test.iloc[-1])


def test_training_lowers_the_loss_and_untrained_is_near_chance(digits_split):
    net, X_train, y_train, X_test, y_test = _small(digits_split)
    assert net.accuracy(X_test, y_test) < 0.3
    before = net.loss(X_test, y_test)
    train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=5,
        batch_size=20,
        learning_rate=1.0,
        seed=1,
        verbose=False,
        progress=False,
    )
    assert net.loss(X_test, y_test) < before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=1, batch_size=0), ValueError, "batch_size"),
        (dict(epochs=1, batch_size=100000), ValueError, "larger than"),
        (dict(epochs=1, learning_rate=-0.1), ValueError, "learning_rate"),
        (dict(epochs=1, learning_rate=float("nan")), ValueError, "learning_rate"),
        (dict(epochs="3"), TypeError, "epochs"),
    ],
)
def test_bad_hyperparameters_are_refused(digits_split, kwargs, error, match):
    net, *data = _small(digits_split)
    with pytest.raises(error, match=match):
        train(net, *data, verbose=False, progress=False, **kwargs)


def test_bad_data_is_refused(digits_split):
    net, X_train, y_train, X_test, y_test = _small(digits_split)
    with pytest.raises(ValueError, match="labels but X"):
        train(net, X_train, y_train[:-1], X_test, y_test, epochs=1, progress=False)
    bad = X_train.copy()
    bad[3, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        train(net, bad, y_train, X_test, y_test, epochs=1, progress=False)
    with pytest.raises(ValueError, match="0..9"):
        train(net, X_train, y_train + 1, X_test, y_test, epochs=1, progress=False)


def test_divergence_stops_with_the_epoch_and_keeps_finite_weights(digits_split, monkeypatch):
    net, *data = _small(digits_split)
    train(net, *data, epochs=1, batch_size=50, learning_rate=0.5, seed=1, verbose=False, progress=False)
    before = [w.copy() for w in net.weights]
    real_backward = net.backward

    def poisoned(x, y, acts, masks=None):
        wg, bg = real_backward(x, y, acts, masks)
        wg[0][0, 0] = np.nan
        return wg, bg

    monkeypatch.setattr(net, "backward", poisoned)
    with pytest.raises(TrainingDivergedError, match="epoch 1.*smaller learning rate"):
        train_reference(net, *data, epochs=1, batch_size=50, learning_rate=0.5, seed=1, verbose=False, progress=False)
    for a, b in zip(before, net.weights):
        np.testing.assert_array_equal(a, b)
    assert net.epochs_trained == 1


@pytest.mark.mnist
@pytest.mark.slow
def test_mnist_15_epochs_reaches_085(mnist_split):
    X_train, X_test, y_train, y_test = mnist_split
    net = MultilayerNeuralNetClassifier([784, 50, 10], random_seed=123)
    assert 0.05 < net.accuracy(X_test, y_test) < 0.15  # untrained: chance level
    hist = train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=15,
        batch_size=200,
        learning_rate=0.3,
        seed=123,
        verbose=False,
        progress=False,
    )
    assert hist.accuracy_test.iloc[-1] >= 0.85
