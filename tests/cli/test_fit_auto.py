"""``metricli fit auto``: the bundle it writes, the baseline when nothing wins, and ``info``."""

from __future__ import annotations

import html as html_module
import json

import numpy as np
import pandas as pd
import pytest

from metricli.io.bundle import load_bundle
from tests.conftest import assert_one_line_error


def _noise_table(tmp_path, seed: int = 0):
    """Features of different scales with no relation to random labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 5)) * rng.uniform(0.5, 5, size=5)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["y"] = rng.choice(["a", "b", "c"], size=120)
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    return path, X


def test_pure_noise_writes_the_baseline_bundle_and_says_so(cli, tmp_path) -> None:
    data, X = _noise_table(tmp_path)
    out = tmp_path / "auto"
    run = cli("fit", "auto", data, "--label", "y", "--cv", "3", "-o", out)
    assert run.exit_code == 0, run.stderr
    assert "verdict: no learned metric beats" in run.stdout
    assert "wrote" in run.stdout and "the baseline" in run.stdout
    bundle = load_bundle(out)
    selection = bundle.metadata["selection"]
    assert selection["beats_baseline"] is False
    assert bundle.algorithm == selection["choice"] == selection["best_baseline"]
    expected = np.eye(5) if bundle.algorithm == "euclidean" else np.diag(1 / X.std(axis=0))
    np.testing.assert_allclose(bundle.L, expected, rtol=1e-12)
    assert bundle.metadata["preprocessing"]["standardize"] == (bundle.algorithm == "standardized")
    assert {row["name"] for row in selection["leaderboard"]} >= {"euclidean", "standardized", "lfda", "nca"}

    shown = cli("info", out)
    assert shown.exit_code == 0, shown.stderr
    assert "chosen by" in shown.stdout and "no learned metric beats" in shown.stdout.replace("\n", " ")


def test_a_learned_metric_is_written_when_it_wins(cli, tmp_path, iris_frame) -> None:
    rng = np.random.default_rng(0)
    frame = iris_frame.copy()
    for i in range(8):
        frame[f"noise{i}"] = rng.normal(size=len(frame))
    data = tmp_path / "iris_noise.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "auto"
    run = cli("fit", "auto", data, "--label", "species", "--cv", "3", "-o", out, "--json")
    assert run.exit_code == 0, run.stderr
    meta = json.loads(run.stdout)["metadata"]
    assert meta["selection"]["beats_baseline"] is True
    chosen = next(
        row for row in meta["selection"]["leaderboard"] if row["name"] == meta["selection"]["choice"]
    )
    assert meta["algorithm"] == chosen["algorithm"] != "euclidean"
    assert chosen["gain"]["low"] > 0
    # the bundle scores its own training rows as the learned metric, not as Euclidean
    assert load_bundle(out).L.shape[1] == 12


def test_an_existing_bundle_is_not_overwritten(cli, tmp_path) -> None:
    data, _ = _noise_table(tmp_path)
    out = tmp_path / "auto"
    out.mkdir()
    assert_one_line_error(cli("fit", "auto", data, "--label", "y", "-o", out), "--force")


def test_report_shows_the_choice_and_why(cli, tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")
    data, _ = _noise_table(tmp_path)
    out = tmp_path / "auto"
    assert cli("fit", "auto", data, "--label", "y", "--cv", "3", "-o", out).exit_code == 0
    page = tmp_path / "report.html"
    run = cli("report", out, data, "--label", "y", "--cv", "3", "-o", page)
    assert run.exit_code == 0, run.stderr
    assert "has no learner to cross-validate" in run.stderr
    html = page.read_text()
    verdict = load_bundle(out).metadata["selection"]["verdict"]
    assert "How this metric was chosen" in html
    assert html_module.escape(verdict) in html
    assert (
        "Chosen: the largest gain whose one-sided 95% lower bound rules out a loss of more than "
        "0.5 points of accuracy." in html
    )
    assert html.count("<tr><td class='num'>") >= 14  # every candidate of the leaderboard has a row
