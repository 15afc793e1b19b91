"""`predict` in bounded memory (issue 14, trap 3): batches, streamed outputs, image bombs, 16-bit and palette PNGs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import scratchnet.inputs as inputs
from scratchnet import MultilayerNeuralNetClassifier
from scratchnet.cli import main
from scratchnet.data import scale_pixels
from scratchnet.inputs import plan_inputs, read_image


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.fixture
def model(tmp_path):
    net = MultilayerNeuralNetClassifier([784, 16, 10], random_seed=0)
    return net, str(net.save(tmp_path / "model.npz"))


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(1000, 784)).astype(np.uint8)


@pytest.mark.parametrize("rows", [1, 7, 1000, 5000])
def test_batches_give_the_answer_of_one_pass(tmp_path, model, pixels, capsys, monkeypatch, rows):
    net, path = model
    np.save(tmp_path / "x.npy", pixels)
    np.save(tmp_path / "xf.npy", np.asfortranarray(pixels.reshape(1000, 28, 28)))
    np.savez_compressed(tmp_path / "d.npz", x_train=pixels[:600], y_train=np.arange(600) % 10,
                        x_test=pixels[600:], y_test=np.arange(400) % 10)  # fmt: skip
    monkeypatch.setattr(inputs, "BATCH_ROWS", rows)
    expected = net.predict_proba(scale_pixels(pixels.astype(np.float64), 255.0))
    for name in ("x.npy", "xf.npy", "d.npz"):
        code, out, err = run(["predict", "--jsonl", path, str(tmp_path / name)], capsys)
        assert code == 0, err
        records = [json.loads(line) for line in out.splitlines()]
        np.testing.assert_allclose([r["scores"] for r in records], expected, rtol=1e-12)
        assert records[3]["input"] == f"{tmp_path / name}[3]"
    assert "accuracy" in err and [r["label"] for r in records[:3]] == [0, 1, 2]


def test_json_table_csv_and_npy_outputs_agree(tmp_path, model, pixels, capsys):
    net, path = model
    np.savez(tmp_path / "d.npz", X=pixels[:50], y=np.arange(50) % 10)
    expected = net.predict_proba(scale_pixels(pixels[:50].astype(np.float64), 255.0))
    code, out, _ = run(["predict", "--json", path, str(tmp_path / "d.npz")], capsys)
    doc = json.loads(out)
    assert code == 0 and len(doc["predictions"]) == 50 and doc["classes"] == list(range(10))
    np.testing.assert_allclose([p["scores"] for p in doc["predictions"]], expected, rtol=1e-12)
    code, out, _ = run(["predict", path, str(tmp_path / "d.npz")], capsys)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["input", "label", "predicted"] and len(lines) == 1 + 50 + 1
    assert lines[-1].startswith("accuracy ") and lines[-1] == f"accuracy {doc['accuracy']:.4f} on 50 labelled inputs"
    code, _, err = run(["predict", "--output", str(tmp_path / "p.csv"), path, str(tmp_path / "d.npz")], capsys)
    assert code == 0 and "wrote 50 predictions" in err
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["predicted"]) for r in rows] == expected.argmax(axis=1).tolist()
    np.testing.assert_allclose([float(r["score 3"]) for r in rows], expected[:, 3], rtol=1e-12)
    code, _, _ = run(["predict", "--output", str(tmp_path / "p.npy"), path, str(tmp_path / "d.npz")], capsys)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, rtol=1e-12)
    code, _, err = run(["predict", "--output", str(tmp_path / "p.txt"), path, str(tmp_path / "d.npz")], capsys)
    assert code == 2 and ".csv or .npy" in err
    code, _, err = run(["predict", "--json", "--jsonl", path, str(tmp_path / "d.npz")], capsys)
    assert code == 2 and "choose one" in err


def test_a_bad_value_late_in_a_big_array_is_an_error_before_any_output(tmp_path, model, pixels, capsys, monkeypatch):
    _, path = model
    monkeypatch.setattr(inputs, "BATCH_ROWS", 10)
    bad = pixels.astype(np.float64)
    bad[-1, -1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    code, out, err = run(["predict", path, str(tmp_path / "bad.npy")], capsys)
    assert code == 1 and out == "" and "NaN or infinite" in err and err.count("\n") == 1


def test_truncated_npy_and_hostile_headers_are_one_line_errors(tmp_path, model, pixels, capsys):
    _, path = model
    np.save(tmp_path / "x.npy", pixels)
    raw = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "huge.npy").write_bytes(raw.replace(b"(1000, 784)", b"(10000000000, 784)", 1)[:4096])
    (tmp_path / "header.npy").write_bytes(b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 65535)
    for name, message in (("cut.npy", "truncated"), ("huge.npy", "truncated"), ("header.npy", "cannot read")):
        code, out, err = run(["predict", path, str(tmp_path / name)], capsys)
        assert code == 1 and out == "" and err.count("\n") == 1 and message in err, err


def test_a_png_decompression_bomb_is_a_one_line_error(tmp_path, model, capsys):
    _, path = model
    Image.new("L", (20000, 20000)).save(tmp_path / "bomb.png", optimize=True)
    assert (tmp_path / "bomb.png").stat().st_size < 2_000_000
    code, out, err = run(["predict", path, str(tmp_path / "bomb.png")], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "decompression bomb" in err or "20000×20000" in err


def test_16_bit_and_palette_pngs_are_converted(tmp_path):
    digit = np.zeros((28, 28), dtype=np.uint16)
    digit[8:20, 12:16] = 65535
    digit[4, 4] = 32896  # half grey: 128 in 8 bits
    Image.fromarray(digit).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    grey = read_image(tmp_path / "deep.png").reshape(28, 28)
    assert grey[10, 13] == 255 and grey[0, 0] == 0 and abs(grey[4, 4] - 128) < 0.01
    palette = Image.fromarray((digit // 257).astype(np.uint8)).convert("P")
    palette.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    np.testing.assert_allclose(read_image(tmp_path / "palette.png"), (digit // 257).reshape(-1), atol=1)


def test_plan_checks_every_input_without_reading_them_whole(tmp_path, pixels):
    np.save(tmp_path / "x.npy", pixels)
    (sources,) = [plan_inputs([tmp_path / "x.npy"], 784)]
    assert sources[0].n_rows == 1000 and sources[0].name_width == len(f"{tmp_path / 'x.npy'}[999]")
