"""scratchnet: a multilayer neural network from scratch in NumPy.

Reproduces "From Adaline to Multilayer Neural Networks": a sigmoid network of
any depth trained with MSE and minibatch SGD, its gradient check, MNIST data,
training with learning curves and a cross-validated grid search.
"""

from .activations import sigmoid
from .losses import int_to_onehot
from .network import MultilayerNeuralNetClassifier
from .training import train
from .version import __version__

__all__ = ["MultilayerNeuralNetClassifier", "NeuralNetClassifier", "__version__", "int_to_onehot", "sigmoid", "train"]


def __getattr__(name):
    """``scratchnet.NeuralNetClassifier`` is imported on first use, so the CLI starts without scikit-learn's estimators."""
    if name == "NeuralNetClassifier":
        from .estimator import NeuralNetClassifier

        return NeuralNetClassifier
    raise AttributeError(f"module 'scratchnet' has no attribute {name!r}")
