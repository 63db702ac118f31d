"""``metricli calibrate`` and ``metricli verify``: thresholds stored in the bundle, decisions on pairs."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from metricli.io.bundle import load_bundle
from tests.conftest import WINE, assert_one_line_error

FEATURES = list(pd.read_csv(WINE).columns[:-1])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path]:
    from typer.testing import CliRunner

    from metricli.cli import app

    folder = tmp_path_factory.mktemp("verify")
    bundle, pairs = folder / "bundle", folder / "pairs.csv"
    runner = CliRunner()
    result = runner.invoke(
        app, ["fit", "nca", str(WINE), "--label", "cultivar", "--standardize", "-o", str(bundle), "-q"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["constraints", str(WINE), "--label", "cultivar", "-n", "400", "--seed", "3", "-o", str(pairs)]
    )
    assert result.exit_code == 0, result.output
    return bundle, pairs


@pytest.fixture
def bundle(fitted, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(fitted[0], copy)
    return copy


def _direct(bundle: Path, pairs: pd.DataFrame) -> np.ndarray:
    X = pd.read_csv(WINE)[FEATURES].to_numpy()
    M = np.load(bundle / "M.npy")
    diff = X[pairs.iloc[:, 0]] - X[pairs.iloc[:, 1]]
    return np.sqrt(np.einsum("ij,jk,ik->i", diff, M, diff))


def test_calibrate_then_verify_decides_by_the_stored_threshold(cli, bundle, fitted, tmp_path):
    pairs = fitted[1]
    run = cli(
        "calibrate",
        bundle,
        "--data",
        WINE,
        "--pairs",
        pairs,
        "--strategy",
        "accuracy",
        "--json",
        "--bootstrap",
        "200",
    )
    assert run.exit_code == 0, run.stderr
    record = json.loads(run.stdout)
    t = record["threshold"]
    out = tmp_path / "decided.csv"
    run = cli("verify", bundle, pairs, "--data", WINE, "-o", out, "--batch-rows", "37", "-q")
    assert run.exit_code == 0, run.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["row_a", "row_b", "y", "d", "score", "same"]
    np.testing.assert_allclose(table["d"], _direct(bundle, table), rtol=1e-10)
    assert np.array_equal(table["score"], -table["d"])
    assert np.array_equal(table["same"], np.where(table["d"] <= t, 1, -1))
    # the stored threshold is the accuracy-best cut among the genuine distances, checked by brute force
    genuine = table["y"] == 1
    candidates = table.loc[genuine, "d"].to_numpy()
    correct = [((table["d"] <= c) == genuine).sum() for c in candidates]
    best = candidates[np.array(correct) == max(correct)].min()
    assert t == best
    # FAR and FRR reported are those of the threshold on these pairs, and inside their intervals
    far = ((table["d"] <= t) & ~genuine).sum() / (~genuine).sum()
    frr = ((table["d"] > t) & genuine).sum() / genuine.sum()
    assert record["far"] == pytest.approx(far, abs=1e-15) and record["frr"] == pytest.approx(frr, abs=1e-15)
    assert record["far_interval"][0] <= far <= record["far_interval"][1]
    assert record["calibration"]["n_genuine"] == 200 and record["calibration"]["n_impostor"] == 200


def test_target_far_takes_the_highest_acceptance_within_it(cli, bundle, fitted, tmp_path):
    run = cli(
        "calibrate",
        bundle,
        "--data",
        WINE,
        "--group",
        "cultivar",
        "--target-far",
        "0.01",
        "--json",
        "--bootstrap",
        "0",
    )
    assert run.exit_code == 0, run.stderr
    t = json.loads(run.stdout)["threshold"]
    frame = pd.read_csv(WINE)
    i, j = np.triu_indices(len(frame), k=1)
    d = _direct(bundle, pd.DataFrame({"a": i, "b": j}))
    genuine = frame["cultivar"].to_numpy()[i] == frame["cultivar"].to_numpy()[j]
    fpr, _, thresholds = roc_curve(genuine, -d, drop_intermediate=False)
    # scikit-learn: the last operating point with FPR <= 1%; its threshold is -d
    k = np.flatnonzero(fpr <= 0.01)[-1]
    assert t == pytest.approx(-thresholds[k], rel=1e-9)


def test_threshold_survives_a_round_trip_and_tampering_is_refused(cli, bundle, fitted):
    assert load_bundle(bundle).threshold is None
    run = cli("calibrate", bundle, "--data", WINE, "--pairs", fitted[1], "-q")
    assert run.exit_code == 0, run.stderr
    loaded = load_bundle(bundle)
    assert loaded.threshold["strategy"] == "eer"
    assert loaded.metadata["threshold"]["threshold"] == loaded.threshold["threshold"]
    # a second calibration needs --force
    assert_one_line_error(
        cli("calibrate", bundle, "--data", WINE, "--pairs", fitted[1]), "already holds a threshold", "--force"
    )
    # an edited threshold is refused like any bundle file
    record = json.loads((bundle / "threshold.json").read_text())
    record["threshold"] *= 2
    (bundle / "threshold.json").write_text(json.dumps(record))
    assert_one_line_error(
        cli("verify", bundle, fitted[1], "--data", WINE), "threshold.json does not match the checksum"
    )
    (bundle / "threshold.json").unlink()
    assert_one_line_error(cli("verify", bundle, fitted[1], "--data", WINE), "threshold.json is missing")


def test_a_threshold_file_the_metadata_does_not_record_is_refused(cli, bundle, fitted):
    (bundle / "threshold.json").write_text(json.dumps({"threshold": 1.0}))
    assert_one_line_error(cli("verify", bundle, fitted[1], "--data", WINE), "threshold.json is not recorded")


def test_verify_without_a_threshold_writes_distances_and_takes_one_on_the_command_line(cli, bundle, fitted):
    run = cli("verify", bundle, fitted[1], "--data", WINE, "-q")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[0] == "row_a,row_b,y,d,score"
    run = cli("verify", bundle, fitted[1], "--data", WINE, "--threshold", "4", "-q")
    table = pd.read_csv(io.StringIO(run.stdout))
    assert np.array_equal(table["same"], np.where(table["d"] <= 4, 1, -1))


def test_pairs_by_id(cli, bundle, tmp_path):
    frame = pd.read_csv(WINE)
    frame.insert(0, "name", [f"w{r}" for r in range(len(frame))])
    data = tmp_path / "named.csv"
    frame.to_csv(data, index=False)
    pairs = tmp_path / "p.csv"
    pd.DataFrame({"a": ["w0", "w5"], "b": ["w7", "w170"]}).to_csv(pairs, index=False)
    run = cli("verify", bundle, pairs, "--data", data, "--id", "name", "-q")
    assert run.exit_code == 0, run.stderr
    table = pd.read_csv(io.StringIO(run.stdout))
    np.testing.assert_allclose(
        table["d"], _direct(bundle, pd.DataFrame({"a": [0, 5], "b": [7, 170]})), rtol=1e-10
    )


def test_bad_pairs_are_refused_with_one_line(cli, bundle, fitted, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [0, 1], "b": [2, 500], "y": [1, -1]}).to_csv(bad, index=False)
    assert_one_line_error(cli("verify", bundle, bad, "--data", WINE), "bad.csv", "row 500 is not in")
    one_kind = tmp_path / "same.csv"
    pd.DataFrame({"a": [0, 1], "b": [2, 3], "y": [1, 1]}).to_csv(one_kind, index=False)
    assert_one_line_error(cli("calibrate", bundle, "--data", WINE, "--pairs", one_kind), "no impostor")
    zero = tmp_path / "zero.csv"
    pd.DataFrame({"a": [0, 1], "b": [2, 3], "y": [1, 0]}).to_csv(zero, index=False)
    assert_one_line_error(
        cli("calibrate", bundle, "--data", WINE, "--pairs", zero), "row 1, column 'y'", "use 1"
    )
    assert_one_line_error(
        cli("calibrate", bundle, "--data", WINE, "--pairs", fitted[1], "--target-far", "0.001"),
        "cannot be measured on 200 impostor pairs; it needs at least 1000",
    )
    assert_one_line_error(cli("calibrate", bundle, "--data", WINE), "give --pairs FILE")
    assert not (bundle / "threshold.json").exists()
