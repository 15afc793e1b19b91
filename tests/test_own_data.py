"""Issue 11: the user's own data through train, tune and predict: a CSV table, an .npz, an image folder."""

import json

import numpy as np
import pandas as pd
import pytest

from scratchnet.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.fixture(scope="module")
def wine_csv(tmp_path_factory):
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    frame = wine.frame.copy()
    frame["target"] = np.array(["barolo", "grignolino", "barbera"])[wine.target]  # string labels
    path = tmp_path_factory.mktemp("own") / "wine.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path_factory.mktemp("own") / "images"
    for i, (image, label) in enumerate(zip(digits.images[:900], digits.target[:900])):
        folder = root / ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def _train_and_predict(capsys, tmp_path, data, *extra):
    out = tmp_path / "run"
    code, text, err = run(capsys, "train", "--data", str(data), "--hidden", "10", "--epochs", "30", "--out", str(out),
                          "--quiet", "--no-progress", *extra)  # fmt: skip
    assert code == 0, err
    accuracy = float(text.split("hold-out accuracy ")[1].split()[0])
    code, text, err = run(capsys, "predict", str(out / "model.npz"), "--data", str(data), "--json")
    assert code == 0, err
    result = json.loads(text)
    return accuracy, result


def test_a_csv_with_string_labels_trains_tunes_and_predicts(wine_csv, tmp_path, capsys):
    accuracy, result = _train_and_predict(capsys, tmp_path, wine_csv)
    assert accuracy >= 0.9 and result["accuracy"] >= 0.9
    assert result["classes"] == ["barbera", "barolo", "grignolino"]
    assert result["predictions"][0]["predicted"] in result["classes"]
    store = tmp_path / "w.sqlite"
    code, text, err = run(capsys, "tune", "--data", str(wine_csv), "--hidden-layers", "1", "--hidden-nodes", "5,10",
                          "--folds", "3", "--epochs", "10", "--store", str(store), "--no-progress", "--workers", "1",
                          "--refit", "--out", str(tmp_path / "refit"))  # fmt: skip
    assert code == 0, err
    code, text, err = run(capsys, "report", str(store), "--no-figures")
    best = float(text.split("best mean cross validation accuracy: ")[1].split()[0])
    assert best >= 0.9
    code, text, err = run(capsys, "predict", str(tmp_path / "refit" / "model.npz"), "--data", str(wine_csv), "--json")
    assert code == 0 and json.loads(text)["accuracy"] >= 0.9, err


def test_an_npz_with_x_and_y_and_the_unit_scale(tmp_path, capsys):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    np.savez(tmp_path / "bc.npz", X=X, y=y)
    accuracy, result = _train_and_predict(capsys, tmp_path, tmp_path / "bc.npz", "--scale", "unit")
    assert accuracy >= 0.85 and result["accuracy"] >= 0.85 and result["classes"] == [0, 1]


def test_an_image_folder_trains_tunes_and_predicts(image_folder, tmp_path, capsys):
    accuracy, result = _train_and_predict(capsys, tmp_path, image_folder, "--epochs", "60", "--hidden", "30")
    assert accuracy >= 0.8 and result["accuracy"] >= 0.8 and "seven" in result["classes"]
    code, _, err = run(capsys, "tune", "--data", str(image_folder), "--hidden-layers", "1", "--hidden-nodes", "10",
                       "--learning-rates", "1", "--folds", "2", "--epochs", "3", "--store", str(tmp_path / "i.sqlite"),
                       "--no-progress", "--workers", "1")  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize(
    "content, message",
    [
        ("a,b,label\n1,2,x\n3,4\n5,6,y,7\n", "ragged"),
        ("a,b,label\n1,oops,x\n3,4,y\n5,6,x\n", "not numeric"),
        ("a,b,label\n1,,x\n3,4,y\n5,6,x\n", "NaN"),
        ("a,b,label\n1,2,x\n3,4,x\n5,6,x\n", "one class only"),
    ],
)
def test_bad_tables_get_one_clear_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, _, err = run(capsys, "train", "--data", str(path), "--epochs", "1", "--out", str(tmp_path / "r"))
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_too_few_samples_per_class_for_the_folds_and_mixed_image_sizes(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "small.csv"
    pd.DataFrame({"a": range(20), "label": ["x"] * 18 + ["y"] * 2}).to_csv(path, index=False)
    code, _, err = run(capsys, "tune", "--data", str(path), "--folds", "3", "--epochs", "1", "--batch-size", "2",
                       "--store", str(tmp_path / "s.sqlite"), "--workers", "1")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and ("folds" in err or "samples per class" in err or "class" in err), err
    root = tmp_path / "mixed"
    for name, size in (("a", (8, 8)), ("b", (9, 9))):
        (root / name).mkdir(parents=True)
        Image.new("L", size).save(root / name / "0.png")
    code, _, err = run(capsys, "train", "--data", str(root), "--epochs", "1", "--out", str(tmp_path / "r"))
    assert code == 1 and "mixed sizes" in err and err.count("\n") == 1, err
