import json
import os

import numpy as np
import pandas as pd
import pytest

from metricli.axioms import check_mahalanobis

from ..conftest import IRIS, WINE, assert_one_line_error
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


def _figure_widths(page: str) -> list[float]:
    import base64
    import re

    widths = []
    for data in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page):
        svg = base64.b64decode(data).decode("utf-8")
        widths.append(float(re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', svg).group(1)))
    return widths


def test_headline_says_plainly_whether_the_metric_beats_euclidean(cli, tmp_path, iris_report):
    # covariance whitening loses to Euclidean on iris (.920 vs .960) and wins on raw wine
    _, page, figures = iris_report
    assert figures["headline"].startswith("learned .920 vs Euclidean .960: no gain on this data")
    assert f"<p class='headline'>{figures['headline']}" in page.read_text()
    wine = tmp_path / "wine-cov"
    assert cli("fit", "covariance", WINE, "--label", "cultivar", "-o", wine).exit_code == 0
    run = cli("report", wine, WINE, "--label", "cultivar", "-o", tmp_path / "w.html", "--json")
    headline = json.loads(run.stdout)["headline"]
    assert headline.startswith("learned .950 vs Euclidean .719: the learned metric does better"), headline
    assert "no gain" not in headline


def test_title_names_the_bundle_folder_never_an_absolute_path(cli, tmp_path, iris_report):
    bundle, page, figures = iris_report
    assert bundle.is_absolute()
    assert figures["title"] == "metricli report: covariance · B"
    text = page.read_text()
    assert "<title>metricli report: covariance · B</title>" in text
    head = text.split("<h2>", 1)[0]
    assert str(tmp_path) not in head and str(IRIS) not in head


def test_plots_use_the_page_width(iris_report):
    _, page, _ = iris_report
    text = page.read_text()
    assert "img { display: block; width: 100%" in text
    widths = _figure_widths(text)
    assert len(widths) >= 3 and max(widths) / min(widths) < 1.25, widths  # drawn alike, shown page-wide


def test_spectrum_of_a_full_rank_metric_with_small_eigenvalues_shows_none_null(cli, tmp_path, iris_frame):
    from metricli.report.html import spectrum_bars

    # nine features, one of them a thousand times wider: M's eigenvalues span 10⁶, all positive
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.normal(size=(200, 9)) * np.r_[1000.0, np.ones(8)], columns=[f"f{j}" for j in range(9)]
    )
    data = tmp_path / "wide.csv"
    frame.to_csv(data, index=False)
    bundle = tmp_path / "cov"
    assert cli("fit", "covariance", data, "-o", bundle).exit_code == 0
    run = cli("report", bundle, data, "-o", tmp_path / "r.html", "--json")
    spectrum = json.loads(run.stdout)["spectrum"]
    assert spectrum["rank"] == 9 and spectrum["null_dimension"] == 0
    kind, relative, floor = spectrum_bars(spectrum)
    assert (kind == "positive").all() and relative.min() < 1e-5  # the old linear bars were invisible
    assert (relative >= 10 * floor).all()  # on the log axis each bar is at least a decade tall
    # a rank-deficient metric: its null directions are marked at the floor, the others drawn
    kind, relative, floor = spectrum_bars(
        {"eigenvalues": [4.0, 1.0, 1e-18], "null_dimension": 1, "negative": 0}
    )
    assert list(kind) == ["positive", "positive", "null"] and floor == pytest.approx(0.01)


def test_a_missing_matplotlib_names_both_install_lines(cli, tmp_path, monkeypatch):
    import sys

    bundle = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "-o", bundle).exit_code == 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    run = cli("report", bundle, IRIS, "-o", tmp_path / "r.html", "--cv", "0")
    assert_one_line_error(run, "pip install 'metricli[report]'", "pip install '.[report]'")
    assert not (tmp_path / "r.html").exists()
