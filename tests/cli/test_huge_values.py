"""`check` on matrices holding values near float64's largest (1e308): the verdict of the same
matrix at unit scale, and no RuntimeWarning lines (sums and squares past the range are inf,
which the checks read correctly; eigenvalues are taken on the matrix scaled by a power of two).

Before, `check` on a D holding 1e308 printed "RuntimeWarning: overflow encountered in add"
lines, and `--euclidean`, `--repair-metric` and `--kind mahalanobis` gave NaN or -inf figures.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

TOP = 1.7e308


def _tables(tmp_path):
    rng = np.random.default_rng(0)
    P = rng.normal(size=(25, 3))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    D /= D.max()
    bad = D.copy()
    bad[0, 1] = bad[1, 0] = 1.0
    bad[0, 2] = bad[2, 0] = bad[1, 2] = bad[2, 1] = 1e-6  # d(0,1) > d(0,2) + d(2,1)
    files = {}
    for name, matrix in (("metric", D), ("violated", bad)):
        for scale in (1.0, TOP):
            path = tmp_path / f"{name}_{scale:g}.csv"
            np.savetxt(path, matrix * scale, delimiter=",", fmt="%.17g")
            files[name, scale] = path
    return files


def _run(cli, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning is a failure (exit 70), not a line
        return cli("--json", "check", *args)


@pytest.mark.parametrize("matrix", ["metric", "violated"])
@pytest.mark.parametrize(
    "options",
    [(), ("--euclidean",), ("--ultrametric",), ("--sample", "500", "--seed", "1"), ("--kind", "mahalanobis")],
)
def test_a_matrix_near_float64s_largest_gets_the_verdict_it_has_at_unit_scale(cli, tmp_path, matrix, options):
    files = _tables(tmp_path)
    unit, huge = (_run(cli, files[matrix, s], *options) for s in (1.0, TOP))
    assert huge.exit_code == unit.exit_code in (0, 1), (huge.stderr, unit.stderr)
    assert "Warning" not in huge.stderr
    a, b = json.loads(unit.stdout), json.loads(huge.stdout)
    assert b["verdict"] == a["verdict"]
    assert {k: v["holds"] for k, v in b["axioms"].items()} == {k: v["holds"] for k, v in a["axioms"].items()}
    if "--euclidean" in options:
        assert b["euclidean_embedding"]["embeddable"] == a["euclidean_embedding"]["embeddable"]
        assert b["euclidean_embedding"]["dimension"] == a["euclidean_embedding"]["dimension"]
    if matrix == "metric" and not options:
        assert b["verdict"] == "metric"


@pytest.mark.parametrize("repair", ["--repair-metric", "--repair-psd"])
def test_repairs_of_a_matrix_near_float64s_largest_match_unit_scale(cli, tmp_path, repair):
    files = _tables(tmp_path)
    kind = ("--kind", "mahalanobis") if repair == "--repair-psd" else ()
    outs = []
    for scale in (1.0, TOP):
        out = tmp_path / f"r{scale:g}.csv"
        run = _run(cli, files["violated", scale], *kind, repair, out)
        assert run.exit_code in (0, 1) and "Warning" not in run.stderr, run.stderr
        outs.append(pd.read_csv(out, index_col=0 if kind else None).to_numpy(dtype=float))
    np.testing.assert_allclose(outs[1] / TOP, outs[0], rtol=1e-9, atol=1e-12)
