"""Without the optional extra, ``metricli index`` says in one line how to install it."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from metricli.cli import app

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


def test_a_missing_faiss_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    assert CliRunner().invoke(app, ["fit", "covariance", str(IRIS), "-o", str(bundle), "-q"]).exit_code == 0
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    result = CliRunner().invoke(app, ["index", str(bundle), str(IRIS), "-o", str(tmp_path / "index")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "metricli: error: the neighbour index needs faiss; install the extra: pip install 'metricli[index]'"
    )
    assert not (tmp_path / "index").exists()
