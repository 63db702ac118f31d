"""Counts and sizes that cannot be met are refused before anything is allocated, with the arithmetic.

Before, ``constraints -n 10**12`` on 100,000 points ran 11 minutes at 14.8 GB and ignored
SIGTERM; on iris, quadruplets and triplets said "out of memory" after seconds of work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import assert_one_line_error

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


@pytest.mark.parametrize(
    ("kind", "strategy", "arithmetic"),
    [
        (
            "pairs",
            "random",
            "150 labelled points give 150·149/2 = 11,175 distinct ones; ask for at most 11,175",
        ),
        ("triplets", "random", "Σ c·(c-1)·(N-c) = 735,000 distinct ones"),
        ("triplets", "neighbors", "give 4,500 distinct ones"),
        ("quadruplets", "random", "3,675 same-class × 7,500 cross-class pairs = 27,562,500 distinct ones"),
    ],
)
def test_more_constraints_than_exist_are_refused_with_the_count(cli, tmp_path, kind, strategy, arithmetic):
    # 3 classes of 50: pairs 150·149/2; triplets 3·50·49·100; quadruplets (3·1225)·(3·50·100/2... = 7,500)
    out = tmp_path / "c.csv"
    run = cli(
        "constraints", IRIS, "--label", "species", "-k", kind, "--strategy", strategy,
        "-n", str(10**12), "-o", out,
    )  # fmt: skip
    assert_one_line_error(run, "iris.csv: cannot draw 1,000,000,000,000", arithmetic)
    assert not out.exists()


def test_fit_refuses_more_constraints_than_exist(cli, tmp_path):
    run = cli("fit", "itml", IRIS, "--label", "species", "--n-constraints", "20000", "-o", tmp_path / "b")
    assert_one_line_error(run, "iris.csv: cannot draw 20,000 pairs", "ask for at most 11,175")
    assert not (tmp_path / "b").exists()


def test_a_count_that_does_not_fit_in_memory_is_refused_with_the_figures(cli, tmp_path, monkeypatch):
    # 3,000 points give 4,498,500 pairs; drawing 4 million at 150 bytes each is ~572 MiB
    monkeypatch.setenv("METRICLI_MEMORY_LIMIT", str(100 * 2**20))
    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": rng.normal(size=3000), "y": rng.integers(0, 3, 3000)}).to_csv(data, index=False)
    run = cli("constraints", data, "--label", "y", "-n", "4000000", "-o", tmp_path / "c.csv")
    assert_one_line_error(
        run,
        "d.csv: cannot draw 4,000,000 pairs: that takes about 572.2 MiB (4,000,000 × 150 bytes)",
        "100.0 MiB is available; ask for at most 699,050",
    )
    assert not (tmp_path / "c.csv").exists()


def test_the_default_count_is_never_refused_on_small_data(cli, tmp_path):
    # 40·c² = 160 pairs by default on 8 points of 2 classes, where 28 exist: drawn, with a note
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": np.arange(8.0), "y": [0, 1] * 4}).to_csv(data, index=False)
    run = cli("constraints", data, "--label", "y", "-o", tmp_path / "c.csv")
    assert run.exit_code == 0, run.stderr
    assert len(pd.read_csv(tmp_path / "c.csv")) <= 28
