"""docs/errors.md is true: every bad input listed is refused cleanly, and the table is current."""

import importlib.util
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def errors():
    spec = importlib.util.spec_from_file_location("scratchnet_errors_doc", DOCS / "errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows(errors):
    return errors.results()


def test_every_api_case_is_a_value_or_type_error(rows):
    api = [r for r in rows if r[0] != "CLI"]
    assert len(api) >= 80
    for area, given, exc, text in api:
        assert isinstance(exc, (ValueError, TypeError)), f"{area}: {given} → {text}"
        assert len(str(exc)) > 15, f"{area}: {given} gives a message too short to help: {text}"


def test_every_cli_case_is_one_error_line_and_a_nonzero_exit(rows, errors):
    cli = [r for r in rows if r[0] == "CLI"]
    assert len(cli) == len(errors.CLI)
    for _, given, code, line in cli:
        assert code not in (0, None), given
        assert line.startswith("error: ") and "Traceback" not in line, f"{given}: {line!r}"


def test_docs_errors_md_is_current(rows, errors):
    assert (DOCS / "errors.md").read_text() == errors.render(rows), (
        "docs/errors.md is stale: run `PYTHONPATH=src python docs/errors.py`"
    )


def test_a_diverging_cli_run_saves_no_model(tmp_path, errors):
    code, err = errors.run_cli(
        ["train", "--dtype", "float32", "--learning-rate", "1e50", "--epochs", "2", "--quiet", "--out", str(tmp_path)]
    )
    assert code == 1 and "diverged in epoch 0" in err and "Traceback" not in err
    assert not (tmp_path / "model.npz").exists()


def test_readme_counts_the_cases_of_docs_errors_md(rows):
    readme = (DOCS.parent / "README.md").read_text()
    match = re.search(r"lists the (\d+) we tried", readme)
    assert match and int(match.group(1)) == len(rows), f"README should say {len(rows)}"
