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


def test_the_default_constraint_count_is_capped_with_a_note(cli, tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "c": np.arange(n) % 600})
    data = tmp_path / "many.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "p.csv"
    run = cli("constraints", data, "--label", "c", "-o", out)
    assert run.exit_code == 0, run.stderr
    assert "drawing 100,000 pairs by default, not 14,400,000 (600 classes)" in run.stderr
    assert len(pd.read_csv(out)) <= 100_000
