"""The estimator on the digits: the MLP against an ``arch`` (docs/estimator.md).

OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python benchmarks/estimator_arch_digits.py
"""

import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from scratchnet import NeuralNetClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.2, stratify=y, random_state=0)
for arch in [None, "conv(8, 3, padding=1) relu maxpool(2) flatten dense(10)"]:
    est = NeuralNetClassifier(arch=arch, hidden_layer_sizes=(50,), output="softmax", loss="cross_entropy",
                              optimizer="adam", learning_rate=0.01, epochs=20, batch_size=50, random_state=0)  # fmt: skip
    start = time.perf_counter()
    est.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    shape = est.network_.input_shape if arch else est.network_.layers
    print(arch, shape, f"{est.score(X_test, y_test):.4f}", f"{seconds:.1f} s")
