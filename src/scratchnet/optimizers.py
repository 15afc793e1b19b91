"""Optimisers, apart from the model (as scikit-learn's ``_stochastic_optimizers``).

An optimiser turns gradients into in-place parameter updates.
"""

from __future__ import annotations


class SGD:
    """Plain gradient descent: ``θ ← θ − η · ∂L/∂θ`` (article, section 6)."""

    def __init__(self, learning_rate=0.1):
        self.learning_rate = learning_rate

    def update(self, params, grads):
        """Update every array of ``params`` in place with its gradient in ``grads``."""
        for param, grad in zip(params, grads):
            param -= self.learning_rate * grad
