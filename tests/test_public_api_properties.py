"""Property-based tests (hypothesis) over the public functions."""

import tempfile
import warnings
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scratchnet import MultilayerNeuralNetClassifier, int_to_onehot, sigmoid
from scratchnet.batching import minibatches
from scratchnet.estimator import NeuralNetClassifier, load_estimator
from scratchnet.validation import check_features, check_labels

load_network = MultilayerNeuralNetClassifier.load

finite64 = st.floats(allow_nan=False, allow_infinity=False)


@settings(deadline=None)
@given(finite64, finite64)
def test_sigmoid_is_a_monotonic_probability_without_warnings(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sa, sb = sigmoid(a), sigmoid(b)
    assert 0.0 <= sa <= 1.0 and isinstance(sa, float)
    if a <= b:
        assert sa <= sb
    assert sigmoid(-a) == pytest.approx(1.0 - sa, abs=1e-15)


@settings(deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(max_dims=3, max_side=5),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_sigmoid_keeps_float32_and_shape(z):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(z)
    out = np.asarray(out)
    assert out.shape == z.shape and out.dtype == np.float32
    assert np.all((out >= 0) & (out <= 1))


@settings(deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=30))))
def test_int_to_onehot_rows(case):
    n, labels = case
    onehot = int_to_onehot(np.array(labels, dtype=np.int64), n)
    assert onehot.shape == (len(labels), n)
    assert np.all(onehot.sum(axis=1) == 1)
    np.testing.assert_array_equal(onehot.argmax(axis=1), labels)


@settings(deadline=None)
@given(st.integers(1, 12), st.lists(st.integers(-50, 50), min_size=1, max_size=20))
def test_int_to_onehot_refuses_labels_out_of_range(n, labels):
    assume(min(labels) < 0 or max(labels) >= n)
    with pytest.raises(ValueError, match="must lie in"):
        int_to_onehot(np.array(labels), n)


@settings(deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 2**32 - 1))
def test_minibatches_are_exact_disjoint_and_aligned(n, batch_size, seed):
    assume(batch_size <= n)
    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    batches = list(minibatches(X, y, batch_size, np.random.default_rng(seed)))
    assert len(batches) == n // batch_size
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)
    assert all(len(yb) == batch_size for _, yb in batches)
    assert len(np.unique(seen)) == len(seen) == (n // batch_size) * batch_size
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)  # rows stay with their labels


@st.composite
def poisoned(draw):
    """A float matrix with at least one NaN or infinity somewhere."""
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6))
    arr = draw(hnp.arrays(np.float64, shape, elements=finite64))
    i, j = draw(st.integers(0, shape[0] - 1)), draw(st.integers(0, shape[1] - 1))
    arr[i, j] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return arr


@settings(deadline=None)
@given(poisoned())
def test_check_features_refuses_any_nan_or_inf(arr):
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_features(arr, arr.shape[1])


@pytest.mark.parametrize("compiled", [True, False])
def test_train_refuses_a_nan_in_a_row_the_first_epoch_leaves_out(compiled):
    """The N mod batch-size rows the first epoch's shuffle leaves out are not gathered in it: they are checked at
    its end, before any parameter reaches the network (not an epoch later, when a shuffle takes them)."""
    from scratchnet import engine
    from scratchnet.batching import batch_indices, epoch_rng
    from scratchnet.training import train

    X = np.random.default_rng(0).standard_normal((9, 4))
    y = np.arange(9) % 2
    (left_out,) = set(range(9)) - set(np.concatenate(batch_indices(9, 4, epoch_rng(3, 0))))
    X[left_out, 1] = np.nan
    net = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "COMPILED_GATHER_BYTES", 0 if compiled else engine.COMPILED_GATHER_BYTES)
        with pytest.raises(ValueError, match="^X_train contains NaN or infinite values"):
            train(net, X, y, epochs=2, batch_size=4, seed=3)
    assert net.epochs_trained == 0


@settings(deadline=None, max_examples=60)
@given(
    st.integers(8, 40),
    st.integers(1, 5),  # ≤ the 6 rows early stopping leaves of 8
    st.sampled_from([np.nan, np.inf, -np.inf]),
    st.integers(0, 10**6),
    st.booleans(),
    st.booleans(),
    st.sampled_from([np.float32, np.float64]),
)
def test_train_refuses_a_nan_or_inf_anywhere_and_leaves_the_network_as_it_was(
    n, batch_size, bad, where, compiled, early, dtype
):
    """``train`` checks X_train's finiteness as the compiled gather reads the first epoch's rows (a large set), then
    the rows that epoch left out, and early stopping's held-out rows apart; NumPy's gather (a small set) in one pass
    before training. Wherever the NaN or ±inf sits, the error is the same and the network is untouched."""
    from scratchnet import engine
    from scratchnet.training import train

    rng = np.random.default_rng(where)
    X = rng.standard_normal((n, 4)).astype(dtype)
    y = np.arange(n) % 2
    X[where % n, where % 4] = bad
    net = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0, dtype=dtype)
    before = [a.copy() for a in net.weights + net.biases]
    options = {"early_stopping": True, "validation_fraction": 0.25} if early else {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "COMPILED_GATHER_BYTES", 0 if compiled else engine.COMPILED_GATHER_BYTES)
        with pytest.raises(ValueError, match="^X_train contains NaN or infinite values; clean or impute them first$"):
            train(net, X, y, epochs=2, batch_size=batch_size, seed=where, **options)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(net.weights + net.biases, before))
    assert net.epochs_trained == 0


@settings(deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=finite64), st.integers(1, 7)
)
def test_check_features_refuses_a_wrong_feature_count(arr, n_features):
    assume(arr.shape[1] != n_features and arr.shape[0] > 0)
    with pytest.raises(ValueError, match="features but the network's input layer expects"):
        check_features(arr, n_features)


@settings(deadline=None)
@given(hnp.arrays(hnp.scalar_dtypes(), st.integers(1, 8)), st.integers(1, 5))
def test_check_labels_accepts_only_labels_in_range(arr, n_classes):
    """Whatever the dtype, either valid integer labels come back or a ValueError/TypeError is raised."""
    try:
        out = check_labels(arr, n_classes)
    except (ValueError, TypeError):
        return
    assert out.dtype == np.int64 and out.min() >= 0 and out.max() < n_classes


layer_lists = st.lists(st.integers(1, 6), min_size=2, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layer_lists, st.integers(0, 2**31), st.sampled_from(["float64", "float32"]))
def test_network_file_round_trip(layers, seed, dtype):
    net = MultilayerNeuralNetClassifier(layers, random_seed=seed, dtype=dtype)
    x = np.random.default_rng(seed).uniform(-1, 1, (3, layers[0]))
    with tempfile.TemporaryDirectory() as tmp:
        again = load_network(net.save(Path(tmp) / "m.npz"))
    assert again.layers == net.layers and again.dtype == net.dtype and again.random_seed == seed
    np.testing.assert_array_equal(again.predict_proba(x), net.predict_proba(x))


labels = st.one_of(
    st.lists(st.integers(-5, 5), min_size=2, max_size=4, unique=True),
    st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=2, max_size=4, unique=True),
)


@settings(max_examples=15, deadline=None)
@given(labels, st.integers(0, 1000))
def test_estimator_predictions_are_consistent_and_survive_a_round_trip(classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, 3))
    y = np.array(classes)[rng.integers(0, len(classes), 12)]
    est = NeuralNetClassifier(hidden_layer_sizes=(4,), epochs=2, batch_size=5, random_state=seed).fit(X, y)
    proba, pred = est.predict_proba(X), est.predict(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    assert set(pred) <= set(y) and set(est.classes_) == set(y)
    with tempfile.TemporaryDirectory() as tmp:
        again = load_estimator(est.save(Path(tmp) / "e.npz"))
    np.testing.assert_array_equal(again.predict(X), pred)
    assert again.classes_.tolist() == est.classes_.tolist()


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
anything = st.one_of(
    hnp.arrays(hnp.scalar_dtypes(), shapes),
    hnp.arrays(
        np.dtype(object), shapes, elements=st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=2))
    ),
)


@settings(max_examples=60, deadline=None)
@given(anything)
def test_network_refuses_any_bad_array_cleanly(x):
    """Whatever array is fed to forward/predict: an answer of the right shape, or a ValueError/TypeError."""
    net = MultilayerNeuralNetClassifier([3, 2, 2], random_seed=0)
    try:
        out = net.predict_proba(x)
    except (ValueError, TypeError):
        return
    assert out.shape == (out.shape[0], 2) and np.all(np.isfinite(out))


@settings(max_examples=40, deadline=None)
@given(anything, st.one_of(hnp.arrays(hnp.scalar_dtypes(), st.integers(0, 5)), st.none()))
def test_estimator_fit_refuses_any_bad_input_cleanly(X, y):
    est = NeuralNetClassifier(hidden_layer_sizes=(2,), epochs=1, batch_size=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est.fit(X, y)
        except (ValueError, TypeError):
            return
    assert np.all(np.isfinite(est.predict_scores(X)))


@settings(max_examples=40, deadline=None)
@given(anything)
def test_predict_inputs_refuse_any_bad_array_cleanly(x):
    """Any .npy array given to ``scratchnet predict``: rows in [-1, 1] ready for the model, or a ValueError."""
    from scratchnet.inputs import read_inputs

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x, allow_pickle=True)
        try:
            names, X, labels = read_inputs([path], 4)
        except ValueError:
            return
    assert X.shape == (len(names), 4) and np.all((X >= -1) & (X <= 1)) and labels == [None] * len(names)
