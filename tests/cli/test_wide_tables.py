"""A table too wide for the memory left is refused before anything d x d is allocated.

Before, a 50 x 10,000 CSV ran `fit covariance` 120 s at 3.2 GB, ran `fit lfda` out of memory
(advising options `fit` does not have) and took `fit nca` to 5.5 GB. One estimator
(metricli/memory.py, from each learner's measured ``peak_arrays``) now refuses it with the
figures and ways out the command has; METRICLI_MEMORY_LIMIT plays a smaller machine.
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from metricli.learners import LEARNERS
from metricli.memory import fit_bytes
from tests.conftest import assert_one_line_error


def _wide(path, n: int, d: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).round(3)
    header = ",".join([*(f"f{i}" for i in range(d)), "y"])
    body = np.column_stack([X, np.arange(n) % 3])
    np.savetxt(path, body, delimiter=",", header=header, comments="", fmt="%.3f")


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    _wide(path, 40, 1500)  # one 1,500 x 1,500 float64 array is 17.2 MiB
    return path


def _options_named(message: str) -> set[str]:
    return set(re.findall(r"--[a-z][a-z-]*", message))


@pytest.mark.parametrize(("algo", "held"), [("covariance", "7"), ("lfda", "9"), ("nca", "42")])
def test_a_table_too_wide_is_refused_with_the_figure_and_real_options(
    cli, tmp_path, monkeypatch, wide, algo, held
):
    monkeypatch.setenv("METRICLI_MEMORY_LIMIT", str(40 * 2**20))
    out = tmp_path / "b"
    run = cli("fit", algo, wide, "--label", "y", "-o", out)
    assert_one_line_error(
        run,
        f"wide.csv: {algo}: 1,500 features need about",
        "(a 1,500 × 1,500 float64 matrix is 17.2 MiB; ",
        f"the fit holds about {held} of them at once) and 40.0 MiB is available",
        "with --features or --exclude, or reduce them first (e.g. with PCA)",
    )
    assert not out.exists()
    # every option the advice names is one `fit ALGO` really has
    named = _options_named(run.stderr)
    assert named
    options = cli("fit", algo, "--help").stdout
    assert all(option in options for option in named), (named, options)


def test_the_advised_column_count_and_n_components_really_fit(cli, tmp_path, monkeypatch):
    path = tmp_path / "narrow.csv"
    _wide(path, 40, 300)  # one 300 x 300 array is 703 KiB; full-rank NCA holds about 42
    monkeypatch.setenv("METRICLI_MEMORY_LIMIT", str(5 * 2**20))
    monkeypatch.setenv("METRICLI_KNN_CHECK", "0")
    run = cli("fit", "nca", path, "--label", "y", "-o", tmp_path / "b")
    assert run.exit_code == 2
    k = int(re.search(r"lower --n-components to ([\d,]+) or fewer", run.stderr)[1].replace(",", ""))
    columns = int(re.search(r"keep at most ([\d,]+) columns", run.stderr)[1].replace(",", ""))
    assert 1 <= k < 300 and 1 <= columns < 300
    # the advice followed is accepted; one more is refused
    done = cli(
        "fit", "nca", path, "--label", "y", "--n-components", k, "--max-iter", "3", "-o", tmp_path / "k"
    )
    assert done.exit_code == 0, done.stderr
    more = cli("fit", "nca", path, "--label", "y", "--n-components", k + 1, "-o", tmp_path / "k1")
    assert more.exit_code == 2 and "to fit" in more.stderr
    features = ",".join(f"f{i}" for i in range(columns))
    narrow = cli(
        "fit", "nca", path, "--label", "y", "--features", features, "--max-iter", "3", "-o", tmp_path / "c"
    )
    assert narrow.exit_code == 0, narrow.stderr
    features = ",".join(f"f{i}" for i in range(columns + 1))
    wider = cli("fit", "nca", path, "--label", "y", "--features", features, "-o", tmp_path / "d")
    assert wider.exit_code == 2 and "to fit" in wider.stderr


def test_fifty_by_ten_thousand_is_refused_before_any_d_by_d_array(cli, tmp_path, monkeypatch):
    # the table: refused once it is read (before, 120 s at 3.2 GB)
    path = tmp_path / "w.csv"
    _wide(path, 50, 10_000)
    monkeypatch.setenv("METRICLI_MEMORY_LIMIT", str(2**30))
    run = cli("fit", "covariance", path, "--label", "y", "-o", tmp_path / "b")
    assert_one_line_error(
        run, "w.csv: covariance: 10,000 features need about 5.2 GiB", "1.0 GiB is available"
    )
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["covariance", "lfda", "nca"])
def test_the_estimate_bounds_the_measured_peak(name):
    # the learner alone (no bundle): measured with tracemalloc at d = 400, within [0.6, 1.1] x estimate
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(40, 400)), np.arange(40) % 3
    cls = LEARNERS[name]
    learner = cls(max_iter=3) if name == "nca" else cls()
    args = (X, y)
    learner.fit(*args)  # warm-up: first-call imports and caches are not the fit's
    tracemalloc.start()
    learner.fit(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = fit_bytes(learner, 400)
    assert 0.6 * estimate <= peak <= 1.1 * estimate, (peak / (8 * 400**2), estimate / (8 * 400**2))


def test_a_wide_table_is_refused_before_its_columns_are_chosen_one_by_one(cli, tmp_path, monkeypatch):
    # choosing 10,000 columns one by one took about a second of the refusal's two (issue 20):
    # the bound from whole columns refuses first, so the per-column pass never runs
    path = tmp_path / "w.csv"
    _wide(path, 50, 2_000)
    monkeypatch.setenv("METRICLI_MEMORY_LIMIT", str(2**20))

    def never(*args, **kwargs):
        raise AssertionError("the columns were chosen one by one before the refusal")

    monkeypatch.setattr("metricli.io.tables.select_columns", never)
    run = cli("fit", "nca", path, "--label", "y", "-o", tmp_path / "b")
    assert_one_line_error(run, "w.csv: nca: 2,000 features need about")


def test_the_early_count_never_exceeds_the_columns_chosen(tmp_path):
    from metricli.io.tables import fewest_features, read_table, select_columns

    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "Unnamed: 0": np.arange(30),  # a row index: never a default feature
            "row": np.arange(1, 31).astype(float),  # row numbers, as floats
            "counts": rng.integers(0, 5, 30).astype(float),  # whole numbers: not counted early
            "name": [f"p{i}" for i in range(30)],  # text: left out
            "a": rng.normal(size=30),
            "b": rng.normal(size=30),
            "mixed": [*rng.normal(size=29).round(2), np.nan],
            "y": np.arange(30) % 2,
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    read, _ = read_table(str(path))
    chosen = select_columns(read, "t.csv", label="y", drop_missing=True).feature_names
    assert sorted(chosen) == ["a", "b", "counts", "mixed"]
    assert fewest_features(read, label="y") == 3  # a, b, mixed: the fractional ones
    assert fewest_features(read, label="y", exclude=["a"]) == 2
    assert fewest_features(read, label="y", features=["a,counts,row"]) == 3
