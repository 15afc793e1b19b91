import pandas as pd
import pytest

from scratchnet import MultilayerNeuralNetClassifier
from scratchnet.cli import main


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


ARTICLE_LINES = [
    "layer 3: 300 out of 300 weight gradients are numerically equal",
    "layer 3: 10 out of 10 bias term gradients are numerically equal",
    "layer 2: 1200 out of 1200 weight gradients are numerically equal",
    "layer 2: 30 out of 30 bias term gradients are numerically equal",
    "layer 1: 2000 out of 2000 weight gradients are numerically equal",
    "layer 1: 40 out of 40 bias term gradients are numerically equal",
    "Gradients look in order!",
]


def test_gradcheck_prints_the_article_lines(capsys):
    code, out, _ = run(capsys, "gradcheck", "--layers", "50,40,30,10")
    assert code == 0
    assert out.splitlines() == ARTICLE_LINES


def test_gradcheck_fails_loudly_on_wrong_gradients(capsys, monkeypatch):
    real = MultilayerNeuralNetClassifier.backward

    def wrong(self, x, y, acts):
        wg, bg = real(self, x, y, acts)
        bg[-1] = bg[-1] * 0.5
        return wg, bg

    monkeypatch.setattr(MultilayerNeuralNetClassifier, "backward", wrong)
    code, out, _ = run(capsys, "gradcheck", "--layers", "6,5,3", "--samples", "3")
    assert code == 1
    assert "layer 2: 0 out of 3 bias term gradients are numerically equal" in out
    assert "Worst mismatches" in out and "layer 2 bias" in out


def test_train_digits_writes_model_history_and_figures(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "train", "--dataset", "digits", "--hidden", "30", "--epochs", "4", "--out", str(out_dir))
    assert code == 0
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 4 and epoch_lines[0].startswith("epoch 0: loss_training=")
    for name in ["model.npz", "history.csv", "loss.png", "accuracy.png", "digits.png"]:
        assert (out_dir / name).stat().st_size > 0, name
    hist = pd.read_csv(out_dir / "history.csv")
    assert list(hist.columns) == [
        "epoch",
        "loss_training",
        "accuracy_training",
        "loss_test",
        "accuracy_test",
        "seconds",
    ]
    net = MultilayerNeuralNetClassifier.load(out_dir / "model.npz")
    assert net.layers == [64, 30, 10] and net.epochs_trained == 4
    assert (out_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "30",
        "--epochs",
        "2",
        "--resume",
        str(out_dir / "model.npz"),
        "--out",
        str(out_dir),
    )
    assert code == 0 and "epoch 5:" in out
    assert MultilayerNeuralNetClassifier.load(out_dir / "model.npz").epochs_trained == 6


def test_test_size_count_or_fraction(tmp_path, capsys):
    code, out, _ = run(
        capsys, "train", "--hidden", "8", "--epochs", "1", "--test-size", "297", "--quiet", "--out", str(tmp_path)
    )
    assert code == 0 and "1500 training / 297 hold-out" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--hidden", "50,x"], "--hidden"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--learning-rate", "-1"], "--learning-rate"),
        (["train", "--test-size", "abc"], "--test-size"),
        (["train", "--dataset", "mnist", "--data", "/does/not/exist.npz"], "does not exist"),
        (["train", "--dataset", "digits", "--batch-size", "100000"], "larger than"),
        (["gradcheck", "--layers", "5"], "at least two"),
        (["train", "--dataset", "cifar"], "--dataset"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, args, message, tmp_path):
    code, _, err = run(capsys, *args, *(["--out", str(tmp_path)] if args[0] == "train" else []))
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("training")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err


def test_resume_refuses_a_model_that_does_not_fit(tmp_path, capsys):
    MultilayerNeuralNetClassifier([10, 4, 3], random_seed=0).save(tmp_path / "m.npz")
    code, _, err = run(capsys, "train", "--resume", str(tmp_path / "m.npz"), "--out", str(tmp_path))
    assert code == 1 and "do not fit" in err


@pytest.mark.mnist
@pytest.mark.slow
def test_train_on_mnist_through_the_cli(mnist_path, tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "mnist",
        "--data",
        mnist_path,
        "--hidden",
        "50",
        "--epochs",
        "2",
        "--batch-size",
        "200",
        "--learning-rate",
        "0.3",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0 and "60000 training / 10000 hold-out" in out
    assert (tmp_path / "digits.png").is_file()


@pytest.mark.parametrize("error", [RuntimeError("a bug"), TypeError("a bug"), ValueError("a bug")])
def test_a_bug_keeps_its_traceback_while_a_project_error_is_one_line(monkeypatch, capsys, tmp_path, error):
    """Only scratchnet's own errors (and click's, OSError, an interrupt) become ``error: …``; a bug escapes."""
    from scratchnet import cli
    from scratchnet.errors import InvalidValueError

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli, "train_run", broken)
    with pytest.raises(type(error), match="a bug"):
        main(["train", "--out", str(tmp_path)])

    def refused(*args, **kwargs):
        raise InvalidValueError("a bad input")

    monkeypatch.setattr(cli, "train_run", refused)
    code, _out, err = run(capsys, "train", "--out", str(tmp_path))
    assert code == 1 and err == "error: a bad input\n"
