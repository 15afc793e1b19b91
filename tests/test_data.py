import gzip

import numpy as np
import pytest

from scratchnet import data
from scratchnet.data import DataNotFoundError, load_digits, load_mnist, read_idx, scale_pixels, split


def _write_idx(path, arr, compress=False):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(header + arr.tobytes())


@pytest.fixture
def tiny_mnist():
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 12).astype(np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5).astype(np.uint8),
    }


def _expected(parts):
    X = np.concatenate([parts["x_train"], parts["x_test"]]).reshape(17, 784)
    return (X / 255.0 - 0.5) * 2, np.concatenate([parts["y_train"], parts["y_test"]])


def test_scaling_maps_pixels_to_minus_one_one():
    np.testing.assert_allclose(scale_pixels(np.array([0, 51, 127.5, 255])), [-1, -0.6, 0, 1])


@pytest.mark.parametrize("compress", [False, True])
def test_load_from_idx_folder(tmp_path, tiny_mnist, compress):
    names = {
        "x_train": "train-images-idx3-ubyte",
        "y_train": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }
    for key, name in names.items():
        _write_idx(tmp_path / (name + (".gz" if compress else "")), tiny_mnist[key], compress)
    X, y = load_mnist(tmp_path)
    X_exp, y_exp = _expected(tiny_mnist)
    np.testing.assert_allclose(X, X_exp)
    np.testing.assert_array_equal(y, y_exp)
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_load_from_npz_layouts(tmp_path, tiny_mnist):
    np.savez(tmp_path / "split.npz", **tiny_mnist)
    X_exp, y_exp = _expected(tiny_mnist)
    X, _y = load_mnist(tmp_path / "split.npz")
    np.testing.assert_allclose(X, X_exp)
    np.savez(tmp_path / "xy.npz", X=(X_exp / 2 + 0.5) * 255, y=y_exp.astype(str))
    X2, y2 = load_mnist(tmp_path / "xy.npz")
    np.testing.assert_allclose(X2, X_exp, atol=1e-12)
    np.testing.assert_array_equal(y2, y_exp)


def test_float32_loading(tmp_path, tiny_mnist):
    np.savez(tmp_path / "m.npz", **tiny_mnist)
    X, _ = load_mnist(tmp_path / "m.npz", dtype=np.float32)
    assert X.dtype == np.float32 and X.min() >= -1 and X.max() <= 1


def test_lookup_order_env_then_cache_then_openml(tmp_path, tiny_mnist, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCRATCHNET_MNIST", raising=False)
    calls = []

    def fake_fetch():
        calls.append(1)
        X = np.concatenate([tiny_mnist["x_train"], tiny_mnist["x_test"]]).reshape(17, 784)
        return X, np.concatenate([tiny_mnist["y_train"], tiny_mnist["y_test"]]).astype(np.int64)

    monkeypatch.setattr(data, "_fetch_openml", fake_fetch)
    X1, _ = load_mnist()
    assert calls == [1] and (tmp_path / "cache" / "mnist.npz").is_file()
    X2, _ = load_mnist()  # now from the cache, no second download
    assert calls == [1]
    np.testing.assert_array_equal(X1, X2)

    other = {k: v.copy() for k, v in tiny_mnist.items()}
    other["x_train"][:] = 0
    np.savez(tmp_path / "env.npz", **other)
    monkeypatch.setenv("SCRATCHNET_MNIST", str(tmp_path / "env.npz"))
    X3, _ = load_mnist()
    assert np.all(X3[:12] == -1)  # the environment variable wins over the cache


def test_offline_error_names_all_three_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("SCRATCHNET_MNIST", raising=False)

    def offline():
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_fetch_openml", offline)
    with pytest.raises(DataNotFoundError) as info:
        load_mnist()
    msg = str(info.value)
    assert "--data" in msg and "SCRATCHNET_MNIST" in msg and "cache" in msg and "internet" in msg


def test_bad_sources_give_clear_errors(tmp_path, tiny_mnist):
    with pytest.raises(ValueError, match="does not exist"):
        load_mnist(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="cannot read"):
        load_mnist(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="expected x_train"):
        load_mnist(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="no file matching"):
        load_mnist(tmp_path)
    _write_idx(tmp_path / "bad-idx3", tiny_mnist["x_test"])
    (tmp_path / "bad-idx3").write_bytes((tmp_path / "bad-idx3").read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "bad-idx3")


def test_load_digits_is_scaled():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.min() == -1 and X.max() == 1
    assert set(np.unique(y)) == set(range(10))


def test_split_is_stratified_and_reproducible():
    X, y = load_digits()
    a = split(X, y, test_size=0.2, seed=123)
    b = split(X, y, test_size=0.2, seed=123)
    np.testing.assert_array_equal(a[3], b[3])
    train_frac = np.bincount(a[2]) / len(a[2])
    test_frac = np.bincount(a[3]) / len(a[3])
    np.testing.assert_allclose(train_frac, test_frac, atol=0.01)
    assert len(split(X, y, test_size=300, seed=1)[3]) == 300
    with pytest.raises(ValueError):
        split(X, y, test_size=5000)


@pytest.mark.mnist
def test_real_mnist_matches_the_article(mnist_path):
    X, y = load_mnist(mnist_path)
    assert X.shape == (70000, 784) and X.min() == -1.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958]
    X_train, X_test, _y_train, y_test = split(X, y)
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    np.testing.assert_allclose(np.bincount(y_test) / 10000, np.bincount(y) / 70000, atol=2e-4)
