"""A scikit-learn classifier over the reference network: ``NeuralNetClassifier``.

The maths is not repeated here: the model is a ``MultilayerNeuralNetClassifier``
trained by ``scratchnet.training.train`` or, with an ``arch``, a ``LayeredNetwork``
trained by ``scratchnet.model.train_layered``. This module adds the estimator
conventions of scikit-learn — parameters stored untouched by ``__init__`` and
checked by ``fit``, ``classes_`` of any label type, ``n_features_in_``,
``feature_names_in_``, ``partial_fit`` — so the network drops into
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from . import modelio
from .data import IMAGE_SHAPES
from .errors import InvalidTypeError, InvalidValueError, ModelFileError
from .model import LayeredNetwork, is_layered_file, read_layered, save_layered, train_layered
from .network import MultilayerNeuralNetClassifier
from .recipe import DEFAULTS, NAMED_FIELDS, Recipe, choices
from .training import EARLY_STOPPING, TrainingDivergedError, train, validation_split
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


_IMAGES_BY_SIZE = {math.prod(shape): shape for shape in IMAGE_SHAPES.values()}
"""Flat feature count → the image shape of a data set we know: 784 → MNIST's (1, 28, 28), 64 → the digits' (1, 8, 8)."""


def _input_shape(input_shape):
    """``None``, an int n or a tuple ``(n,)`` / ``(C, H, W)`` of ints ≥ 1 → ``None`` or a tuple."""
    if input_shape is None:
        return None
    if isinstance(input_shape, numbers.Integral) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (1, 3):
        raise InvalidValueError(f"input_shape must be (C, H, W), (n,) or None, got {input_shape!r}")
    return tuple(check_int(d, "input_shape") for d in input_shape)


def _n_inputs(net) -> int:
    """The number of input values of a sample: n⁰, or C·H·W of a layered network's images."""
    return math.prod(net.input_shape) if isinstance(net, LayeredNetwork) else net.layers[0]


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

    Networks built from layers (docs/cnn.md):

    arch : str or None, default=None
        An architecture (``scratchnet.archspec``: a spec line such as
        ``"conv(8, 3, padding=1) relu maxpool(2) flatten dense(10)"``, a named one such
        as ``"lenet5"`` or ``"cnn"``, or a .json path) ending in one score per class.
        ``fit`` then trains a ``LayeredNetwork`` by ``train_layered`` with this
        estimator's ``output``, ``loss``, optimiser, schedule, learning rate, batch size
        and epochs; ``hidden_layer_sizes`` is not used, and ``activation``, ``init`` and
        ``dropout`` must keep their defaults (the architecture says them); early stopping
        is not available. ``None``: the article's network above.
    input_shape : tuple or None, default=None
        With ``arch``: the shape ``(C, H, W)`` (or ``(n,)``) that each flat row of ``X``
        is reshaped to. ``None`` infers it: 4-D ``X`` (n_samples, C, H, W) is taken as
        is; 784 features are MNIST's (1, 28, 28), 64 the digits' (1, 8, 8) when the
        architecture takes images, else flat ``(n_features,)``.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The class labels, sorted; any type (``int``, ``float``, ``str``, ``bool``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (n_features_in_,)
        Only when ``X`` had string column names (a pandas DataFrame).
    network_ : MultilayerNeuralNetClassifier or LayeredNetwork (with ``arch``)
        The trained network; its output ``i`` scores ``classes_[i]``.
    history_ : pandas.DataFrame
        One row per epoch trained (``epoch, loss_training, accuracy_training,
        loss_test, accuracy_test, seconds``).
    """

    # the fitted attributes (set by fit, partial_fit and load)
    network_: MultilayerNeuralNetClassifier | LayeredNetwork
    classes_: np.ndarray
    history_: pd.DataFrame
    n_features_in_: int
    feature_names_in_: np.ndarray
    _label_encoder: LabelEncoder
    _batch_seed: int | None

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": "no_validation",  # checked by scratchnet.validation.check_dtype in fit
        "verbose": ["verbose"],
        "validation_fraction": [None, Interval(numbers.Real, 0, 1, closed="neither")],
        **{field: [StrOptions(set(choices(field)))] for field in NAMED_FIELDS},
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "arch": [None, str],
        "input_shape": "no_validation",  # checked by _input_shape in fit
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
        activation=DEFAULTS["activation"],
        output=DEFAULTS["output"],
        loss=DEFAULTS["loss"],
        init=DEFAULTS["init"],
        optimizer=DEFAULTS["optimizer"],
        momentum=DEFAULTS["momentum"],
        weight_decay=DEFAULTS["weight_decay"],
        schedule=DEFAULTS["schedule"],
        dropout=DEFAULTS["dropout"],
        early_stopping=EARLY_STOPPING["early_stopping"],
        patience=EARLY_STOPPING["patience"],
        arch=None,
        input_shape=None,
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
        self.arch = arch
        self.input_shape = input_shape

    # ----------------------------------------------------------------- helpers
    def get_recipe(self) -> Recipe:
        """The ``Recipe`` of the parameters (activation, output, loss, init, optimizer, momentum, …), names canonical."""
        return Recipe.of(None, **{field: getattr(self, field) for field in Recipe.FIELDS})

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

    def _images(self, X, layered):
        """Is ``X`` a batch of images (n_samples, C, H, W) for a layered network? Other shapes are refused there."""
        if not layered:
            return False
        ndim = np.ndim(X)
        if ndim not in (2, 4):
            raise InvalidValueError(
                f"with arch, X must be 2-D (n_samples, n_features) or 4-D (n_samples, C, H, W), got {ndim}-D"
            )
        return ndim == 4

    def _check_image_shape(self, X):
        if X.shape[1:] != self.network_.input_shape:
            raise InvalidValueError(
                f"X has images of shape {X.shape[1:]}, the network was fitted on {self.network_.input_shape}"
            )

    def _check_X(self, X, reset):
        if self._images(X, isinstance(self.network_, LayeredNetwork)):
            X = check_array(X, allow_nd=True, dtype=self.network_.dtype)
            self._check_image_shape(X)
            return X
        return validate_data(self, X, reset=reset, dtype=self.network_.dtype)

    def _check_Xy(self, X, y, reset):
        dtype = check_dtype(self.dtype) if reset else self.network_.dtype
        layered = self.arch is not None if reset else isinstance(self.network_, LayeredNetwork)
        if self._images(X, layered):
            X, y = check_X_y(X, y, allow_nd=True, dtype=dtype)
            if reset:
                self.n_features_in_ = math.prod(X.shape[1:])
            else:
                self._check_image_shape(X)
        else:
            X, y = validate_data(self, X, y, reset=reset, dtype=dtype)
        _check_targets(y)
        return X, y

    def _check_params(self):
        """Every parameter, as ``fit`` checks them (one-line errors)."""
        self._validate_params()
        check_dtype(self.dtype)
        if self.arch is None:
            _hidden_layers(self.hidden_layer_sizes)
            return
        _input_shape(self.input_shape)
        recipe = self.get_recipe()
        for field in ("activation", "init", "dropout"):
            if getattr(recipe, field) != DEFAULTS[field]:
                raise InvalidValueError(
                    f"{field}={getattr(self, field)!r} does not apply with arch: write it in the architecture "
                    "(e.g. 'dense(50, init=\"he\") relu dropout(0.2) dense(10)')"
                )
        if self.early_stopping:
            raise InvalidValueError(
                "early_stopping is not available with arch; watch a hold-out with validation_fraction instead"
            )

    def _input_shapes(self, X):
        """The input shapes to try for ``arch``, first that fits wins (see ``input_shape``)."""
        given = _input_shape(self.input_shape)
        if X.ndim == 4:
            if given is not None and given != X.shape[1:]:
                raise InvalidValueError(f"input_shape {given} differs from the images of X, {X.shape[1:]}")
            return [X.shape[1:]]
        n = X.shape[1]
        if given is not None:
            if math.prod(given) != n:
                raise InvalidValueError(f"input_shape {given} holds {math.prod(given)} values, X has {n} features")
            return [given]
        return ([_IMAGES_BY_SIZE[n]] if n in _IMAGES_BY_SIZE else []) + [(n,)]

    def _new_layered(self, X, seed):
        recipe = self.get_recipe()
        guessed_flat = X.ndim == 2 and self.input_shape is None and X.shape[1] not in _IMAGES_BY_SIZE
        self.network_ = LayeredNetwork.for_data(
            self.arch, self._input_shapes(X), len(self.classes_), data="y",
            hint="; for image rows give input_shape=(C, H, W)" if guessed_flat else "",
            output=recipe.output, loss=recipe.loss, dtype=check_dtype(self.dtype), seed=seed,
        )  # fmt: skip

    def _encode(self, y):
        """Labels → output indices ``0…n_classes-1``; labels outside ``classes_`` are refused."""
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise InvalidValueError(
                f"y holds labels {np.unique(y[unknown]).tolist()} that are not among classes_ "
                f"{self.classes_.tolist()}; pass every label to the first partial_fit call through classes="
            )
        return self._label_encoder.transform(y)

    def _new_network(self, X, seed):
        if self.arch is not None:
            return self._new_layered(X, seed)
        n_features = X.shape[1]
        layers = [n_features, *_hidden_layers(self.hidden_layer_sizes), len(self.classes_)]
        self.network_ = MultilayerNeuralNetClassifier(
            layers,
            random_seed=seed,
            dtype=check_dtype(self.dtype),
            **self.get_recipe().network_options(),
        )

    def _train(self, X, y, epochs, seed):
        X_val = y_val = None
        if self.validation_fraction is not None:
            X, X_val, y, y_val = validation_split(X, y, self.validation_fraction, seed)
        if isinstance(self.network_, LayeredNetwork):
            options = self.get_recipe().training_options()
            del options["dropout"]  # the architecture's dropout layers
            train_layered(
                self.network_, X, y, X_val, y_val, epochs=epochs, batch_size=min(self.batch_size, X.shape[0]),
                learning_rate=self.learning_rate, seed=seed, verbose=bool(self.verbose), **options,
            )  # fmt: skip
            self.history_ = self.network_.history
            return
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
            **self.get_recipe().training_options(),
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
        self._check_params()
        self._forget()
        X, y = self._check_Xy(X, y, reset=True)
        self._label_encoder = LabelEncoder().fit(y)
        self.classes_ = self._label_encoder.classes_
        seed = self._batch_seed = self._seed()
        self._new_network(X, seed)
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
            self._check_params()
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
            self._new_network(X, seed)
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
    def save(self, path: str | os.PathLike, preprocessing: dict | None = None) -> Path:
        """Write the fitted estimator to ``path`` (.npz + JSON header, no pickle; see ``scratchnet.modelio``).

        The network's file, with the estimator's own header entries: ``classes``
        and ``estimator`` (class, parameters, ``n_features_in``, ``feature_names_in``).
        ``preprocessing``: an optional JSON-serialisable description of how raw
        inputs become ``X`` (e.g. ``{"name": "scale_pixels", "max_value": 255}``).
        """
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        extra = {
            "classes": encode_classes(self.classes_),
            "preprocessing": preprocessing,
            "estimator": {
                "class": type(self).__name__,
                "params": self._header_params(),
                "n_features_in": int(self.n_features_in_),
                "feature_names_in": None if names is None else [str(n) for n in names],
            },
        }
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"preprocessing must be JSON-serialisable: {exc}") from None
        if isinstance(self.network_, LayeredNetwork):
            return save_layered(self.network_, path, extra_header=extra)
        return modelio.save_network(self.network_, path, extra_header=extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NeuralNetClassifier:
        """Read an estimator (or a bare network file, classes 0…nᴸ−1) written by scratchnet."""
        return read_estimator(path)[0]

    def _header_params(self) -> dict[str, Any]:
        """``get_params()`` as plain JSON values, for the model file's header."""
        params = self.get_params()
        rs = params["random_state"]
        params["random_state"] = int(rs) if isinstance(rs, int | np.integer) and not isinstance(rs, bool) else None
        hidden = params["hidden_layer_sizes"]
        params["hidden_layer_sizes"] = [int(hidden)] if np.ndim(hidden) == 0 else [int(n) for n in hidden]
        params["learning_rate"] = float(params["learning_rate"])
        params["dtype"] = self.network_.dtype.name
        params["epochs"] = int(params["epochs"])
        params["batch_size"] = int(params["batch_size"])
        verbose = params["verbose"]
        params["verbose"] = bool(verbose) if isinstance(verbose, bool | np.bool_) else int(verbose)
        if params["validation_fraction"] is not None:
            params["validation_fraction"] = float(params["validation_fraction"])
        for name in ("momentum", "weight_decay", "dropout"):
            params[name] = float(params[name])
        params["early_stopping"] = bool(params["early_stopping"])
        params["patience"] = int(params["patience"])
        shape = _input_shape(params["input_shape"])
        params["input_shape"] = None if shape is None else list(shape)
        return params

    @classmethod
    def _from_file(
        cls, header: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike
    ) -> NeuralNetClassifier:
        """A fitted estimator of a checked header and arrays: the stored network, classes and parameters."""
        net = modelio.network_from_file(header, arrays, path, MultilayerNeuralNetClassifier)
        classes = decode_classes(header.get("classes"), net.n_classes, path)
        est = cls(hidden_layer_sizes=tuple(net.layers[1:-1]), dtype=net.dtype.name, **net.options)
        names = None
        info = header.get("estimator")
        if info is not None:
            est._set_stored_params(info, path)
            est._check_fits_network(net, path)
            names = _feature_names(info, net, path)
        est._set_fitted(net, classes, names)
        return est

    @classmethod
    def _from_layered(cls, header: dict[str, Any], net: LayeredNetwork, path: str | os.PathLike) -> NeuralNetClassifier:
        """A fitted estimator of a layered model file (``save_layered``): its network, classes and parameters."""
        classes = decode_classes(header.get("classes"), net.n_classes, path)
        est = cls(arch=net.arch, dtype=net.dtype.name, output=net.output, loss=net.loss_function.name)
        names = None
        info = header.get("estimator")
        if info is not None:
            est._set_stored_params(info, path)
            recipe = est.get_recipe()
            if est.arch is None or (recipe.output, recipe.loss, est.dtype) != (
                net.output,
                net.loss_function.name,
                net.dtype.name,
            ):
                raise ModelFileError(
                    f"{str(path)!r}: estimator parameters (arch {est.arch!r}, output {recipe.output}, loss "
                    f"{recipe.loss}, {est.dtype}) do not match the stored network"
                )
            names = _feature_names(info, net, path)
        est._set_fitted(net, classes, names)
        return est

    def _set_stored_params(self, info: Any, path: str | os.PathLike) -> None:
        """Set the parameters of the header's ``estimator`` entry, checked as ``fit`` checks them."""
        if (
            not isinstance(info, dict)
            or info.get("class") != "NeuralNetClassifier"
            or not isinstance(info.get("params"), dict)
        ):
            raise ModelFileError(f"{str(path)!r} has an invalid estimator entry in its header")
        try:
            params = dict(info["params"])
            for name in ("hidden_layer_sizes", "input_shape"):
                if isinstance(params.get(name), list):
                    params[name] = tuple(params[name])
            self.set_params(**params)
            self._validate_params()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} has invalid estimator parameters: {exc}") from None

    def _check_fits_network(self, net: MultilayerNeuralNetClassifier, path: str | os.PathLike) -> None:
        """The stored parameters describe the stored network: its recipe, hidden widths, dtype and input width."""
        try:
            wanted = self.get_recipe().network_options()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} has invalid estimator parameters: {exc}") from None
        if wanted != net.options:
            raise ModelFileError(
                f"{str(path)!r}: estimator parameters {wanted} do not match the stored network {net.options}"
            )
        if list(np.atleast_1d(self.hidden_layer_sizes)) != net.layers[1:-1] or self.dtype != net.dtype.name:
            raise ModelFileError(
                f"{str(path)!r}: estimator parameters (hidden {self.hidden_layer_sizes}, {self.dtype}) do not match "
                f"the stored network (layers {net.layers}, {net.dtype.name})"
            )

    def _set_fitted(self, net, classes: np.ndarray, names: list[str] | None) -> None:
        """The fitted attributes of a loaded estimator."""
        self.network_ = net
        self._label_encoder = LabelEncoder().fit(classes)
        self.classes_ = self._label_encoder.classes_
        self.n_features_in_ = _n_inputs(net)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.history_ = net.history
        self._batch_seed = self.random_state if isinstance(self.random_state, int) else None


def _feature_names(info: dict, net, path: str | os.PathLike) -> list[str] | None:
    """The header's ``n_features_in`` checked against the network and its ``feature_names_in`` (or None)."""
    n = _n_inputs(net)
    if info.get("n_features_in") != n:
        raise ModelFileError(f"{str(path)!r}: n_features_in {info.get('n_features_in')!r} ≠ input width {n}")
    names = info.get("feature_names_in")
    if names is not None and (
        not isinstance(names, list) or len(names) != n or not all(isinstance(v, str) for v in names)
    ):
        raise ModelFileError(f"{str(path)!r}: feature_names_in must list {n} strings")
    return names


def read_estimator(path: str | os.PathLike) -> tuple[NeuralNetClassifier, dict[str, Any]]:
    """A fitted ``NeuralNetClassifier`` of a model file, and the file's header (e.g. its ``preprocessing``).

    A network file (no estimator entry) gives an estimator with ``classes_``
    ``0…nᴸ−1`` and ``hidden_layer_sizes`` from its layers (or ``arch``, for a file of
    ``model.save_layered``).
    """
    if is_layered_file(path):
        net, header = read_layered(path)
        return NeuralNetClassifier._from_layered(header, net, path), header
    header, arrays = modelio.read_model_file(path)
    return NeuralNetClassifier._from_file(header, arrays, path), header


def load_estimator(path: str | os.PathLike) -> NeuralNetClassifier:
    """Read a ``NeuralNetClassifier`` saved by ``NeuralNetClassifier.save``, or wrap a bare network file."""
    return read_estimator(path)[0]


# ---------------------------------------------------------- the header's classes
_CLASS_KINDS = {"int": (np.int64, int), "float": (np.float64, float), "str": (np.str_, str), "bool": (np.bool_, bool)}


def encode_classes(classes):
    """``classes_`` → ``{"kind": "int"|"float"|"str"|"bool", "values": [...]}`` for the JSON header."""
    classes = np.asarray(classes)
    values = classes.tolist()
    if classes.dtype.kind == "b" or all(isinstance(v, (bool, np.bool_)) for v in values):
        kind = "bool"
    elif classes.dtype.kind in "iu" or all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values
    ):
        kind = "int"
    elif classes.dtype.kind == "f" or all(isinstance(v, (float, np.floating)) for v in values):
        kind = "float"
        if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
            raise InvalidValueError(f"class labels must be finite to be saved, got {values}")
    elif classes.dtype.kind in "US" or all(isinstance(v, str) for v in values):
        kind = "str"
    else:
        raise InvalidValueError(
            f"cannot save class labels {values!r}: labels must all be whole numbers, all floats, all strings "
            "or all booleans"
        )
    python_type = _CLASS_KINDS[kind][1]
    return {"kind": kind, "values": [python_type(v.decode() if isinstance(v, bytes) else v) for v in values]}


def decode_classes(spec, n_classes, path="<model>"):
    """The header's ``classes`` entry → a sorted ``classes_`` array; anything odd is a ``ValueError``."""
    if spec is None:
        return np.arange(n_classes, dtype=np.int64)
    bad = f"{str(path)!r} has an invalid classes entry in its header"
    if not isinstance(spec, dict) or spec.get("kind") not in _CLASS_KINDS or not isinstance(spec.get("values"), list):
        raise ModelFileError(f"{bad}: expected {{'kind': int|float|str|bool, 'values': [...]}}, got {spec!r}")
    dtype, python_type = _CLASS_KINDS[spec["kind"]]
    values = spec["values"]
    for v in values:
        ok = isinstance(v, python_type) and not (python_type is not bool and isinstance(v, bool))
        if python_type is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        if not ok:
            raise ModelFileError(f"{bad}: {v!r} is not a {spec['kind']} label")
    if len(values) != n_classes:
        raise ModelFileError(f"{bad}: {len(values)} labels for a network with {n_classes} outputs")
    classes = np.asarray(values, dtype=dtype)
    if classes.size and not np.array_equal(np.unique(classes), classes):
        raise ModelFileError(f"{bad}: labels must be unique and sorted, got {values}")
    return classes
