"""Every bad input we tried, and exactly what scratchnet answers: writes docs/errors.md.

    PYTHONPATH=src python docs/errors.py          # rewrite docs/errors.md

Each case really runs (in a scratch folder, so paths are short); the table is
the exception type and message, or the CLI's exit code and stderr line.
tests/test_errors_doc.py checks that every case is refused cleanly and that
docs/errors.md is what this script produces today.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from scratchnet import MultilayerNeuralNetClassifier, int_to_onehot, sigmoid, train  # noqa: E402
from scratchnet.batching import minibatches  # noqa: E402
from scratchnet.cli import main  # noqa: E402
from scratchnet.data import load_mnist, split  # noqa: E402
from scratchnet.estimator import NeuralNetClassifier, load_estimator  # noqa: E402
from scratchnet.plots import plot_accuracy, plot_digits, plot_loss  # noqa: E402

load_network = MultilayerNeuralNetClassifier.load


def make_files():
    """The bad files the cases read, in the current folder."""
    from PIL import Image

    net = MultilayerNeuralNetClassifier([784, 8, 10], random_seed=0)
    net.save("mnist_model.npz")
    raw = Path("mnist_model.npz").read_bytes()
    Path("truncated_model.npz").write_bytes(raw[: len(raw) // 2])
    Path("notes.txt").write_text("not a model")
    np.savez("foreign.npz", weights=np.zeros(3))
    with np.load("mnist_model.npz") as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"][()]))
    np.savez("newer_model.npz", **{**arrays, "header": np.array(json.dumps({**header, "format_version": 99}))})
    np.savez("wrong_layers_model.npz", **{**arrays, "header": np.array(json.dumps({**header, "layers": [784, 9, 10]}))})
    nan_w = arrays["W1"].copy()
    nan_w[0, 0] = np.nan
    np.savez("nan_model.npz", **{**arrays, "W1": nan_w})
    evil = np.empty(1, dtype=object)
    evil[0] = {"payload": "anything"}
    np.savez("object_model.npz", **{**arrays, "W1": evil})
    np.savez("object_data.npz", X=evil, y=evil)
    np.savez("no_arrays.npz", images=np.zeros((2, 784)))
    np.savez("bad_pixels.npz", X=np.full((2, 784), 300.0), y=np.array([1, 2]))
    np.savez("bad_labels.npz", X=np.zeros((2, 784)), y=np.array(["one", "two"]))
    Path("truncated.npz").write_bytes(b"PK\x03\x04 cut short")
    Path("idx").mkdir(exist_ok=True)
    Path("idx/train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")
    Image.fromarray(np.zeros((32, 28), np.uint8)).save("wide.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save("digit.gif")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save("gif_inside.png", format="GIF")
    Path("corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    np.save("negative.npy", -np.ones(784))
    np.save("nan.npy", np.full(784, np.nan))
    np.save("wrong_shape.npy", np.zeros((2, 100)))
    np.save("text.npy", np.array(["a"] * 784))
    np.save("object.npy", evil, allow_pickle=True)
    np.save("empty.npy", np.zeros((0, 784)))
    np.save("pixels.npy", np.zeros(784))
    np.save("pixels64.npy", np.zeros(64))
    MultilayerNeuralNetClassifier([64, 5, 10], random_seed=0).save("digits_model_without_scaling.npz")
    _layered_files()
    _hostile_model_files(header, arrays)
    _png_header("bomb.png", 20000, 20000)
    _stores()


def _layered_files():
    """A network of layers' model file (issue 12), one lacking an array, and a table for a conv architecture."""
    from scratchnet.model import LayeredNetwork, save_layered

    save_layered(LayeredNetwork("conv(2, 5, stride=2) relu flatten dense(10)", (1, 28, 28), seed=0), "cnn_model.npz")
    with np.load("cnn_model.npz") as data:
        arrays = {k: data[k] for k in data.files if k != "layers.0.W"}
    np.savez("cnn_missing_array_model.npz", **arrays)
    rows = ["a,b,c,label"] + [f"{i % 5},{i % 7},{i % 3},{i % 2}" for i in range(20)]
    Path("table.csv").write_text("\n".join(rows) + "\n")


def _rezip(name, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(name, "w", compression) as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)


def _hostile_model_files(header, arrays):
    """Model files built to hurt (issue 14): each refused before anything the size of a network is allocated."""
    np.savez(
        "huge_layers_model.npz",
        **{**arrays, "header": np.array(json.dumps({**header, "layers": [784, 20000, 20000, 10]}))},
    )
    np.savez("nested_header_model.npz", **{**arrays, "header": np.array("[" * 100_000 + "]" * 100_000)})
    with zipfile.ZipFile("mnist_model.npz") as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    _rezip("garbage_weights_model.npz", {**entries, "W1.npy": b"\x93NUMPY garbage bytes"})
    _rezip("bomb_model.npz", {**entries, "W1.npy": b"\0" * (64 * 2**20)}, zipfile.ZIP_DEFLATED)
    raw = bytearray(Path("mnist_model.npz").read_bytes())
    for name, offset, value in (("compression_99_model.npz", 10, b"\x63\x00"), ("encrypted_model.npz", 8, b"\x01\x00")):
        data = bytearray(raw)
        at = data.rfind(b"PK\x01\x02")
        while at != -1:
            data[at + offset : at + offset + 2] = value
            at = data.rfind(b"PK\x01\x02", 0, at)
        Path(name).write_bytes(bytes(data))


def _png_header(name, width, height):
    """A PNG that claims ``width`` × ``height`` pixels (a decompression bomb's header; no pixels follow)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    Path(name).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _stores():
    """A damaged store and one another tune is working on."""
    import sqlite3
    from contextlib import closing

    from scratchnet.store import Store

    Store.create_or_open("damaged.sqlite", {"folds": 2}).close()
    with open("damaged.sqlite", "r+b") as f:
        f.seek(4096 * 2)
        f.write(b"\xa5" * 4096)
    Store.create_or_open("busy.sqlite", {"folds": 2}).close()
    with closing(sqlite3.connect("busy.sqlite")) as conn, conn:
        conn.execute("INSERT INTO owners VALUES ('there', 'elsewhere', 1, 'now', ?)", (time.time(),))


NET = MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0)
X4 = np.ones((5, 4))
Y = np.array([0, 1, 0, 1, 1])
IRIS_X = np.tile(np.eye(4), (5, 1))
IRIS_Y = np.tile([0, 1, 2, 2], 5)
QUICK = dict(hidden_layer_sizes=(3,), epochs=2, batch_size=4, random_state=0)


def _fit(**kw):
    return lambda X=IRIS_X, y=IRIS_Y: NeuralNetClassifier(**{**QUICK, **kw}).fit(X, y)


def _fitted():
    return NeuralNetClassifier(**QUICK).fit(IRIS_X, IRIS_Y)


def _train(**kw):
    args = dict(net=NET, X_train=X4, y_train=Y, epochs=1, batch_size=2, learning_rate=0.1)
    args.update(kw)
    return lambda: train(**args, verbose=False, progress=False)


API = [
    ("MultilayerNeuralNetClassifier", "layers=[784] (no output layer)", lambda: MultilayerNeuralNetClassifier([784])),
    ("MultilayerNeuralNetClassifier", "layers=[784, 0, 10]", lambda: MultilayerNeuralNetClassifier([784, 0, 10])),
    ("MultilayerNeuralNetClassifier", "layers=[784, 50.5, 10]", lambda: MultilayerNeuralNetClassifier([784, 50.5, 10])),
    (
        "MultilayerNeuralNetClassifier",
        "layers='784,50,10' (a string)",
        lambda: MultilayerNeuralNetClassifier("784,50,10"),
    ),
    (
        "MultilayerNeuralNetClassifier",
        "dtype='float16'",
        lambda: MultilayerNeuralNetClassifier([4, 2], dtype="float16"),
    ),
    ("MultilayerNeuralNetClassifier", "random_seed=-1", lambda: MultilayerNeuralNetClassifier([4, 2], random_seed=-1)),
    (
        "MultilayerNeuralNetClassifier",
        "random_seed='abc'",
        lambda: MultilayerNeuralNetClassifier([4, 2], random_seed="abc"),
    ),
    ("forward / predict", "x with a NaN", lambda: NET.forward(np.array([[0, np.nan, 0, 0]]))),
    ("forward / predict", "x with an infinity", lambda: NET.predict(np.array([[0, np.inf, 0, 0]]))),
    ("forward / predict", "x with 5 features for a 4-input network", lambda: NET.predict(np.ones((2, 5)))),
    ("forward / predict", "x of shape (2, 2, 4)", lambda: NET.forward(np.ones((2, 2, 4)))),
    ("forward / predict", "x of shape (0, 4)", lambda: NET.predict(np.ones((0, 4)))),
    ("forward / predict", "x of strings", lambda: NET.predict([["a", "b", "c", "d"]])),
    ("forward / predict", "x complex", lambda: NET.predict(np.ones((1, 4)) * 1j)),
    ("forward / predict", "x ragged list", lambda: NET.predict([[1, 2, 3, 4], [1, 2]])),
    ("backward", "y_onehot of shape (5, 3) for 2 outputs", lambda: NET.backward(X4, np.ones((5, 3)), NET.forward(X4))),
    ("backward", "y_onehot with NaN", lambda: NET.backward(X4, np.full((5, 2), np.nan), NET.forward(X4))),
    ("backward", "activations not from forward(x)", lambda: NET.backward(X4, np.ones((5, 2)), [np.ones((5, 3))])),
    ("backward", "activations=None", lambda: NET.backward(X4, np.ones((5, 2)), None)),
    ("backward_numerical", "layer=0", lambda: NET.backward_numerical(X4, np.ones((5, 2)), 0)),
    ("backward_numerical", "layer=3 of 2", lambda: NET.backward_numerical(X4, np.ones((5, 2)), 3)),
    ("backward_numerical", "eps=0", lambda: NET.backward_numerical(X4, np.ones((5, 2)), 1, eps=0)),
    ("loss / accuracy", "label 2 for a 2-class network", lambda: NET.loss(X4, [0, 1, 2, 0, 1])),
    ("loss / accuracy", "2 labels for 5 samples", lambda: NET.accuracy(X4, [0, 1])),
    ("loss / accuracy", "string labels", lambda: NET.accuracy(X4, ["a"] * 5)),
    ("loss / accuracy", "fractional labels 0.5", lambda: NET.accuracy(X4, [0.5] * 5)),
    ("loss / accuracy", "a NaN label", lambda: NET.loss(X4, [0, 1, np.nan, 0, 1])),
    ("sigmoid", "'abc'", lambda: sigmoid("abc")),
    ("sigmoid", "a complex number", lambda: sigmoid(1 + 2j)),
    ("sigmoid", "None", lambda: sigmoid(None)),
    ("int_to_onehot", "num_labels=0", lambda: int_to_onehot([0, 1], 0)),
    ("int_to_onehot", "labels of shape (1, 1)", lambda: int_to_onehot([[0]], 3)),
    ("int_to_onehot", "label 3 with num_labels=3", lambda: int_to_onehot([0, 3], 3)),
    ("int_to_onehot", "a NaN label", lambda: int_to_onehot([0, np.nan], 3)),
    ("int_to_onehot", "fractional label 1.5", lambda: int_to_onehot([1.5], 3)),
    ("minibatches", "batch_size=0", lambda: list(minibatches(X4, Y, 0, np.random.default_rng(0)))),
    ("minibatches", "X and y of different lengths", lambda: list(minibatches(X4, Y[:3], 2, np.random.default_rng(0)))),
    ("minibatches", "rng=42 (not a Generator)", lambda: list(minibatches(X4, Y, 2, 42))),
    ("train", "net=None", _train(net=None)),
    ("train", "epochs=0", _train(epochs=0)),
    ("train", "batch_size=0", _train(batch_size=0)),
    ("train", "batch_size=6 for 5 samples", _train(batch_size=6)),
    ("train", "learning_rate=0", _train(learning_rate=0)),
    ("train", "learning_rate=nan", _train(learning_rate=float("nan"))),
    ("train", "seed=-1", _train(seed=-1)),
    ("train", "X_train with 3 features", _train(X_train=np.ones((5, 3)))),
    ("train", "y_train with label 5", _train(y_train=np.array([0, 1, 5, 0, 1]))),
    ("train", "X_test without y_test", _train(X_test=X4)),
    ("train", "X_test and y_test of different lengths", _train(X_test=X4, y_test=Y[:2])),
    (
        "train",
        "float32 network, learning_rate=1e50 (diverges)",
        _train(net=MultilayerNeuralNetClassifier([4, 3, 2], random_seed=0, dtype="float32"), learning_rate=1e50),
    ),
    ("data.split", "test_size=0", lambda: split(X4, Y, test_size=0)),
    ("data.split", "test_size=1.5", lambda: split(X4, Y, test_size=1.5)),
    ("data.split", "test_size=5 of 5 samples", lambda: split(X4, Y, test_size=5)),
    ("data.split", "test_size='a'", lambda: split(X4, Y, test_size="a")),
    ("data.split", "X and y of different lengths", lambda: split(X4, Y[:3], test_size=2)),
    ("data.split", "a class with one member", lambda: split(X4, np.array([0, 1, 1, 1, 1]), test_size=2)),
    ("data.load_mnist", "a path that does not exist", lambda: load_mnist("missing.npz")),
    ("data.load_mnist", "a folder without the IDX files", lambda: load_mnist("empty_folder")),
    ("data.load_mnist", "a folder with a truncated IDX file", lambda: load_mnist("idx")),
    ("data.load_mnist", ".npz without X/y or x_train…", lambda: load_mnist("no_arrays.npz")),
    ("data.load_mnist", "truncated .npz", lambda: load_mnist("truncated.npz")),
    ("data.load_mnist", ".npz holding object arrays", lambda: load_mnist("object_data.npz")),
    ("data.load_mnist", "pixels of 300", lambda: load_mnist("bad_pixels.npz")),
    ("data.load_mnist", "labels 'one', 'two'", lambda: load_mnist("bad_labels.npz")),
    (
        "plots",
        "plot_loss of an empty history",
        lambda: plot_loss(MultilayerNeuralNetClassifier([4, 2]).history, "loss.png"),
    ),
    ("plots", "plot_accuracy of a table without accuracy columns", lambda: plot_accuracy({"epoch": [0]}, "acc.png")),
    ("plots", "plot_digits with 3 labels for 5 images", lambda: plot_digits(np.zeros((5, 784)), [0, 1, 2], "d.png")),
    ("model files", "a file that does not exist", lambda: load_network("missing_model.npz")),
    ("model files", "a text file", lambda: load_network("notes.txt")),
    ("model files", "a truncated model", lambda: load_network("truncated_model.npz")),
    ("model files", "a foreign .npz", lambda: load_estimator("foreign.npz")),
    ("model files", "format version 99", lambda: load_network("newer_model.npz")),
    ("model files", "an object (pickle) array inside", lambda: load_network("object_model.npz")),
    ("model files", "header layers do not match the arrays", lambda: load_network("wrong_layers_model.npz")),
    ("model files", "NaN weights", lambda: load_estimator("nan_model.npz")),
    (
        "model files",
        "header layers [784, 20000, 20000, 10] in a small file",
        lambda: load_network("huge_layers_model.npz"),
    ),
    ("model files", "a header nested 100,000 deep", lambda: load_network("nested_header_model.npz")),
    ("model files", "garbage bytes as a weight entry", lambda: load_estimator("garbage_weights_model.npz")),
    ("model files", "a 64 MiB entry deflated to 64 KiB", lambda: load_network("bomb_model.npz")),
    ("model files", "zip compression method 99", lambda: load_network("compression_99_model.npz")),
    ("model files", "the zip encryption flag", lambda: load_network("encrypted_model.npz")),
    ("NeuralNetClassifier", "epochs=0", _fit(epochs=0)),
    ("NeuralNetClassifier", "batch_size=0", _fit(batch_size=0)),
    ("NeuralNetClassifier", "learning_rate=-1", _fit(learning_rate=-1)),
    ("NeuralNetClassifier", "hidden_layer_sizes=(50, 0)", _fit(hidden_layer_sizes=(50, 0))),
    ("NeuralNetClassifier", "dtype='float16'", _fit(dtype="float16")),
    ("NeuralNetClassifier", "validation_fraction=1.5", _fit(validation_fraction=1.5)),
    ("NeuralNetClassifier", "fit: X with NaN", lambda: _fit()(X=np.full((4, 2), np.nan), y=[0, 1, 0, 1])),
    ("NeuralNetClassifier", "fit: y=None", lambda: _fit()(y=None)),
    ("NeuralNetClassifier", "fit: continuous y", lambda: _fit()(y=np.linspace(0, 1, 20))),
    ("NeuralNetClassifier", "fit: labels 1 and 'a' mixed", lambda: _fit()(y=np.array([1, "a"] * 10, dtype=object))),
    ("NeuralNetClassifier", "fit: y with NaN", lambda: _fit()(y=np.r_[np.nan, IRIS_Y[1:]])),
    ("NeuralNetClassifier", "fit: y of shape (20, 2)", lambda: _fit()(y=np.c_[IRIS_Y, IRIS_Y])),
    ("NeuralNetClassifier", "fit: 19 labels for 20 samples", lambda: _fit()(y=IRIS_Y[:19])),
    ("NeuralNetClassifier", "fit: X of shape (0, 4)", lambda: _fit()(X=np.ones((0, 4)), y=[])),
    ("NeuralNetClassifier", "fit: 1-D X", lambda: _fit()(X=np.ones(20))),
    ("NeuralNetClassifier", "fit: X of strings", lambda: _fit()(X=[["a", "b"]] * 4, y=[0, 1, 0, 1])),
    (
        "NeuralNetClassifier",
        "fit: a learning rate that diverges (float32, 1e50)",
        _fit(dtype="float32", learning_rate=1e50),
    ),
    ("NeuralNetClassifier", "arch='dense(5)' for 3 classes", _fit(arch="dense(5)")),
    (
        "NeuralNetClassifier",
        "arch='conv(2, 3) flatten dense(3)' on flat rows",
        _fit(arch="conv(2, 3) flatten dense(3)"),
    ),
    ("NeuralNetClassifier", "arch with activation='relu'", _fit(arch="dense(3)", activation="relu")),
    (
        "NeuralNetClassifier",
        "arch with input_shape=(1, 3, 3) for 4 features",
        _fit(arch="dense(3)", input_shape=(1, 3, 3)),
    ),
    ("NeuralNetClassifier", "predict before fit", lambda: NeuralNetClassifier().predict(IRIS_X)),
    ("NeuralNetClassifier", "predict: 3 features after fitting 4", lambda: _fitted().predict(IRIS_X[:, :3])),
    ("NeuralNetClassifier", "partial_fit without classes", lambda: NeuralNetClassifier().partial_fit(IRIS_X, IRIS_Y)),
    (
        "NeuralNetClassifier",
        "partial_fit: a label outside classes",
        lambda: NeuralNetClassifier(**QUICK).partial_fit(IRIS_X, IRIS_Y, classes=[0, 1]),
    ),
    ("NeuralNetClassifier", "save before fit", lambda: NeuralNetClassifier().save("never.npz")),
]

CLI = [
    ["train", "--epochs", "0"],
    ["train", "--learning-rate", "0"],
    ["train", "--hidden", "50,0"],
    ["train", "--dataset", "cifar"],
    ["train", "--dataset", "mnist", "--data", "missing.npz"],
    ["train", "--dataset", "mnist", "--data", "truncated.npz"],
    ["train", "--test-size", "0"],
    ["train", "--test-size", "1.5"],
    ["train", "--resume", "notes.txt", "--epochs", "1"],
    ["train", "--resume", "mnist_model.npz", "--epochs", "1"],
    ["train", "--dtype", "float32", "--learning-rate", "1e50", "--epochs", "1", "--quiet", "--out", "diverged"],
    ["gradcheck", "--layers", "5"],
    ["gradcheck", "--layers", "5,x"],
    ["predict", "mnist_model.npz"],
    ["predict", "missing_model.npz", "pixels.npy"],
    ["predict", "foreign.npz", "pixels.npy"],
    ["predict", "object_model.npz", "pixels.npy"],
    ["predict", "mnist_model.npz", "wide.png"],
    ["predict", "mnist_model.npz", "digit.gif"],
    ["predict", "mnist_model.npz", "gif_inside.png"],
    ["predict", "mnist_model.npz", "corrupt.png"],
    ["predict", "mnist_model.npz", "notes.txt"],
    ["predict", "mnist_model.npz", "missing.png"],
    ["predict", "mnist_model.npz", "negative.npy"],
    ["predict", "mnist_model.npz", "nan.npy"],
    ["predict", "mnist_model.npz", "wrong_shape.npy"],
    ["predict", "mnist_model.npz", "text.npy"],
    ["predict", "mnist_model.npz", "object.npy"],
    ["predict", "mnist_model.npz", "empty.npy"],
    ["predict", "mnist_model.npz", "no_arrays.npz"],
    ["predict", "mnist_model.npz", "truncated.npz"],
    ["predict", "digits_model_without_scaling.npz", "pixels64.npy"],
    ["predict", "digits_model_without_scaling.npz", "wide.png"],
    ["predict", "mnist_model.npz", "bomb.png"],
    ["predict", "huge_layers_model.npz", "pixels.npy"],
    ["predict", "--json", "--jsonl", "mnist_model.npz", "pixels.npy"],
    ["predict", "--output", "out.txt", "mnist_model.npz", "pixels.npy"],
    ["train", "--seed", "99999999999999999999"],
    ["train", "--out", "x" * 256, "--epochs", "1"],
    ["train", "--resume", "digits_model_without_scaling.npz", "--hidden", "30", "--epochs", "1"],
    ["report", "damaged.sqlite"],
    ["tune", "--store", "busy.sqlite", "--new", "--epochs", "1", "--folds", "2", "--hidden-layers", "1"],
    ["store", "export", "missing.sqlite", "out.csv"],
    ["tune", "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", "1", "--store", "d.sqlite"],
    ["train", "--arch", "conv(8, 3) relu flatten dense(10)", "--hidden", "30"],
    ["train", "--arch", "conv(8, 3 relu flatten dense(10)"],
    ["train", "--arch", "conv(8, kernel=3) flatten dense(10)"],
    ["train", "--arch", "lenet5", "--epochs", "1"],
    ["train", "--arch", "flatten dense(3)", "--epochs", "1"],
    ["train", "--data", "table.csv", "--arch", "conv(2, 3) flatten dense(2)", "--epochs", "1"],
    ["train", "--augment", "--epochs", "1"],
    ["train", "--resume", "mnist_model.npz", "--arch", "cnn", "--epochs", "1"],
    ["train", "--resume", "cnn_model.npz", "--epochs", "1"],
    ["gradcheck", "--arch", "conv(2, 3) flatten dense(3)", "--input-shape", "4"],
    ["gradcheck", "--arch", "cnn", "--layers", "5,3"],
    ["predict", "cnn_model.npz", "pixels64.npy"],
    ["predict", "cnn_missing_array_model.npz", "pixels.npy"],
    ["tune", "--dataset", "digits", "--min-epochs", "3", "--store", "h.sqlite"],
]


def run_api(func):
    """``(exception type name, message)``; ``(None, repr(result))`` if nothing was raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = func()
    except Exception as exc:
        return exc, f"{type(exc).__name__}: {exc}"
    return None, f"no error: {result!r}"


def run_cli(argv):
    """``(exit code, stderr)`` of ``scratchnet ARGV``, in process."""
    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def last_line(stderr):
    """The last line written to stderr (a progress bar may precede it, redrawn with carriage returns)."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def results():
    """Run every case in a scratch folder: ``[(area, given, outcome, detail)]``."""
    rows = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            make_files()
            Path("empty_folder").mkdir()
            for area, given, func in API:
                exc, text = run_api(func)
                rows.append((area, given, exc, text))
            for argv in CLI:
                code, err = run_cli(argv)
                rows.append(("CLI", "scratchnet " + " ".join(argv), code, last_line(err)))
        finally:
            os.chdir(cwd)
    return rows


def _cell(text):
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render(rows=None):
    rows = results() if rows is None else rows
    lines = [
        "# Bad inputs and what they get",
        "",
        "Generated by `PYTHONPATH=src python docs/errors.py` (do not edit by hand); "
        "`tests/test_errors_doc.py` checks it is current and that every case is refused cleanly: a "
        "`ValueError`/`TypeError` (or a subclass) from the Python API, one `error: …` line on stderr and a "
        "non-zero exit code from the CLI, never a traceback. Paths are relative to a scratch folder.",
        "",
        "| where | bad input | what it gets |",
        "|---|---|---|",
    ]
    for area, given, outcome, text in rows:
        if area == "CLI":
            lines.append(f"| CLI | `{_cell(given)}` | exit {outcome}: {_cell(text)} |")
        else:
            lines.append(f"| {_cell(area)} | {_cell(given)} | {_cell(text)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    (HERE / "errors.md").write_text(render())
    print(f"wrote {HERE / 'errors.md'}")
