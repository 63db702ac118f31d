"""`metricli fit` for the weakly supervised learners: matrix-file priors and bases, algorithms listing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from metricli.cli import app

IRIS = str(Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv")
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def run(*args: str):
    return CliRunner().invoke(app, ["--quiet", *args])


def test_prior_from_a_matrix_file(tmp_path):
    prior = tmp_path / "prior.csv"
    pd.DataFrame(np.diag([1.0, 2.0, 3.0, 4.0]), index=FEATURES, columns=FEATURES).to_csv(prior)
    out = tmp_path / "m"
    # bounds every pair meets: the LogDet-closest metric is the prior itself
    result = run(
        "fit", "itml", IRIS, "-y", "species", "--seed", "0", "--prior", str(prior),
        "--similar-bound", "1e9", "--dissimilar-bound", "1e-9", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(np.load(out / "M.npy"), np.diag([1.0, 2.0, 3.0, 4.0]), rtol=1e-6)
    # recorded by shape and checksum, never by path (a bundle read elsewhere must name no file)
    recorded = json.loads((out / "metadata.json").read_text())["params"]["prior"]
    assert recorded["matrix"] == [4, 4] and str(prior) not in (out / "metadata.json").read_text()


def test_bad_prior_files_are_one_line_errors(tmp_path):
    singular = tmp_path / "singular.npy"
    np.save(singular, np.diag([1.0, 1.0, 1.0, 0.0]))
    small = tmp_path / "small.npy"
    np.save(small, np.eye(3))
    for path, message in (
        (singular, "itml: prior matrix must be positive definite (smallest eigenvalue 0)"),
        (small, "itml: prior matrix is 3x3; the data has 4 features, so it must be 4x4"),
    ):
        out = tmp_path / "m"
        result = run("fit", "itml", IRIS, "-y", "species", "--prior", str(path), "-o", str(out))
        assert result.exit_code == 2
        assert result.stderr == f"metricli: error: {IRIS}: {message}\n"
        assert not out.exists()


def test_scml_bases_from_a_file(tmp_path):
    basis = tmp_path / "basis.csv"
    pd.DataFrame(np.eye(4), columns=FEATURES).to_csv(basis, index=False)
    out = tmp_path / "m"
    result = run("fit", "scml", IRIS, "-y", "species", "--seed", "1", "--basis", str(basis), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    M = np.load(out / "M.npy")
    np.testing.assert_allclose(M, np.diag(np.diag(M)), atol=1e-12)  # axis bases: a diagonal metric


def test_every_weak_learner_fits_from_labels_and_lists_its_constraints(tmp_path):
    result = CliRunner().invoke(app, ["algorithms", "--json"])
    listed = {a["name"]: a for a in json.loads(result.stdout)}
    expected = {
        "itml": ["pairs"],
        "sdml": ["pairs"],
        "mmc": ["pairs"],
        "lsml": ["quadruplets"],
        "scml": ["triplets"],
    }
    for name, kinds in expected.items():
        assert listed[name]["supervision"] == "weakly-supervised"
        assert listed[name]["constraints"] == kinds
        out = tmp_path / name
        result = run(
            "--json", "fit", name, IRIS, "-y", "species", "--seed", "2", "--standardize", "-o", str(out)
        )
        assert result.exit_code == 0, result.stderr
        meta = json.loads(result.stdout)["metadata"]
        assert meta["input"]["constraints"]["kind"] == kinds[0]
        assert meta["fit"]["converged"] is True
        assert json.loads(result.stdout)["verdict"] in ("metric", "pseudometric")
