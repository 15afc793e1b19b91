"""CLI flags beyond the article: gradcheck --activation/--output/--loss, train options and presets."""

import pytest

from scratchnet import MultilayerNeuralNetClassifier
from scratchnet.cli import main
from scratchnet.presets import PRESETS


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.mark.parametrize(
    "activation, output, loss",
    [
        ("relu", "softmax", "cross-entropy"),
        ("tanh", "sigmoid", "binary-cross-entropy"),
        ("leaky-relu", "softmax", "mse"),
        ("identity", "sigmoid", "mse"),
    ],
)
def test_gradcheck_with_options(capsys, activation, output, loss):
    code, out, _ = run(
        capsys,
        "gradcheck",
        "--layers",
        "20,15,10,5",
        "--activation",
        activation,
        "--output",
        output,
        "--loss",
        loss,
        "--init",
        "he",
    )
    assert code == 0 and out.splitlines()[-1] == "Gradients look in order!"
    assert "layer 1: 300 out of 300 weight gradients are numerically equal" in out


def test_gradcheck_refuses_a_bad_pair_in_one_line(capsys):
    code, out, err = run(capsys, "gradcheck", "--output", "softmax", "--loss", "binary-cross-entropy")
    assert code == 1 and out == ""
    assert (
        err.startswith("error: output 'softmax' with loss 'binary_cross_entropy' is refused") and err.count("\n") == 1
    )


def test_train_with_modern_options(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "32",
        "--epochs",
        "5",
        "--activation",
        "relu",
        "--output",
        "softmax",
        "--loss",
        "cross-entropy",
        "--init",
        "he",
        "--optimizer",
        "adam",
        "--learning-rate",
        "0.005",
        "--schedule",
        "cosine",
        "--dropout",
        "0.1",
        "--weight-decay",
        "1e-4",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    assert (
        "activation relu, output softmax, loss cross_entropy, init he, optimizer adam, weight_decay 0.0001, "
        "schedule cosine, dropout 0.1"
    ) in out
    accuracy = float(out.split("hold-out accuracy ")[1].split()[0])
    assert accuracy > 0.9
    net = MultilayerNeuralNetClassifier.load(tmp_path / "model.npz")
    assert net.options == {"activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"}


def test_presets_and_explicit_flags_over_them(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "digits",
        "--preset",
        "article",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    assert (
        "layers [64, 50, 10] (3760 parameters, float64); 2 epochs, batch 200, learning rate 0.3 [preset article]" in out
    )
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "digits",
        "--preset",
        "best",
        "--hidden",
        "24",
        "--epochs",
        "2",
        "--dropout",
        "0",
        "--dtype",
        "float64",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0
    best = PRESETS["best"]
    assert (
        f"layers [64, 24, 10] (1810 parameters, float64); 2 epochs, batch {best['batch_size']}, learning rate "
        f"{best['learning_rate']}; activation relu, output softmax, loss cross_entropy, init he, optimizer adam, "
        "schedule cosine [preset best]"
    ) in out


def test_early_stopping_flag(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "digits",
        "--hidden",
        "32",
        "--epochs",
        "40",
        "--activation",
        "relu",
        "--output",
        "softmax",
        "--loss",
        "cross-entropy",
        "--optimizer",
        "adam",
        "--learning-rate",
        "0.05",
        "--early-stopping",
        "--patience",
        "2",
        "--out",
        str(tmp_path),
    )
    assert code == 0 and "early stopping: stopped early after epoch" in out and "restored the weights of epoch" in out


def test_resume_cannot_change_the_activation(capsys, tmp_path):
    MultilayerNeuralNetClassifier([64, 8, 10], random_seed=0).save(tmp_path / "m.npz")
    code, _, err = run(
        capsys, "train", "--resume", str(tmp_path / "m.npz"), "--activation", "relu", "--out", str(tmp_path)
    )
    assert code == 1 and "cannot change it when resuming" in err


@pytest.mark.parametrize(
    "args, hint",
    [
        (["--optimizer", "adagrad"], "--optimizer"),
        (["--dropout", "1"], "--dropout"),
        (["--preset", "fastest"], "--preset"),
        (["--activation", "swish"], "--activation"),
        (["--output", "sigmoid", "--loss", "cross-entropy"], "sum to 1"),
    ],
)
def test_bad_train_flags(capsys, tmp_path, args, hint):
    code, _, err = run(capsys, "train", "--epochs", "1", *args, "--out", str(tmp_path))
    assert code != 0 and err.startswith("error: ") and hint in err
