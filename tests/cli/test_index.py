"""``metricli index`` and ``neighbors --index``: recall against the exact scan, and refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricli.cli import app

pytest.importorskip("faiss", reason="the neighbour index is the optional extra metricli[index]")

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two bundles learned on 6,000 rows of 8 features; the reference file with ids; queries."""
    root = tmp_path_factory.mktemp("index")
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=2.0, size=(6, 8))
    label = rng.integers(6, size=6000)
    X = centres[label] + rng.normal(size=(6000, 8)) @ rng.normal(size=(8, 8))
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(8)])
    frame["label"] = label
    frame.insert(0, "name", [f"r{i}" for i in range(6000)])
    data = root / "data.parquet"
    frame.to_parquet(data)
    queries = frame.sample(300, random_state=1).reset_index(drop=True)
    queries[[f"x{j}" for j in range(8)]] += rng.normal(scale=0.1, size=(300, 8))
    query = root / "query.parquet"
    queries.to_parquet(query)
    bundle, other = root / "bundle", root / "other"
    assert run("fit", "lfda", data, "--label", "label", "--id", "name", "-o", bundle, "-q").exit_code == 0
    assert run("fit", "covariance", data, "--id", "name", "-o", other, "-q").exit_code == 0
    index = root / "index"
    result = run("index", bundle, data, "--id", "name", "-o", index, "--batch-rows", "1000")
    assert result.exit_code == 0, result.output
    assert "indexed 6000 rows" in result.stderr
    return {"root": root, "data": data, "query": query, "bundle": bundle, "other": other, "index": index}


def test_the_index_finds_the_exact_neighbours(setup, tmp_path):
    exact, approx = tmp_path / "exact.csv", tmp_path / "approx.csv"
    common = ("--query", setup["query"], "-k", "10", "--id", "name")
    assert run("neighbors", setup["bundle"], setup["data"], *common, "-o", exact).exit_code == 0
    result = run("neighbors", setup["bundle"], "--index", setup["index"], *common, "-o", approx)
    assert result.exit_code == 0, result.output
    truth, got = pd.read_csv(exact), pd.read_csv(approx)
    assert list(got.columns) == ["query", "rank", "reference", "d"]
    assert len(got) == len(truth) == 3000
    assert got["reference"].str.startswith("r").all()  # named by --id, as the exact scan does
    hits = sum(
        len(set(g["reference"]) & set(truth.loc[truth["query"] == q, "reference"]))
        for q, g in got.groupby("query")
    )
    assert hits / len(truth) >= 0.97
    # distances of the same pairs agree to float32 precision, nearest first
    both = got.merge(truth, on=["query", "reference"], suffixes=("", "_exact"))
    np.testing.assert_allclose(both["d"], both["d_exact"], rtol=1e-4, atol=1e-4)
    assert (got.groupby("query")["d"].diff().dropna() >= 0).all()


def test_a_low_search_effort_loses_recall(setup, tmp_path):
    # the bound above is not vacuous: one candidate per query cannot find 10 neighbours well
    exact, approx = tmp_path / "exact.csv", tmp_path / "approx.csv"
    common = ("--query", setup["query"], "-k", "10")
    assert run("neighbors", setup["bundle"], setup["data"], *common, "-o", exact).exit_code == 0
    graph = faiss_graph_with_few_links(setup, tmp_path)
    result = run("neighbors", setup["bundle"], "--index", graph, *common, "--ef", "1", "-o", approx)
    assert result.exit_code == 0, result.output
    truth, got = pd.read_csv(exact), pd.read_csv(approx)
    hits = len(
        set(zip(got["query"], got["reference"], strict=True))
        & set(zip(truth["query"], truth["reference"], strict=True))
    )
    assert hits / len(truth) < 0.97


def faiss_graph_with_few_links(setup, tmp_path) -> Path:
    out = tmp_path / "sparse"
    result = run("index", setup["bundle"], setup["data"], "-o", out, "--links", "4", "--ef-construction", "8")
    assert result.exit_code == 0, result.output
    return out


def test_exclude_self_drops_the_row_itself(setup, tmp_path):
    out = tmp_path / "self.csv"
    result = run(
        "neighbors", setup["bundle"], "--index", setup["index"], "--query", setup["data"], "-k", "3",
        "--exclude-self", "--id", "name", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    assert len(got) == 18000 and (got["query"] != got["reference"]).all()


def test_an_index_built_for_another_bundle_is_refused(setup):
    result = run("neighbors", setup["other"], "--index", setup["index"], "--query", setup["query"], "-k", "3")
    one_line_error(result, "built for another bundle")
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["vectors.faiss", "rows.npy", "ids.parquet", "index.json"])
def test_a_tampered_index_is_refused(setup, tmp_path, name):
    copy = tmp_path / "index"
    shutil.copytree(setup["index"], copy)
    target = copy / name
    if name == "index.json":
        meta = json.loads(target.read_text())
        meta["n_rows"] = 5999
        target.write_text(json.dumps(meta))
    else:
        raw = bytearray(target.read_bytes())
        raw[-3] ^= 0xFF
        target.write_bytes(bytes(raw))
    result = run("neighbors", setup["bundle"], "--index", copy, "--query", setup["query"], "-k", "3")
    one_line_error(result, "checksum")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("-k", "6001"), "larger than the 6000 rows"),
        (("--radius", "1.0"), "--index answers -k"),
        (("-k", "3", "--exact"), "give one of them"),
        (("-k", "0"), "-k"),
    ],
)
def test_bad_queries_exit_2(setup, extra, fragment):
    result = run("neighbors", setup["bundle"], "--index", setup["index"], "--query", setup["query"], *extra)
    one_line_error(result, fragment)


def test_bad_index_inputs_exit_2(setup, tmp_path):
    one_line_error(
        run("neighbors", setup["bundle"], "--index", tmp_path, "--query", setup["query"], "-k", "3"),
        "not a metricli index",
    )
    one_line_error(run("neighbors", setup["bundle"], "--query", setup["query"], "-k", "3"), "give REFERENCE")
    one_line_error(run("index", setup["bundle"], setup["data"], "-o", setup["index"]), "already exists")
    one_line_error(run("index", setup["bundle"], IRIS, "-o", tmp_path / "iris"), "x0")
    assert not (tmp_path / "iris").exists()


def test_force_replaces_an_index_but_not_a_bundle(setup, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(setup["index"], copy)
    result = run("index", setup["bundle"], setup["query"], "-o", copy, "--force")
    assert result.exit_code == 0, result.output
    assert json.loads((copy / "index.json").read_text())["n_rows"] == 300
    bundle_copy = tmp_path / "bundle"
    shutil.copytree(setup["other"], bundle_copy)
    one_line_error(
        run("index", setup["bundle"], setup["query"], "-o", bundle_copy, "--force"), "metricli bundle"
    )
