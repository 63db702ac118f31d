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
