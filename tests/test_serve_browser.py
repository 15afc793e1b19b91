"""`scratchnet serve` in a real browser: Debian's chromium driven by Playwright for Python.

Draws a "1" and a "0" with mouse strokes (and a stroke by touch) on ``#draw`` and
checks ``#prediction`` against the model's own prediction for the same pixels,
checks that every layer view, the Learn view and the Tune view render, and
saves screenshots of the three views to ``build/screenshots/`` (or to the folder
``$SCRATCHNET_SCREENSHOTS`` names: ``SCRATCHNET_SCREENSHOTS=docs/figures/serve``
refreshes the README's pictures).
"""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet.modelio import read_model_file
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.serve.preprocess import check_pixels, model_image
from serve_support import SRC, Server, train_models

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SCRATCHNET_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIGURES = Path(
    os.environ.get("SCRATCHNET_SCREENSHOTS") or Path(__file__).resolve().parents[1] / "build" / "screenshots"
)

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
    pytest.skip(
        f"chromium not found at {CHROMIUM}: apt-get install -y chromium (.ci/run does)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``digits`` (8 × 8) and a 28 × 28 model: ``mnist`` if $SCRATCHNET_MNIST is at hand (as in CI), else ``digits28``."""
    mnist = os.environ.get("SCRATCHNET_MNIST")
    return train_models(tmp_path_factory.mktemp("models"), mnist if mnist and Path(mnist).is_file() else None)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small finished grid search on the digits, for the Tune view."""
    path = tmp_path_factory.mktemp("tune") / "grid.sqlite"
    subprocess.run(
        [sys.executable, "-m", "scratchnet", "tune", "--dataset", "digits", "--hidden-layers", "1,2", "--hidden-nodes", "8,16,32",
         "--learning-rates", "0.5,1.0", "--folds", "2", "--epochs", "20", "--batch-size", "20", "--workers", "1",
         "--store", str(path), "--no-progress"],
        check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}, timeout=600,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def server(models, store):
    s = Server(models[1], models[0], "--store", store)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"), args=ARGS
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, has_touch=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()
    assert not errors, errors


def stroke(page, points):
    """One mouse stroke through ``points`` given in 0…1 coordinates of the canvas."""
    box = page.locator("#draw").bounding_box()
    xy = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


ONE = [(0.45, 0.3), (0.55, 0.15)] + [(0.55, 0.15 + 0.07 * i) for i in range(11)]
ZERO = [(0.5 + 0.22 * math.sin(t), 0.5 - 0.33 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 40)]


def settled(page):
    page.wait_for_function("window.scratchnet.lastResponse !== null && window.scratchnet.idle()")
    page.wait_for_timeout(200)
    page.wait_for_function("window.scratchnet.idle()")
    return page.evaluate("window.scratchnet.lastPixels"), page.evaluate("window.scratchnet.lastResponse")


def own_prediction(path, pixels):
    header, _ = read_model_file(path)
    net = MultilayerNeuralNetClassifier.load(path)
    _, _, x = model_image(check_pixels(pixels), header["preprocessing"], net.layers[0])
    return int(net.predict(x)[0]), net


def check_layers_render(page, net):
    """Every layer has a drawn canvas of the right count of cells, and the bars and input are drawn."""
    info = page.evaluate(
        """() => [...document.querySelectorAll('#layers .layer')].map((div) => {
            const canvas = div.querySelector('canvas');
            const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let opaque = 0, colours = new Set();
            for (let i = 0; i < data.length; i += 4) { if (data[i + 3]) opaque++; colours.add(data[i] * 65536 + data[i + 1] * 256 + data[i + 2]); }
            return { title: div.textContent, width: canvas.width, height: canvas.height, opaque, colours: colours.size };
        })"""
    )
    assert len(info) == net.n_layers
    for layer, n in zip(info, net.layers[1:]):
        assert f"({n})" in layer["title"]
        assert layer["width"] > 0 and layer["height"] > 0 and layer["opaque"] == layer["width"] * layer["height"]
        assert layer["colours"] >= 2  # activations vary: not a blank box
    assert page.locator("#probabilities .bar").count() == net.n_classes
    assert page.evaluate("document.getElementById('input').width") > 0


@pytest.mark.parametrize("digit,points", [("1", ONE), ("0", ZERO)])
def test_drawn_digit_is_predicted_as_the_model_does(page, models, digit, points):
    stroke(page, points)
    pixels, response = settled(page)
    assert sum(pixels) > 0
    wanted, net = own_prediction(models[1], pixels)
    assert response["model"] == models[1].stem
    assert page.inner_text("#prediction").strip() == str(wanted)
    check_layers_render(page, net)
    # the same drawing through the other model (the picker), 8 × 8 digits
    page.select_option("#model", "digits")
    page.wait_for_function("window.scratchnet.lastResponse.model === 'digits' && window.scratchnet.idle()")
    pixels, response = settled(page)
    wanted, small = own_prediction(models[0], pixels)
    assert page.inner_text("#prediction").strip() == str(wanted)
    check_layers_render(page, small)
    if digit == "1":
        FIGURES.mkdir(parents=True, exist_ok=True)
        page.select_option("#model", models[1].stem)
        page.wait_for_function(
            f"window.scratchnet.lastResponse.model === '{models[1].stem}' && window.scratchnet.idle()"
        )
        page.screenshot(path=str(FIGURES / "draw.png"), full_page=True)


def test_clear_and_touch(page, models):
    stroke(page, ZERO)
    settled(page)
    page.click("#clear")
    assert page.inner_text("#prediction").strip() == "–"
    assert page.locator("#layers .layer").count() == 0
    box = page.locator("#draw").bounding_box()
    cdp = page.context.new_cdp_session(page)
    x, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.15
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y0}]})
    for i in range(1, 15):
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchMove", "touchPoints": [{"x": x, "y": y0 + i * box["height"] * 0.05}]},
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    pixels, _ = settled(page)
    assert sum(pixels) > 0
    wanted, _ = own_prediction(models[1], pixels)
    assert page.inner_text("#prediction").strip() == str(wanted)


def test_learn_view_renders(page, models):
    page.select_option("#model", "digits")
    page.click("#tab-learn")
    page.wait_for_function("document.querySelectorAll('#learn-confusion tr').length === 11", timeout=60000)
    assert page.locator("#learn-weights canvas").count() == 32
    assert page.locator("#learn-wrong figure").count() > 0
    for chart in ("learn-loss", "learn-accuracy", "learn-gradients", "learn-saturation"):
        drawn = page.evaluate(
            f"""() => {{ const c = document.getElementById('{chart}');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }}"""
        )
        assert drawn > 1000, chart
    assert "1,000 fixed training rows" in page.inner_text("#learn-diagnostics-note")
    page.select_option("#model", models[1].stem)
    if models[1].stem == "mnist":  # real MNIST at hand: its hold-out is evaluated too
        page.wait_for_function(
            "document.getElementById('learn-split').textContent.includes('10000 samples')", timeout=120000
        )
        assert page.locator("#learn-confusion tr").count() == 11
    else:
        page.wait_for_function(
            "document.getElementById('learn-split').textContent.includes('not at hand')", timeout=60000
        )
    page.wait_for_function("document.querySelectorAll('#learn-weights canvas').length === 48")
    FIGURES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(FIGURES / "learn.png"), full_page=True)


def test_feature_maps_door(page):
    """A layer of shape (C, H, W), as a convolutional layer will give, is drawn as C maps; (H, W) as one."""
    page.evaluate(
        """() => showLayers([
            {name: "conv 1", shape: [3, 4, 4], values: Array.from({length: 48}, (_, i) => i / 47)},
            {name: "map", shape: [5, 5], values: Array.from({length: 25}, (_, i) => i % 2)},
            {name: "dense", shape: [10], values: Array.from({length: 10}, (_, i) => i / 9)},
        ])"""
    )
    counts = page.evaluate(
        "[...document.querySelectorAll('#layers .layer')].map((d) => d.querySelectorAll('canvas').length)"
    )
    assert counts == [3, 1, 1]
    sizes = page.evaluate("[...document.querySelectorAll('#layers .layer canvas')].map((c) => [c.width, c.height])")
    assert all(w > 0 and h > 0 for w, h in sizes) and sizes[0][0] == sizes[0][1]


def test_tune_view_renders(page):
    page.click("#tab-tune")
    page.wait_for_function("document.querySelectorAll('#tune-table tr').length > 1", timeout=30000)
    assert page.locator("#tune-table tr").count() == 1 + 12
    assert page.locator("#tune-heatmap tr").count() == 1 + 2
    assert "24 trainings finished" in page.inner_text("#tune-status")
    FIGURES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(FIGURES / "tune.png"), full_page=True)


def test_tune_view_follows_a_running_tune(browser, models, tmp_path):
    """The open Tune view fills in by itself while `scratchnet tune` writes the store (no reload)."""
    store = tmp_path / "live.sqlite"
    s = Server(models[0], "--store", store)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(s.url + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.click("#tab-tune")
        page.wait_for_function("document.getElementById('tune-status').textContent.includes('waiting')")
        tune = subprocess.run(
            [sys.executable, "-m", "scratchnet", "tune", "--dataset", "digits", "--hidden-layers", "1", "--hidden-nodes", "8,16",
             "--learning-rates", "0.5", "--folds", "2", "--epochs", "10", "--batch-size", "20", "--workers", "1",
             "--store", str(store), "--no-progress"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}, timeout=600,
        )  # fmt: skip
        assert tune.returncode == 0, tune.stderr
        page.wait_for_function(
            "document.getElementById('tune-status').textContent.includes('4 trainings finished')", timeout=20000
        )
        assert page.locator("#tune-table tr").count() == 1 + 2
    finally:
        context.close()
        s.close()
