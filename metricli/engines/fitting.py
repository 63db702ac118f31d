"""Fitting a closed-form learner from the pieces of a data set, through any engine.

A learner whose ``distributed_fit`` says how its fit decomposes is fed what it needs
without the whole data set in one place:

- ``scatter`` (Covariance): count, mean and scatter summed over pieces;
- ``chunks`` (RCA): per-chunklet statistics merged by chunk id, chunklets spanning pieces;
- ``named rows`` (KISSME): only the rows its pairs name, at most two per pair;
- ``stochastic`` (NCA, LMNN, MLKR): the stochastic solver, each minibatch's gradient a sum
  over pieces (:mod:`metricli.engines.stochastic_fit`).

The small d x d solve runs here. Constraints drawn from labels are drawn here too, from
the labels and ids of every row (not the features), exactly as on one machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from metricli.engines.base import Engine, Source
from metricli.engines.operations import chunk_statistics, gather_rows, scatter_statistics
from metricli.errors import MetricliError
from metricli.io.tables import Dataset, select_columns


@contextlib.contextmanager
def _named(source: Source) -> Iterator[None]:
    """A learner's error names the data, as on one machine."""
    try:
        yield
    except MetricliError as exc:
        raise MetricliError(f"{source.name}: {exc.message}") from None


def fit_from_pieces(
    engine: Engine,
    learner: Any,
    source: Source,
    *,
    chunks_column: str | None = None,
    constraints_from: Callable[[Dataset], Any] | None = None,
    unlabeled: str | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Fit ``learner`` on ``source`` read in pieces; returns the rows read and used.

    ``chunks_column``: RCA's chunklets from a data column. ``constraints_from(rows)``: the
    constraints of a weakly supervised learner, given the labels and ids of every row.
    """
    from metricli.constraints import Pairs

    info = {} if info is None else info
    kind = type(learner).distributed_fit
    if kind == "stochastic":
        from metricli.engines.stochastic_fit import fit_stochastic_from_pieces

        with _named(source):
            return fit_stochastic_from_pieces(engine, learner, source)
    if kind == "scatter":
        stats = scatter_statistics(engine, source)
        with _named(source):
            learner.fit_statistics(stats)
        return {"read": stats.n, "used": stats.n}
    if kind == "chunks" and chunks_column:
        stats, done = chunk_statistics(
            engine, dataclasses.replace(source, keep=(chunks_column,)), chunks_column
        )
        info["constraints"] = {
            "source": "column",
            "column": chunks_column,
            "kind": "chunks",
            "count": int(stats.keys.size),
            "points_in_chunks": int(stats.n.sum()),
        }
        with _named(source):
            learner.fit_statistics(stats)
        return {"read": done.read, "used": int(stats.n[stats.n >= 2].sum())}
    if constraints_from is None:
        raise MetricliError(f"{type(learner).name} needs constraints to be fitted from pieces")
    rows = supervision_rows(engine, source, unlabeled)
    constraints = constraints_from(rows)
    n_rows = int(rows.rows.size)
    if kind == "chunks":
        stats, _ = chunk_statistics(engine, source, ids=np.asarray(constraints.ids))
        with _named(source):
            learner.fit_statistics(stats)
        return {"read": n_rows, "used": int(stats.n[stats.n >= 2].sum())}
    if kind == "named rows" and isinstance(constraints, Pairs):
        named = np.unique(np.concatenate([constraints.a, constraints.b]))
        X = gather_rows(engine, source, named)
        pairs = Pairs(
            np.searchsorted(named, constraints.a), np.searchsorted(named, constraints.b), constraints.y
        )
        with _named(source):
            learner.fit(X, pairs)
        return {"read": n_rows, "used": int(named.size)}
    raise MetricliError(f"{type(learner).name} cannot be fitted from partitions")


def supervision_rows(engine: Engine, source: Source, unlabeled: str | None = None) -> Dataset:
    """The labels and ids of every row (not the features), here, read as one machine reads them."""
    wanted = [c for c in (source.label, source.id_column) if c]
    # one feature column comes along so that select_columns reads labels and ids exactly as locally
    frame, fmt = engine.table(source.path, source.fmt, [*wanted, source.features[0]])
    dataset = select_columns(
        frame,
        source.name,
        fmt=fmt,
        label=source.label,
        id_column=source.id_column,
        features=list(source.features[:1]),
        unlabeled=unlabeled,
    )
    return dataclasses.replace(dataset, X=np.empty((dataset.n_samples, 0)), feature_names=[])
