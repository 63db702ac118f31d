"""CSV input separated by ';', tab or '|': --delimiter on every command that reads tables, and
a .csv whose header has no comma sniffed, with one note (issue 17)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import IRIS, assert_one_line_error

SEPARATORS = {"semicolon": ";", "tab": "\t", "pipe": "|"}


@pytest.fixture
def iris():
    return pd.read_csv(IRIS)


def write(frame: pd.DataFrame, path, sep: str):
    frame.to_csv(path, sep=sep, index=False)
    return path


@pytest.mark.parametrize("kind", SEPARATORS)
def test_a_csv_with_another_separator_is_sniffed_with_one_note(cli, tmp_path, iris, kind):
    path = write(iris, tmp_path / "iris.csv", SEPARATORS[kind])
    run = cli("fit", "lfda", path, "--label", "species", "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if "read with delimiter" in line]
    assert len(notes) == 1, run.stderr
    assert ("tab" if kind == "tab" else repr(SEPARATORS[kind])) in notes[0] and "--delimiter" in notes[0]
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", tmp_path / "ref").exit_code == 0
    learned = pd.read_csv(tmp_path / "b" / "M.csv", index_col=0)
    np.testing.assert_allclose(learned, pd.read_csv(tmp_path / "ref" / "M.csv", index_col=0), rtol=1e-10)
    assert cli("fit", "lfda", path, "--label", "species", "-q", "-o", tmp_path / "c").stderr == ""


def test_delimiter_reads_stdin_and_any_extension(cli, tmp_path, iris):
    bundle = tmp_path / "b"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    expected = cli("transform", bundle, IRIS).stdout
    text = iris.to_csv(sep="|", index=False)
    assert cli("transform", bundle, "-", "--delimiter", "|", input=text).stdout == expected
    path = tmp_path / "iris.txt"
    path.write_text(iris.to_csv(sep="\t", index=False))
    for spelling in ("\\t", "tab", "\t"):
        run = cli("transform", bundle, path, "--format", "csv", "--delimiter", spelling)
        assert run.exit_code == 0 and run.stdout == expected, (spelling, run.stderr)
    # without it, a one-column stdin header of ';' is sniffed too
    assert cli("transform", bundle, "-", input=iris.to_csv(sep=";", index=False)).stdout == expected


def test_delimiter_on_every_data_command(cli, tmp_path, iris):
    semi = write(iris, tmp_path / "iris.dat", ";")
    opts = ["--format", "csv", "--delimiter", ";"]
    bundle = tmp_path / "b"
    assert cli("fit", "lfda", semi, *opts, "--label", "species", "-o", bundle).exit_code == 0
    plain = json.loads(cli("evaluate", "lfda", IRIS, "--label", "species", "--json").stdout)
    ours = json.loads(cli("evaluate", "lfda", semi, *opts, "--label", "species", "--json").stdout)
    assert ours["folds"] == [
        dict(f, fit_seconds=o["fit_seconds"]) for f, o in zip(plain["folds"], ours["folds"], strict=True)
    ]
    d = cli("distance", bundle, semi, *opts, "--to", semi, "-o", "-")
    assert d.exit_code == 0, d.stderr
    assert len(pd.read_csv(io.StringIO(d.stdout))) == 150 * 150
    nn = cli("neighbors", bundle, semi, *opts, "--query", semi, "-k", "2", "--json")
    assert nn.exit_code == 0, nn.stderr
    pairs = cli(
        "constraints", semi, *opts, "--label", "species", "-n", "20", "--seed", "0", "-o", tmp_path / "p.csv"
    )
    assert pairs.exit_code == 0, pairs.stderr
    checked = cli("check", bundle, "--data", semi, *opts, "--json")
    plain_check = cli("check", bundle, "--data", IRIS, "--json")
    assert checked.exit_code == plain_check.exit_code == 1, checked.stderr  # iris repeats a row
    assert json.loads(checked.stdout)["axioms"] == json.loads(plain_check.stdout)["axioms"]
    # a constraint file metricli wrote (commas) beside ';' data is still read as written
    itml = cli("fit", "itml", semi, *opts, "--pairs", tmp_path / "p.csv", "-o", tmp_path / "i")
    assert itml.exit_code == 0, itml.stderr
    assert "p.csv: read with delimiter ','" in itml.stderr


def test_a_distance_matrix_separated_by_semicolons(cli, tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 2))
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    path = tmp_path / "D.csv"
    np.savetxt(path, D, delimiter=";")
    run = cli("check", path, "--json")
    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["verdict"] == "metric"


@pytest.mark.parametrize("value", [";;", "", "\n"])
def test_a_delimiter_of_not_one_character_is_refused(cli, tmp_path, value):
    run = cli("fit", "lfda", IRIS, "--label", "species", "--delimiter", value, "-o", tmp_path / "b")
    assert_one_line_error(run, "--delimiter", "not one character")
    assert not (tmp_path / "b").exists()


def test_decimal_commas_under_semicolons_are_read_as_numbers(cli, tmp_path, iris):
    # R's write.csv2 and spreadsheets in most of Europe: ';' between fields, ',' in numbers
    path = tmp_path / "csv2.csv"
    iris.to_csv(path, sep=";", decimal=",", index=False)
    assert "5,1;3,5" in path.read_text()
    run = cli("fit", "lfda", path, "--label", "species", "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    assert "read with decimal commas" in run.stderr
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", tmp_path / "ref").exit_code == 0
    np.testing.assert_array_equal(
        pd.read_csv(tmp_path / "b" / "M.csv", index_col=0),
        pd.read_csv(tmp_path / "ref" / "M.csv", index_col=0),
    )
    expected = cli("transform", tmp_path / "ref", IRIS).stdout
    assert cli("transform", tmp_path / "ref", "-", input=path.read_bytes()).stdout == expected
    assert cli("transform", tmp_path / "ref", path).stdout == expected


def test_points_keep_their_decimal_mark_beside_commas_in_text(cli, tmp_path, iris):
    # a ';' file with decimal points, whose text column holds '1,2': read with points
    frame = iris.assign(note=["1,2"] * len(iris))
    path = tmp_path / "points.csv"
    frame.to_csv(path, sep=";", index=False)
    run = cli("fit", "lfda", path, "--label", "species", "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    assert "decimal commas" not in run.stderr
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", tmp_path / "ref").exit_code == 0
    np.testing.assert_array_equal(
        pd.read_csv(tmp_path / "b" / "M.csv", index_col=0),
        pd.read_csv(tmp_path / "ref" / "M.csv", index_col=0),
    )
