"""Learner parameters become command-line options (fit and evaluate alike) and come back typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from metricli.cli import app
from metricli.cli.evaluate import _cross_validation_parameters, run_cross_validation
from metricli.cli.fit import _fit_parameters, run_fit
from metricli.cli.learner_options import make_command
from metricli.learners.base import MahalanobisLearner

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


class Knobs(MahalanobisLearner):
    """A learner with one parameter of every kind the CLI builds options from; records what it got."""

    name = "knobs"
    supervision = "unsupervised"
    summary = "test double"
    reference = "none"
    param_help = {"init": "How to start."}
    received: list = []

    def __init__(
        self,
        init: Literal["identity", "pca"] = "identity",
        order: Literal[1, 2] = 2,
        diagonal: bool = False,
        prior: str | np.ndarray = "identity",
        gamma: float | Literal["auto"] = "auto",
        tol: float | None = None,
        max_iter: int = 100,
        random_state: int | None = None,
    ) -> None:
        self.init, self.order, self.diagonal, self.prior = init, order, diagonal, prior
        self.gamma, self.tol, self.max_iter, self.random_state = gamma, tol, max_iter, random_state

    def fit(self, X, y=None):
        Knobs.received.append(self.get_params())
        self._set_fit_result(np.eye(X.shape[1]))
        return self


def app_for(run, parameters) -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("knobs")(make_command(Knobs, run, parameters, "knobs", "test"))
    return app


def test_every_kind_of_parameter_parses_in_fit_and_evaluate(tmp_path):
    prior = tmp_path / "prior.npy"
    np.save(prior, 2 * np.eye(4))
    options = ["--init", "pca", "--order", "1", "--diagonal", "--prior", str(prior), "--gamma", "0.5"]
    options += ["--tol", "1e-6", "--max-iter", "7", "--seed", "3"]
    runner = CliRunner()

    Knobs.received.clear()
    fit_app = app_for(run_fit, _fit_parameters(Knobs))
    result = runner.invoke(fit_app, ["knobs", str(IRIS), "-o", str(tmp_path / "b"), "--quiet", *options])
    assert result.exit_code == 0, result.output
    evaluate_app = app_for(run_cross_validation, _cross_validation_parameters(Knobs))
    result = runner.invoke(
        evaluate_app, ["knobs", str(IRIS), "--label", "species", "--cv", "2", "--json", *options]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["order"] == 1

    assert len(Knobs.received) == 3  # one fit, then one per fold
    for got in Knobs.received:
        prior_matrix = got.pop("prior")
        np.testing.assert_array_equal(prior_matrix, 2 * np.eye(4))
        assert got == {
            "init": "pca",
            "order": 1,
            "diagonal": True,
            "gamma": 0.5,
            "tol": 1e-6,
            "max_iter": 7,
            "random_state": 3,
        }

    Knobs.received.clear()
    result = runner.invoke(evaluate_app, ["knobs", str(IRIS), "--label", "species", "--cv", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert Knobs.received[0] == {
        "init": "identity",
        "order": 2,
        "diagonal": False,
        "prior": "identity",
        "gamma": "auto",
        "tol": None,
        "max_iter": 100,
        "random_state": 0,  # evaluate seeds its folds and its learners with 0 unless told
    }
    result = runner.invoke(evaluate_app, ["knobs", str(IRIS), "--label", "species", "--order", "3"])
    assert result.exit_code == 2 and "'3' is not one of '1', '2'" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["fit", "nca", str(IRIS), "-y", "species", "--init", "random", "-o", "{out}"],
        ["evaluate", "nca", str(IRIS), "-y", "species", "--cv", "2"],
        ["constraints", str(IRIS), "-y", "species", "-n", "3", "-o", "{out}"],
        ["check", str(IRIS), "--sample", "10"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_negative_seed_is_a_usage_error_not_an_internal_one(command, tmp_path):
    # numpy's generators refuse negative seeds: that was 'internal error: ValueError', exit 70
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [part.format(out=out) for part in command] + ["--seed", "-1"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Invalid value for '--seed'" in lines[0], result.stderr
    assert not out.exists()
