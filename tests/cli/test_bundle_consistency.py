"""A resealed bundle whose M, L and axioms.json disagree is refused by every command.

The checksums carry no key, so anyone can edit a file and recompute them. ``check`` reads M,
``transform``/``distance``/``neighbors`` apply L and ``info`` printed axioms.json: before,
L set to zeros passed ``check`` as a metric while ``distance`` wrote d = 0 everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from metricli.io.bundle import _metadata_digest
from metricli.io.tables import sha256_file

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"


def reseal(bundle: Path) -> None:
    """Recompute every checksum, as anyone editing the bundle can."""
    meta = json.loads((bundle / "metadata.json").read_text())
    for name in meta["files"]:
        meta["files"][name] = sha256_file(bundle / name)
    meta["metadata_sha256"] = _metadata_digest(meta)
    (bundle / "metadata.json").write_text(json.dumps(meta))


@pytest.fixture
def fitted(cli, tmp_path) -> Path:
    bundle = tmp_path / "b"
    assert cli("fit", "lfda", IRIS, "--label", "species", "-o", bundle).exit_code == 0
    return bundle


def _commands(bundle: Path, tmp_path: Path) -> list[list]:
    return [
        ["check", bundle],
        ["info", bundle],
        ["transform", bundle, IRIS, "-o", tmp_path / "t.csv"],
        ["distance", bundle, IRIS, "-o", tmp_path / "d.csv"],
        ["neighbors", bundle, IRIS, "-Q", IRIS, "-k", "3", "-o", tmp_path / "n.csv"],
    ]


def _refused_everywhere(cli, bundle, tmp_path, phrase):
    for command in _commands(bundle, tmp_path):
        run = cli(*command)
        assert run.exit_code == 2, (command[0], run.stdout, run.stderr)
        assert phrase in run.stderr and run.stderr.count("\n") == 1, (command[0], run.stderr)
    assert not any((tmp_path / f).exists() for f in ("t.csv", "d.csv", "n.csv"))


def test_l_set_to_zeros_and_resealed_is_refused(cli, fitted, tmp_path):
    L = np.load(fitted / "L.npy")
    np.save(fitted / "L.npy", np.zeros_like(L))
    reseal(fitted)
    _refused_everywhere(cli, fitted, tmp_path, "is not LᵀL")


def test_a_non_psd_m_resealed_is_refused(cli, fitted, tmp_path):
    M = np.load(fitted / "M.npy")
    M[0, 0] = -abs(M[0, 0]) - 1.0
    np.save(fitted / "M.npy", M)
    reseal(fitted)
    _refused_everywhere(cli, fitted, tmp_path, "is not LᵀL")


def test_nan_in_m_is_one_line_not_an_internal_error(cli, fitted, tmp_path):
    M = np.load(fitted / "M.npy")
    M[1, 2] = np.nan
    np.save(fitted / "M.npy", M)
    reseal(fitted)
    _refused_everywhere(cli, fitted, tmp_path, "NaN or infinite")


def test_an_edited_verdict_is_refused(cli, fitted, tmp_path):
    axioms = json.loads((fitted / "axioms.json").read_text())
    assert axioms["verdict"] == "metric"
    axioms["verdict"] = "pseudometric"
    (fitted / "axioms.json").write_text(json.dumps(axioms))
    reseal(fitted)
    _refused_everywhere(cli, fitted, tmp_path, "axioms.json says 'pseudometric' but M is 'metric'")


def test_an_intact_bundle_still_loads_everywhere(cli, fitted, tmp_path):
    for command in _commands(fitted, tmp_path):
        run = cli(*command)
        assert run.exit_code == 0, (command[0], run.stderr)


def test_a_bundle_never_names_a_file_and_report_opens_none(cli, tmp_path):
    pytest.importorskip("matplotlib")
    init = tmp_path / "init.csv"
    np.savetxt(init, np.eye(4)[:2], delimiter=",", header="a,b,c,d", comments="")
    bundle = tmp_path / "lm"
    fitted = cli(
        "fit", "lmnn", IRIS, "--label", "species", "--init", init, "--n-components", "2", "-o", bundle
    )
    assert fitted.exit_code == 0, fitted.stderr
    meta = json.loads((bundle / "metadata.json").read_text())
    recorded = meta["params"]["init"]
    assert recorded["matrix"] == [2, 4] and str(init) not in (bundle / "metadata.json").read_text()
    # an older or hostile bundle naming a file: report must not open it (before, it printed its cell)
    secret = tmp_path / "secret.csv"
    secret.write_text("TOPSECRET-VALUE,1\n")
    meta["params"]["init"] = str(secret)
    (bundle / "metadata.json").write_text(json.dumps(meta))
    reseal(bundle)
    run = cli("report", bundle, IRIS, "--label", "species", "-o", tmp_path / "r.html")
    assert run.exit_code == 0, run.stderr
    assert "TOPSECRET" not in run.stderr + run.stdout
    assert "TOPSECRET" not in (tmp_path / "r.html").read_text()
