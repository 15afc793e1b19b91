"""Named training recipes for ``scratchnet train --preset NAME``; explicit flags override them.

``article`` is the article's final recipe (section 7): one hidden layer of 50
sigmoid nodes, MSE, plain SGD at η = 0.3, batches of 200, 250 epochs.
``best`` is our MNIST recipe (docs/beyond.md): two hidden layers of 512 ReLU
nodes with He initialisation and dropout, a softmax output with cross-entropy,
Adam with a cosine schedule, float32, 40 epochs. Measured on MNIST (seed
123, quiet 2-core machine, through the engine): hold-out accuracy 0.9852 in
252 s wall (20 epochs: 0.9838 in 123 s).
``cnn`` is the convolutional network of issue 12 (``archspec.ARCHITECTURES["cnn"]``: two
3×3 convolutions of 32 and 64 channels with ReLU and 2×2 max pooling, dropout, a dense
layer of 128): softmax with cross-entropy, Adam at η = 0.001 with a cosine schedule over the
10 epochs, batches of 128, float32 (docs/cnn.md). Measured on MNIST (seed 123): hold-out
accuracy 0.9920 after 10 epochs, against 0.9915 with a constant rate (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipe import ARTICLE, Recipe


@dataclass(frozen=True)
class Preset:
    """A named ``scratchnet train`` setting: widths, rate, batch, epochs, dtype and the recipe."""

    hidden: tuple[int, ...]
    learning_rate: float
    batch_size: int
    epochs: int
    dtype: str | None
    """None: the command's own ``--dtype``."""
    recipe: Recipe
    arch: str | None = None
    """A network of layers (an architecture of ``scratchnet.archspec``: a spec or a named one) instead of the MLP
    of ``hidden``; ``--arch`` overrides it."""

    def options(self) -> dict:
        """The ``train`` options this preset sets, by their flag names (recipe fields included; a network of layers
        sets no ``hidden``)."""
        values = {
            **({"hidden": list(self.hidden)} if self.arch is None else {}),
            "learning_rate": self.learning_rate,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            **self.recipe.as_dict(),
        }
        if self.dtype is not None:
            values["dtype"] = self.dtype
        return values

    def __getitem__(self, name: str):
        """``preset["batch_size"]``: an option by its flag name, as when presets were dicts."""
        return self.options()[name]


PRESETS: dict[str, Preset] = {
    "article": Preset(hidden=(50,), learning_rate=0.3, batch_size=200, epochs=250, dtype=None, recipe=ARTICLE),
    "best": Preset(
        hidden=(512, 512),
        learning_rate=0.001,
        batch_size=128,
        epochs=40,
        dtype="float32",
        recipe=Recipe(
            activation="relu",
            output="softmax",
            loss="cross_entropy",
            init="he",
            optimizer="adam",
            schedule="cosine",
            dropout=0.2,
        ),
    ),
    "cnn": Preset(
        hidden=(),
        learning_rate=0.001,
        batch_size=128,
        epochs=10,
        dtype="float32",
        recipe=Recipe(output="softmax", loss="cross_entropy", optimizer="adam", schedule="cosine"),
        arch="cnn",
    ),
}
"""name → the ``scratchnet train`` settings it gives; explicit flags override them."""
