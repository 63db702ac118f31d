"""``metricli check`` on distance tables, bundles with data, and repairs, through the real app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from typer.testing import CliRunner

from metricli.cli import app

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
IRIS = SAMPLE / "iris.csv"
X = np.random.default_rng(21).normal(size=(12, 3))
IDS = [f"s{i}" for i in range(12)]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, message: str) -> None:
    """Exit 2, nothing on stdout, and exactly the one line ``metricli: error: <message>``."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"metricli: error: {message}"]


def write_layouts(tmp_path: Path, D: np.ndarray) -> dict[str, tuple[Path, bool]]:
    """D written in every layout the reader accepts: path, and whether it names the points."""
    frame = pd.DataFrame(D, index=pd.Index(IDS, name="id"), columns=IDS)
    layouts = {
        "header and id column": (tmp_path / "a.csv", True),
        "pandas index without name": (tmp_path / "b.csv", True),
        "header only": (tmp_path / "c.csv", True),
        "row ids only": (tmp_path / "d.csv", True),
        "numbers only": (tmp_path / "e.csv", False),
        "tsv": (tmp_path / "f.tsv", True),
        "parquet": (tmp_path / "g.parquet", True),
        "npy": (tmp_path / "h.npy", False),
    }
    frame.to_csv(layouts["header and id column"][0], float_format="%.17g")
    frame.rename_axis(None).to_csv(layouts["pandas index without name"][0], float_format="%.17g")
    frame.to_csv(layouts["header only"][0], index=False, float_format="%.17g")
    frame.to_csv(layouts["row ids only"][0], header=False, float_format="%.17g")
    frame.to_csv(layouts["numbers only"][0], header=False, index=False, float_format="%.17g")
    frame.to_csv(layouts["tsv"][0], sep="\t", float_format="%.17g")
    frame.reset_index().to_parquet(layouts["parquet"][0])
    np.save(layouts["npy"][0], D)
    return layouts


def test_every_table_layout_gives_the_same_verdict_and_witnesses(tmp_path):
    D = cdist(X, X, "sqeuclidean")
    reports = {}
    for layout, (path, named) in write_layouts(tmp_path, D).items():
        result = run("check", path, "--json")
        assert result.exit_code == 1, (layout, result.stderr)
        report = json.loads(result.stdout)
        assert report["kind"] == "distance" and report["verdict"] == "semimetric", layout
        w = report["axioms"]["triangle_inequality"]["witness"]
        i, j, k = w["rows"]
        assert (w["i"], w["j"], w["k"]) == ((IDS[i], IDS[j], IDS[k]) if named else (i, j, k)), layout
        assert D[i, j] > D[i, k] + D[k, j]
        reports[layout] = report["axioms"]["triangle_inequality"]["pairs_violated"]
    assert len(set(reports.values())) == 1


def test_human_report_names_the_verdict_and_the_witness(tmp_path):
    path = tmp_path / "sq.csv"
    pd.DataFrame(cdist(X, X, "sqeuclidean"), index=IDS, columns=IDS).to_csv(path)
    result = run("check", path, "--witnesses", "1")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: semimetric"
    witness = next(line for line in lines if line.startswith("witness (triangle inequality)"))
    assert witness.count(" > ") == 1 and "excess" in witness
    # how the kind was guessed is a note: stderr, not the report on stdout, and -q silences it
    assert "read as a distance matrix D because its diagonal is zero" in result.stderr
    assert "read as a distance matrix" not in result.stdout
    quiet = run("-q", "check", path, "--witnesses", "1")
    assert quiet.exit_code == 1 and quiet.stderr == "" and "read as" not in quiet.stdout


def test_exit_status_follows_the_verdict_and_accept(tmp_path):
    Y = X.copy()
    Y[4] = Y[1]
    metric, pseudo, semi = tmp_path / "m.npy", tmp_path / "p.npy", tmp_path / "s.npy"
    np.save(metric, cdist(X, X))
    np.save(pseudo, cdist(Y, Y))
    np.save(semi, cdist(X, X, "sqeuclidean"))
    assert run("check", metric).exit_code == 0
    assert run("check", pseudo).exit_code == 1
    assert run("check", pseudo, "--allow-pseudometric").exit_code == 0
    assert run("check", pseudo, "--accept", "pseudometric").exit_code == 0
    assert run("check", semi, "--accept", "pseudometric").exit_code == 1
    assert run("check", semi, "--accept", "semimetric").exit_code == 0
    assert run("check", metric, "--ultrametric").exit_code == 1  # Euclidean is no ultrametric
    witness = json.loads(run("check", pseudo, "--json").stdout)["axioms"]["identity_of_indiscernibles"][
        "witness"
    ]
    assert witness["rows"] == [1, 4]


def test_sample_and_fail_fast_from_the_command_line(tmp_path):
    path = tmp_path / "s.npy"
    D = cdist(X, X, "sqeuclidean")
    np.save(path, D)
    # 1000 draws, fewer than the 12·11·10 = 1320 triplets (at least that many checks them all exactly)
    sampled = json.loads(run("check", path, "--sample", "1000", "--seed", "5", "--json").stdout)
    triangle = sampled["axioms"]["triangle_inequality"]
    assert triangle["method"] == "sampled" and triangle["triplets_sampled"] == 1000
    low, high = triangle["rate_interval"]
    assert low <= triangle["violation_rate"] <= high
    fast = run("check", path, "--fail-fast", "--json")
    assert fast.exit_code == 1
    w = json.loads(fast.stdout)["axioms"]["triangle_inequality"]["witness"]
    assert D[w["i"], w["j"]] > D[w["i"], w["k"]] + D[w["k"], w["j"]]


def test_repair_metric_writes_a_table_that_passes(tmp_path):
    source, repaired = tmp_path / "sq.csv", tmp_path / "fixed.csv"
    D = cdist(X, X, "sqeuclidean")
    pd.DataFrame(D, index=pd.Index(IDS, name="id"), columns=IDS).to_csv(source, float_format="%.17g")
    result = run("check", source, "--repair-metric", repaired, "--json")
    assert result.exit_code == 1  # the input still fails; the repair is a separate file
    summary = json.loads(result.stdout)["repair"]
    assert summary["output"] == str(repaired) and summary["pairs_lowered"] > 0
    back = pd.read_csv(repaired, index_col="id")
    assert list(back.index) == IDS and list(back.columns) == IDS
    assert np.all(back.to_numpy() <= D)
    assert run("check", repaired).exit_code == 0

    again = run("check", source, "--repair-metric", repaired)
    one_line_error(again, f"{repaired}: already exists; pass --force to overwrite it")
    assert run("check", source, "--repair-metric", repaired, "--force").exit_code == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_repair_psd_writes_the_nearest_psd_matrix(tmp_path):
    M, P = tmp_path / "M.csv", tmp_path / "P.csv"
    pd.DataFrame([[1.0, 2.0], [2.0, 1.0]], index=["a", "b"], columns=["a", "b"]).to_csv(M)
    result = run("check", M, "--repair-psd", P)
    assert result.exit_code == 1 and "not a distance" in result.stdout
    assert "clipped 1 negative eigenvalues" in result.stdout
    written = pd.read_csv(P, index_col=0)
    assert list(written.columns) == ["a", "b"]
    np.testing.assert_allclose(written.to_numpy(), 1.5, rtol=1e-14)
    report = json.loads(run("check", P, "--json").stdout)
    assert report["kind"] == "mahalanobis" and report["verdict"] == "pseudometric" and report["rank"] == 1


def test_bundle_with_data_checks_the_distances_between_the_points(tmp_path):
    bundle = tmp_path / "B"
    assert run("fit", "covariance", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    frame = pd.read_csv(IRIS)
    frame.insert(0, "flower", [f"f{i}" for i in range(len(frame))])
    points = tmp_path / "iris_ids.csv"
    frame.to_csv(points, index=False)
    result = run("check", bundle, "--data", points, "--id", "flower", "--json")
    report = json.loads(result.stdout)
    # iris repeats some flowers exactly: under any metric they are at distance 0
    features = frame.drop(columns=["flower", "species"]).to_numpy()
    duplicates = {
        (f"f{i}", f"f{j}")
        for i in range(len(features))
        for j in range(i + 1, len(features))
        if np.array_equal(features[i], features[j])
    }
    assert duplicates
    assert report["verdict"] == "pseudometric" and result.exit_code == 1
    identity = report["axioms"]["identity_of_indiscernibles"]
    assert identity["violations"] == len(duplicates)
    assert {(w["i"], w["j"]) for w in identity["witnesses"]} <= duplicates
    assert report["axioms"]["triangle_inequality"]["holds"]
    assert run("check", bundle).exit_code == 0  # M itself is a metric
    partial = tmp_path / "partial.csv"
    frame.drop(columns="petal_width").to_csv(partial, index=False)
    one_line_error(
        run("check", bundle, "--data", partial),
        f"{partial}: no column 'petal_width' (a feature the metric was learned on)",
    )


# -- bad input: one line, exit 2 ----------------------------------------------------------------


BAD_TABLES = [
    ("empty.csv", "", "empty.csv: empty file, no header and no rows"),
    ("header.csv", "a,b\n", "header.csv: header only, no data rows"),
    (
        "wide.csv",
        "0,1,2\n1,0,3\n",
        "wide.csv: matrix must be square; got 2 rows and 3 columns (including any column of row ids)",
    ),
    (
        "ragged.csv",
        "a,b,c\n0,1,2\n1,0\n2,1,0\n",
        "ragged.csv: ragged table: line 3 has 2 cells but the lines above have 3",
    ),
    (
        "text.csv",
        "a,b,c\n0,1,2\n1,zero,3\n2,3,0\n",
        "text.csv: not a number at row 1 (line 3), column 'b': 'zero'",
    ),
    (
        "nan.csv",
        "id,a,b,c\na,0,1,2\nb,1,,3\nc,2,3,0\n",
        "nan.csv: missing or infinite value at row 1, column 1 ('b', 'b'); every entry must be a number",
    ),
    (
        "ids.csv",
        "id,a,b,c\na,0,1,2\nc,1,0,3\nb,2,3,0\n",
        "ids.csv: row ids do not match column ids: row 1 is 'c' but column 1 is 'b'; rows and columns must "
        "list the same points in the same order",
    ),
    ("twice.csv", "id,a,a\na,0,1\na,1,0\n", "twice.csv: id 'a' appears twice (positions 0 and 1)"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_TABLES, ids=[t[0] for t in BAD_TABLES])
def test_bad_distance_tables(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    one_line_error(run("check", path), f"{tmp_path}/{message}")


def test_bad_npy_and_options(tmp_path):
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros(4))
    one_line_error(run("check", flat), f"{flat}: .npy array has 1 dimensions; a square matrix has 2")
    M = tmp_path / "M.npy"
    np.save(M, np.eye(3))
    one_line_error(
        run("check", M, "--sample", "10"),
        f"--sample applies to a distance matrix; {M} holds a Mahalanobis matrix M (pass --data POINTS, "
        "or --kind distance)",
    )
    D = tmp_path / "D.npy"
    np.save(D, cdist(X, X))
    one_line_error(
        run("check", D, "--repair-psd", tmp_path / "P.npy"),
        f"--repair-psd applies to a Mahalanobis matrix M; {D} gives a distance matrix (use --repair-metric)",
    )
    one_line_error(
        run("check", D, "--data", IRIS),
        f"--data needs a model bundle as SOURCE; {D} is not a bundle folder",
    )
    one_line_error(
        run("check", D, "--repair-metric", tmp_path / "out.xlsx"),
        f"{tmp_path}/out.xlsx: cannot tell the output format from '.xlsx'; pass --output-format (csv, tsv, parquet, jsonl)",
    )
    # --kind overrides the zero-diagonal rule: the identity read as M is singular... and PSD
    report = json.loads(run("check", M, "--kind", "distance", "--json").stdout)
    assert report["kind"] == "distance" and report["verdict"] == "not a distance"
