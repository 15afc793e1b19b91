"""Issue 12, the command line of networks of layers: train --arch, --preset cnn, gradcheck --arch, predict.

Small digits runs (1–3 epochs, tiny architectures), so that the file stays fast.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchnet.archspec import ARCHITECTURES, format_arch, parse_arch
from scratchnet.cli import main
from scratchnet.model import FORMAT_NAME, LayeredNetwork, load_layered
from scratchnet.modelio import read_header
from scratchnet.optimizers import OPTIMIZERS, SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
TINY = "conv(2, 3, padding=1) relu maxpool(2) flatten dense(10)"
QUICK = ["--no-progress", "--output", "softmax", "--loss", "cross-entropy", "--optimizer", "adam",
         "--learning-rate", "0.01"]  # fmt: skip


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def train(capsys, out, *args, arch=TINY, epochs=2):
    return run(capsys, "train", "--arch", arch, "--epochs", epochs, "--out", out, *QUICK, *args)


# ------------------------------------------------------------- train --arch
def test_train_arch_on_digits_writes_a_layered_run(tmp_path, capsys):
    code, out, err = train(capsys, tmp_path / "r")
    assert code == 0, err
    assert f"{TINY} on (1, 8, 8) (350 parameters, float64); 2 epochs, batch 20" in out
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 2 and "hold-out accuracy" in out
    for name in ("model.npz", "history.csv", "loss.png", "accuracy.png", "digits.png", "checkpoint.npz"):
        assert (tmp_path / "r" / name).is_file(), name
    header = read_header(tmp_path / "r" / "model.npz")
    assert header["format"] == FORMAT_NAME and header["arch"] == TINY and header["preprocessing"]["dataset"] == "digits"
    model = load_layered(tmp_path / "r" / "model.npz")
    assert isinstance(model, LayeredNetwork) and len(model.history) == 2
    accuracy = float(out.split("hold-out accuracy ")[1].split()[0])
    assert accuracy == pytest.approx(model.history.accuracy_test.iloc[-1], abs=1e-4) and accuracy > 0.5


def test_progress_counts_batches_in_epochs(tmp_path, capsys, monkeypatch):
    import scratchnet.progress

    monkeypatch.setattr(scratchnet.progress, "LINE_INTERVAL", 0.0)  # off a terminal: a line at every update
    code, _, err = run(capsys, "train", "--arch", TINY, "--epochs", 2, "--batch-size", 100, "--out", tmp_path / "r",
                       "--quiet", "--progress")  # fmt: skip
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("training: ")]
    assert len(lines) >= 2 * 14  # 1437 training rows: 14 batches of 100 per epoch, a line after each
    assert lines[0].startswith("training: 0.1/2 epoch (4 %)") and lines[-1].startswith("training: 2/2 epoch (100 %)")


def test_named_and_json_architectures_are_the_same_network(tmp_path, capsys):
    spec = tmp_path / "arch.json"
    spec.write_text(json.dumps({"arch": TINY.split(" ")}))
    for name, arch in (("a", TINY), ("b", spec)):
        code, _, err = train(capsys, tmp_path / name, "--quiet", arch=arch, epochs=1)
        assert code == 0, err
    a, b = load_layered(tmp_path / "a" / "model.npz"), load_layered(tmp_path / "b" / "model.npz")
    for (name, x), (_, y) in zip(a.named_params(), b.named_params(), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize(
    "flags",
    [["--hidden", "30"], ["--activation", "relu"], ["--init", "he"], ["--dropout", "0.2"], ["--diagnostics"]],
)
def test_mlp_flags_with_arch_are_refused_in_one_line(tmp_path, capsys, flags):
    code, _, err = run(capsys, "train", "--arch", TINY, *flags, "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1 and flags[0] in err and "--arch" in err
    assert not (tmp_path / "r" / "model.npz").exists()


def test_a_table_with_a_conv_arch_is_one_line_naming_the_layer(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["a,b,c,d,label"] + [",".join(f"{v:.3f}" for v in rng.normal(size=4)) + f",{i % 3}" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run(capsys, "train", "--data", tmp_path / "t.csv", "--arch", "conv(2, 3) flatten dense(3)",
                       "--out", tmp_path / "r", "--no-progress")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "layer 0 'conv(2, 3)'" in err and "(4,)" in err
    code, out, err = run(capsys, "train", "--data", tmp_path / "t.csv", "--arch", "dense(8) relu dense(3)",
                         "--out", tmp_path / "r", "--epochs", 1, "--no-progress")  # fmt: skip
    assert code == 0 and "on (4,)" in out, err


def test_own_image_folders_give_their_shape(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(1)
    for label in ("cat", "dog"):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 255, size=(5, 7), dtype=np.uint8)  # 7 wide, 5 high
            Image.fromarray(pixels).save(tmp_path / "img" / label / f"{i}.png")
    arch = "conv(2, 3, padding=1) relu flatten dense(2)"
    code, out, err = run(capsys, "train", "--data", tmp_path / "img", "--arch", arch, "--epochs", 1,
                         "--batch-size", 4, "--out", tmp_path / "r", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "on (1, 5, 7)" in out
    header = read_header(tmp_path / "r" / "model.npz")
    assert header["input_shape"] == [1, 5, 7] and header["preprocessing"]["image_shape"] == [1, 5, 7]
    assert header["classes"]["values"] == ["cat", "dog"]


def test_every_optimiser_and_schedule_trains(tmp_path, capsys):
    for optimizer in OPTIMIZERS:
        for schedule in SCHEDULES:
            rate = "0.01" if optimizer in ("adam", "rmsprop") else "0.1"
            code, out, err = run(capsys, "train", "--arch", TINY, "--epochs", 2, "--optimizer", optimizer,
                                 "--schedule", schedule, "--learning-rate", rate, "--out", tmp_path / "r",
                                 "--no-progress", "--quiet", "--checkpoint-every", 0)  # fmt: skip
            assert code == 0, (optimizer, schedule, err)
            accuracy = float(out.split("hold-out accuracy ")[1].split()[0])
            assert accuracy > 0.2, (optimizer, schedule, out)


def test_divergence_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--arch", TINY, "--epochs", 2, "--dtype", "float32",
                       "--learning-rate", "1e50", "--out", tmp_path / "r", "--no-progress")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "diverged in epoch 0" in err
    assert not (tmp_path / "r" / "model.npz").exists()


def test_early_stopping_keeps_the_best_epoch(tmp_path, capsys):
    code, out, err = train(capsys, tmp_path / "r", "--early-stopping", "--patience", 1, "--checkpoint-every", 0,
                           arch="flatten dense(32) relu dense(10)", epochs=30)  # fmt: skip
    assert code == 0, err
    assert "early stopping:" in out and "early stopping (patience 1)" in out
    history = load_layered(tmp_path / "r" / "model.npz").history
    best = int(out.split("restored the weights of epoch ")[1].split()[0])
    assert best < history.epoch.iloc[-1]
    assert float(out.split("hold-out accuracy ")[1].split()[0]) > 0.8


def test_augment_is_seeded_and_off_by_default(tmp_path, capsys):
    for name, flags in (("a", ["--augment"]), ("b", ["--augment"]), ("c", [])):
        code, out, err = train(capsys, tmp_path / name, "--quiet", *flags, epochs=1)
        assert code == 0, err
        assert ("augmented images" in out) == bool(flags)
    a, b, c = (load_layered(tmp_path / n / "model.npz").param_list()[0] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    code, _, err = run(capsys, "train", "--augment", "--out", tmp_path / "m")
    assert code == 2 and "--augment needs" in err and err.count("\n") == 1


def test_hot_start_from_a_layered_model_file(tmp_path, capsys):
    code, _, err = train(capsys, tmp_path / "a", "--quiet", epochs=2)
    assert code == 0, err
    model = tmp_path / "a" / "model.npz"
    code, out, err = run(capsys, "train", "--resume", model, "--epochs", 1, "--out", tmp_path / "b", *QUICK)
    assert code == 0 and f"resuming {model}: {TINY}, 2 epochs trained" in out, err
    assert len(load_layered(tmp_path / "b" / "model.npz").history) == 3
    code, _, err = run(capsys, "train", "--resume", model, "--arch", "flatten dense(10)", "--out", tmp_path / "c")
    assert code == 1 and "--arch cannot change it" in err and err.count("\n") == 1
    code, _, err = run(capsys, "train", "--hidden", "5", "--epochs", 1, "--out", tmp_path / "m", "--no-progress")
    code, _, err = run(capsys, "train", "--resume", tmp_path / "m" / "model.npz", "--arch", TINY,
                       "--out", tmp_path / "d")  # fmt: skip
    assert code == 1 and "holds an MLP" in err and err.count("\n") == 1


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, capsys):
    code, _, err = train(capsys, tmp_path / "r", "--quiet", epochs=1)
    assert code == 0, err
    code, _, err = train(capsys, tmp_path / "r", "--resume", tmp_path / "r", arch="flatten dense(10)", epochs=2)
    assert code == 1 and "belongs to another run" in err and err.count("\n") == 1


# ------------------------------------------------------------- kill -9 and resume, bit for bit
KILLED = [
    "train", "--arch", "conv(8, 3, padding=1) batchnorm relu maxpool(2) flatten dropout(0.2) dense(10)",
    "--epochs", "40", "--batch-size", "10", "--optimizer", "adam", "--learning-rate", "0.003",
    "--schedule", "cosine", "--output", "softmax", "--loss", "cross-entropy", "--augment", "--quiet",
    "--no-progress",
]  # fmt: skip


def _cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "scratchnet", *args], env=env, **kw)


def _arrays(path):
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files if name != "header"}


def test_train_arch_killed_with_sigkill_resumes_to_the_uninterrupted_end(tmp_path):
    full = _cli([*KILLED, "--out", str(tmp_path / "full")], stdout=subprocess.DEVNULL)
    part = tmp_path / "part"
    proc = _cli([*KILLED, "--out", str(part), "--checkpoint-every", "2"], stdout=subprocess.DEVNULL)
    checkpoint, done = part / "checkpoint.npz", 0
    deadline = time.monotonic() + 180
    while proc.poll() is None and time.monotonic() < deadline:
        if checkpoint.is_file():
            try:
                done = read_header(checkpoint)["checkpoint"]["epochs_done"]
            except Exception:  # mid-replace: try again
                done = 0
            if done >= 4:
                proc.kill()  # SIGKILL: no handler runs
                break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -9 and 4 <= done < 40 and not (part / "model.npz").exists()
    resumed = _cli([*KILLED, "--out", str(part), "--resume", str(part)], stdout=subprocess.PIPE, text=True)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "resuming the checkpoint" in out, out
    assert full.wait(timeout=300) == 0
    want, got = _arrays(tmp_path / "full" / "model.npz"), _arrays(part / "model.npz")
    assert set(want) == set(got) and any(n.endswith("running_mean") for n in want)
    for name in want:
        if name == "history":  # every metric to the last bit; the seconds are the clock's
            np.testing.assert_array_equal(got[name][:, :-1], want[name][:, :-1])
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    want, got = _arrays(tmp_path / "full" / "checkpoint.npz"), _arrays(part / "checkpoint.npz")
    moments = [n for n in want if n.startswith("optimizer_")]
    assert moments  # Adam's m and v as well
    for name in moments:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_ctrl_c_writes_a_checkpoint_that_resumes_to_the_uninterrupted_end(tmp_path, capsys, monkeypatch):
    import scratchnet.runs as runs

    args = ["--schedule", "cosine", "--quiet", "--checkpoint-every", 3]  # epoch 1 ends unsaved but for Ctrl-C
    arch = "conv(2, 3, padding=1) batchnorm relu maxpool(2) flatten dropout(0.2) dense(10)"
    code, _, err = train(capsys, tmp_path / "full", *args, arch=arch, epochs=4)
    assert code == 0, err
    real = runs.train_layered

    def interrupted(*a, on_epoch, **kw):
        def hook(record):
            stop = on_epoch(record)
            if record["epoch"] == 1:
                raise KeyboardInterrupt  # Ctrl-C after epoch 1
            return stop

        return real(*a, on_epoch=hook, **kw)

    monkeypatch.setattr(runs, "train_layered", interrupted)
    code, out, _ = train(capsys, tmp_path / "part", *args, arch=arch, epochs=4)
    assert code == 130 and "interrupted: 2 of 4 epochs are safe" in out
    assert (tmp_path / "part" / "checkpoint.npz").is_file() and not (tmp_path / "part" / "model.npz").exists()
    monkeypatch.setattr(runs, "train_layered", real)
    code, out, err = train(capsys, tmp_path / "part", *args, "--resume", tmp_path / "part", arch=arch, epochs=4)
    assert code == 0 and "2 of 4 epochs done" in out, err
    want, got = _arrays(tmp_path / "full" / "model.npz"), _arrays(tmp_path / "part" / "model.npz")
    for name in want:
        if name == "history":
            np.testing.assert_array_equal(got[name][:, :-1], want[name][:, :-1])
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


# ------------------------------------------------------------- --preset cnn
def test_preset_cnn_is_the_issue_recipe():
    from scratchnet.presets import PRESETS

    cnn = PRESETS["cnn"]
    assert format_arch(parse_arch(cnn.arch)) == format_arch(parse_arch(ARCHITECTURES["cnn"]))
    assert (cnn.epochs, cnn.batch_size, cnn.learning_rate, cnn.dtype) == (10, 128, 0.001, "float32")
    r = cnn.recipe
    assert (r.output, r.loss, r.optimizer, r.schedule, r.weight_decay) == ("softmax", "cross_entropy", "adam",
                                                                            "cosine", 0.0)  # fmt: skip
    assert "hidden" not in cnn.options()


def test_preset_cnn_refuses_the_mlp_flags(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--preset", "cnn", "--hidden", "30", "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1 and "--hidden" in err


def test_preset_cnn_trains_on_digits_and_flags_override_it(tmp_path, capsys):
    code, out, err = run(capsys, "train", "--preset", "cnn", "--epochs", 1, "--batch-size", 64, "--out",
                         tmp_path / "r", "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "conv(32, 3, padding=1) relu maxpool(2) conv(64, 3, padding=1)" in out and "float32" in out
    assert "1 epochs, batch 64, learning rate 0.001" in out and "[preset cnn]" in out
    assert float(out.split("hold-out accuracy ")[1].split()[0]) > 0.5


# ------------------------------------------------------------- gradcheck --arch
GRADCHECK = (
    "conv(2, 3, padding=1) batchnorm relu avgpool(2) residual(conv(2, 3, padding=1) tanh) flatten dropout(0.3) dense(3)"
)


def test_gradcheck_arch_prints_the_article_lines_per_layer(capsys):
    code, out, err = run(capsys, "gradcheck", "--arch", GRADCHECK, "--input-shape", "1,6,6", "--samples", 3)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "layer 0 conv(2, 3, padding=1): 18 out of 18 W gradients are numerically equal"
    assert "layer 1 batchnorm: 2 out of 2 gamma gradients are numerically equal" in lines
    assert any(line.startswith("layer 4 residual(") and "body.0.W" in line for line in lines)
    assert lines[-1] == "Gradients look in order!"


def test_gradcheck_arch_fails_on_wrong_gradients(capsys, monkeypatch):
    backward = LayeredNetwork.backward
    monkeypatch.setattr(LayeredNetwork, "backward", lambda self, Y: [1.01 * g for g in backward(self, Y)])
    code, out, _ = run(capsys, "gradcheck", "--arch", "flatten dense(3)", "--input-shape", "4")
    assert code == 1 and "Gradients do NOT match. Worst mismatch per array:" in out
    assert "  layers.1.W[" in out and "analytic=" in out


@pytest.mark.parametrize(
    ("flags", "hint"),
    [(["--layers", "4,3"], "--layers"), (["--activation", "relu"], "--activation"), (["--input-shape", "3,4"], "")],
)
def test_gradcheck_arch_refuses_mlp_flags_and_odd_shapes(capsys, flags, hint):
    code, _, err = run(capsys, "gradcheck", "--arch", "flatten dense(3)", *flags)
    assert code == 2 and err.count("\n") == 1 and hint in err
    code, _, err = run(capsys, "gradcheck", "--arch", "conv(2, 3) flatten dense(3)", "--input-shape", "4")
    assert code == 1 and err.count("\n") == 1 and "layer 0 'conv(2, 3)'" in err


# ------------------------------------------------------------- predict
def test_predict_with_a_layered_model_takes_flat_square_and_chw_arrays(tmp_path, capsys):
    from sklearn.datasets import load_digits

    code, _, err = train(capsys, tmp_path / "r", "--quiet", epochs=2)
    assert code == 0, err
    digits = load_digits()
    np.save(tmp_path / "flat.npy", digits.data[:20])
    np.save(tmp_path / "square.npy", digits.images[:20])
    np.save(tmp_path / "chw.npy", digits.images[:20, None])
    np.savez(tmp_path / "xy.npz", X=digits.images[:100, None], y=digits.target[:100])
    model = tmp_path / "r" / "model.npz"
    tables = []
    for name in ("flat", "square", "chw"):
        code, out, err = run(capsys, "predict", model, tmp_path / f"{name}.npy", "--output", tmp_path / f"{name}-p.npy")
        assert code == 0, err
        tables.append(np.load(tmp_path / f"{name}-p.npy"))
    np.testing.assert_array_equal(tables[0], tables[1])
    np.testing.assert_array_equal(tables[0], tables[2])
    net = load_layered(model)
    want = net.predict_proba(digits.data[:20] / 16 * 2 - 1)  # the digits' scaling, 0…16 → [−1, 1]
    np.testing.assert_allclose(tables[0], want, rtol=1e-12)
    code, out, err = run(capsys, "predict", model, tmp_path / "xy.npz")
    accuracy = net.accuracy(digits.data[:100] / 16 * 2 - 1, digits.target[:100])
    assert code == 0 and f"accuracy {accuracy:.4f} on 100 labelled inputs" in out, err
    np.save(tmp_path / "bad.npy", digits.images[:3, None, :7])
    code, _, err = run(capsys, "predict", model, tmp_path / "bad.npy")
    assert code == 1 and err.count("\n") == 1 and "(N, 1, 8, 8)" in err


def test_predict_an_image_with_a_layered_mnist_model(tmp_path, capsys):
    from PIL import Image

    from scratchnet.data import preprocessing
    from scratchnet.model import save_layered

    net = LayeredNetwork("conv(2, 5, stride=2) relu flatten dense(10)", (1, 28, 28), seed=3)
    save_layered(net, tmp_path / "m.npz", {"preprocessing": preprocessing("mnist")})
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 12:16] = 255  # a white "1" on black, as MNIST's
    Image.fromarray(pixels).save(tmp_path / "one.png")
    code, out, err = run(capsys, "predict", tmp_path / "m.npz", tmp_path / "one.png", "--json")
    assert code == 0, err
    (item,) = json.loads(out)["predictions"]
    want = net.predict_proba((pixels.astype(np.float64) / 255 * 2 - 1)[None, None])[0]
    assert item["predicted"] == int(want.argmax())
    np.testing.assert_allclose(item["scores"], want, rtol=1e-9)


def test_predict_own_images_with_a_layered_model_gives_class_names(tmp_path, capsys):
    from PIL import Image

    for label, level in (("dark", 30), ("light", 220)):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.full((6, 6), level + i, dtype=np.uint8)).save(tmp_path / "img" / label / f"{i}.png")
    code, _, err = run(capsys, "train", "--data", tmp_path / "img", "--arch", "conv(2, 3) relu flatten dense(2)",
                       "--epochs", 3, "--batch-size", 4, "--out", tmp_path / "r", "--quiet", *QUICK)  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "predict", tmp_path / "r" / "model.npz", "--data", tmp_path / "img", "--jsonl")
    assert code == 0, err
    items = [json.loads(line) for line in out.splitlines()]
    assert len(items) == 20 and {item["predicted"] for item in items} <= {"dark", "light"}
    assert sum(item["predicted"] == item["label"] for item in items) >= 18


def test_predict_reads_an_estimators_layered_file_with_its_class_names(tmp_path, capsys):
    from sklearn.datasets import load_digits

    from scratchnet.estimator import NeuralNetClassifier

    digits = load_digits()
    X, y = digits.images[:300, None] / 8 - 1, np.array(list("abcdefghij"))[digits.target[:300]]
    est = NeuralNetClassifier(arch=TINY, output="softmax", loss="cross_entropy", optimizer="adam",
                              learning_rate=0.01, epochs=2, batch_size=20, random_state=0).fit(X, y)  # fmt: skip
    est.save(tmp_path / "est.npz")
    np.save(tmp_path / "x.npy", X[:30])
    code, out, err = run(capsys, "predict", tmp_path / "est.npz", tmp_path / "x.npy", "--scaled", "--jsonl")
    assert code == 0, err
    predicted = [json.loads(line)["predicted"] for line in out.splitlines()]
    assert predicted == est.predict(X[:30]).tolist()


# ------------------------------------------------------------- serve
def test_serve_lists_predicts_and_shows_a_layered_model(tmp_path, capsys):
    pytest.importorskip("starlette")
    import warnings

    from scratchnet.serve.app import create_app
    from scratchnet.serve.preprocess import check_pixels, model_image

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient

    code, _, err = train(
        capsys, tmp_path / "r", "--quiet", "--seed", 7, arch="conv(3, 3, padding=1) relu flatten dense(10)"
    )
    assert code == 0, err
    path = tmp_path / "r" / "model.npz"
    pixels = np.zeros((28, 28))
    pixels[4:24, 12:16] = 255
    with TestClient(create_app([str(path)])) as client:
        (m,) = client.get("/api/models").json()["models"]
        assert m["arch"] == "conv(3, 3, padding=1) relu flatten dense(10)" and m["input_shape"] == [1, 8, 8]
        assert m["n_parameters"] == 3 * 9 + 3 + 192 * 10 + 10 and m["dataset"] == "digits" and m["epochs_trained"] == 2
        result = client.post("/api/predict", json={"pixels": pixels.ravel().tolist()}).json()
        learn = client.get(f"/api/learn/{m['name']}").json()
    net = load_layered(path)
    _, _, x = model_image(check_pixels(pixels.ravel().tolist()), read_header(path)["preprocessing"], 64)
    want = net.predict_proba(x)[0]
    assert result["prediction"] == int(want.argmax())
    np.testing.assert_allclose(result["probabilities"], want, atol=1e-4)
    assert [layer["shape"] for layer in result["layers"]] == [[3, 8, 8], [3, 8, 8], [192], [10], [10]]
    assert learn["weights"]["shape"] == [3, 3] and len(learn["weights"]["units"]) == 3
    assert len(learn["history"]["epoch"]) == 2
    ev = learn["evaluation"]
    assert ev["available"] and "seed 7" in ev["split"]
    from scratchnet.data import load_split

    _, X_test, _, y_test = load_split("digits", None, None, 7, "float64")
    assert ev["accuracy"] == pytest.approx(net.accuracy(X_test, y_test))
