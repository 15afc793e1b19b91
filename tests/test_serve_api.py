"""The JSON API of `scratchnet serve`: good and bad payloads, concurrency, safety, Ctrl-C, the Tune view."""

import json
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.serve.app import create_app, model_names
from scratchnet.serve.preprocess import check_pixels, digits_like, mnist_like, model_image
from serve_support import SRC, Server, get_json, train_models

starlette = pytest.importorskip("starlette")
with warnings.catch_warnings():  # Starlette 1.x suggests httpx2 for its TestClient; httpx (the test extra) works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(list(models))) as c:
        yield c


def one_pixels():
    image = np.zeros((28, 28))
    image[4:24, 13:16] = 255
    return image.ravel()


def zero_pixels():
    yy, xx = np.mgrid[:28, :28]
    r = np.hypot((yy - 14) / 9, (xx - 14) / 6)
    return np.where(np.abs(r - 1) < 0.18, 255.0, 0.0).ravel()


def expected(path, pixels):
    """The model's own prediction and output for ``pixels``, in process (same preprocessing as the server)."""
    net = MultilayerNeuralNetClassifier.load(path)
    from scratchnet.modelio import read_model_file

    header, _ = read_model_file(path)
    _, _, x = model_image(check_pixels(list(pixels)), header["preprocessing"], net.layers[0])
    return int(net.predict(x)[0]), net.forward(x)


# ------------------------------------------------------------------ preprocessing
def test_mnist_like_fits_20_box_and_centres_mass():
    image = np.zeros((28, 28))
    image[0:12, 0:3] = 255  # a small stroke in a corner, 12 high and 3 wide
    image[np.arange(6), np.arange(6) + 3] = 255  # and a diagonal serif
    out = mnist_like(image.ravel())
    rows, cols = np.flatnonzero(out.max(axis=1) > 1), np.flatnonzero(out.max(axis=0) > 1)
    assert 19 <= rows[-1] - rows[0] + 1 <= 22  # the longer side scaled to ~20 (anti-aliasing adds a pixel)
    assert 12 <= cols[-1] - cols[0] + 1 <= 17  # aspect ratio kept: 9/12 of 20
    from scipy import ndimage

    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 13.5) < 0.5 and abs(cx - 13.5) < 0.5
    assert out.min() >= 0 and out.max() <= 255
    assert np.count_nonzero((out > 5) & (out < 250)) > 0  # grey levels at the edges
    assert not mnist_like(np.zeros(784)).any()


def test_digits_like_is_8x8_in_0_16():
    out = digits_like(one_pixels())
    assert out.shape == (8, 8) and out.min() >= 0 and out.max() <= 16
    assert out[:, 3:5].sum() > 0.9 * out.sum()  # a vertical stroke stays in the middle columns


# ------------------------------------------------------------------ the page and safety
def test_page_and_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="draw"' in page.text and 'id="prediction"' in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: every asset is local
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "https://" not in client.get("/static/app.js").text


@pytest.mark.parametrize(
    "path", ["/static/../app.py", "/static/%2e%2e/app.py", "/etc/passwd", "/api/learn/..%2Fmodelio"]
)
def test_no_path_reaches_the_filesystem(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


def test_models_lists_architecture_and_recipe(client, models):
    body = client.get("/api/models").json()
    assert [m["name"] for m in body["models"]] == ["digits", "digits28"]
    small, wide = body["models"]
    assert small["layers"] == [64, 32, 10] and small["activation"] == "sigmoid" and small["dataset"] == "digits"
    assert wide["layers"] == [784, 48, 10] and wide["output"] == "softmax" and wide["loss"] == "cross_entropy"
    assert small["diagnostics"] is True and body["tune"] is False


def test_model_names_are_unique():
    assert model_names(["a/m.npz", "b/m.npz", "c/x.npz", "d/m.npz"]) == ["m", "m-2", "x", "m-3"]


# ------------------------------------------------------------------ predict
@pytest.mark.parametrize("name,index", [("digits", 0), ("digits28", 1)])
@pytest.mark.parametrize("pixels", [one_pixels, zero_pixels])
def test_predict_matches_the_model(client, models, name, index, pixels):
    response = client.post("/api/predict", json={"model": name, "pixels": pixels().tolist()})
    assert response.status_code == 200
    body = response.json()
    prediction, activations = expected(models[index], pixels())
    assert body["prediction"] == prediction
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-3)
    net = MultilayerNeuralNetClassifier.load(models[index])
    assert [layer["shape"] for layer in body["layers"]] == [[n] for n in net.layers[1:]]
    for layer, a in zip(body["layers"], activations):
        np.testing.assert_allclose(layer["values"], a[0], atol=1e-4)
    side = 8 if index == 0 else 28
    assert body["input"]["shape"] == [side, side] and len(body["input"]["values"]) == side * side


def test_predict_defaults_to_the_first_model_and_accepts_blank_and_uncentred(client, models):
    body = client.post("/api/predict", json={"pixels": [0] * 784}).json()
    assert body["model"] == "digits" and 0 <= body["prediction"] <= 9
    raw = client.post("/api/predict", json={"model": "digits28", "pixels": one_pixels().tolist(), "center": False})
    assert raw.status_code == 200 and raw.json()["input"]["values"][13] == 0  # used as given: no recentring


BAD = [
    (b"not json", "JSON"),
    (b"[1, 2, 3]", "object"),
    (b"{}", "pixels"),
    (json.dumps({"pixels": [0] * 783}).encode(), "784"),
    (json.dumps({"pixels": [0] * 785}).encode(), "784"),
    (json.dumps({"pixels": ["0"] * 784}).encode(), "numbers"),
    (json.dumps({"pixels": [True] * 784}).encode(), "numbers"),
    (json.dumps({"pixels": [-1] + [0] * 783}).encode(), "between 0 and 255"),
    (json.dumps({"pixels": [256] + [0] * 783}).encode(), "between 0 and 255"),
    (b'{"pixels": [NaN' + b", 0" * 783 + b"]}", "finite"),
    (json.dumps({"pixels": "abc"}).encode(), "list"),
    (json.dumps({"pixels": [0] * 784, "model": "nope"}).encode(), "unknown model"),
    (json.dumps({"pixels": [0] * 784, "model": "../digits"}).encode(), "unknown model"),
    (json.dumps({"pixels": [0] * 784, "path": "/etc/passwd"}).encode(), "unknown field"),
    (json.dumps({"pixels": [0] * 784, "center": "yes"}).encode(), "center"),
    (json.dumps({"pixels": [0.5] * 784 * 20}).encode(), "too large"),
    (b"[" * 40000 + b"]" * 40000, "too large"),
    (b"[" * 10000 + b"]" * 10000, "JSON"),
    ('{"pixels": "\u00e9"}'.encode("latin-1"), "JSON"),
]


@pytest.mark.parametrize("body,message", BAD, ids=[m + str(i) for i, (_, m) in enumerate(BAD)])
def test_bad_payloads_are_400_and_the_server_goes_on(client, body, message):
    response = client.post("/api/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert client.post("/api/predict", json={"pixels": one_pixels().tolist()}).status_code == 200


def test_wrong_method_is_a_json_405(client):
    response = client.get("/api/predict")
    assert response.status_code == 405 and "error" in response.json()


# ------------------------------------------------------------------ learn
def test_learn_view_data(client, models):
    body = client.get("/api/learn/digits").json()
    assert body["history"]["epoch"] == list(range(30))
    assert len(body["diagnostics"]) == 30 and "grad_norm_1" in body["diagnostics"][0]
    assert body["weights"]["shape"] == [8, 8] and len(body["weights"]["units"]) == 32
    ev = body["evaluation"]
    assert ev["available"] and ev["n"] == 360 and sum(map(sum, ev["confusion"])) == 360
    net = MultilayerNeuralNetClassifier.load(models[0])
    from scratchnet.data import load_digits, split

    X, y = load_digits()
    _, X_test, _, y_test = split(X, y, 0.2, 123)
    assert ev["accuracy"] == pytest.approx(net.accuracy(X_test, y_test))
    scores = [w["score"] for w in ev["wrong"]]
    assert scores == sorted(scores, reverse=True) and all(w["label"] != w["predicted"] for w in ev["wrong"])
    wide = client.get("/api/learn/digits28").json()
    assert wide["weights"]["shape"] == [28, 28] and wide["evaluation"]["available"] is False
    assert wide["diagnostics"] == []
    assert client.get("/api/learn/nope").status_code == 404


# ------------------------------------------------------------------ a real server
@pytest.fixture(scope="module")
def server(models):
    s = Server(*models)
    yield s
    s.close()


def test_serve_prints_its_url_and_binds_localhost(server):
    assert server.first_line.startswith(f"scratchnet serve: http://127.0.0.1:{server.port}/")
    assert "digits, digits28" in server.first_line


def test_bad_requests_never_kill_the_real_server(server):
    for body, _ in BAD:
        status, answer = get_json(server.url + "/api/predict", data=body)
        assert status == 400 and "error" in answer
        assert server.alive()


def test_concurrent_requests(server, models):
    cases = [(name, pixels) for name in ("digits", "digits28") for pixels in (one_pixels(), zero_pixels())]
    wanted = {(name, i % 2): expected(models[0 if name == "digits" else 1], p)[0] for i, (name, p) in enumerate(cases)}

    def ask(i):
        name, pixels = cases[i % len(cases)]
        status, body = get_json(
            server.url + "/api/predict", json.dumps({"model": name, "pixels": pixels.tolist()}).encode()
        )
        return status, name, i % 2, body.get("prediction")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, range(200)))
    assert all(status == 200 for status, *_ in results)
    assert all(prediction == wanted[(name, k)] for _, name, k, prediction in results)
    assert server.alive()


def test_ctrl_c_stops_cleanly(models):
    s = Server(models[0])
    try:
        code, out, err = s.interrupt()
        assert code == 0, err
        assert "stopped" in out and "Traceback" not in err
    finally:
        s.close()


def test_a_broken_model_file_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    result = subprocess.run(
        [sys.executable, "-m", "scratchnet", "serve", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 1 and result.stderr.startswith("error:") and "Traceback" not in result.stderr


def test_serve_needs_a_model_or_a_store():
    result = subprocess.run(
        [sys.executable, "-m", "scratchnet", "serve"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode != 0 and "MODEL.npz or a --store" in result.stderr


def test_a_foreign_store_is_reported_not_fatal(tmp_path, models):
    foreign = tmp_path / "foreign.sqlite"
    foreign.write_bytes(b"this is not sqlite" * 100)
    with TestClient(create_app([models[0]], foreign)) as c:
        body = c.get("/api/tune").json()
        assert body["available"] is False and body["message"]
        assert c.get("/api/models").json()["tune"] is True
    with TestClient(create_app([models[0]])) as c:
        assert c.get("/api/tune").status_code == 404


def test_a_port_in_use_is_one_error_line(models):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "scratchnet", "serve", str(models[0]), "--port", str(port)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
            timeout=60,
        )
    assert result.returncode == 1 and f"error: cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ tune
def test_tune_view_follows_a_running_tune(tmp_path):
    """The Tune view reads the store while `scratchnet tune` writes it; the writer is never blocked."""
    store = tmp_path / "grid.sqlite"
    s = Server("--store", store)
    try:
        status, body = get_json(s.url + "/api/tune")
        assert status == 200 and body["available"] is False  # before tune starts
        tune = subprocess.Popen(
            [sys.executable, "-m", "scratchnet", "tune", "--dataset", "digits", "--hidden-layers", "1,2", "--hidden-nodes", "8,16",
             "--learning-rates", "0.5,1.0", "--folds", "2", "--epochs", "15", "--batch-size", "20", "--workers", "1",
             "--group-size", "1", "--store", str(store), "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
        )  # fmt: skip
        seen = []
        while tune.poll() is None:
            status, body = get_json(s.url + "/api/tune")
            assert status == 200
            if body["available"]:
                seen.append(body["runs"])
            time.sleep(0.05)
        _, err = tune.communicate()
        assert tune.returncode == 0, err
        status, body = get_json(s.url + "/api/tune")
        assert body["runs"] == 16 and len(body["table"]) == 8 and len(body["curves"]) == 8
        assert body["heatmap"]["rows"] == [1, 2] and body["heatmap"]["columns"] == [8, 16]
        assert len(set(seen)) >= 2, seen  # it refreshed while tune was writing
        assert s.alive()
    finally:
        s.close()
