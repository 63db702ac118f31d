"""``metricli compare``: the leaderboard against ``metricli evaluate`` on the same folds, and bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DIABETES, IRIS, assert_one_line_error


def _json(run) -> dict:
    assert run.exit_code == 0, (run.stdout, run.stderr)
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def iris_board():
    from typer.testing import CliRunner

    from metricli.cli import app

    result = CliRunner().invoke(app, ["compare", str(IRIS), "--label", "species", "--cv", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_baseline_rows_equal_evaluates_euclidean_figures_on_the_same_folds(cli, iris_board) -> None:
    rows = {row["name"]: row for row in iris_board["rows"]}
    for standardize, name in ((False, "euclidean"), (True, "standardized")):
        args = ["evaluate", "lfda", IRIS, "--label", "species", "--cv", "3", "--json"]
        evaluated = _json(cli(*args, *(["--standardize"] if standardize else [])))
        per_fold = [fold["euclidean"]["accuracy"] for fold in evaluated["folds"]]
        assert rows[name]["scores"] == per_fold
        assert rows[name]["mean"] == pytest.approx(evaluated["summary"]["euclidean"]["accuracy"]["mean"])
        if standardize:  # a learner's row is evaluate's learned figure with --standardize
            assert rows["lfda"]["scores"] == [fold["learned"]["accuracy"] for fold in evaluated["folds"]]


def test_json_leaderboard(iris_board) -> None:
    assert iris_board["task"] == "classification"
    assert iris_board["figure"] == "accuracy"
    assert (iris_board["n_rows"], iris_board["n_features"], iris_board["cv"]) == (150, 4, 3)
    means = [row["mean"] for row in iris_board["rows"]]
    assert means == sorted(means, reverse=True)
    baseline = iris_board["best_baseline"]
    for row in iris_board["rows"]:
        assert len(row["scores"]) == 3
        assert ("gain" in row) == (row["name"] != baseline)
    assert iris_board["verdict"]


def test_human_output_has_the_leaderboard_and_a_verdict(cli) -> None:
    run = cli("compare", DIABETES, "--target", "progression", "--cv", "3", "--budget", "60")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("metricli compare ")
    assert any(line.split()[1:2] == ["mlkr"] for line in lines[1:])
    assert lines[-1].startswith("verdict: ")


def test_budget_zero_runs_the_baselines_and_notes_every_skipped_learner(cli) -> None:
    run = cli("compare", IRIS, "--label", "species", "--cv", "3", "--budget", "0", "--json")
    board = _json(run)
    assert {row["name"] for row in board["rows"]} == {"euclidean", "standardized"}
    assert len(board["skipped"]) == 12
    notes = [line for line in run.stderr.splitlines() if line.startswith("skipped ")]
    assert len(notes) == 12
    assert all("of the budget left" in line for line in notes)
    assert "no learner was scored" in board["verdict"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        ((), ("--label", "--target")),
        (("--label", "species", "--target", "sepal_length"), ("not both",)),
        (("--label", "colour"), ("no column 'colour'",)),
        (("--label", "species", "--cv", "1"), ("--cv",)),
        (("--label", "species", "--budget", "-1"), ("--budget",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments) -> None:
    assert_one_line_error(cli("compare", IRIS, *args), *fragments)


def test_a_single_class_is_an_error(cli, tmp_path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("a,b,y\n1,2,x\n2,3,x\n3,1,x\n4,4,x\n5,0,x\n6,2,x\n")
    assert_one_line_error(cli("compare", data, "--label", "y", "--cv", "2"), "class")
