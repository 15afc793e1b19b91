"""A scikit-learn classifier over the reference network: ``NeuralNetClassifier``.

The maths is not repeated here: the model is a ``MultilayerNeuralNetClassifier``
trained by ``scratchnet.training.train``. This module adds the estimator
conventions of scikit-learn — parameters stored untouched by ``__init__`` and
checked by ``fit``, ``classes_`` of any label type, ``n_features_in_``,
``feature_names_in_``, ``partial_fit`` — so the network drops into
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import InvalidTypeError, InvalidValueError
from .network import MultilayerNeuralNetClassifier
from .training import TrainingDivergedError, train
from .validation import check_dtype, check_int

_FITTED = ("network_", "classes_", "history_", "n_features_in_", "feature_names_in_", "_label_encoder", "_batch_seed")


def _hidden_layers(hidden_layer_sizes):
    """``(50,)``, ``[50, 40]``, ``50`` or ``()`` → a list of widths ≥ 1."""
    if isinstance(hidden_layer_sizes, numbers.Integral) and not isinstance(hidden_layer_sizes, bool):
        hidden_layer_sizes = [hidden_layer_sizes]
    if isinstance(hidden_layer_sizes, (str, bytes)) or not hasattr(hidden_layer_sizes, "__iter__"):
        raise InvalidTypeError(
            f"hidden_layer_sizes must be a tuple of layer widths such as (50,) or (50, 40), got {hidden_layer_sizes!r}"
        )
    return [check_int(n, f"hidden_layer_sizes[{i}]") for i, n in enumerate(hidden_layer_sizes)]


def normalise_scores(scores):
    """One-vs-all scores (N, n_classes) → rows summing to 1 (float64); an all-zero row becomes uniform."""
    scores = np.asarray(scores, dtype=np.float64)
    total = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.where(total > 0, scores / np.where(total > 0, total, 1.0), uniform)


def _check_targets(y, name="y"):
    """Discrete labels of one type; scikit-learn's message, plus what to do when types are mixed."""
    try:
        check_classification_targets(y)
    except ValueError as exc:
        types = sorted({type(v).__name__ for v in np.asarray(y, dtype=object).ravel().tolist()})
        hint = f" {name} mixes label types {types}: give every label the same type." if len(types) > 1 else ""
        raise InvalidValueError(f"{exc}{hint}") from None


class NeuralNetClassifier(ClassifierMixin, BaseEstimator):
    """The article's network as a scikit-learn classifier (sigmoid layers, MSE loss, minibatch SGD).

    The defaults are the article's final recipe on MNIST: one hidden layer of
    50 nodes, learning rate 0.3, 250 epochs of batches of 200.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(50,)
        Widths of the hidden layers; ``()`` for none. Input width and number of
        classes come from the data: ``layers = [n_features, *hidden, n_classes]``.
    learning_rate : float, default=0.3
        Step of plain gradient descent, ``w -= learning_rate · ∂L/∂w``.
    epochs : int, default=250
        Passes over the training data made by ``fit``.
    batch_size : int, default=200
        Minibatch size; clipped to the number of training samples when larger
        (as scikit-learn's ``MLPClassifier`` does). The ``N mod batch_size``
        samples left over by each epoch's shuffle sit that epoch out.
    random_state : int, RandomState instance or None, default=None
        An int seeds the initial weights and the batch order exactly as
        ``MultilayerNeuralNetClassifier(layers, random_seed=random_state)`` and
        ``train(..., seed=random_state)`` do; ``None`` gives a fresh draw each fit.
    dtype : {"float64", "float32"} or np.float64/np.float32, default="float64"
        Precision of the parameters and of the computation.
    verbose : bool, default=False
        Print the article's line ``epoch 0: loss_training=… | …`` after each epoch.
    validation_fraction : float in (0, 1) or None, default=None
        Hold out this stratified fraction of ``fit``'s data to fill the
        ``loss_test``/``accuracy_test`` columns of ``history_`` (NaN without it).

    Beyond the article (docs/beyond.md; the defaults are the article's; every
    value trains through ``scratchnet.training.train``, i.e. the fused engine):

    activation : {"sigmoid", "tanh", "relu", "leaky_relu", "identity"}, default="sigmoid"
        Activation of the hidden layers.
    output : {"sigmoid", "softmax"}, default="sigmoid"
        Activation of the output layer.
    loss : {"mse", "cross_entropy", "binary_cross_entropy"}, default="mse"
        mse or binary_cross_entropy with a sigmoid output, mse or cross_entropy with softmax.
    init : {"normal", "glorot", "xavier", "he"}, default="normal"
        Initial weights ``N(0, s²)``: s = 0.1, √(2/(nᵏ⁻¹+nᵏ)) or √(2/nᵏ⁻¹).
    optimizer : {"sgd", "momentum", "nesterov", "adam"}, default="sgd"
        ``learning_rate`` is the optimiser's η (Adam's usual one is 0.001).
        Optimiser state starts afresh on every ``fit``; ``partial_fit`` continues it
        (it lives on ``network_`` and in pickles, not in model files).
    momentum : float in [0, 1), default=0.9
        μ of "momentum" and "nesterov".
    weight_decay : float ≥ 0, default=0.0
        L2 penalty λ: ``λ·W`` added to the gradient of every weight matrix (not the biases).
    schedule : {"constant", "step", "cosine"}, default="constant"
        Learning rate per epoch of a ``fit``.
    dropout : float in [0, 1), default=0.0
        Inverted dropout rate on the hidden layers while training.
    early_stopping : bool, default=False
        Hold out a stratified 10 % of the training data, stop when its loss has not
        improved for ``patience`` epochs and keep the best epoch's weights.
    patience : int, default=10

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The class labels, sorted; any type (``int``, ``float``, ``str``, ``bool``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (n_features_in_,)
        Only when ``X`` had string column names (a pandas DataFrame).
    network_ : MultilayerNeuralNetClassifier
        The trained network; its output ``i`` scores ``classes_[i]``.
    history_ : pandas.DataFrame
        One row per epoch trained (``epoch, loss_training, accuracy_training,
        loss_test, accuracy_test, seconds``).
    """

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": "no_validation",  # checked by scratchnet.validation.check_dtype in fit
        "verbose": ["verbose"],
        "validation_fraction": [None, Interval(numbers.Real, 0, 1, closed="neither")],
        "activation": [StrOptions({"sigmoid", "tanh", "relu", "leaky_relu", "identity"})],
        "output": [StrOptions({"sigmoid", "softmax"})],
        "loss": [StrOptions({"mse", "cross_entropy", "binary_cross_entropy"})],
        "init": [StrOptions({"normal", "glorot", "xavier", "he"})],
        "optimizer": [StrOptions({"sgd", "momentum", "nesterov", "adam"})],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "schedule": [StrOptions({"constant", "step", "cosine"})],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(50,),
        learning_rate=0.3,
        epochs=250,
        batch_size=200,
        random_state=None,
        dtype="float64",
        verbose=False,
        validation_fraction=None,
        activation="sigmoid",
        output="sigmoid",
        loss="mse",
        init="normal",
        optimizer="sgd",
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        dropout=0.0,
        early_stopping=False,
        patience=10,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.activation = activation
        self.output = output
        self.loss = loss
        self.init = init
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.patience = patience

    # ----------------------------------------------------------------- helpers
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _seed(self):
        """An int ``random_state`` is used as is; a RandomState draws one; ``None`` stays ``None``."""
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _check_X(self, X, reset):
        return validate_data(self, X, reset=reset, dtype=self.network_.dtype)

    def _check_Xy(self, X, y, reset):
        dtype = check_dtype(self.dtype) if reset else self.network_.dtype
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype)
        _check_targets(y)
        return X, y

    def _encode(self, y):
        """Labels → output indices ``0…n_classes-1``; labels outside ``classes_`` are refused."""
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise InvalidValueError(
                f"y holds labels {np.unique(y[unknown]).tolist()} that are not among classes_ "
                f"{self.classes_.tolist()}; pass every label to the first partial_fit call through classes="
            )
        return self._label_encoder.transform(y)

    def _new_network(self, n_features, seed):
        layers = [n_features, *_hidden_layers(self.hidden_layer_sizes), len(self.classes_)]
        self.network_ = MultilayerNeuralNetClassifier(
            layers,
            random_seed=seed,
            dtype=check_dtype(self.dtype),
            activation=self.activation,
            output=self.output,
            loss=self.loss,
            init=self.init,
        )

    def _train(self, X, y, epochs, seed):
        X_val = y_val = None
        if self.validation_fraction is not None:
            from sklearn.model_selection import train_test_split

            try:
                X, X_val, y, y_val = train_test_split(
                    X, y, test_size=self.validation_fraction, random_state=seed, stratify=y
                )
            except ValueError as exc:
                raise InvalidValueError(
                    f"cannot hold out validation_fraction={self.validation_fraction} of {len(y)} samples "
                    f"stratified by class ({exc}); use more data, a larger fraction or validation_fraction=None"
                ) from None
        train(
            self.network_,
            X,
            y,
            X_val,
            y_val,
            epochs=epochs,
            batch_size=min(self.batch_size, X.shape[0]),
            learning_rate=self.learning_rate,
            seed=seed,
            verbose=bool(self.verbose),
            progress=False,
            optimizer=self.optimizer,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            dropout=self.dropout,
            early_stopping=bool(self.early_stopping),
            patience=self.patience,
        )
        self.history_ = self.network_.history

    def _forget(self):
        for name in _FITTED:
            self.__dict__.pop(name, None)

    # --------------------------------------------------------------- training
    def fit(self, X, y):
        """Train a new network on ``X`` (n_samples, n_features) and labels ``y`` for ``epochs`` epochs.

        Raises ``TrainingDivergedError`` (a ``ValueError``) naming the epoch if
        the loss or the weights become NaN/infinite; the estimator is then left
        unfitted, never holding a NaN model.
        """
        self._validate_params()
        _hidden_layers(self.hidden_layer_sizes)
        check_dtype(self.dtype)
        self._forget()
        X, y = self._check_Xy(X, y, reset=True)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        seed = self._batch_seed = self._seed()
        self._new_network(X.shape[1], seed)
        try:
            self._train(X, self._label_encoder.transform(y), self.epochs, seed)
        except TrainingDivergedError:
            self._forget()
            raise
        return self

    def partial_fit(self, X, y, classes=None):
        """One epoch of training; the first call needs ``classes`` (every label that will ever occur).

        Later calls continue from where the last stopped (hot start), with
        epoch numbers going on in ``history_``. If an epoch diverges, the
        network keeps its parameters from before it and the error is raised.
        """
        first = not hasattr(self, "network_")
        if first:
            self._validate_params()
            _hidden_layers(self.hidden_layer_sizes)
            check_dtype(self.dtype)
            if classes is None:
                raise InvalidValueError(
                    "classes must be passed on the first call to partial_fit: every label that will ever occur, "
                    "e.g. partial_fit(X, y, classes=np.unique(y_all))"
                )
            classes = np.asarray(classes)
            if classes.ndim != 1 or classes.size == 0:
                raise InvalidValueError(f"classes must be a non-empty 1-D list of labels, got shape {classes.shape}")
            _check_targets(classes, "classes")
            if np.unique(classes).size != classes.size:
                raise InvalidValueError(f"classes must not repeat a label, got {classes.tolist()}")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise InvalidValueError(
                f"classes={np.asarray(classes).tolist()} differs from classes_ {self.classes_.tolist()} "
                "given on the first partial_fit call; call fit to start again"
            )
        X, y = self._check_Xy(X, y, reset=first)
        if first:
            self._label_encoder = LabelEncoder().fit(classes)
            self.classes_ = self._label_encoder.classes_
            seed = self._batch_seed = self._seed()
        y_enc = self._encode(y)
        if first:
            self._new_network(X.shape[1], seed)
        self._train(X, y_enc, 1, self._batch_seed)
        return self

    # ------------------------------------------------------------- prediction
    def predict_scores(self, X):
        """The raw output activations A⁽ᴸ⁾ (n_samples, n_classes): one-vs-all sigmoid scores in [0, 1] (or softmax)."""
        check_is_fitted(self)
        return self.network_.predict_proba(self._check_X(X, reset=False))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes): the sigmoid scores divided by their row sum.

        The network's outputs are independent one-vs-all scores that need not
        sum to 1; dividing each row by its sum makes them a distribution without
        changing the argmax (a row of all zeros becomes uniform). The raw scores
        are ``predict_scores``.
        """
        return normalise_scores(self.predict_scores(X))

    def predict(self, X):
        """The class of ``classes_`` with the highest score, for every row of ``X``."""
        scores = self.predict_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]

    # ------------------------------------------------------------------ files
    def save(self, path, preprocessing=None):
        """Write the fitted estimator to ``path`` (.npz + JSON header, no pickle; see ``scratchnet.modelio``)."""
        from .modelio import save_estimator

        return save_estimator(self, path, preprocessing=preprocessing)

    @classmethod
    def load(cls, path):
        """Read an estimator (or a bare network file, classes 0…nᴸ−1) written by scratchnet."""
        from .modelio import load_estimator

        return load_estimator(path)
