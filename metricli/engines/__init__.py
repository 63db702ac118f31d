"""Where data operations run: this process (streamed batches) or a Dask cluster (partitions).

One interface (:class:`Engine`), two implementations, and the operations written once
against it (:mod:`metricli.engines.operations`). Commands and Python callers choose an
engine by name with :func:`make_engine`; nothing else depends on which one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metricli.engines.base import FEATURE_WHY, Engine, Output, Pass, Persisted, Source, is_partitioned
from metricli.errors import MetricliError

ENGINES = ("local", "dask")


def make_engine(
    name: str | Engine = "local",
    scheduler: str | None = None,
    *,
    notify: Callable[[str], None] | None = None,
    progress: Callable[[str, int | None], Any] | None = None,
) -> Engine:
    """The engine called ``name`` (an Engine is returned as is); use it as a context manager.

    ``scheduler``: with ``dask``, the address of a running scheduler; without it the current
    Dask client, else a new local cluster for as long as the engine is open.
    """
    if isinstance(name, Engine):
        return name
    if name not in ENGINES:
        raise MetricliError(f"unknown engine '{name}'; use one of: {', '.join(ENGINES)}")
    if name == "local":
        if scheduler:
            raise MetricliError("--scheduler goes with --engine dask")
        from metricli.engines.local import LocalEngine

        return LocalEngine(notify=notify, progress=progress)
    from metricli.engines.dask import DaskEngine

    return DaskEngine(scheduler, notify=notify, progress=progress)


__all__ = [
    "ENGINES",
    "FEATURE_WHY",
    "Engine",
    "Output",
    "Pass",
    "Persisted",
    "Source",
    "is_partitioned",
    "make_engine",
]
