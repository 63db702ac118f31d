"""Stumbles of a first hour with metricli, each a one-line fix with its regression test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import metricli

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


def test_version(cli):
    run = cli("--version")
    assert run.exit_code == 0 and run.stdout.strip() == f"metricli {metricli.__version__}"


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_a_learner_name_in_another_case_is_the_learner(cli, tmp_path, command):
    extra = ["-o", tmp_path / "b"] if command == "fit" else ["--json"]
    run = cli(command, "LFDA", IRIS, "--label", "species", *extra)
    assert run.exit_code == 0, run.stderr
    if command == "fit":
        assert json.loads((tmp_path / "b" / "metadata.json").read_text())["algorithm"] == "lfda"
    else:
        assert json.loads(run.stdout)["algorithm"] == "lfda"


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_a_regression_learner_given_labels_says_it_is_for_regression(cli, tmp_path, command):
    run = cli(
        command, "mlkr", IRIS, "--label", "species", *(["-o", tmp_path / "b"] if command == "fit" else [])
    )
    assert run.exit_code == 2 and run.stderr.count("\n") == 1
    assert "mlkr is for regression" in run.stderr and "--target" in run.stderr
    assert "Missing option" not in run.stderr


@pytest.mark.parametrize(
    ("given", "meant"), [("Species", "species"), ("specis", "species"), ("PETAL_WIDTH", "petal_width")]
)
def test_a_column_name_off_by_case_or_a_typo_is_suggested(cli, tmp_path, given, meant):
    run = cli("fit", "lfda", IRIS, "--label", given, "-o", tmp_path / "b")
    assert run.exit_code == 2 and f"did you mean '{meant}'?" in run.stderr
    far = cli("fit", "lfda", IRIS, "--label", "colour", "-o", tmp_path / "b")
    assert far.exit_code == 2 and "did you mean" not in far.stderr
