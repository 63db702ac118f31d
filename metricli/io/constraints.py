"""Constraint files: pairs ``a,b,y``, triplets ``anchor,positive,negative``, quadruplets ``a,b,c,d``.

A header row is required; columns are taken by position. Entries are 0-based row
numbers of the data, or values of the data's ``--id`` column when ids are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metricli.constraints import Pairs, Quadruplets, Triplets, validate
from metricli.errors import MetricliError
from metricli.io.tables import display_name, read_table

_TYPES = {"pairs": Pairs, "triplets": Triplets, "quadruplets": Quadruplets}


def read_constraints(
    source: str,
    kind: str,
    n_points: int,
    ids: np.ndarray | None = None,
    fmt: str | None = None,
) -> Pairs | Triplets | Quadruplets:
    """Read and validate a constraint file against data with ``n_points`` rows."""
    if kind not in _TYPES:
        raise MetricliError(f"unknown constraint kind '{kind}'; use pairs, triplets or quadruplets")
    cls = _TYPES[kind]
    name = display_name(source)
    frame, _ = read_table(source, fmt)
    width = len(cls.columns)
    if frame.shape[1] != width:
        raise MetricliError(
            f"{name}: {kind} files have {width} columns ({', '.join(cls.columns)}); this one has {frame.shape[1]}"
        )
    columns = []
    for j, column in enumerate(frame.columns):
        series = frame[column]
        if cls is Pairs and j == 2:
            columns.append(_integers(series, name, column))
        elif ids is not None:
            columns.append(_ids_to_rows(series, ids, name, column))
        else:
            columns.append(_integers(series, name, column))
    duplicated = pd.DataFrame(np.column_stack(columns)).duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise MetricliError(f"{name}: row {row} repeats an earlier constraint; remove duplicated rows")
    constraints = cls(*columns)
    validate(constraints, n_points, where=name)
    return constraints


def _integers(series: pd.Series, name: str, column: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MetricliError(
            f"{name}: row {row}, column '{column}' is {series.iloc[row]!r}, not a whole row number"
        )
    return values.astype(np.intp)


def _ids_to_rows(series: pd.Series, ids: np.ndarray, name: str, column: str) -> np.ndarray:
    lookup = {str(v): i for i, v in enumerate(ids)}
    text = series.astype(str).to_numpy()
    rows = np.array([lookup.get(v, -1) for v in text], dtype=np.intp)
    if (rows < 0).any():
        row = int(np.flatnonzero(rows < 0)[0])
        raise MetricliError(f"{name}: row {row}, column '{column}': no point has id {text[row]!r}")
    return rows


def chunks_from_column(series: pd.Series, name: str, column: str) -> np.ndarray:
    """Chunk ids from a data column: blank or -1 is in no chunk; other values name chunks."""
    missing = series.isna().to_numpy() | (series.astype(str).str.strip().isin(["", "-1", "-1.0"])).to_numpy()
    ids = -np.ones(len(series), dtype=np.intp)
    present = series[~missing].astype(str)
    if len(present):
        _, codes = np.unique(present.to_numpy(dtype=object), return_inverse=True)
        ids[~missing] = codes
    return ids
