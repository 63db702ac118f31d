import json
import os

import numpy as np
import pytest

from metricli.axioms import check_mahalanobis

from ..conftest import IRIS
from .chromium import find_chromium, inspect_page

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")


@pytest.fixture
def iris_report(cli, tmp_path):
    bundle = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    page = tmp_path / "report.html"
    run = cli("report", bundle, IRIS, "--label", "species", "-o", page, "--json")
    assert run.exit_code == 0, run.stderr
    return bundle, page, json.loads(run.stdout)


def test_report_figures_agree_with_check(cli, iris_report, iris_X):
    bundle, page, figures = iris_report
    check = json.loads(cli("check", bundle, "--json").stdout)
    assert figures["verdict"] == check["verdict"] == "metric"
    assert figures["axioms"]["rank"] == check["rank"]
    np.testing.assert_allclose(figures["spectrum"]["eigenvalues"], check["eigenvalues"], rtol=1e-12)
    # the 'after' panel is X Lᵀ seen along its two widest directions: its coordinates have the
    # two largest variances of the learned space, and distances within that plane are d_M's
    L = np.load(bundle / "L.npy")
    Z = iris_X @ L.T
    after = np.column_stack([figures["scatter"]["after"]["x"], figures["scatter"]["after"]["y"]])
    top = np.sort(np.linalg.eigvalsh(np.cov(Z, rowvar=False)))[::-1][:2]
    np.testing.assert_allclose(np.var(after, axis=0, ddof=1), top, rtol=1e-9)
    np.testing.assert_allclose(after.mean(axis=0), 0.0, atol=1e-9)
    assert figures["scatter"]["colour_by"]["values"][0] == "setosa"
    # the kNN comparison is exactly what `metricli evaluate` reports for the same learner
    evaluate = json.loads(cli("evaluate", "covariance", IRIS, "--label", "species", "--json").stdout)
    assert _same_folds(figures, evaluate)
    assert figures["evaluation"]["summary"] == evaluate["summary"]
    html = page.read_text()
    assert f"{evaluate['summary']['learned']['accuracy']['mean']:.4f}" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert html.count("<img ") == 3  # spectrum, scatter, kNN per fold (no objective curve: closed form)


def _same_folds(figures, evaluate):
    # fit timings differ between two runs; every score must not
    strip = [{k: v for k, v in f.items() if k != "fit_seconds"} for f in figures["evaluation"]["folds"]]
    return strip == [{k: v for k, v in f.items() if k != "fit_seconds"} for f in evaluate["folds"]]


def test_pseudometric_report_shows_the_witness(cli, tmp_path, iris_frame):
    frame = iris_frame.copy()
    frame.insert(4, "petal_sum", frame["petal_length"] + frame["petal_width"])
    data = tmp_path / "dependent.csv"
    frame.to_csv(data, index=False)
    bundle = tmp_path / "B"
    assert cli("fit", "covariance", data, "--label", "species", "-o", bundle).exit_code == 0
    run = cli("report", bundle, data, "--label", "species", "-o", tmp_path / "r.html", "--json")
    figures = json.loads(run.stdout)
    assert figures["verdict"] == "pseudometric"
    assert figures["spectrum"]["rank"] == 4
    assert figures["axioms"] == check_mahalanobis(np.load(bundle / "M.npy"), list(frame.columns[:5]))
    assert "witness" in (tmp_path / "r.html").read_text()


def test_report_refuses_to_overwrite_and_names_missing_features(cli, iris_report, tmp_path):
    bundle, page, _ = iris_report
    run = cli("report", bundle, IRIS, "-o", page)
    assert run.exit_code == 2 and "already exists" in run.stderr
    other = tmp_path / "other.csv"
    other.write_text("sepal_length,sepal_width\n1,2\n")
    run = cli("report", bundle, other, "-o", tmp_path / "x.html")
    assert run.exit_code == 2 and "no column 'petal_length'" in run.stderr
    assert not (tmp_path / "x.html").exists()


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed here (CI installs Debian's chromium)")
def test_page_renders_in_headless_chromium_without_errors(iris_report, tmp_path):
    _, page, _ = iris_report
    shot = tmp_path / "report.png"
    seen = inspect_page(CHROMIUM, page, shot)
    assert seen["console_errors"] == [] and seen["exceptions"] == [] and seen["log_errors"] == []
    assert seen["failed_loads"] == []
    # nothing but the page itself and its inline images was requested
    assert all(url.startswith(("file://", "data:")) for url in seen["requests"])
    assert len(seen["images"]) == 3
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100 and image["shown"] > 100
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("METRICLI_KEEP_SCREENSHOT"):
        shot.replace(os.environ["METRICLI_KEEP_SCREENSHOT"])


def test_objective_section_says_which_way_the_objective_went(cli, tmp_path):
    # NCA maximises its objective: the page said 'How the objective fell' above a rising curve
    bundle = tmp_path / "nca"
    assert cli("fit", "nca", IRIS, "--label", "species", "--standardize", "-o", bundle).exit_code == 0
    history = json.loads((bundle / "metadata.json").read_text())["fit"]["objective_history"]
    assert history[-1] > history[0]
    page = tmp_path / "report.html"
    assert cli("report", bundle, IRIS, "--label", "species", "--cv", "0", "-o", page).exit_code == 0
    html = page.read_text()
    assert "objective fell" not in html
    assert f"It rose from {history[0]:.4g} to {history[-1]:.4g} in {len(history)} iterations." in html
