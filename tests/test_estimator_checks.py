"""scikit-learn's own estimator checks on NeuralNetClassifier (every check runs; none is skipped)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchnet.estimator import NeuralNetClassifier

# Small and quick, but the same code path as the defaults: enough epochs and a
# large enough step to pass the accuracy thresholds of check_classifiers_train.
CHECKED = NeuralNetClassifier(hidden_layer_sizes=(10,), epochs=20, batch_size=16, learning_rate=2.0, random_state=0)


@parametrize_with_checks([CHECKED])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
