"""Train many networks together on one minibatch sequence (the multi-model engine).

Interface used by ``scratchnet.tuning``. This first version trains the networks
one after the other, epoch by epoch, through ``scratchnet.training.train``; it
fixes the contract the fast engine must keep: the same results as training
each network alone with the same seed.
"""

from __future__ import annotations

import numbers

from .training import train


def train_many(
    nets,
    X_train,
    y_train,
    X_val,
    y_val,
    *,
    epochs,
    batch_size=100,
    learning_rates=0.1,
    seed=None,
    on_epoch=None,
):
    """Train every network of ``nets`` in place on the same shuffled minibatches.

    ``nets``: ``MultilayerNeuralNetClassifier`` objects with equal input width,
    classes and dtype, each already trained for the same number of epochs (0 or
    more: hot start). ``learning_rates``: one number for all or one per network.
    ``on_epoch(epoch, records)`` is called after each epoch with one history
    record (dict) per network. Returns one history DataFrame per network, as
    ``train`` would.
    """
    if isinstance(learning_rates, numbers.Real):
        learning_rates = [learning_rates] * len(nets)
    learning_rates = list(learning_rates)
    if len(learning_rates) != len(nets):
        raise ValueError(f"{len(learning_rates)} learning rates for {len(nets)} networks")
    frames = [[] for _ in nets]
    for _ in range(epochs):
        records = []
        for i, (net, lr) in enumerate(zip(nets, learning_rates)):
            frame = train(net, X_train, y_train, X_val, y_val, epochs=1, batch_size=batch_size,
                          learning_rate=lr, seed=seed, verbose=False, progress=False)
            frames[i].append(frame)
            records.append(frame.iloc[0].to_dict())
        if on_epoch is not None:
            on_epoch(records[0]["epoch"], records)
    import pandas as pd

    return [pd.concat(f, ignore_index=True) for f in frames]
