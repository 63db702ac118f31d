"""The walking skeleton end to end, through the real CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricli import load_bundle

from ..conftest import IRIS, assert_one_line_error


@pytest.fixture
def iris_bundle(cli, tmp_path):
    out = tmp_path / "OUT"
    run = cli("fit", "covariance", IRIS, "--label", "species", "-o", out)
    assert run.exit_code == 0, run.stderr
    return out


def test_fit_writes_a_complete_bundle(iris_bundle, iris_X):
    names = sorted(p.name for p in iris_bundle.iterdir())
    assert names == ["L.csv", "L.npy", "M.csv", "M.npy", "axioms.json", "metadata.json"]
    bundle = load_bundle(iris_bundle)
    expected = np.linalg.inv(np.cov(iris_X, rowvar=False))
    np.testing.assert_allclose(bundle.M, expected, rtol=1e-10)
    np.testing.assert_allclose(bundle.L.T @ bundle.L, bundle.M, rtol=1e-12)
    # the CSV copies carry feature names and the same numbers
    m_csv = pd.read_csv(iris_bundle / "M.csv", index_col=0)
    assert list(m_csv.columns) == bundle.feature_names == list(m_csv.index)
    np.testing.assert_array_equal(m_csv.to_numpy(), bundle.M)
    meta = bundle.metadata
    assert meta["algorithm"] == "covariance"
    assert meta["input"]["rows_used"] == 150 and meta["input"]["label"] == "species"
    assert meta["fit"]["converged"] is True
    assert bundle.axioms["verdict"] == "metric"


def test_check_says_metric_and_exits_0(cli, iris_bundle):
    run = cli("check", iris_bundle)
    assert run.exit_code == 0
    assert "metric" in run.stdout.splitlines()[0]
    report = json.loads(cli("check", iris_bundle, "--json").stdout)
    assert report["verdict"] == "metric" and report["rank"] == 4


def test_transform_to_parquet_and_through_stdin_equal_X_Lt(cli, iris_bundle, iris_X, tmp_path):
    L = np.load(iris_bundle / "L.npy")
    emb = tmp_path / "emb.parquet"
    assert cli("transform", iris_bundle, IRIS, "-o", emb).exit_code == 0
    got = pd.read_parquet(emb)
    assert list(got.columns) == ["c0", "c1", "c2", "c3"]
    np.testing.assert_allclose(got.to_numpy(), iris_X @ L.T, rtol=1e-15, atol=1e-13)

    run = cli("transform", iris_bundle, "-", "--format", "csv", "-o", "-", input=IRIS.read_bytes())
    assert run.exit_code == 0, run.stderr
    from io import StringIO

    piped = pd.read_csv(StringIO(run.stdout))
    np.testing.assert_allclose(piped.to_numpy(), iris_X @ L.T, rtol=1e-15, atol=1e-13)


def test_transform_batches_and_keep_columns(cli, iris_bundle, iris_X, tmp_path):
    L = np.load(iris_bundle / "L.npy")
    out = tmp_path / "emb.csv"
    assert (
        cli("transform", iris_bundle, IRIS, "-o", out, "--batch-rows", "7", "--keep", "species").exit_code
        == 0
    )
    got = pd.read_csv(out)
    assert list(got.columns) == ["species", "c0", "c1", "c2", "c3"]
    assert got["species"].iloc[-1] == "virginica"
    np.testing.assert_allclose(got[["c0", "c1", "c2", "c3"]].to_numpy(), iris_X @ L.T, rtol=1e-15, atol=1e-13)


def test_singular_data_is_a_pseudometric_with_a_zero_distance_witness(cli, tmp_path, iris_frame):
    frame = iris_frame.copy()
    frame.insert(4, "petal_sum", frame["petal_length"] + frame["petal_width"])
    data = tmp_path / "dependent.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "OUT"
    assert cli("fit", "covariance", data, "--label", "species", "-o", out).exit_code == 0
    M = np.load(out / "M.npy")
    X = frame.drop(columns="species").to_numpy()
    np.testing.assert_allclose(
        M, np.linalg.pinv(np.cov(X, rowvar=False)), rtol=1e-10, atol=1e-10 * np.abs(M).max()
    )

    human = cli("check", out)
    assert human.exit_code == 1
    assert "pseudometric" in human.stdout and "witness" in human.stdout
    run = cli("check", out, "--json")
    assert run.exit_code == 1
    report = json.loads(run.stdout)
    assert report["verdict"] == "pseudometric"
    witness = report["axioms"]["identity_of_indiscernibles"]["witness"]
    names = list(frame.columns[:5])
    x = np.array([witness["x"][n] for n in names])
    y = np.array([witness["y"][n] for n in names])
    assert np.abs(x - y).max() == 1.0  # distinct points
    assert np.sqrt(max((x - y) @ M @ (x - y), 0.0)) < 1e-6
    assert cli("check", out, "--allow-pseudometric").exit_code == 0


def test_check_reads_a_plain_matrix_file(cli, tmp_path):
    path = tmp_path / "M.npy"
    np.save(path, np.array([[1.0, 0.0], [0.0, -1.0]]))
    run = cli("check", path)
    assert run.exit_code == 1 and "not a distance" in run.stdout


def test_existing_output_needs_force_and_is_untouched_on_failure(cli, iris_bundle, tmp_path):
    before = (iris_bundle / "metadata.json").read_bytes()
    run = cli("fit", "covariance", IRIS, "--label", "species", "-o", iris_bundle)
    assert_one_line_error(run, str(iris_bundle), "already exists", "--force")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    run = cli("fit", "covariance", bad, "-o", iris_bundle, "--force")
    assert run.exit_code == 2
    assert (iris_bundle / "metadata.json").read_bytes() == before
    run = cli("fit", "covariance", IRIS, "--label", "species", "-o", iris_bundle, "--force", "--standardize")
    assert run.exit_code == 0
    assert load_bundle(iris_bundle).metadata["preprocessing"]["standardize"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_standardize_is_folded_into_the_raw_feature_metric(cli, tmp_path, iris_X):
    out = tmp_path / "STD"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", out, "--standardize").exit_code == 0
    # the inverse covariance is scale-equivariant, so folding the z-scoring back in must
    # give exactly the raw-feature answer
    np.testing.assert_allclose(np.load(out / "M.npy"), np.linalg.inv(np.cov(iris_X, rowvar=False)), rtol=1e-9)


def test_tampered_bundle_is_refused(cli, iris_bundle):
    M = np.load(iris_bundle / "M.npy")
    M[0, 0] += 1.0
    np.save(iris_bundle / "M.npy", M)
    run = cli("check", iris_bundle)
    assert_one_line_error(run, "M.npy does not match the checksum")


def test_info_and_algorithms(cli, iris_bundle):
    info = json.loads(cli("info", iris_bundle, "--json").stdout)
    assert info["metadata"]["input"]["sha256"] == __import__("hashlib").sha256(IRIS.read_bytes()).hexdigest()
    listing = json.loads(cli("algorithms", "--json").stdout)
    covariance = next(a for a in listing if a["name"] == "covariance")
    assert covariance["supervision"] == "unsupervised"
    assert [p["name"] for p in covariance["parameters"]] == ["rtol"]


def test_global_json_flag_before_the_command(cli, iris_bundle):
    run = cli("--json", "check", iris_bundle)
    assert json.loads(run.stdout)["verdict"] == "metric"


# -- bad input (SPEC section 9) -----------------------------------------------------------------


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    return path


BAD_TABLES = [
    ("empty.csv", "", ["empty file"]),
    ("header.csv", "a,b,label\n", ["header only"]),
    (
        "text.csv",
        "a,b,label\n1,2,x\n3,oops,y\n5,6,x\n",
        ["column 'b' is not numeric", "row 1 (line 3)", "'oops'"],
    ),
    ("nan.csv", "a,b,label\n1,2,x\n3,,y\n5,inf,x\n", ["missing or infinite", "rows 1, 2", "--drop-missing"]),
    ("same.csv", "a,b,label\n1,2,x\n1,2,y\n1,2,x\n", ["all 3 rows are identical"]),
    (
        "huge.csv",
        "a,b,label\n1e300,2e300,x\n-3e300,1e300,y\n5e299,-6e300,x\n",
        ["overflow or underflow", "rescale"],
    ),
    (
        "tiny.csv",
        "a,b,label\n1e-300,2e-300,x\n-3e-300,1e-300,y\n5e-301,-6e-300,x\n",
        ["overflow or underflow"],
    ),
]


@pytest.mark.parametrize(("name", "content", "fragments"), BAD_TABLES, ids=[b[0] for b in BAD_TABLES])
def test_bad_tables_for_fit(cli, tmp_path, name, content, fragments):
    data = _write(tmp_path, name, content)
    out = tmp_path / "OUT"
    run = cli("fit", "covariance", data, "--label", "label", "-o", out)
    assert_one_line_error(run, name, *fragments)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]


HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"
BAD_TRANSFORM_INPUTS = [
    ("empty.csv", "", "empty file"),
    ("header.csv", HEADER, "header only"),
    ("text.csv", HEADER + "1,2,3,4\n1,oops,3,4\n", "column 'sepal_width' is not numeric: row 1 (line 3)"),
    ("nan.csv", HEADER + "1,2,3,4\n1,,3,4\n1,2,inf,4\n", "column 'sepal_width', 'petal_length' at rows 1, 2"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_TRANSFORM_INPUTS)
def test_bad_tables_for_transform(cli, iris_bundle, tmp_path, name, content, message):
    data = _write(tmp_path, name, content)
    out = tmp_path / "emb.csv"
    assert_one_line_error(cli("transform", iris_bundle, data, "-o", out), name, message)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--label", "kind"], ["no column 'kind' (from --label)", "columns are: sepal_length"]),
        (["--features", "sepal_length,nope"], ["no column 'nope'"]),
        (["--format", "xls"], ["unknown format 'xls'"]),
    ],
)
def test_bad_options(cli, tmp_path, args, fragments):
    run = cli("fit", "covariance", IRIS, "-o", tmp_path / "OUT", *args)
    assert_one_line_error(run, *fragments)


def test_missing_file_and_unknown_algorithm(cli, tmp_path):
    assert_one_line_error(
        cli("fit", "covariance", tmp_path / "nope.csv", "-o", tmp_path / "o"), "nope.csv: no such file"
    )
    run = cli("fit", "magic", IRIS, "-o", tmp_path / "o")
    assert_one_line_error(run, "No such command 'magic'")
    assert_one_line_error(cli("check", tmp_path / "nope.npy"), "nope.npy: no such file")
    assert_one_line_error(cli("check", tmp_path), "not a metricli bundle")


def test_non_square_matrix_for_check(cli, tmp_path):
    path = tmp_path / "M.npy"
    np.save(path, np.ones((2, 3)))
    assert_one_line_error(cli("check", path), "must be square")


def test_transform_needs_the_learned_features(cli, iris_bundle, tmp_path):
    data = _write(tmp_path, "other.csv", "sepal_length,petal_length\n1,2\n")
    run = cli("transform", iris_bundle, data, "-o", tmp_path / "e.csv")
    assert_one_line_error(run, "no column 'sepal_width' (a feature the metric was learned on)")


# -- the installed executable -------------------------------------------------------------------


def _executable() -> list[str]:
    script = Path(sys.executable).with_name("metricli")
    found = str(script) if script.exists() else shutil.which("metricli")
    return [found] if found else [sys.executable, "-m", "metricli"]


def test_installed_executable_end_to_end(tmp_path):
    out = tmp_path / "OUT"
    fit = subprocess.run(
        [*_executable(), "fit", "covariance", str(IRIS), "--label", "species", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fit.returncode == 0, fit.stderr
    check = subprocess.run([*_executable(), "check", str(out)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "metric" in check.stdout
    bad = subprocess.run(
        [*_executable(), "check", str(tmp_path / "missing.npy")], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "missing.npy: no such file" in bad.stderr


def test_broken_pipe_is_not_an_error(tmp_path, iris_X):
    out = tmp_path / "OUT"
    subprocess.run(
        [*_executable(), "fit", "covariance", str(IRIS), "--label", "species", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    big = tmp_path / "big.csv"
    rows = np.tile(iris_X, (200, 1))
    pd.DataFrame(rows, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"]).to_csv(
        big, index=False
    )
    proc = subprocess.Popen(
        [*_executable(), "transform", str(out), str(big), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr and "error" not in stderr.lower()


def test_fit_refuses_dash_as_its_output_folder(tmp_path, monkeypatch):
    # '-' means stdout everywhere else; fit made a bundle folder named '-' in the working directory
    from typer.testing import CliRunner

    from metricli.cli import app

    monkeypatch.chdir(tmp_path)
    iris = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
    result = CliRunner().invoke(app, ["fit", "covariance", str(iris), "--exclude", "species", "-o", "-"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "metricli: error: fit writes a model bundle, a folder: name it with -o ('-' is not one)"
    ]
    assert list(tmp_path.iterdir()) == []
    assert CliRunner().invoke(app, ["fit", "covariance", str(iris), "-o", "model", "-q"]).exit_code == 0
    result = CliRunner().invoke(app, ["report", "model", str(iris), "-y", "species", "--cv", "0", "-o", "-"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "metricli: error: report writes an HTML file: name it with -o ('-' is not one)"
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_notes_on_unusable_columns_come_with_fit_not_with_the_commands_that_apply_a_metric(cli, tmp_path):
    data = tmp_path / "two.csv"
    data.write_text("a,b,c\n1,2,1\n3,4,1\n")  # c is constant; 3 features, 2 rows
    fitted = cli("fit", "covariance", data, "-o", tmp_path / "B")
    assert fitted.exit_code == 0, fitted.stderr
    assert "constant column 'c'" in fitted.stderr and "rank at most 1" in fitted.stderr
    for command in (
        ("transform", tmp_path / "B", data),
        ("distance", tmp_path / "B", data),
        ("neighbors", tmp_path / "B", data, "--query", data, "-k", "1"),
        ("check", tmp_path / "B", "--data", data),
    ):
        run = cli(*command)
        assert run.exit_code in (0, 1), run.stderr
        assert "constant column" not in run.stderr and "rank at most" not in run.stderr, command


def test_column_names_holding_commas_can_be_chosen(cli, tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["weight, kg", "height, cm", "noise"])
    frame.insert(0, "id, internal", [f"r{i}" for i in range(30)])
    data = tmp_path / "commas.csv"
    frame.to_csv(data, index=False)
    run = cli(
        "fit",
        "covariance",
        data,
        "--features",
        "weight, kg",
        "--features",
        "height, cm",
        "-o",
        tmp_path / "B",
    )
    assert run.exit_code == 0, run.stderr
    assert load_bundle(tmp_path / "B").feature_names == ["weight, kg", "height, cm"]
    run = cli(
        "fit", "covariance", data, "--exclude", "noise", "--exclude", "id, internal", "-o", tmp_path / "C"
    )
    assert run.exit_code == 0, run.stderr
    assert load_bundle(tmp_path / "C").feature_names == ["weight, kg", "height, cm"]
    # a comma-separated list still works where no column has that whole name
    out = tmp_path / "emb.csv"
    run = cli("transform", tmp_path / "B", data, "--keep", "id, internal", "-o", out)
    assert run.exit_code == 0, run.stderr
    got = pd.read_csv(out)
    assert list(got.columns) == ["id, internal", "c0", "c1"]
    L = np.load(tmp_path / "B" / "L.npy")
    np.testing.assert_allclose(
        got[["c0", "c1"]].to_numpy(), frame[["weight, kg", "height, cm"]].to_numpy() @ L.T
    )
    run = cli("fit", "covariance", data, "--features", "noise,weight, kg", "-o", tmp_path / "D")
    assert run.exit_code == 2 and "no column 'weight'" in run.stderr
