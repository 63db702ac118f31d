"""Tables shaped to mislead the reader: each is read as written, or refused in one line.

Before, rows ending in an extra comma made pandas take the first column as the index and
shift every other column left, silently (fit learned on the wrong columns, exit 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import assert_one_line_error

ROWS = [[1, 2, 3, 0], [4, 5, 7, 1], [7, 8, 8, 0], [1, 3, 3, 1], [2, 2, 2, 0], [3, 1, 5, 1]]


def _write(path: Path, header: str, rows: list[list[int]], end: str = ",") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + end + "\n" for r in rows))
    return path


def _covariance() -> np.ndarray:
    # covariance learns M = inverse covariance of the features: the columns read are visible in it
    X = np.array(ROWS, dtype=float)[:, :3]
    return np.linalg.inv(np.cov(X, rowvar=False))


@pytest.mark.parametrize("header", ["a,b,c,y", "a,b,c,y,"])
@pytest.mark.parametrize("batch", ["65536", "2"])
def test_rows_ending_in_a_comma_keep_their_columns(cli, tmp_path, header, batch):
    data = _write(tmp_path / "d.csv", header, ROWS)
    run = cli("fit", "covariance", data, "--label", "y", "-o", tmp_path / "b", "--quiet")
    assert run.exit_code == 0, run.stderr
    np.testing.assert_allclose(np.load(tmp_path / "b" / "M.npy"), _covariance(), rtol=1e-9)
    # the streamed reader (transform) sees the same columns: x L^T for x = (1, 2, 3)
    run = cli("transform", tmp_path / "b", data, "--batch-rows", batch, "-o", tmp_path / "t.csv", "--quiet")
    assert run.exit_code == 0, run.stderr
    L = np.load(tmp_path / "b" / "L.npy")
    got = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, np.array(ROWS, dtype=float)[:, :3] @ L.T, rtol=1e-9)


@pytest.mark.parametrize("batch", ["65536", "1"])
def test_a_value_beyond_the_header_is_refused(cli, tmp_path, batch):
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,y\n" + "".join(",".join(map(str, r)) + ",\n" for r in ROWS[:3]) + "7,8,8,0,9\n")
    run = cli("fit", "covariance", data, "-o", tmp_path / "b")
    assert_one_line_error(run, "d.csv: malformed CSV (a row has more fields than the header has names)")
    assert not (tmp_path / "b").exists()
    good = _write(tmp_path / "good.csv", "a,b,c,y", ROWS, end="")
    assert cli("fit", "covariance", good, "--label", "y", "-o", tmp_path / "i", "--quiet").exit_code == 0
    out = tmp_path / "t.csv"
    run = cli("transform", tmp_path / "i", data, "--batch-rows", batch, "-o", out)
    assert_one_line_error(run, "d.csv: malformed CSV (a row has more fields than the header has names)")
    assert not out.exists()


def test_values_under_an_empty_last_name_are_refused(cli, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b,c,\n1,2,3,\n4,5,6,7\n2,2,1,\n")
    run = cli("fit", "covariance", data, "-o", tmp_path / "b")
    assert_one_line_error(
        run, "d.csv: the header ends in an empty name, but its last column holds values (row 1)"
    )


def test_a_npy_header_promising_more_than_the_file_holds_is_refused(cli, tmp_path):
    # a header claiming 10^11 x 10^5 float64 over 64 bytes: 'out of memory; lower --batch-rows' before
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000, 100000), }"
    header += " " * (118 - len(header)) + "\n"
    data = tmp_path / "huge.npy"
    data.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64)
    expected = (
        "huge.npy: the .npy header says 100,000,000,000 × 100,000 of float64 (71.1 PiB), "
        "but the file holds 64 bytes of data"
    )
    assert_one_line_error(cli("fit", "covariance", data, "-o", tmp_path / "b"), expected)
    assert_one_line_error(cli("check", data), expected)
    assert not (tmp_path / "b").exists()


def test_time_columns_are_not_nanosecond_features(cli, tmp_path):
    frame = pd.DataFrame(np.array(ROWS, dtype=float), columns=["a", "b", "c", "y"])
    frame["when"] = pd.date_range("2020-01-01", periods=len(frame), freq="D")
    frame["took"] = pd.to_timedelta(np.arange(len(frame)), unit="s")
    data = tmp_path / "d.parquet"
    frame.to_parquet(data)
    run = cli("fit", "covariance", data, "--label", "y", "-o", tmp_path / "b")
    assert run.exit_code == 0, run.stderr
    assert "d.parquet: leaving out 'when', 'took': times or durations" in run.stderr
    metadata = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert metadata["feature_names"] == ["a", "b", "c"]
    run = cli("fit", "covariance", data, "--features", "a,when", "-o", tmp_path / "c")
    assert_one_line_error(run, "d.parquet: column 'when' holds datetime64", "convert them to numbers")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_column_name_with_a_line_break_is_refused_in_one_line(cli, tmp_path, fmt):
    frame = pd.DataFrame(np.array(ROWS, dtype=float), columns=["a\nb", "b", "c", "y"])
    data = tmp_path / f"d.{fmt}"
    frame.to_csv(data, index=False) if fmt == "csv" else frame.to_parquet(data)
    run = cli("fit", "covariance", data, "-o", tmp_path / "b")
    assert_one_line_error(run, f"d.{fmt}: the name of column 1, 'a\\nb', holds a line break; rename it")
