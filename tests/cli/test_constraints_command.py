"""`metricli constraints`: the fit's own generator, as a file users can inspect, edit and reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app
from metricli.constraints import duplicated_rows, pairs_from_labels

IRIS = str(Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv")


def run(*args: str):
    return CliRunner().invoke(app, ["--quiet", *args])


@pytest.mark.parametrize(
    ("kind", "header"),
    [
        ("pairs", ["row_a", "row_b", "y"]),
        ("triplets", ["row_anchor", "row_positive", "row_negative"]),
        ("quadruplets", ["row_a", "row_b", "row_c", "row_d"]),
    ],
)
def test_writes_valid_distinct_constraints(tmp_path, kind, header):
    out = tmp_path / f"{kind}.csv"
    result = run(
        "constraints", IRIS, "--label", "species", "--kind", kind, "-n", "120", "--seed", "3", "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == header and len(frame) == 120
    species = pd.read_csv(IRIS)["species"].to_numpy()
    values = frame.to_numpy()
    if kind == "pairs":
        assert np.all(values[:, 0] != values[:, 1])
        np.testing.assert_array_equal(species[values[:, 0]] == species[values[:, 1]], values[:, 2] == 1)
    elif kind == "triplets":
        assert np.all(species[values[:, 0]] == species[values[:, 1]])
        assert np.all(species[values[:, 0]] != species[values[:, 2]])
    # reproducible: the same seed writes the same file
    again = tmp_path / "again.csv"
    run(
        "constraints",
        IRIS,
        "--label",
        "species",
        "--kind",
        kind,
        "-n",
        "120",
        "--seed",
        "3",
        "-o",
        str(again),
    )
    assert again.read_bytes() == out.read_bytes()


def test_same_generator_as_fit(tmp_path):
    pairs_file = tmp_path / "pairs.csv"
    run("constraints", IRIS, "-y", "species", "-n", "80", "--seed", "11", "-o", str(pairs_file))
    # the file holds exactly what the library draws ...
    labels = pd.read_csv(IRIS)["species"].astype(str).to_numpy(dtype=object)
    drawn = pairs_from_labels(labels, 80, seed=11)
    np.testing.assert_array_equal(
        pd.read_csv(pairs_file).to_numpy(), np.column_stack([drawn.a, drawn.b, drawn.y])
    )
    # ... and fitting from it gives the same metric as drawing inside fit
    from_file, from_labels = tmp_path / "file", tmp_path / "labels"
    assert run("fit", "itml", IRIS, "--pairs", str(pairs_file), "-o", str(from_file)).exit_code == 0
    assert (
        run(
            "fit",
            "itml",
            IRIS,
            "-y",
            "species",
            "--n-constraints",
            "80",
            "--seed",
            "11",
            "-o",
            str(from_labels),
        ).exit_code
        == 0
    )
    np.testing.assert_array_equal(np.load(from_file / "M.npy"), np.load(from_labels / "M.npy"))


def test_ids_json_summary_and_force(tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("name,x,label\nann,0,a\nbob,1,a\ncid,5,b\ndee,6,b\neve,7,b\n")
    out = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app,
        [
            "constraints",
            str(data),
            "-y",
            "label",
            "--id",
            "name",
            "-n",
            "6",
            "--seed",
            "0",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {
        "output": str(out),
        "data": str(data),
        "label": "label",
        "seed": 0,
        "strategy": "random",
        "requested": 6,
        "by": "id",
        "kind": "pairs",
        "count": 6,
        "similar": 3,
        "dissimilar": 3,
    }
    frame = pd.read_csv(out)
    assert set(frame["id_a"]) | set(frame["id_b"]) <= {"ann", "bob", "cid", "dee", "eve"}
    # the file reads back by id
    assert (
        run(
            "fit", "itml", str(data), "--id", "name", "--pairs", str(out), "-o", str(tmp_path / "m")
        ).exit_code
        == 0
    )
    before = out.read_bytes()
    result = run("constraints", str(data), "-y", "label", "-n", "4", "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"metricli: error: {out}: already exists; pass --force to overwrite it\n"
    assert out.read_bytes() == before
    assert run("constraints", str(data), "-y", "label", "-n", "4", "-o", str(out), "--force").exit_code == 0
    assert len(pd.read_csv(out)) == 4


def test_chunks_and_stdout():
    result = run(
        "constraints",
        IRIS,
        "-y",
        "species",
        "--kind",
        "chunks",
        "-n",
        "5",
        "--chunk-size",
        "3",
        "--seed",
        "1",
    )
    assert result.exit_code == 0
    frame = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert list(frame.columns) == ["row", "chunk"] and len(frame) == 150
    counts = frame[frame.chunk >= 0].groupby("chunk").size()
    assert list(counts) == [3] * 5


def test_errors(tmp_path):
    single = tmp_path / "one.csv"
    single.write_text("x,label\n1,a\n2,a\n")
    result = run("constraints", str(single), "-y", "label", "-o", str(tmp_path / "c.csv"))
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"metricli: error: {single}: label column 'label' has a single class; constraints need at least two classes\n"
    )
    result = CliRunner().invoke(app, ["constraints", IRIS, "-y", "species", "--json"])
    assert result.exit_code == 2
    assert "write the constraints to a file with -o FILE" in result.stderr
    assert not (tmp_path / "c.csv").exists()


def test_generated_files_never_repeat_a_constraint(tmp_path):
    out = tmp_path / "q.csv"
    # every pair there is (more than the distinct similar ones) in a small file: still no
    # repeats; asking for more than exist is refused (tests/cli/test_huge_requests.py)
    data = tmp_path / "small.csv"
    data.write_text("x,label\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(8)))
    result = run("constraints", str(data), "-y", "label", "-n", "28", "-o", str(out))
    assert result.exit_code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 28  # all C(8, 2) pairs, each once
    from metricli.constraints import Pairs

    assert duplicated_rows(Pairs(frame.row_a, frame.row_b, frame.y)) is None


def test_neighbour_triplets_are_the_ones_fit_draws(tmp_path):
    triplets = tmp_path / "t.csv"
    result = run(
        "constraints", IRIS, "-y", "species", "--kind", "triplets", "--standardize", "-o", str(triplets)
    )
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(triplets)
    assert len(frame) == 150 * 3 * 10  # every point: 3 same-class x 10 other-class neighbours
    from_file, from_labels = tmp_path / "file", tmp_path / "labels"
    common = ("--standardize", "--seed", "0")
    assert run("fit", "scml", IRIS, "--triplets", str(triplets), "-o", str(from_file), *common).exit_code == 0
    result = run("--json", "fit", "scml", IRIS, "-y", "species", "-o", str(from_labels), *common)
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)["metadata"]["input"]["constraints"]
    assert info["strategy"] == "neighbors" and info["count"] == 4500 and info["requested"] is None
    np.testing.assert_array_equal(np.load(from_file / "M.npy"), np.load(from_labels / "M.npy"))
    result = run(
        "constraints", IRIS, "-y", "species", "--strategy", "neighbors", "-o", str(tmp_path / "p.csv")
    )
    assert result.exit_code == 2
    assert "--strategy neighbors draws triplets; use --strategy random for pairs" in result.stderr


def test_chunk_file_from_constraints_feeds_fit_rca(tmp_path):
    from ..conftest import IRIS, assert_one_line_error

    runner = CliRunner()
    chunks = tmp_path / "chunks.csv"
    made = runner.invoke(
        app,
        [
            "constraints",
            str(IRIS),
            "--label",
            "species",
            "--kind",
            "chunks",
            "-n",
            "20",
            "--seed",
            "3",
            "-o",
            str(chunks),
        ],
    )
    assert made.exit_code == 0, made.stderr
    from_file, from_labels = tmp_path / "a", tmp_path / "b"
    assert (
        runner.invoke(app, ["fit", "rca", str(IRIS), "--chunks", str(chunks), "-o", str(from_file)]).exit_code
        == 0
    )
    assert (
        runner.invoke(
            app,
            [
                "fit",
                "rca",
                str(IRIS),
                "--label",
                "species",
                "--n-constraints",
                "20",
                "--seed",
                "3",
                "-o",
                str(from_labels),
            ],
        ).exit_code
        == 0
    )
    np.testing.assert_array_equal(np.load(from_file / "M.npy"), np.load(from_labels / "M.npy"))
    meta = json.loads((from_file / "metadata.json").read_text())
    assert meta["input"]["constraints"]["source"] == "file"
    # a point listed twice is an error naming the file and row
    bad = tmp_path / "twice.csv"
    bad.write_text("row,chunk\n0,1\n5,1\n0,2\n")

    class Run:
        def __init__(self, result):
            self.exit_code, self.stdout, self.stderr = result.exit_code, result.stdout, result.stderr

    run = Run(runner.invoke(app, ["fit", "rca", str(IRIS), "--chunks", str(bad), "-o", str(tmp_path / "c")]))
    assert_one_line_error(run, "twice.csv: row 2 (line 4)", "a second time")
    assert not (tmp_path / "c").exists()
