"""A row index is never a feature by default, and a feature that alone predicts the label is named.

Files exported by R (``write.csv``: a ``rownames`` column, or an unnamed first column) and by
pandas (``to_csv``: ``Unnamed: 0``) carry the row numbers; in a class-sorted file those give
the label away, and a learned metric that weights them scores a perfect, useless accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metricli.io.tables import row_index_column

ROOT = Path(__file__).resolve().parents[2]
FGL = ROOT / "sample_data" / "fgl.csv"
FEATURES = "RI,Na,Mg,Al,Si,K,Ca,Ba,Fe"


def _accuracy(result) -> float:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["summary"]["learned"]["accuracy"]["mean"]


@pytest.mark.parametrize("layout", ["r-rownames", "pandas-index", "r-unnamed"])
def test_a_class_sorted_export_gives_the_honest_accuracy_with_no_option(cli, tmp_path, layout):
    frame = pd.read_csv(FGL)
    assert (frame["type"].to_numpy()[:-1] <= frame["type"].to_numpy()[1:]).mean() > 0.9  # sorted by class
    path = tmp_path / "fgl.csv"
    if layout == "r-rownames":
        frame.index = np.arange(1, len(frame) + 1)
        frame.to_csv(path, index_label="rownames")
    elif layout == "pandas-index":
        frame.to_csv(path)  # header ",RI,...": read back as 'Unnamed: 0', rows 0..n-1
    else:
        frame.index = np.arange(1, len(frame) + 1)
        frame.to_csv(path, index_label="")
    default = cli("evaluate", "lfda", path, "--label", "type", "--json")
    honest = cli("evaluate", "lfda", path, "--label", "type", "--features", FEATURES, "--json")
    assert _accuracy(default) == pytest.approx(_accuracy(honest), abs=1e-12)
    assert _accuracy(default) < 0.9
    assert "row numbers or a row index" in default.stderr and "--features" in default.stderr
    # the leak is real: given as a feature on purpose, the row number makes the metric look perfect
    leaked = cli(
        "evaluate",
        "lfda",
        path,
        "--label",
        "type",
        "--features",
        FEATURES + ",Unnamed: 0" if layout != "r-rownames" else FEATURES + ",rownames",
        "--json",
    )
    assert _accuracy(leaked) > 0.97


def test_a_counting_column_of_any_name_is_left_out_and_a_real_integer_feature_is_kept(cli, tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "seq": np.arange(n),  # 0..n-1 in order
            "id": rng.permutation(np.arange(1000, 1000 + n)),  # unique integers named like an id
            "count": rng.integers(0, 5, n),  # integers, repeats: a measurement
            "y": rng.normal(size=n),
            "label": np.repeat(["a", "b", "c"], n // 3),
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    bundle = tmp_path / "b"
    result = cli("fit", "covariance", path, "--label", "label", "-o", bundle)
    assert result.exit_code == 0, result.stderr
    meta = json.loads((bundle / "metadata.json").read_text())
    assert meta["feature_names"] == ["x", "count", "y"]
    assert "'seq', 'id'" in result.stderr


def test_the_detection_rule():
    assert row_index_column("rownames", pd.Series([3, 1, 2, 7]))
    assert row_index_column("Unnamed: 0", pd.Series([5, 9, 2]))
    assert row_index_column("anything", pd.Series([1, 2, 3, 4]))
    assert row_index_column("X", pd.Series([4, 2, 3]), first=True)
    assert not row_index_column("X", pd.Series([4, 2, 3]), first=False)
    assert not row_index_column("index", pd.Series([1, 1, 2, 3]))  # repeats: not an index
    assert not row_index_column("id", pd.Series([1.5, 2.0, 3.0]))  # not whole numbers
    assert not row_index_column("year", pd.Series([2001, 2002, 2003]))  # counts up, not from 0 or 1


def test_a_lone_counting_column_stays_a_feature(cli, tmp_path):
    path = tmp_path / "toy.csv"
    path.write_text("x,label\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(8)))
    bundle = tmp_path / "b"
    result = cli("fit", "covariance", path, "--label", "label", "-o", bundle)
    assert result.exit_code == 0, result.stderr
    assert json.loads((bundle / "metadata.json").read_text())["feature_names"] == ["x"]


def test_a_feature_that_alone_predicts_the_label_is_named_as_a_likely_leak(cli, tmp_path):
    digits = pd.read_csv(ROOT / "sample_data" / "iris.csv")
    frame = digits.sort_values("species", kind="stable").reset_index(drop=True)
    frame.insert(0, "batch", np.repeat(np.arange(1, 4), 50) * 7 + np.tile(np.arange(50) % 5, 3))
    path = tmp_path / "sorted.csv"
    frame.to_csv(path, index=False)
    result = cli("fit", "covariance", path, "--label", "species", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.stderr
    assert "column 'batch' alone predicts the label" in result.stderr
    plain = cli(
        "fit", "covariance", ROOT / "sample_data" / "iris.csv", "--label", "species", "-o", tmp_path / "c"
    )
    assert plain.exit_code == 0 and "alone predicts the label" not in plain.stderr
    evaluated = cli("evaluate", "covariance", path, "--label", "species")
    assert evaluated.exit_code == 0 and "column 'batch' alone predicts the label" in evaluated.stderr
