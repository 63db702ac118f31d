"""The scoped BLAS thread limit restores what it changed."""

from __future__ import annotations

import numpy as np

from metricli.threads import _openblas_controls, fit_threads, limit_blas_threads


def test_limit_is_applied_inside_and_restored_after():
    controls = _openblas_controls()
    before = [getter() for getter, _ in controls]
    with limit_blas_threads(1):
        assert all(getter() == 1 for getter, _ in controls)
        assert np.allclose(np.eye(3) @ np.eye(3), np.eye(3))
    assert [getter() for getter, _ in controls] == before


def test_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("METRICLI_BLAS_THREADS", raising=False)
    assert fit_threads() == 1
    monkeypatch.setenv("METRICLI_BLAS_THREADS", "4")
    assert fit_threads() == 4
    monkeypatch.setenv("METRICLI_BLAS_THREADS", "many")
    assert fit_threads() == 1


def test_every_iterative_learner_fits_under_the_limit_and_restores_it(monkeypatch):
    # ITML, LSML, MMC and SCML ran with OpenBLAS's default threads and were 2-9x slower
    import pytest

    from metricli.constraints import from_labels
    from metricli.learners import LEARNERS

    controls = _openblas_controls()
    if not controls:
        pytest.skip("no OpenBLAS loaded: nothing to limit")
    monkeypatch.setenv("METRICLI_BLAS_THREADS", "1")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.repeat([0, 1], 20)
    X[y == 1] += 2.0
    supervision = {
        "nca": y,
        "lmnn": y,
        "mlkr": X[:, 0] + rng.normal(size=40),
        "itml": from_labels("pairs", y, 40, 0),
        "mmc": from_labels("pairs", y, 40, 0),
        "lsml": from_labels("quadruplets", y, 40, 0),
        "scml": from_labels("triplets", y, 40, 0),
    }
    iterative = sorted(name for name, cls in LEARNERS.items() if cls.iterative)
    assert iterative == sorted(supervision)
    before = [getter() for getter, _ in controls]
    for name in iterative:
        seen: list[list[int]] = []
        learner = LEARNERS[name]().set_progress(
            lambda *_, seen=seen, **__: seen.append([g() for g, _ in controls])
        )
        learner.fit(X, supervision[name])
        assert seen and all(count == 1 for counts in seen for count in counts), name
        assert [getter() for getter, _ in controls] == before
