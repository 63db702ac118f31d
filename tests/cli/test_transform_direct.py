"""transform's direct path for small plain CSV files (metricli.io.plain_csv, no pandas) writes
byte for byte what the general path writes; files it does not take go the general way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import IRIS


def _plain_cases(tmp_path):
    """Files the direct path (metricli.io.plain_csv) takes, and files it leaves to pandas."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        rng.normal(size=(60, 4)), columns=["sepal_length", "sepal_width", "petal_length", "petal_width"]
    )
    frame["species"] = ["a", "b", "c"] * 20
    cases = {}
    for name, text in {
        "plain.csv": frame.to_csv(index=False),
        "crlf_bom.csv": "\ufeff" + frame.to_csv(index=False, lineterminator="\r\n"),
        "semicolons.csv": frame.to_csv(index=False, sep=";"),
        "tabs.tsv": frame.to_csv(index=False, sep="\t"),
        "ints.csv": frame.round(0).astype({"sepal_length": int}).to_csv(index=False),
        "quoted.csv": frame.to_csv(index=False, quoting=1),  # pandas: every field quoted
        "huge.csv": (frame.assign(sepal_length=frame.sepal_length * 1e12)).to_csv(index=False),  # exponents
        "blank.csv": frame.to_csv(index=False).replace("\n", "\n\n", 3),
    }.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8", newline="")
        cases[name] = path
    return cases


@pytest.mark.parametrize("out", ["-", "z.csv", "z.tsv"])
def test_the_direct_path_writes_what_the_general_one_does(cli, tmp_path, out):
    bundle = tmp_path / "B"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    for name, path in _plain_cases(tmp_path).items():
        target = [] if out == "-" else ["-o", tmp_path / out, "--force"]
        direct = cli("transform", bundle, path, *target)
        assert direct.exit_code == 0, (name, direct.stderr)
        text = direct.stdout if out == "-" else (tmp_path / out).read_text()
        # stdin always takes the general path (pandas)
        fmt = ["--format", "tsv"] if name.endswith(".tsv") else []
        general = cli("transform", bundle, "-", *fmt, *target, input=path.read_bytes())
        assert general.exit_code == 0, (name, general.stderr)
        expected = general.stdout if out == "-" else (tmp_path / out).read_text()
        assert text == expected, name


def test_which_files_the_direct_path_takes(tmp_path):
    from metricli.io.plain_csv import format_rows, read_plain

    features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    taken = {}
    for name, path in _plain_cases(tmp_path).items():
        X = read_plain(str(path), None, features)
        taken[name] = X is not None and format_rows(X, ",") is not None
        if X is not None:
            expected = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")[features]
            np.testing.assert_array_equal(X, expected.to_numpy(dtype=float))
    assert taken == {
        "plain.csv": True,
        "crlf_bom.csv": True,
        "semicolons.csv": True,
        "tabs.tsv": True,
        "ints.csv": True,
        "quoted.csv": False,
        "huge.csv": False,  # pyarrow writes 1e+12 where Python writes 1000000000000.0
        "blank.csv": False,
    }
