"""The ASGI application of ``scratchnet serve`` (Starlette): one page, its own assets, a JSON API.

Routes (nothing else is served; no path from a request reaches the filesystem):

* ``GET /`` the page; ``GET /static/…`` its bundled assets (``static/``)
* ``GET /api/models`` the served models: name, architecture, recipe, data set
* ``POST /api/predict`` ``{"model": NAME?, "pixels": [784 numbers 0..255], "center": true?}`` →
  ``{"model", "prediction", "probabilities", "outputs", "input", "layers": [{"name", "shape", "values"}]}``
* ``GET /api/learn/{name}`` history, diagnostics, first-layer weights, and where the data set is at
  hand the hold-out confusion matrix and most confidently wrong digits
* ``GET /api/tune`` the grid of ``--store`` (read-only; refreshed as ``scratchnet tune`` writes)

Every error the client can cause is a JSON ``{"error": …}`` with a 4xx status;
the server survives it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..activations import OUTPUTS
from ..data import cache_dir, default_test_size, load_dataset, split
from ..errors import InvalidValueError, ModelFileError
from ..model import FORMAT_NAME as LAYERED_FORMAT
from ..model import load_layered
from ..modelio import network_from_file, read_header, read_model_file
from ..network import MultilayerNeuralNetClassifier
from ..report import KEYS, best_rate_table, config_means, mean_curves
from ..store import Store
from .preprocess import check_pixels, model_image

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024
"""Largest request body accepted (bytes): 784 numbers as JSON take under 4 KiB."""
MAX_WEIGHT_IMAGES = 100
"""First-layer units shown as images on the Learn view."""
MAX_WRONG = 16
"""Most confidently wrong hold-out digits shown."""


# ------------------------------------------------------------------ models
class ServedModel:
    """A model file named on the command line, loaded once."""

    def __init__(self, name, path):
        self.name = name
        self.path = Path(path)
        try:
            self.header, arrays = read_model_file(path)
            self.net = network_from_file(self.header, arrays, path, MultilayerNeuralNetClassifier)
        except ModelFileError:
            raise
        except ValueError as exc:
            raise ModelFileError(str(exc)) from None
        self.preprocessing = self.header.get("preprocessing") or None
        n_inputs = self.net.layers[0]
        if n_inputs not in (64, 784):
            raise ModelFileError(
                f"{str(path)!r} takes {n_inputs} inputs; serve shows digit models (784 = 28 × 28 or 64 = 8 × 8)"
            )
        self.dataset = (self.preprocessing or {}).get("dataset") or {64: "digits", 784: "mnist"}[n_inputs]
        self._evaluation = None
        self._lock = threading.Lock()

    @property
    def n_inputs(self):
        return self.net.layers[0]

    @property
    def seed(self):
        """The seed of the run's split (the network's), to find its hold-out again."""
        return self.net.random_seed

    def what(self):
        return f"layers {self.net.layers}"

    def scores(self, X):
        """The output layer's values of the rows of ``X``."""
        return self.net.forward(X)[-1]

    def describe(self):
        net = self.net
        recipe = self.header.get("recipe") or (self.header.get("estimator") or {}).get("params")
        return {
            "name": self.name,
            "file": self.path.name,
            "layers": net.layers,
            "n_parameters": int(net.n_parameters),
            "dtype": net.dtype.name,
            **net.options,
            "recipe": recipe,
            "dataset": self.dataset,
            "preprocessing": self.preprocessing,
            "epochs_trained": net.epochs_trained,
            "diagnostics": bool(getattr(net, "diagnostics", None)),
        }

    def layer_names(self):
        net = self.net
        return [
            f"hidden {k} ({net.activation}, {n})" if k < net.n_layers else f"output ({net.output}, {n})"
            for k, n in enumerate(net.layers[1:], start=1)
        ]

    def predict(self, pixels, center=True):
        image, max_value, x = model_image(pixels, self.preprocessing, self.net.layers[0], center)
        activations = self.net.forward(x.astype(self.net.dtype))
        layers = [
            {"name": name, "shape": list(a.shape[1:]), "values": _rounded(a[0])}
            for name, a in zip(self.layer_names(), activations)
        ]
        return self._prediction(activations[-1][0].astype(np.float64), image, max_value, layers)

    def _prediction(self, outputs, image, max_value, layers):
        """The /predict response: the class, the outputs (as probabilities, normalised unless softmax already
        sums to 1), the input image and every layer's values."""
        total = outputs.sum()
        probabilities = outputs / total if self.net.output != "softmax" and total > 0 else outputs
        return {
            "model": self.name,
            "prediction": int(np.argmax(outputs)),
            "probabilities": _rounded(probabilities),
            "outputs": _rounded(outputs),
            "input": {"shape": list(image.shape), "max_value": max_value, "values": _rounded(image, 2)},
            "layers": layers,
        }

    # -------------------------------------------------------------- learn
    def learn(self):
        net = self.net
        side = 28 if net.layers[0] == 784 else 8
        W = net.weights[0].astype(np.float64)
        shown = min(W.shape[1], MAX_WEIGHT_IMAGES)
        units = []
        for j in range(shown):
            w = W[:, j]
            scale = float(np.max(np.abs(w))) or 1.0
            units.append(_rounded(w / scale, 3))
        history = {c: [_finite(r[c]) for r in net.history_records] for c in net.history.columns}
        return {
            "model": self.name,
            "history": history,
            "diagnostics": [{k: _finite(v) for k, v in r.items()} for r in getattr(net, "diagnostics", None) or []],
            "weights": {"shape": [side, side], "total": int(W.shape[1]), "units": units},
            "evaluation": self.evaluation(),
        }

    def evaluation(self):
        """Confusion matrix and most confidently wrong digits on the hold-out, computed once; None if no data."""
        with self._lock:
            if self._evaluation is None:
                self._evaluation = _evaluate(self)
            return self._evaluation


class ServedLayeredModel(ServedModel):
    """A network of layers' model file (``scratchnet train --arch``): every layer's output is shown, (C, H, W)
    ones as feature maps; the Learn view shows the first conv layer's kernels (or a first dense layer's weights)."""

    def __init__(self, name, path):
        self.name = name
        self.path = Path(path)
        self.net = load_layered(path)
        self.header = read_header(path)
        self.preprocessing = self.header.get("preprocessing") or None
        if self.n_inputs not in (64, 784):
            raise ModelFileError(
                f"{str(path)!r} takes samples of shape {self.net.input_shape}; serve shows digit models "
                "(1 × 28 × 28 or 1 × 8 × 8)"
            )
        self.dataset = (self.preprocessing or {}).get("dataset") or {64: "digits", 784: "mnist"}[self.n_inputs]
        self._evaluation = None
        self._lock = threading.Lock()

    @property
    def n_inputs(self):
        return math.prod(self.net.input_shape)

    @property
    def seed(self):
        """The seed of the ``scratchnet train --arch`` run (its split) that wrote the file, else None."""
        return self.header.get("random_seed")

    def what(self):
        return f"the architecture {self.net.arch}"

    def scores(self, X):
        return self.net.predict_proba(X)

    def describe(self):
        net = self.net
        return {
            "name": self.name,
            "file": self.path.name,
            "arch": net.arch,
            "layers": [layer.spec() for layer in net.layers],
            "input_shape": list(net.input_shape),
            "n_parameters": net.n_params(),
            "dtype": net.dtype.name,
            "output": net.output,
            "loss": net.loss_function.name,
            "dataset": self.dataset,
            "preprocessing": self.preprocessing,
            "epochs_trained": len(net.history_records),
            "diagnostics": False,
        }

    def predict(self, pixels, center=True):
        image, max_value, x = model_image(pixels, self.preprocessing, self.n_inputs, center)
        a = self.net._input(x)
        layers = []
        for i, layer in enumerate(self.net.layers):
            a = layer.forward(a, False)
            layers.append({"name": f"{i} {layer.spec()}", "shape": list(a.shape[1:]), "values": _rounded(a[0])})
        outputs = OUTPUTS[self.net.output](a)[0].astype(np.float64)
        layers.append({"name": f"output ({self.net.output})", "shape": [len(outputs)], "values": _rounded(outputs)})
        return self._prediction(outputs, image, max_value, layers)

    def learn(self):
        net = self.net
        first = next(((n, a) for n, a in net.named_params() if n.endswith(".W") and a.ndim in (2, 4)), (None, None))
        W = first[1]
        if W is not None and W.ndim == 4:  # conv kernels (O, C, kh, kw): each output channel's, on channel 0
            shape, images = list(W.shape[2:]), [W[j, 0] for j in range(W.shape[0])]
        elif W is not None and W.shape[0] == self.n_inputs:  # a dense layer on the pixels: one image per unit
            side = math.isqrt(self.n_inputs)
            shape, images = [side, side], [W[:, j] for j in range(W.shape[1])]
        else:
            shape, images = [1, 1], []
        units = []
        for w in images[:MAX_WEIGHT_IMAGES]:
            w = w.astype(np.float64)
            units.append(_rounded(w / (float(np.max(np.abs(w))) or 1.0), 3))
        return {
            "model": self.name,
            "history": {c: [_finite(r[c]) for r in net.history_records] for c in net.history.columns},
            "diagnostics": [],
            "weights": {"shape": shape, "total": len(images), "units": units},
            "evaluation": self.evaluation(),
        }


def served_model(name, path):
    """The served model of the file at ``path``: its header (``read_header``) says which kind."""
    if read_header(path).get("format") == LAYERED_FORMAT:
        return ServedLayeredModel(name, path)
    return ServedModel(name, path)


def _data_at_hand(dataset):
    """Whether ``dataset`` can be loaded without a download (digits: bundled; MNIST: $SCRATCHNET_MNIST or cache)."""
    if dataset == "digits":
        return True
    if dataset == "mnist":
        env = os.environ.get("SCRATCHNET_MNIST")
        return bool(env and Path(env).exists()) or (cache_dir() / "mnist.npz").is_file()
    return False


def _evaluate(model):
    net, dataset = model.net, model.dataset
    if not _data_at_hand(dataset):
        return {"available": False, "message": f"the {dataset} data set is not at hand (set SCRATCHNET_MNIST)"}
    X, y = load_dataset(dataset, dtype=net.dtype.type)
    if X.shape[1] != model.n_inputs or int(y.max()) >= net.n_classes:
        return {"available": False, "message": f"the {dataset} data set does not fit {model.what()}"}
    seed = model.seed if isinstance(model.seed, int) else 123
    test_size = default_test_size(dataset)
    _, X_test, _, y_test = split(X, y, test_size, seed)
    scores = np.concatenate([model.scores(X_test[i : i + 2000]) for i in range(0, len(X_test), 2000)])
    predicted = scores.argmax(axis=1)
    n = net.n_classes
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (y_test, predicted), 1)
    wrong = np.flatnonzero(predicted != y_test)
    confidence = scores[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence, kind="stable")[:MAX_WRONG]]
    side = 28 if model.n_inputs == 784 else 8
    return {
        "available": True,
        "dataset": dataset,
        "split": f"the hold-out of `scratchnet train` with seed {seed} and the default test size "
        f"({len(y_test)} samples); another --seed or --test-size would mix in training samples",
        "accuracy": float(np.mean(predicted == y_test)),
        "n": len(y_test),
        "confusion": confusion.tolist(),
        "wrong": [
            {
                "label": int(y_test[i]),
                "predicted": int(predicted[i]),
                "score": round(float(scores[i, predicted[i]]), 4),
                "shape": [side, side],
                "values": _rounded((X_test[i].astype(np.float64) + 1) / 2, 3),  # back to 0…1
            }
            for i in worst
        ],
    }


def model_names(paths):
    """Unique names for the model files: their stems, ``-2``, ``-3`` … on clashes."""
    names = []
    for path in paths:
        stem = Path(path).stem
        name, i = stem, 2
        while name in names:
            name, i = f"{stem}-{i}", i + 1
        names.append(name)
    return names


# ------------------------------------------------------------------ tune
class TuneView:
    """The grid of a store, read through a read-only SQLite connection, recomputed when new runs arrive."""

    def __init__(self, path):
        self.path = Path(path)
        self._cache = (None, None)
        self._lock = threading.Lock()

    def _signature(self):
        """The number of runs and epochs stored (cheap), to know when to recompute."""
        conn = sqlite3.connect(f"file:{self.path.resolve().as_posix()}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT (SELECT COUNT(*) FROM runs), (SELECT MAX(rowid) FROM epochs)").fetchone()
        finally:
            conn.close()

    def summary(self):
        if not self.path.is_file():
            return {"available": False, "store": self.path.name, "message": "waiting for `scratchnet tune` to start"}
        with self._lock:
            try:
                signature = self._signature()
            except sqlite3.Error as exc:
                return {"available": False, "store": self.path.name, "message": f"cannot read the store yet: {exc}"}
            if self._cache[0] != signature:
                self._cache = (signature, self._compute())
            return self._cache[1]

    def _compute(self):
        try:
            store = Store.open(self.path, readonly=True)
        except (ValueError, sqlite3.Error) as exc:
            return {"available": False, "store": self.path.name, "message": str(exc)}
        try:
            runs, epochs, fingerprint = store.runs(), store.epochs(), store.fingerprint
        finally:
            store.close()
        base = {"available": True, "store": self.path.name, "fingerprint": fingerprint, "runs": len(runs)}
        if runs.empty:
            return {**base, "table": [], "heatmap": None, "curves": []}
        means = config_means(runs).sort_values("accuracy_validation", ascending=False, kind="stable")
        varied = [k for k in KEYS if means[k].nunique() > 1]
        shown = [k for k in KEYS if k in ("hidden_layers", "hidden_nodes", "learning_rate") or k in varied]
        columns = [*shown, "folds", "accuracy_validation", "accuracy_validation_std", "loss_validation", "seconds"]
        table = [{c: _finite(_plain(row[c])) for c in columns} for _, row in means.iterrows()]
        accuracy, rate = best_rate_table(means)
        heatmap = {
            "rows": [int(v) for v in accuracy.index],
            "columns": [int(v) for v in accuracy.columns],
            "accuracy": [[_finite(v) for v in row] for row in accuracy.to_numpy()],
            "learning_rate": [[_finite(v) for v in row] for row in rate.to_numpy()],
        }
        curves = []
        recipe_keys = [k for k in varied if k not in ("hidden_layers", "hidden_nodes", "learning_rate")]
        for key, part in mean_curves(epochs).groupby(KEYS, sort=False):
            config = dict(zip(KEYS, key))
            curves.append(
                {
                    "label": ", ".join(
                        [f"{config['hidden_layers']}×{config['hidden_nodes']}, η {_plain(config['learning_rate'])}"]
                        + [f"{k} {_plain(config[k])}" for k in recipe_keys]
                    ),
                    "epoch": part["epoch"].astype(int).tolist(),
                    "accuracy_validation": [_finite(v) for v in part["accuracy_validation"]],
                    "accuracy_training": [_finite(v) for v in part["accuracy_training"]],
                }
            )
        return {**base, "varied": varied, "table": table, "heatmap": heatmap, "curves": curves}


# ------------------------------------------------------------------ helpers
def _finite(v):
    v = _plain(v)
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def _rounded(a, digits=4):
    """``a`` flattened to a list of floats rounded to ``digits`` (NaN/inf → None, which JSON can carry)."""
    a = np.round(np.asarray(a, dtype=np.float64).ravel(), digits)
    if np.all(np.isfinite(a)):
        return a.tolist()
    return [v if math.isfinite(v) else None for v in a.tolist()]


def _error(message, status=400):
    return JSONResponse({"error": message}, status_code=status)


async def _read_json(request, limit):
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidValueError(f"request body too large: at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidValueError(f"request body too large: at most {limit} bytes")
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError) as exc:
        raise InvalidValueError(f"the body is not valid JSON: {type(exc).__name__}") from None


# ------------------------------------------------------------------ the app
def create_app(model_paths=(), store=None, max_body=MAX_BODY):
    """The Starlette application serving ``model_paths`` (and the grid of ``store``, if given)."""
    models = {name: served_model(name, path) for name, path in zip(model_names(model_paths), model_paths)}
    tune = TuneView(store) if store else None

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def list_models(request):
        return JSONResponse({"models": [m.describe() for m in models.values()], "tune": tune is not None})

    def _pick(name):
        if not models:
            raise InvalidValueError("no model is served: name model files on the command line")
        if name is None:
            return next(iter(models.values()))
        if not isinstance(name, str) or name not in models:
            raise InvalidValueError(f"unknown model {name!r}; served: {', '.join(models)}")
        return models[name]

    async def predict(request):
        try:
            payload = await _read_json(request, max_body)
            if not isinstance(payload, dict):
                raise InvalidValueError('the body must be a JSON object {"model": NAME, "pixels": [784 numbers]}')
            unknown = sorted(set(payload) - {"model", "pixels", "center"})
            if unknown:
                raise InvalidValueError(f"unknown field(s) {unknown}; known: model, pixels, center")
            model = _pick(payload.get("model"))
            pixels = check_pixels(payload.get("pixels"))
            center = payload.get("center", True)
            if not isinstance(center, bool):
                raise InvalidValueError("center must be true or false")
            return JSONResponse(model.predict(pixels, center))
        except InvalidValueError as exc:
            return _error(str(exc))

    async def learn(request):
        name = request.path_params["name"]
        if name not in models:
            return _error(f"unknown model {name!r}", 404)
        return JSONResponse(await run_in_threadpool(models[name].learn))

    async def tune_summary(request):
        if tune is None:
            return _error("no store: start serve with --store STORE.sqlite", 404)
        return JSONResponse(await run_in_threadpool(tune.summary))

    async def http_error(request, exc):
        return _error(exc.detail, exc.status_code)

    async def server_error(request, exc):
        return _error(f"internal error: {type(exc).__name__}", 500)

    routes = [
        Route("/", index),
        Route("/api/models", list_models),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/learn/{name}", learn),
        Route("/api/tune", tune_summary),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.models = models
    return app
