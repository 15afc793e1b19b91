"""benchmarks/residual_study.py runs on a tiny slice and its table has the study's shape."""

import importlib.util
from pathlib import Path

import numpy as np

from scratchnet.model import LayeredNetwork

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "residual_study.py"


def _study():
    spec = importlib.util.spec_from_file_location("residual_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_study_runs_and_its_table_has_one_row_per_cell(tmp_path, capsys):
    study = _study()
    out = tmp_path / "study.jsonl"
    argv = ["--dataset", "digits", "--depths", "2,3", "--widths", "5", "--etas", "0.3,0.1", "--epochs", "2",
            "--batch-size", "50", "--limit", "400", "--out", str(out)]  # fmt: skip
    results = study.main(argv)
    assert len(results) == 2 * 2 * 2  # depths × etas × (plain, residual)
    for r in results:
        assert len(r["accuracy_test"]) == 2 and len(r["grad_norms_epoch0"]) == r["depth"] + 1
        assert len(r["grad_norms_epoch1"]) == r["depth"] + 1
        assert ("residual(" in r["arch"]) == (r["kind"] == "residual")
    table = study.table(results).splitlines()
    assert len(table) == 2 + 4  # header, rule, (η, depth) rows
    assert {line.count("|") for line in table} == {12}
    printed = capsys.readouterr().out
    assert table[0] in printed and "‖∂L/∂W⁽ᵏ⁾‖ of 3 × 5" in printed
    # a rerun skips the runs already in the file and prints the same table
    again = study.main(argv + ["--table"])
    assert len(again) == len(results) and len(out.read_text().splitlines()) == 8
    assert all(len(r["spread_epoch0"]) == r["depth"] + 1 for r in results)
    init = study.main(argv + ["--init-only"])
    assert len(init) == 4 and len(study.init_table(init).splitlines()) == 2 + 2


def test_plain_and_residual_start_from_the_same_weights():
    """The identity shortcuts draw nothing: with one seed both networks get the same dense weights."""
    study = _study()
    nets = [
        LayeredNetwork(study.arch(kind, 4, 6, 64, 10), (64,), output="sigmoid", loss="mse", seed=5)
        for kind in ("plain", "residual")
    ]
    plain, residual = ([p for name, p in net.named_params() if name.endswith("W")] for net in nets)
    assert len(plain) == len(residual) == 5
    for a, b in zip(plain, residual):
        np.testing.assert_array_equal(a, b)
    assert nets[0].arch.count("residual") == 0 and nets[1].arch.count("residual(") == 3
