"""Shared by the serve tests: small models trained here, and `scratchnet serve` run as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from scratchnet.data import load_digits, preprocessing, split
from scratchnet.modelio import save_network
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.serve.preprocess import mnist_like
from scratchnet.training import train

SRC = Path(__file__).resolve().parents[1] / "src"


def train_models(folder, mnist=None):
    """Two models trained here: ``digits`` (8 × 8 inputs, sigmoid) and a 28 × 28 one (ReLU, softmax).

    The 28 × 28 model is ``mnist`` (4 epochs of real MNIST) when the path ``mnist``
    is given, else ``digits28``: scikit-learn's digits upscaled to 28 × 28 and
    normalised like MNIST, so that it reads 28 × 28 drawings. Both are quick.
    """
    folder = Path(folder)
    X, y = load_digits()
    X_train, X_test, y_train, y_test = split(X, y, 0.2, 123)
    small = MultilayerNeuralNetClassifier([64, 32, 10], random_seed=123)
    train(
        small,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=30,
        batch_size=20,
        learning_rate=1.0,
        seed=123,
        verbose=False,
        progress=False,
        diagnostics=True,
    )
    save_network(small, folder / "digits.npz", extra_header={"preprocessing": preprocessing("digits")})

    options = dict(activation="relu", output="softmax", loss="cross_entropy", init="he")
    if mnist:
        from scratchnet.data import load_mnist

        X, y = load_mnist(mnist)
        X_train, X_test, y_train, y_test = split(X, y, 10000, 123)
        wide = MultilayerNeuralNetClassifier([784, 48, 10], random_seed=123, **options)
        train(
            wide,
            X_train,
            y_train,
            X_test,
            y_test,
            epochs=4,
            batch_size=128,
            learning_rate=0.001,
            optimizer="adam",
            seed=123,
            verbose=False,
            progress=False,
            diagnostics=True,
        )
        save_network(wide, folder / "mnist.npz", extra_header={"preprocessing": preprocessing("mnist")})
        return folder / "digits.npz", folder / "mnist.npz"
    from PIL import Image
    from sklearn.datasets import load_digits as sk_digits

    images = sk_digits().images / 16.0 * 255.0
    big = np.stack(
        [
            mnist_like(np.asarray(Image.fromarray(im.astype(np.float32)).resize((28, 28), Image.BILINEAR)))
            for im in images
        ]
    )
    X28 = (big.reshape(len(big), -1) / 255.0 - 0.5) * 2.0
    X_train, X_test, y_train, y_test = split(X28, sk_digits().target, 0.2, 123)
    wide = MultilayerNeuralNetClassifier([784, 48, 10], random_seed=123, **options)
    train(
        wide,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=15,
        batch_size=32,
        learning_rate=0.05,
        seed=123,
        verbose=False,
        progress=False,
    )
    save_network(
        wide,
        folder / "digits28.npz",
        extra_header={"preprocessing": {"name": "scale_pixels", "dataset": "mnist-like digits", "max_value": 255.0}},
    )
    return folder / "digits.npz", folder / "digits28.npz"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, data=None, timeout=10):
    """``(status, body)`` of a GET (or a POST of the bytes ``data``)."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Server:
    """``scratchnet serve ARGS --port P`` in a subprocess, waited for until it answers."""

    def __init__(self, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scratchnet", "serve", *map(str, args), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.first_line = self.process.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                if get_json(self.url + "/api/models", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {self.process.stderr.read()}")
            time.sleep(0.2)

    def alive(self):
        return self.process.poll() is None and get_json(self.url + "/api/models")[0] == 200

    def interrupt(self, timeout=15):
        """Ctrl-C: ``(exit code, rest of stdout, stderr)``."""
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def close(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
