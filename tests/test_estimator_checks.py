"""scikit-learn's own estimator checks on NeuralNetClassifier (every check runs; none is skipped)."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchnet.estimator import NeuralNetClassifier

# Small and quick, but the same code path as the defaults: enough epochs and a
# large enough step to pass the accuracy thresholds of check_classifiers_train.
CHECKED = NeuralNetClassifier(hidden_layer_sizes=(10,), epochs=20, batch_size=16, learning_rate=2.0, random_state=0)


@parametrize_with_checks([CHECKED])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_the_array_api_check_scikit_learn_skips_here_passes_when_enabled():
    """scikit-learn skips check_array_api_input unless SCIPY_ARRAY_API=1 is set before Python starts: run it so."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", "check_array_api_input"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "1 passed" in proc.stdout and "skipped" not in proc.stdout, proc.stdout[-2000:]
