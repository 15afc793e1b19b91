import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from scratchnet.batching import epoch_rng, minibatches


@given(n=st.integers(1, 300), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32 - 1))
def test_batches_are_full_disjoint_and_drop_the_remainder(n, batch_size, seed):
    X = np.arange(n, dtype=float)[:, None]
    y = np.arange(n)
    batches = list(minibatches(X, y, batch_size, np.random.default_rng(seed)))
    assert len(batches) == n // batch_size
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    assert all(len(yb) == batch_size for _, yb in batches)
    assert len(np.unique(seen)) == len(seen) == (n // batch_size) * batch_size
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)  # rows stay paired with their labels


def test_batches_are_shuffled_and_the_remainder_changes():
    X = np.arange(103, dtype=float)[:, None]
    y = np.arange(103)
    left_out = []
    for epoch in range(5):
        seen = np.concatenate([yb for _, yb in minibatches(X, y, 10, epoch_rng(1, epoch))])
        assert not np.array_equal(seen, np.arange(100))
        left_out.append(frozenset(set(range(103)) - set(seen)))
    assert len(set(left_out)) > 1


def test_epoch_rng_is_reproducible():
    a = epoch_rng(7, 3).permutation(50)
    b = epoch_rng(7, 3).permutation(50)
    c = epoch_rng(7, 4).permutation(50)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
