"""Issue 17's remaining stumbles, each through the real command line."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import IRIS, assert_one_line_error


@pytest.fixture
def iris_bundle(cli, tmp_path):
    bundle = tmp_path / "iris-lfda"
    run = cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle)
    assert run.exit_code == 0, run.stderr
    return bundle


@pytest.fixture
def iris_with_ids(tmp_path):
    frame = pd.read_csv(IRIS)
    frame.insert(0, "code", 1000 + 7 * np.arange(len(frame))[::-1])  # unique integers, not a row count
    frame.insert(1, "name", [f"p{i}" for i in range(len(frame))])
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    return frame, path


@pytest.mark.parametrize("column", ["code", "name"])
def test_transform_carries_the_id_column_first(cli, iris_bundle, iris_with_ids, column):
    frame, path = iris_with_ids
    run = cli("transform", iris_bundle, path, "--id", column)
    assert run.exit_code == 0, run.stderr
    out = pd.read_csv(io.StringIO(run.stdout))
    assert list(out.columns) == [column, "c0", "c1", "c2", "c3"]
    assert out[column].tolist() == frame[column].tolist()
    plain = pd.read_csv(io.StringIO(cli("transform", iris_bundle, path).stdout))
    np.testing.assert_allclose(out[["c0", "c1", "c2", "c3"]], plain, rtol=1e-12)


def test_transform_id_is_never_a_feature(cli, tmp_path, iris_with_ids):
    _, path = iris_with_ids
    bundle = tmp_path / "with-code"
    fit = cli("fit", "covariance", path, "--features", "code,sepal_length,sepal_width", "-o", bundle)
    assert fit.exit_code == 0, fit.stderr
    assert_one_line_error(cli("transform", bundle, path, "--id", "code"), "'code'", "cannot be a feature")


def test_transform_id_must_be_unique(cli, iris_bundle, tmp_path):
    frame = pd.read_csv(IRIS)
    frame["tag"] = ["a", "b", "a"] * 50
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    assert_one_line_error(cli("transform", iris_bundle, path, "--id", "tag"), "repeats the value 'a'")


def test_check_notes_go_to_stderr_and_the_command_quiet_silences_them(cli, tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 2))
    path = tmp_path / "D.csv"
    np.savetxt(path, np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1)), delimiter=",")
    loud = cli("check", path)
    assert loud.exit_code == 0 and "read as a distance matrix" in loud.stderr
    assert "read as" not in loud.stdout and loud.stdout.startswith(f"{path}: metric")
    quiet = cli("check", path, "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout


def test_skipped_text_columns_are_one_note(cli, tmp_path):
    frame = pd.read_csv(IRIS)
    for i in range(8):
        frame[f"t{i}"] = ["x", "y", "z"] * 50
    path = tmp_path / "texty.csv"
    frame.to_csv(path, index=False)
    run = cli("fit", "covariance", path, "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    notes = [line for line in run.stderr.splitlines() if "text column" in line]
    assert len(notes) == 1, run.stderr
    assert "9 text columns" in notes[0]
    assert all(f"'{c}'" in notes[0] for c in ["species", *(f"t{i}" for i in range(8))])


@pytest.mark.parametrize("stream", ["query", "reference"])
def test_neighbors_keeps_columns_and_the_ids_type(cli, iris_bundle, iris_with_ids, stream):
    frame, path = iris_with_ids
    common = ("neighbors", iris_bundle, path, "--query", path, "-k", "2", "--stream", stream, "--json")
    for id_column, kind in (("code", int), ("name", str)):
        run = cli(*common, "--id", id_column, "--keep", "species,sepal_width")
        assert run.exit_code == 0, run.stderr
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        assert len(rows) == 2 * len(frame)
        assert list(rows[0]) == ["species", "sepal_width", "query", "rank", "reference", "d"]
        by_id = frame.set_index(id_column)
        for row in rows:
            assert type(row["query"]) is kind and type(row["reference"]) is kind
            assert row["species"] == by_id.loc[row["query"], "species"]
            assert row["sepal_width"] == by_id.loc[row["query"], "sepal_width"]
        assert [r["query"] for r in rows[::2]] == frame[id_column].tolist()
    plain = [json.loads(line) for line in cli(*common).stdout.splitlines()]
    assert [r["query"] for r in plain[::2]] == list(range(len(frame)))  # row numbers, as before


def test_neighbors_keep_refuses_a_missing_or_clashing_column(cli, iris_bundle, iris_with_ids):
    _, path = iris_with_ids
    base = ("neighbors", iris_bundle, path, "--query", path, "-k", "2")
    assert_one_line_error(cli(*base, "--keep", "nope"), "no column 'nope'", "--keep")
    assert_one_line_error(cli(*base, "--keep", "rank"), "--keep rank", "its own 'rank' column")


def test_neighbors_in_an_index_keep_columns_and_integer_ids(cli, iris_bundle, iris_with_ids, tmp_path):
    pytest.importorskip("faiss")
    frame, path = iris_with_ids
    index = tmp_path / "ix"
    assert cli("index", iris_bundle, path, "--id", "code", "-o", index).exit_code == 0
    run = cli("neighbors", iris_bundle, "--index", index, "--query", path, "-k", "1", "--id", "code",
              "--keep", "name", "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["name"] for r in rows] == frame["name"].tolist()
    assert all(type(r["query"]) is int and type(r["reference"]) is int for r in rows)
    assert [r["query"] for r in rows] == frame["code"].tolist()


def test_a_column_typed_anew_in_a_later_batch_is_cast_or_named(cli, iris_bundle, tmp_path):
    # a CSV read in batches is typed per batch: ids 1000, 1001, ... then 'A7'
    frame = pd.read_csv(IRIS).drop(columns="species")
    frame["code"] = [str(1000 + i) for i in range(len(frame))]
    frame.loc[120, "code"] = "A7"
    path = tmp_path / "mixed.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "n.parquet"
    run = cli(
        "neighbors",
        iris_bundle,
        path,
        "--query",
        path,
        "-k",
        "1",
        "--id",
        "code",
        "--batch-rows",
        "50",
        "-o",
        out,
    )
    assert_one_line_error(run, "n.parquet: column 'query' changes type between batches", "--batch-rows")
    assert not out.exists()
    # text first, numbers later: the numbers are written as text
    frame["code"] = frame["code"].iloc[::-1].to_numpy()
    frame.to_csv(path, index=False)
    run = cli("transform", iris_bundle, path, "--keep", "code", "--batch-rows", "50", "-o", out)
    assert run.exit_code == 0, run.stderr
    assert pd.read_parquet(out)["code"].tolist() == frame["code"].tolist()
