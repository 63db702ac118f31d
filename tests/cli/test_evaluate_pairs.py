"""``evaluate BUNDLE TEST --pairs FILE | --group COLUMN``: verification figures, learned beside
Euclidean, held to scikit-learn's roc_curve / roc_auc_score on distances computed here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from tests.conftest import WINE, assert_one_line_error

FEATURES = list(pd.read_csv(WINE).columns[:-1])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path]:
    from typer.testing import CliRunner

    from metricli.cli import app

    folder = tmp_path_factory.mktemp("pairs")
    bundle, pairs = folder / "bundle", folder / "pairs.csv"
    runner = CliRunner()
    run = runner.invoke(
        app, ["fit", "lfda", str(WINE), "--label", "cultivar", "--standardize", "-o", str(bundle)]
    )
    assert run.exit_code == 0, run.output
    run = runner.invoke(
        app, ["constraints", str(WINE), "--label", "cultivar", "-n", "600", "--seed", "5", "-o", str(pairs)]
    )
    assert run.exit_code == 0, run.output
    return bundle, pairs


def _figures(d: np.ndarray, genuine: np.ndarray) -> dict[str, float]:
    """AUC, EER and TAR at FAR 1e-2 from scikit-learn's ROC of the score -d."""
    fpr, tpr, _ = roc_curve(genuine, -d, drop_intermediate=False)
    gap = fpr + tpr - 1.0
    j = int(np.argmax(gap >= 0))
    t = 0.0 if gap[j] == 0 else -gap[j - 1] / (gap[j] - gap[j - 1])
    eer = fpr[j] if gap[j] == 0 else fpr[j - 1] + t * (fpr[j] - fpr[j - 1])
    return {"auc": roc_auc_score(genuine, -d), "eer": eer, "tar_at_far_0.01": tpr[fpr <= 1e-2].max()}


def _spaces(bundle: Path) -> dict[str, np.ndarray]:
    X = pd.read_csv(WINE)[FEATURES].to_numpy()
    scale = np.asarray(json.loads((bundle / "metadata.json").read_text())["preprocessing"]["scale"])
    return {"learned": X @ np.load(bundle / "L.npy").T, "euclidean": X / scale}


def _assert_matches(result: dict, expected: dict[str, dict[str, float]]) -> None:
    for side, figures in expected.items():
        for key, value in figures.items():
            assert result[side][key]["value"] == pytest.approx(value, abs=1e-12), (side, key)
            low, high = result[side][key]["interval"]
            assert low <= value <= high or key.startswith("tar"), (side, key, low, high)


def test_pairs_file(cli, fitted):
    bundle, pairs = fitted
    run = cli("evaluate", bundle, WINE, "--pairs", pairs, "--far", "1e-2", "--bootstrap", "200", "--json")
    assert run.exit_code == 0, run.stderr
    result = json.loads(run.stdout)
    table = pd.read_csv(pairs)
    genuine = table.iloc[:, 2].to_numpy() == 1
    expected = {}
    for side, Z in _spaces(bundle).items():
        d = np.linalg.norm(Z[table.iloc[:, 0]] - Z[table.iloc[:, 1]], axis=1)
        expected[side] = _figures(d, genuine)
    assert result["learned"]["n_genuine"] == genuine.sum()
    assert result["learned"]["n_impostor"] == (~genuine).sum()
    _assert_matches(result, expected)
    assert result["learned"]["auc"]["value"] > result["euclidean"]["auc"]["value"]  # LFDA helps on wine


def test_every_pair_by_identity(cli, fitted):
    bundle, _ = fitted
    run = cli(
        "evaluate", bundle, WINE, "--group", "cultivar", "--far", "1e-2", "--bootstrap", "100", "--json"
    )
    assert run.exit_code == 0, run.stderr
    result = json.loads(run.stdout)
    labels = pd.read_csv(WINE)["cultivar"].to_numpy()
    i, j = np.triu_indices(len(labels), k=1)
    genuine = labels[i] == labels[j]
    expected = {
        side: _figures(np.linalg.norm(Z[i] - Z[j], axis=1), genuine) for side, Z in _spaces(bundle).items()
    }
    assert result["learned"]["n_genuine"] + result["learned"]["n_impostor"] == len(i)
    for side, figures in expected.items():
        for key, value in figures.items():
            # all pairs come from blocked products, so distances differ from np.linalg.norm in the last bits
            assert result[side][key]["value"] == pytest.approx(value, abs=1e-9), (side, key)


def test_default_far_levels_the_pairs_cannot_measure_are_left_out_with_a_note(cli, fitted):
    bundle, pairs = fitted
    run = cli("evaluate", bundle, WINE, "--pairs", pairs, "--bootstrap", "0", "--json")
    assert run.exit_code == 0, run.stderr
    result = json.loads(run.stdout)
    impostors = result["learned"]["n_impostor"]
    assert 100 <= impostors < 1000
    assert result["far_targets"] == [0.01]
    assert "TAR at FAR 0.001, 0.0001 left out" in run.stderr and "needs 10000" in run.stderr
    assert result["learned"]["auc"]["interval"] is None


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ["--pairs", "{pairs}", "--far", "1e-5"],
            ["FAR of 1e-05 cannot be measured", "needs at least 100000"],
        ),
        (["--pairs", "{pairs}", "--reference", "{wine}"], ["--reference goes with kNN scoring"]),
        (["--group", "cultivar", "--label", "cultivar"], ["--label goes with kNN scoring"]),
        (["--pairs", "{pairs}", "--group", "cultivar"], ["give --pairs FILE", "or --group COLUMN"]),
        ([], ["give --reference TRAIN", "--pairs FILE / --group COLUMN"]),
        (["--group", "nope"], ["nope"]),
    ],
)
def test_bad_verification_options_are_one_line(cli, fitted, args, fragments):
    bundle, pairs = fitted
    run = cli("evaluate", bundle, WINE, *[a.format(pairs=pairs, wine=WINE) for a in args])
    assert_one_line_error(run, *fragments)


def test_a_pairs_file_without_impostors_is_refused(cli, fitted, tmp_path):
    bundle, pairs = fitted
    table = pd.read_csv(pairs)
    only_same = tmp_path / "same.csv"
    table[table.iloc[:, 2] == 1].to_csv(only_same, index=False)
    assert_one_line_error(cli("evaluate", bundle, WINE, "--pairs", only_same), "impostor")


# -- identity-disjoint splits: constraints --group and evaluate ALGO --group ---------------------


def test_constraints_by_group_never_share_an_identity(cli, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = tmp_path / "digits.csv"
    frame = pd.DataFrame(digits.data, columns=[f"p{i}" for i in range(64)]).assign(digit=digits.target)
    frame.to_csv(data, index=False)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    run = cli(
        "constraints", data, "--group", "digit", "--holdout", "0.4", "--seed", "2", "-n", "300",
        "-o", train, "--test-output", test, "--json",
    )  # fmt: skip
    assert run.exit_code == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["split"]["identities"] == {"train": 6, "test": 4}
    seen = {}
    for side, path in (("train", train), ("test", test)):
        pairs = pd.read_csv(path)
        assert len(pairs) == 300 and set(pairs["y"]) == {1, -1}
        seen[side] = set(frame["digit"].to_numpy()[pairs[["row_a", "row_b"]].to_numpy().ravel()])
    assert len(seen["train"]) == 6 and len(seen["test"]) == 4
    assert seen["train"].isdisjoint(seen["test"])


def test_a_split_that_leaves_one_side_a_single_identity_writes_nothing(cli, tmp_path):
    from tests.conftest import IRIS

    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    run = cli(
        "constraints", IRIS, "--group", "species", "--holdout", "0.3", "-o", train, "--test-output", test
    )
    assert_one_line_error(run, "test identities", "a single class")
    assert not train.exists() and not test.exists()


def test_identity_folds_hold_each_identity_out_once():
    from metricli.evaluation import identity_folds

    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"] + ["e"] * 2 + [None] * 2, dtype=object)
    folds = identity_folds(groups, 3, seed=4)
    held = np.concatenate(folds)
    assert sorted(held) == list(range(15))  # every row with an identity once; blank rows never
    for fold in folds:
        inside = set(groups[fold])
        for other in folds:
            if other is not fold:
                assert inside.isdisjoint(set(groups[other]))


def test_cross_validation_by_identity_scores_unseen_identities(cli):
    from metricli.evaluation import identity_folds
    from tests.conftest import FGL

    run = cli("evaluate", "lfda", FGL, "--label", "type", "--group", "type", "--cv", "2", "--json")
    assert run.exit_code == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["task"] == "verification"
    frame = pd.read_csv(FGL)
    X, types = frame.drop(columns="type").to_numpy(), frame["type"].to_numpy()
    for fold, test in zip(result["folds"], identity_folds(types.astype(object), 2, seed=0), strict=True):
        assert fold["n_test"] == test.size
        Z, g = X[test], types[test]
        i, j = np.triu_indices(test.size, k=1)
        genuine = g[i] == g[j]
        expected = _figures(np.linalg.norm(Z[i] - Z[j], axis=1), genuine)
        assert fold["euclidean"]["n_genuine"] == genuine.sum()
        for key, value in expected.items():
            # fgl has exact ties (repeated rows); all pairs come from blocked products, whose last
            # bits can order two equal distances differently from np.linalg.norm: a few pairs move
            assert fold["euclidean"][key] == pytest.approx(value, abs=1e-5), key
    means = [np.mean([f["learned"]["eer"] for f in result["folds"]])]
    assert result["summary"]["learned"]["eer"]["mean"] == pytest.approx(means[0], abs=1e-12)


def test_the_report_draws_roc_and_det_of_the_same_figures(cli, fitted, tmp_path):
    pytest.importorskip("matplotlib")
    bundle, pairs = fitted
    page = tmp_path / "report.html"
    run = cli(
        "report", bundle, WINE, "--label", "cultivar", "--cv", "0", "--pairs", pairs, "-o", page, "--json"
    )
    assert run.exit_code == 0, run.stderr
    shown = json.loads(run.stdout)["verification"]
    scored = json.loads(cli("evaluate", bundle, WINE, "--pairs", pairs, "--bootstrap", "0", "--json").stdout)
    for side in ("learned", "euclidean"):
        assert shown[side]["eer"]["value"] == scored[side]["eer"]["value"]
        far, tar = np.asarray(shown["curves"][side]["far"]), np.asarray(shown["curves"][side]["tar"])
        assert far[0] == tar[0] == 0 and far[-1] == tar[-1] == 1  # the whole curve, from (0, 0) to (1, 1)
        assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    html = page.read_text()
    assert "Same or different? Verification" in html and "alt='ROC and DET curves" in html
