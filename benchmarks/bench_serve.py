"""Latency of ``POST /api/predict`` on a real ``scratchnet serve`` (uvicorn), measured by a client on the same machine.

Two models with the shapes that matter: the article's [784, 50, 10] (sigmoid,
MSE) and the largest preset, ``best`` [784, 512, 512, 10] (ReLU, softmax,
float32). Their weights are drawn at random (``train`` does not change how long
a forward pass takes), saved as model files with MNIST's preprocessing and
served by one server. For each model: 50 warm-up requests, then ``--requests``
(1,000) sequential requests from one keep-alive HTTP connection, each with a
different drawing (a random stroke, 784 grey levels), timed from send to the
parsed JSON answer; p50/p90/p99/max are printed.

    PYTHONPATH=src python benchmarks/bench_serve.py [--requests 1000]

Target: p50 ≤ 20 ms for the article's model on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from scratchnet.modelio import save_network  # noqa: E402
from scratchnet.network import MultilayerNeuralNetClassifier  # noqa: E402
from scratchnet.presets import PRESETS  # noqa: E402

MODELS = {
    "article": dict(layers=[784, 50, 10]),
    "best": dict(
        layers=[784, 512, 512, 10],
        activation=PRESETS["best"]["activation"],
        output=PRESETS["best"]["output"],
        loss=PRESETS["best"]["loss"],
        init=PRESETS["best"]["init"],
        dtype=np.float32,
    ),
}


def drawings(n, seed=0):
    """``n`` random strokes as 784 grey levels: a thick random walk, like a hand-drawn digit."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        image = np.zeros((28, 28))
        y, x = rng.uniform(6, 22, size=2)
        for _ in range(40):
            y, x = np.clip([y + rng.normal(0, 1.2), x + rng.normal(0, 1.2)], 3, 24)
            image[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2] = 255
        out.append(image.ravel().astype(int).tolist())
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def percentiles(ms):
    ms = np.asarray(ms)
    return {p: float(np.percentile(ms, q)) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))} | {
        "max": float(ms.max())
    }


def main():
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    paths = []
    for name, spec in MODELS.items():
        spec = dict(spec)
        net = MultilayerNeuralNetClassifier(spec.pop("layers"), random_seed=123, **spec)
        pre = {"name": "scale_pixels", "dataset": "mnist", "max_value": 255.0}
        paths.append(save_network(net, folder / f"{name}.npz", extra_header={"preprocessing": pre}))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    server = subprocess.Popen(
        [sys.executable, "-m", "scratchnet", "serve", *map(str, paths), "--port", str(port)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    print(server.stdout.readline().strip())
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):
                try:
                    client.get("/api/models")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            print(
                f"CPU: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}; load average {load()}"
            )
            pixels = drawings(args.requests)
            for name in MODELS:
                for p in pixels[:50]:
                    client.post("/api/predict", json={"model": name, "pixels": p}).raise_for_status()
                ms, size = [], 0
                for p in pixels:
                    body = json.dumps({"model": name, "pixels": p})
                    t0 = time.perf_counter()
                    response = client.post("/api/predict", content=body, headers={"Content-Type": "application/json"})
                    answer = response.json()
                    ms.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200 and "prediction" in answer, answer
                    size += len(response.content)
                stats = percentiles(ms)
                layers = MODELS[name]["layers"]
                print(
                    f"{name:8s} {layers!s:22s} {args.requests} requests: "
                    + ", ".join(f"{k} {v:.2f} ms" for k, v in stats.items())
                    + f"; answer {size / args.requests / 1024:.1f} KiB"
                )
        print(f"load average at end {load()}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
