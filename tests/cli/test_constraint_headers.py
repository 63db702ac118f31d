"""A constraint file says what it holds: row numbers (row_a, row_b, ...) or ids (id_a, id_b, ...).

A file of 0-based row numbers read with an --id column that counts from 1 paired every point
with its neighbour's partner: a silent off-by-one. Now the header carries the kind and a
mismatch is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


@pytest.fixture
def numbered(tmp_path) -> Path:
    frame = pd.read_csv(IRIS)
    frame.index = np.arange(1, len(frame) + 1)
    path = tmp_path / "iris_r.csv"
    frame.to_csv(path, index_label="rownames")
    return path


def test_row_numbers_read_with_an_id_column_are_refused(cli, tmp_path, numbered):
    pairs = tmp_path / "p.csv"
    made = cli("constraints", numbered, "--label", "species", "-n", "100", "--seed", "3", "-o", pairs)
    assert made.exit_code == 0, made.stderr
    assert pairs.read_text().splitlines()[0] == "row_a,row_b,y"
    fitted = cli("fit", "itml", numbered, "--pairs", pairs, "--id", "rownames", "-o", tmp_path / "b")
    assert fitted.exit_code == 2
    assert (
        fitted.stderr.count("\n") == 1 and "row numbers" in fitted.stderr and "--id rownames" in fitted.stderr
    )
    assert not (tmp_path / "b").exists()
    # read as what it says, it fits
    fine = cli("fit", "itml", numbered, "--pairs", pairs, "-o", tmp_path / "c")
    assert fine.exit_code == 0, fine.stderr


def test_ids_read_without_an_id_column_are_refused_and_read_with_it_fit(cli, tmp_path, numbered):
    pairs = tmp_path / "p.csv"
    made = cli("constraints", numbered, "--label", "species", "--id", "rownames", "-n", "100", "-o", pairs)
    assert made.exit_code == 0, made.stderr
    frame = pd.read_csv(pairs)
    assert list(frame.columns) == ["id_a", "id_b", "y"]
    assert frame[["id_a", "id_b"]].to_numpy().min() >= 1  # ids, not rows
    refused = cli("fit", "itml", numbered, "--pairs", pairs, "-o", tmp_path / "b")
    assert refused.exit_code == 2 and "holds ids" in refused.stderr and refused.stderr.count("\n") == 1
    fitted = cli("fit", "itml", numbered, "--pairs", pairs, "--id", "rownames", "-o", tmp_path / "c")
    assert fitted.exit_code == 0, fitted.stderr


def test_an_old_header_keeps_its_meaning_with_a_note(cli, tmp_path):
    pairs = tmp_path / "old.csv"
    pairs.write_text("a,b,y\n0,1,1\n0,60,-1\n1,2,1\n51,120,-1\n100,101,1\n3,140,-1\n")
    fitted = cli("fit", "itml", IRIS, "--pairs", pairs, "-o", tmp_path / "b")
    assert fitted.exit_code == 0, fitted.stderr
    assert "does not say whether it holds row numbers or ids; read as 0-based row numbers" in fitted.stderr


def test_verify_refuses_a_pairs_file_of_the_other_kind(cli, tmp_path, numbered):
    bundle = tmp_path / "b"
    assert cli("fit", "covariance", numbered, "--label", "species", "-o", bundle).exit_code == 0
    pairs = tmp_path / "p.csv"
    assert cli("constraints", numbered, "--label", "species", "-n", "50", "-o", pairs).exit_code == 0
    run = cli("verify", bundle, pairs, "--data", numbered, "--id", "rownames")
    assert run.exit_code == 2 and "says it holds row numbers" in run.stderr
    assert run.stdout == ""


def test_a_huge_index_is_one_line_without_warnings(cli, tmp_path):
    pairs = tmp_path / "p.csv"
    pairs.write_text("a,b,y\n0,1e20,1\n1,2,-1\n")
    run = cli("fit", "itml", IRIS, "--pairs", pairs, "-o", tmp_path / "b")
    assert run.exit_code == 2 and run.stderr.count("\n") == 1
    assert "column 'b' is '1e+20', not a row number" in run.stderr and "Warning" not in run.stderr
