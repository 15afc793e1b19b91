import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist_path():
    """The real MNIST file from $SCRATCHNET_MNIST; tests that need it skip without it."""
    path = os.environ.get("SCRATCHNET_MNIST")
    if not path or not os.path.isfile(path):
        pytest.skip("real MNIST not available: set SCRATCHNET_MNIST to the path of mnist.npz")
    return path


@pytest.fixture(scope="session")
def mnist_split(mnist_path):
    from scratchnet.data import load_mnist, split

    X, y = load_mnist(mnist_path)
    return split(X, y, test_size=10000, seed=123)


@pytest.fixture(scope="session")
def digits_split():
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    return split(X, y, test_size=0.2, seed=123)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
