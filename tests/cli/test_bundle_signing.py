"""Bundle signing (issue 20): with METRICLI_SIGNING_KEY set, `fit` writes an HMAC-SHA256 of the
metadata (whose checksum covers every file), and loading refuses a bundle unsigned, signed with
another key, or edited and resealed. The checksums alone catch accidents: anyone can recompute
them, so a resealed bundle loads without a key."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from metricli.io.bundle import _metadata_digest
from tests.conftest import assert_one_line_error

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
KEY = "correct horse battery staple"


def _fit(cli, out: Path) -> None:
    run = cli("--quiet", "fit", "covariance", IRIS, "--exclude", "species", "-o", out)
    assert run.exit_code == 0, run.stderr


@pytest.fixture
def signed(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("METRICLI_SIGNING_KEY", KEY)
    _fit(cli, tmp_path / "signed")
    return tmp_path / "signed"


def test_fit_signs_the_metadata_checksum_with_the_key(cli, signed):
    meta = json.loads((signed / "metadata.json").read_text())
    expected = hmac.new(KEY.encode(), meta["metadata_sha256"].encode(), hashlib.sha256).hexdigest()
    assert meta["signature_hmac_sha256"] == expected
    assert cli("info", signed).exit_code == 0
    assert cli("transform", signed, IRIS, "-o", signed.parent / "t.csv").exit_code == 0


def test_an_unsigned_bundle_is_refused_when_the_key_is_set(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("METRICLI_SIGNING_KEY", raising=False)
    _fit(cli, tmp_path / "plain")
    assert "signature_hmac_sha256" not in json.loads((tmp_path / "plain" / "metadata.json").read_text())
    assert cli("info", tmp_path / "plain").exit_code == 0
    monkeypatch.setenv("METRICLI_SIGNING_KEY", KEY)
    assert_one_line_error(cli("check", tmp_path / "plain"), "plain: the bundle is not signed")


def test_another_key_is_refused(cli, signed, monkeypatch):
    monkeypatch.setenv("METRICLI_SIGNING_KEY", KEY + "!")
    assert_one_line_error(
        cli("transform", signed, IRIS, "-o", signed.parent / "t.csv"), "signature does not match"
    )
    assert not (signed.parent / "t.csv").exists()


def test_only_the_key_catches_a_resealed_bundle(cli, signed, monkeypatch):
    meta = json.loads((signed / "metadata.json").read_text())
    meta["input"]["path"] = "someone-elses.csv"  # a forged provenance, the checksums recomputed
    meta["metadata_sha256"] = _metadata_digest(meta)
    (signed / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.delenv("METRICLI_SIGNING_KEY")
    assert cli("info", signed).exit_code == 0  # consistent, so loaded: nothing else can tell
    monkeypatch.setenv("METRICLI_SIGNING_KEY", KEY)
    assert_one_line_error(cli("info", signed), "signature does not match METRICLI_SIGNING_KEY")


def test_calibrate_signs_the_rewritten_bundle_again(cli, signed, tmp_path):
    pairs = tmp_path / "pairs.csv"
    run = cli(
        "--quiet",
        "constraints",
        IRIS,
        "--label",
        "species",
        "--kind",
        "pairs",
        "-n",
        "200",
        "--seed",
        "0",
        "-o",
        pairs,
    )
    assert run.exit_code == 0, run.stderr
    run = cli("--quiet", "calibrate", signed, "--data", IRIS, "--pairs", pairs)
    assert run.exit_code == 0, run.stderr
    meta = json.loads((signed / "metadata.json").read_text())
    assert "threshold" in meta
    assert cli("info", signed).exit_code == 0
