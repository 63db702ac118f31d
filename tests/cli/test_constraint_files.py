"""Constraint files given to `metricli fit`: every defect is one line naming file and row, exit 2, no output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metricli.cli import app

IRIS = str(Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv")


def run(*args: str):
    """The real app, quiet: stderr then holds the error line alone."""
    return CliRunner().invoke(app, ["--quiet", *args])


def fit_with(tmp_path: Path, kind: str, text: str, *extra: str):
    constraints = tmp_path / f"{kind}.csv"
    constraints.write_text(text)
    out = tmp_path / "model"
    result = run(
        "fit",
        "itml" if kind == "pairs" else "lsml",
        IRIS,
        f"--{kind}",
        str(constraints),
        "-o",
        str(out),
        *extra,
    )
    return result, constraints, out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a,b,y\n0,1,1\n3,150,-1\n",
            "row 1 (line 3): column b refers to point 150 but the data has 150 rows (0 to 149)",
        ),
        (
            "a,b,y\n0,1,1\n-1,5,-1\n",
            "row 1 (line 3): column a refers to point -1 but the data has 150 rows (0 to 149)",
        ),
        (
            "a,b,y\n0,1,1\n7,7,1\n",
            "row 1 (line 3): pairs point 7 with itself; a constraint needs two different points",
        ),
        ("a,b,y\n0,1,1\n2,3,0\n", "row 1 (line 3): y is 0; use 1 (similar) or -1 (dissimilar)"),
        ("a,b,y\n0,1,1\n2,3,2\n", "row 1 (line 3): y is 2; use 1 (similar) or -1 (dissimilar)"),
        ("a,b,y\n0,1,1\n2,3,-1\n0,1,1\n", "row 2 (line 4): repeats row 0; remove duplicated rows"),
        ("a,b,y\n0,1,1\n2,3,-1\n1,0,1\n", "row 2 (line 4): repeats row 0; remove duplicated rows"),
        (
            "a,b,y\n0,1,1\n1,0,-1\n",
            "row 1 (line 3): contradicts row 0 (the same pair, once similar and once dissimilar); keep one of them",
        ),
        ("a,b,y\n0,1,1\n2.5,3,1\n", "row 1 (line 3): column 'a' is '2.5', not a whole number"),
        ("a,b,y\n0,1,1\nx,3,1\n", "row 1 (line 3): column 'a' is 'x', not a whole number"),
        ("a,b,y\n0,1,1\n4,,1\n", "row 1 (line 3): column 'b' is blank, not a whole number"),
        ("a,b,y\n0,1,1\n2,3,yes\n", "row 1 (line 3): column 'y' is 'yes', not a whole number"),
        ("a,b\n0,1\n", "pairs files have 3 columns (a, b, y); this one has 2"),
        ("0,1,1\n2,3,-1\n", "the first line holds numbers, not column names; add a header line: a,b,y"),
        ("a,b,y\n", "header only, no data rows"),
    ],
)
def test_bad_pair_files(tmp_path, text, message):
    result, constraints, out = fit_with(tmp_path, "pairs", text)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"metricli: error: {constraints}: {message}\n"
    assert not out.exists()


def test_bad_quadruplet_file(tmp_path):
    result, constraints, out = fit_with(tmp_path, "quadruplets", "a,b,c,d\n0,1,2,3\n4,5,6,6\n")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"metricli: error: {constraints}: row 1 (line 3): pairs point 6 with itself; a constraint needs two different points\n"
    )
    assert not out.exists()


def test_ids_and_dropped_rows(tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("id,x,y,label\np0,0,0,a\np1,1,0,a\np2,,5,b\np3,5,5,b\np4,0.5,0.2,a\np5,5,4,b\n")
    by_id = tmp_path / "by_id.csv"
    by_id.write_text("a,b,y\np0,p1,1\np3,p5,1\np0,p9,-1\n")
    result = run(
        "fit",
        "mmc",
        str(data),
        "--id",
        "id",
        "--pairs",
        str(by_id),
        "--drop-missing",
        "-o",
        str(tmp_path / "m"),
    )
    assert result.exit_code == 2
    assert result.stderr == f"metricli: error: {by_id}: row 2 (line 4): column 'b': no point has id 'p9'\n"
    by_row = tmp_path / "by_row.csv"
    by_row.write_text("a,b,y\n0,1,1\n3,5,1\n0,2,-1\n")
    result = run("fit", "mmc", str(data), "--pairs", str(by_row), "--drop-missing", "-o", str(tmp_path / "m"))
    assert result.exit_code == 2
    assert "row 2 (line 4): column 'b' refers to data row 2, which was dropped" in result.stderr
    # rows after the dropped one keep their file numbers: 3 and 5 are the points (5, 5) and (5, 4)
    by_row.write_text("a,b,y\n0,1,1\n3,5,1\n0,3,-1\n4,5,-1\n")
    out = tmp_path / "ok"
    result = run("--json", "fit", "mmc", str(data), "--pairs", str(by_row), "--drop-missing", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)["metadata"]["input"]["constraints"]
    assert info == {
        "source": "file",
        "path": str(by_row),
        "sha256": info["sha256"],
        "by": "row",
        "kind": "pairs",
        "count": 4,
        "similar": 2,
        "dissimilar": 2,
    }


def test_labels_draw_and_record_constraints(tmp_path):
    out = tmp_path / "m"
    result = run(
        "--json",
        "fit",
        "itml",
        IRIS,
        "--label",
        "species",
        "--n-constraints",
        "50",
        "--seed",
        "4",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["input"]["constraints"] == {
        "source": "labels",
        "label": "species",
        "seed": 4,
        "strategy": "random",
        "requested": 50,
        "kind": "pairs",
        "count": 50,
        "similar": 25,
        "dissimilar": 25,
    }
    assert meta["fit"]["converged"] is True
