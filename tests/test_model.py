"""LayeredNetwork: training loop (history, seeding, hot start, divergence), augmentation, model files."""

import json

import numpy as np
import pytest

from scratchnet.errors import InvalidValueError, ModelFileError, TrainingDivergedError
from scratchnet.model import LayeredNetwork, augment_images, load_layered, save_layered, train_layered
from scratchnet.network import HISTORY_COLUMNS

ARCH = "conv(4, 3, padding=1) relu maxpool(2) flatten dropout(0.2) dense(16) relu dense(10)"


@pytest.fixture(scope="module")
def digits():
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.2, seed=123)
    return X_train[:600], X_test[:200], y_train[:600], y_test[:200]


def _train(digits, epochs, model=None, **kw):
    X_train, X_test, y_train, y_test = digits
    model = model or LayeredNetwork(ARCH, (1, 8, 8), seed=0)
    kw = {"batch_size": 50, "learning_rate": 0.01, "seed": 7, **kw}
    history = train_layered(model, X_train, y_train, X_test, y_test, epochs=epochs, **kw)
    return model, history


def test_training_learns_digits_and_records_history(digits):
    model, history = _train(digits, 4)
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(history.epoch) == [0, 1, 2, 3]
    assert history.loss_training.iloc[-1] < history.loss_training.iloc[0]
    assert history.accuracy_test.iloc[-1] > 0.7
    assert model.accuracy(digits[1], digits[3]) == pytest.approx(history.accuracy_test.iloc[-1])


def test_same_seed_same_history_and_hot_start(digits):
    a, ha = _train(digits, 3)
    b, hb1 = _train(digits, 2)
    _, hb2 = _train(digits, 1, model=b)
    np.testing.assert_allclose(
        ha[HISTORY_COLUMNS[:-1]].to_numpy(),
        np.vstack([hb1[HISTORY_COLUMNS[:-1]].to_numpy(), hb2[HISTORY_COLUMNS[:-1]].to_numpy()]),
        rtol=1e-12,
    )
    for (name, p), (_, q) in zip(a.named_params(), b.named_params()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15, err_msg=name)
    assert len(b.history) == 3


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_and_schedule_trains(digits, optimizer):
    lr = 0.01 if optimizer == "adam" else 0.1
    _, history = _train(digits, 2, learning_rate=lr, optimizer=optimizer, schedule="cosine")
    assert history.loss_training.iloc[-1] < history.loss_training.iloc[0]


def test_divergence_is_refused_and_keeps_the_last_finite_weights(digits):
    model = LayeredNetwork("flatten dense(32) relu dense(10)", (1, 8, 8), seed=0)
    kept = [p.copy() for p in model.param_list()]
    with pytest.raises(TrainingDivergedError, match="epoch 0"):
        _train(digits, 2, model=model, learning_rate=1e300, optimizer="sgd")
    for p, q in zip(model.param_list(), kept):
        np.testing.assert_array_equal(p, q)


def test_bad_training_arguments(digits):
    X_train, _, y_train, _ = digits
    model = LayeredNetwork(ARCH, (1, 8, 8), seed=0)
    with pytest.raises(InvalidValueError, match="one label per sample"):
        train_layered(model, X_train, y_train[:-1], epochs=1)
    with pytest.raises(InvalidValueError, match="expects"):
        train_layered(model, X_train[:, :10], y_train, epochs=1)
    with pytest.raises(InvalidValueError, match="augment"):
        train_layered(model, X_train, y_train, epochs=1, augment="lots")


def test_augmentation_is_seeded_and_shape_preserving():
    X = np.random.default_rng(0).standard_normal((5, 2, 9, 9))
    a = augment_images(X, np.random.default_rng(1), shift=2, rotate=15)
    b = augment_images(X, np.random.default_rng(1), shift=2, rotate=15)
    assert a.shape == X.shape and a.dtype == X.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, X)
    np.testing.assert_allclose(augment_images(X, np.random.default_rng(1), shift=0, rotate=0), X, atol=1e-12)


def test_augmentation_shifts_by_whole_pixels():
    X = np.full((1, 1, 7, 7), -1.0)
    X[0, 0, 3, 3] = 1.0
    rng = np.random.default_rng(4)
    out = augment_images(X, rng, shift=2, rotate=0)
    ty, tx = np.random.default_rng(4).integers(-2, 3, size=(2, 1))[:, 0]
    assert out[0, 0, 3 + ty, 3 + tx] == pytest.approx(1.0)
    assert out.sum() == pytest.approx(X.sum())


def test_training_with_augmentation(digits):
    _, h1 = _train(digits, 2, augment=True)
    _, h2 = _train(digits, 2, augment={"shift": 1, "rotate": 5.0})
    assert np.isfinite(h1.loss_training).all() and not h1.equals(h2)


def test_model_file_round_trip(digits, tmp_path):
    model, _ = _train(digits, 1)
    model2 = LayeredNetwork(
        "conv(3, 3, padding=1) batchnorm relu residual(conv(3, 3, padding=1)) flatten dense(10)", (1, 8, 8)
    )
    model2.forward(digits[0][:20], training=True)  # running statistics away from their start
    for m in (model, model2):
        path = save_layered(m, tmp_path / "m")
        assert path.suffix == ".npz"
        loaded = load_layered(path)
        assert loaded.arch == m.arch and loaded.input_shape == m.input_shape
        np.testing.assert_array_equal(loaded.predict_proba(digits[1]), m.predict_proba(digits[1]))
        assert len(loaded.history_records) == len(m.history_records)
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"][()]))
        assert "layers.3.body.0.W" in data.files and "layers.1.running_var" in data.files
    assert header["parameters"]["layers.0.W"] == [3, 1, 3, 3]
    assert header["buffers"]["layers.1.running_mean"] == [3]


def test_damaged_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_layered(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError):
        load_layered(bad)
    model = LayeredNetwork("flatten dense(3)", (1, 2, 2), seed=0)
    path = save_layered(model, tmp_path / "ok.npz")
    with np.load(path) as data:
        arrays = dict(data)
    arrays["layers.1.W"] = np.zeros((5, 3))
    np.savez(tmp_path / "wrong.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"layers\.1\.W"):
        load_layered(tmp_path / "wrong.npz")


def test_flat_rows_are_reshaped_to_images():
    model = LayeredNetwork("conv(2, 3) flatten dense(3)", (1, 4, 4), seed=0)
    X = np.random.default_rng(0).standard_normal((2, 16))
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X.reshape(2, 1, 4, 4)))


@pytest.mark.slow
@pytest.mark.mnist
def test_cnn_learns_mnist(mnist_split):
    """One epoch of the cnn network on 20k MNIST images (156 Adam steps): above 0.94 on the hold-out (0.9575 measured)."""
    X_train, X_test, y_train, y_test = mnist_split
    model = LayeredNetwork("cnn", (1, 28, 28), dtype=np.float32, seed=123)
    history = train_layered(model, X_train[:20000], y_train[:20000], X_test, y_test, epochs=1, batch_size=128, seed=123)
    assert history.accuracy_test.iloc[-1] > 0.94
