"""`scratchnet predict MODEL INPUT...`: images, .npy arrays, .npz data sets; clear refusals."""

import json

import numpy as np
import pytest
from PIL import Image

from scratchnet import MultilayerNeuralNetClassifier
from scratchnet.cli import main
from scratchnet.data import scale_pixels
from scratchnet.estimator import NeuralNetClassifier
from scratchnet.inputs import read_image


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def mnist_net(tmp_path):
    net = MultilayerNeuralNetClassifier([784, 16, 10], random_seed=0)
    return net, net.save(tmp_path / "mnist_model.npz")


@pytest.fixture
def digits_like(tmp_path):
    """Three random 'images' of raw pixels 0..255 with a dark border, MNIST style."""
    rng = np.random.default_rng(0)
    imgs = np.zeros((3, 28, 28), dtype=np.uint8)
    imgs[:, 4:24, 4:24] = rng.integers(0, 256, (3, 20, 20))
    return imgs


def predict_json(argv, capsys):
    code, out, err = run(["predict", "--json", *argv], capsys)
    assert code == 0, err
    return json.loads(out)


def test_png_is_read_exactly_like_the_training_pixels(tmp_path, mnist_net, digits_like, capsys):
    net, model = mnist_net
    paths = []
    for i, img in enumerate(digits_like):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(img).save(paths[-1])
    result = predict_json([str(model), *map(str, paths)], capsys)
    expected = net.predict_proba(scale_pixels(digits_like.reshape(3, -1)))
    np.testing.assert_allclose([p["scores"] for p in result["predictions"]], expected, rtol=1e-12)
    assert [p["predicted"] for p in result["predictions"]] == expected.argmax(axis=1).tolist()
    assert result["classes"] == list(range(10))
    for p in result["predictions"]:
        assert abs(sum(p["probabilities"]) - 1) < 1e-9


def test_dark_digit_on_light_background_is_inverted(tmp_path, digits_like):
    Image.fromarray(255 - digits_like[0]).save(tmp_path / "paper.png")
    Image.fromarray(digits_like[0]).save(tmp_path / "mnist.png")
    np.testing.assert_array_equal(read_image(tmp_path / "paper.png"), digits_like[0].reshape(-1))
    np.testing.assert_array_equal(read_image(tmp_path / "mnist.png"), digits_like[0].reshape(-1))


def test_transparent_background_counts_as_white(tmp_path):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)  # fully transparent black...
    rgba[10:18, 12:16] = (0, 0, 0, 255)  # ...with an opaque black stroke
    Image.fromarray(rgba, "RGBA").save(tmp_path / "stroke.png")
    pixels = read_image(tmp_path / "stroke.png").reshape(28, 28)
    assert pixels[0, 0] == 0 and pixels[12, 13] == 255  # white stroke on black, as MNIST


def test_jpeg_and_colour_images_are_read(tmp_path, mnist_net, digits_like, capsys):
    _, model = mnist_net
    Image.fromarray(digits_like[0]).convert("RGB").save(tmp_path / "d.jpg", quality=95)
    result = predict_json([str(model), str(tmp_path / "d.jpg")], capsys)
    assert len(result["predictions"]) == 1 and len(result["predictions"][0]["scores"]) == 10
    pixels = read_image(tmp_path / "d.jpg")
    assert np.abs(pixels - digits_like[0].reshape(-1)).mean() < 10  # lossy, but the same picture


def test_every_array_layout_gives_the_same_answer(tmp_path, mnist_net, digits_like, capsys):
    net, model = mnist_net
    flat = digits_like.reshape(3, -1)
    np.save(tmp_path / "one_flat.npy", flat[0])
    np.save(tmp_path / "one_square.npy", digits_like[0])
    np.save(tmp_path / "many_flat.npy", flat.astype(np.float32))
    np.save(tmp_path / "many_square.npy", digits_like)
    names = ["one_flat", "one_square", "many_flat", "many_square"]
    result = predict_json([str(model), *(str(tmp_path / f"{n}.npy") for n in names)], capsys)
    scores = np.array([p["scores"] for p in result["predictions"]])
    expected = net.predict_proba(scale_pixels(flat))
    np.testing.assert_allclose(scores, np.concatenate([expected[:1], expected[:1], expected, expected]), rtol=1e-6)
    assert [p["input"] for p in result["predictions"]][2:5] == [f"{tmp_path / 'many_flat.npy'}[{i}]" for i in range(3)]


def test_npz_dataset_with_labels_reports_accuracy(tmp_path, mnist_net, digits_like, capsys):
    net, model = mnist_net
    flat = digits_like.reshape(3, -1)
    pred = net.predict(scale_pixels(flat))
    y = np.array([pred[0], pred[1], (pred[2] + 1) % 10])
    np.savez(tmp_path / "split.npz", x_train=digits_like[:2], y_train=y[:2], x_test=digits_like[2:], y_test=y[2:])
    code, out, err = run(["predict", str(model), str(tmp_path / "split.npz")], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["input", "label", "predicted"] and "score 9" in lines[0]
    assert len(lines) == 1 + 3 + 1 and lines[-1] == "accuracy 0.6667 on 3 labelled inputs"
    np.savez(tmp_path / "xy.npz", X=flat, y=y)
    assert predict_json([str(model), str(tmp_path / "xy.npz")], capsys)["accuracy"] == pytest.approx(2 / 3)


def test_estimator_file_with_string_classes(tmp_path, digits_like, capsys):
    X = scale_pixels(np.concatenate([digits_like.reshape(3, -1)] * 4))
    y = np.array(["cat", "dog", "eel"] * 4)
    est = NeuralNetClassifier(hidden_layer_sizes=(5,), epochs=30, batch_size=4, learning_rate=2.0, random_state=0)
    path = est.fit(X, y).save(tmp_path / "est.npz")
    np.save(tmp_path / "x.npy", digits_like)
    result = predict_json([str(path), str(tmp_path / "x.npy")], capsys)
    assert result["classes"] == ["cat", "dog", "eel"]
    assert [p["predicted"] for p in result["predictions"]] == est.predict(X[:3]).tolist()


def test_scaled_inputs_are_fed_unchanged(tmp_path, mnist_net, capsys):
    net, model = mnist_net
    X = np.random.default_rng(1).uniform(-1, 1, (2, 784))
    np.save(tmp_path / "scaled.npy", X)
    result = predict_json(["--scaled", str(model), str(tmp_path / "scaled.npy")], capsys)
    np.testing.assert_allclose([p["scores"] for p in result["predictions"]], net.predict_proba(X), rtol=1e-12)


def test_refit_model_records_its_scaling(tmp_path):
    from scratchnet.modelio import read_model_file
    from scratchnet.store import Store
    from scratchnet.tuning import refit_best

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "tune",
                "--hidden-layers",
                "1",
                "--hidden-nodes",
                "5",
                "--learning-rates",
                "1.0",
                "--folds",
                "2",
                "--epochs",
                "1",
                "--batch-size",
                "50",
                "--workers",
                "1",
                "--no-progress",
                "--store",
                str(tmp_path / "t.sqlite"),
            ]
        )
    code = exit_info.value.code
    assert code == 0
    with Store.open(tmp_path / "t.sqlite") as store:
        result = refit_best(store, out=tmp_path / "refit", verbose=False, progress=False, echo=lambda *a: None)
    header, _ = read_model_file(result["model_path"])
    assert header["preprocessing"] == {"name": "scale_pixels", "dataset": "digits", "max_value": 16.0}


def test_digits_model_from_train_records_its_scaling(tmp_path, capsys):
    from sklearn.datasets import load_digits

    code, _, err = run(["train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    raw = load_digits().data[:5]
    np.save(tmp_path / "raw.npy", raw)
    result = predict_json([str(tmp_path / "model.npz"), str(tmp_path / "raw.npy")], capsys)
    net = MultilayerNeuralNetClassifier.load(tmp_path / "model.npz")
    np.testing.assert_allclose([p["scores"] for p in result["predictions"]], net.predict_proba(scale_pixels(raw, 16.0)))


def _bad_inputs(tmp):
    rng = np.random.default_rng(0)
    Image.fromarray(np.zeros((32, 28), np.uint8)).save(tmp / "big.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp / "digit.gif")
    (tmp / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (tmp / "notes.txt").write_text("hello")
    np.save(tmp / "neg.npy", -rng.uniform(1, 2, 784))
    np.save(tmp / "nan.npy", np.full(784, np.nan))
    np.save(tmp / "shape.npy", np.zeros((2, 100)))
    np.save(tmp / "text.npy", np.array(["a"] * 784))
    np.save(tmp / "object.npy", np.array([{"a": 1}] * 784, dtype=object), allow_pickle=True)
    np.save(tmp / "empty.npy", np.zeros((0, 784)))
    np.savez(tmp / "nolayout.npz", images=np.zeros((2, 784)))
    np.savez(tmp / "mismatch.npz", X=np.zeros((2, 784)), y=np.zeros(3))
    (tmp / "truncated.npz").write_bytes(b"PK\x03\x04 not really")
    np.savez(tmp / "foreign_model.npz", W1=np.zeros(3))
    MultilayerNeuralNetClassifier([64, 5, 10], random_seed=0).save(tmp / "small_model.npz")
    np.save(tmp / "ok.npy", np.zeros(784))
    np.save(tmp / "ok64.npy", np.zeros(64))
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp / "gif_inside.png", format="GIF")


BAD = [
    (["big.png"], "is 28×32 pixels; scratchnet reads 28×28"),
    (["digit.gif"], "unknown kind of input '.gif'; give .png/.jpg/.jpeg images"),
    (["corrupt.png"], "cannot read image"),
    (["gif_inside.png"], "is a GIF image; give a PNG or JPEG"),
    (["notes.txt"], "unknown kind of input '.txt'"),
    (["missing.png"], "does not exist"),
    (["neg.npy"], "raw pixels lie in 0..255; if the array is already scaled for the model, pass --scaled"),
    (["nan.npy"], "NaN or infinite"),
    (["shape.npy"], r"shape \(2, 100\); the model expects 784 features"),
    (["text.npy"], "must hold real numbers"),
    (["object.npy"], "Object arrays cannot be loaded"),
    (["empty.npy"], r"shape \(0, 784\)"),
    (["nolayout.npz"], "expected X"),
    (["mismatch.npz"], "2 samples but 3 labels"),
    (["truncated.npz"], "not a readable .npz archive"),
    (["--model", "missing_model.npz", "ok.npy"], "model file .* does not exist"),
    (["--model", "foreign_model.npz", "ok.npy"], "no scratchnet header"),
    (["--model", "small_model.npz", "ok64.npy"], "does not record how raw inputs are scaled.*pass --scaled"),
    (["--model", "small_model.npz", "big.png"], "expects 64 features, but a 28×28 image gives 784"),
]


@pytest.mark.parametrize("inputs, message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_inputs_are_one_line_errors(tmp_path, mnist_net, inputs, message, capsys, monkeypatch):
    _bad_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    _, model = mnist_net
    if inputs[0] == "--model":
        model, inputs = inputs[1], inputs[2:]
    code, out, err = run(["predict", str(model), *inputs], capsys)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_no_input_is_a_usage_error(mnist_net, capsys):
    code, _, err = run(["predict", str(mnist_net[1])], capsys)
    assert code == 2 and err.startswith("error: Missing argument")


@pytest.mark.mnist
def test_real_mnist_digits_as_png_files_both_polarities(tmp_path, capsys, mnist_path):
    """Real digits written as PNG (half as in MNIST, half dark-on-light) get the estimator's own predictions."""
    from scratchnet.data import load_mnist

    X, y = load_mnist(mnist_path)
    est = NeuralNetClassifier(epochs=5, batch_size=50, learning_rate=1.0, random_state=0).fit(X[:5000], y[:5000])
    model = est.save(tmp_path / "mnist_est.npz", preprocessing={"name": "scale_pixels", "max_value": 255.0})
    X_new, y_new = X[60000:60040], y[60000:60040]
    raw = np.rint((X_new / 2 + 0.5) * 255).astype(np.uint8).reshape(-1, 28, 28)
    paths = []
    for i, img in enumerate(raw):
        paths.append(tmp_path / f"digit{i:02d}.png")
        Image.fromarray(img if i % 2 else 255 - img).save(paths[-1])
    result = predict_json([str(model), *map(str, paths)], capsys)
    predicted = [p["predicted"] for p in result["predictions"]]
    assert predicted == est.predict(X_new).tolist()
    assert np.mean(np.array(predicted) == y_new) > 0.7
