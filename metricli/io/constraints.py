"""Constraint files: pairs ``a,b,y``, triplets ``anchor,positive,negative``, quadruplets ``a,b,c,d``.

A header row is required; columns are taken by position. Entries are 0-based row
numbers of the data file (the first row after its header is 0), or values of the
data's ``--id`` column when ids are given. Every problem is one MetricliError naming
the file, the row (from 0, the first row after the header) and, for CSV/TSV, the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from metricli.constraints import Pairs, Quadruplets, Triplets, duplicated_rows, validate
from metricli.errors import MetricliError
from metricli.io.tables import detect_format, display_name, is_number, read_table
from metricli.lazy import pd

_TYPES = {"pairs": Pairs, "triplets": Triplets, "quadruplets": Quadruplets}


def point_header(reference: str, column: str) -> str:
    """The header of a point column of a constraint file: ``row_a`` (row numbers), ``id_a`` (ids)."""
    return f"{reference}_{column}"


def check_reference(
    names: Sequence[str],
    id_column: str | None,
    where: str,
    notify: Callable[[str], None] | None = None,
) -> None:
    """Refuse a constraint or pairs file whose header says it holds the other kind of reference.

    ``metricli constraints`` heads its point columns ``row_a, row_b, ...`` when they hold
    0-based data rows and ``id_a, id_b, ...`` when they hold values of ``--id`` (the id
    column's own name as the prefix counts too). A file of row numbers read with ``--id``,
    or one of ids read without, would silently pair the wrong points (an id column counting
    from 1 shifts every pair by one), so either is an error. A header that says neither
    (older files: ``a,b,y``) keeps its old meaning, with a note.
    """
    id_prefix = [] if id_column is None else [re.escape(str(id_column).lower())]
    says_rows = all(re.fullmatch(r"row(_.*)?", str(n).strip().lower()) for n in names)
    says_ids = all(
        re.fullmatch(rf"({'|'.join(['id', *id_prefix])})(_.*)?", str(n).strip().lower()) for n in names
    )
    shown = ",".join(str(n) for n in names)
    if says_rows and id_column is not None:
        raise MetricliError(
            f"{where}: its header ({shown}) says it holds row numbers, but --id {id_column} was given; "
            "drop --id, or write the file with ids (metricli constraints ... --id COLUMN)"
        )
    if says_ids and not says_rows and id_column is None:
        raise MetricliError(
            f"{where}: its header ({shown}) says it holds ids, but no --id was given; "
            "pass --id with the column the ids come from"
        )
    if not says_rows and not says_ids and notify is not None:
        meaning = f"values of --id {id_column}" if id_column is not None else "0-based row numbers"
        notify(
            f"{where}: its header ({shown}) does not say whether it holds row numbers or ids; read as "
            f"{meaning} (a header row_a,row_b,... or id_a,id_b,... says which)"
        )


def read_constraints(
    source: str,
    kind: str,
    n_points: int,
    ids: np.ndarray | None = None,
    fmt: str | None = None,
    rows: np.ndarray | None = None,
    *,
    id_column: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> Pairs | Triplets | Quadruplets:
    """Read and validate a constraint file against data with ``n_points`` points.

    ``ids``: the data's id of each point (entries are then ids, not row numbers), from the
    column ``id_column``. ``rows``: the data-file row of each point, when some rows were
    dropped (e.g. by --drop-missing); row numbers in the constraint file are then file rows.
    The header must not contradict ``ids`` (:func:`check_reference`).
    """
    if kind not in _TYPES:
        raise MetricliError(f"unknown constraint kind '{kind}'; use pairs, triplets or quadruplets")
    cls = _TYPES[kind]
    name = display_name(source)
    frame, _ = read_table(source, fmt)
    line_offset = 2 if detect_format(source, fmt) in ("csv", "tsv") else None
    width = len(cls.columns)
    if frame.shape[1] != width:
        raise MetricliError(
            f"{name}: {kind} files have {width} columns ({', '.join(cls.columns)}); this one has {frame.shape[1]}"
        )
    if ids is None and all(is_number(c) for c in frame.columns):
        raise MetricliError(
            f"{name}: the first line holds numbers, not column names; "
            f"add a header line: {','.join(cls.columns)}"
        )

    point_columns = [c for j, c in enumerate(frame.columns) if not (cls is Pairs and j == 2)]
    if not all(is_number(c) for c in frame.columns):
        check_reference(point_columns, id_column if ids is not None else None, name, notify)

    def at(row: int) -> str:
        return f"{name}: row {row}" + (f" (line {row + line_offset})" if line_offset is not None else "")

    columns = []
    for j, column in enumerate(frame.columns):
        series = frame[column]
        if cls is Pairs and j == 2:
            columns.append(_integers(series, column, at))
        elif ids is not None:
            columns.append(_ids_to_points(series, ids, column, at))
        else:
            columns.append(_file_rows_to_points(_integers(series, column, at), rows, n_points, column, at))
    constraints = cls(*columns)
    validate(constraints, n_points, where=name, line_offset=line_offset)
    repeated = duplicated_rows(constraints)
    if repeated is not None:
        row, earlier = repeated
        if isinstance(constraints, Pairs) and constraints.y[row] != constraints.y[earlier]:
            raise MetricliError(
                f"{at(row)}: contradicts row {earlier} (the same pair, once similar and once dissimilar); "
                "keep one of them"
            )
        raise MetricliError(f"{at(row)}: repeats row {earlier}; remove duplicated rows")
    return constraints


def _integers(series: pd.Series, column: str, at) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = "blank" if pd.isna(series.iloc[row]) else repr(str(series.iloc[row]))
        raise MetricliError(f"{at(row)}: column '{column}' is {shown}, not a whole number")
    huge = np.abs(values) >= 2.0**53  # beyond exact whole numbers, and any table's rows
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        raise MetricliError(
            f"{at(row)}: column '{column}' is {str(series.iloc[row])!r}, not a row number of any table"
        )
    return values.astype(np.intp)


def _file_rows_to_points(
    values: np.ndarray, rows: np.ndarray | None, n_points: int, column: str, at
) -> np.ndarray:
    """Data-file row numbers to positions among the points kept (identity if none were dropped)."""
    if rows is None or (len(rows) == n_points and np.array_equal(rows, np.arange(n_points))):
        return values
    n_file = int(rows.max()) + 1 if len(rows) else 0
    position = -np.ones(n_file, dtype=np.intp)
    position[rows] = np.arange(len(rows))
    outside = (values < 0) | (values >= n_file)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise MetricliError(
            f"{at(row)}: column '{column}' refers to data row {int(values[row])}, outside the data's "
            f"rows 0 to {n_file - 1}"
        )
    mapped = position[values]
    dropped = mapped < 0
    if dropped.any():
        row = int(np.flatnonzero(dropped)[0])
        raise MetricliError(
            f"{at(row)}: column '{column}' refers to data row {int(values[row])}, which was dropped "
            "(missing values or no label)"
        )
    return mapped


def _ids_to_points(series: pd.Series, ids: np.ndarray, column: str, at) -> np.ndarray:
    text = series.astype(str).str.strip()
    points = pd.Index(np.asarray(ids, dtype=object).astype(str)).get_indexer(text.to_numpy(dtype=object))
    if (points < 0).any():
        row = int(np.flatnonzero(points < 0)[0])
        raise MetricliError(f"{at(row)}: column '{column}': no point has id {text.iloc[row]!r}")
    return points.astype(np.intp)


def chunk_keys(series: pd.Series) -> np.ndarray:
    """The chunk each row of a data column names, as text (None: blank or -1, in no chunk)."""
    missing = series.isna().to_numpy() | (series.astype(str).str.strip().isin(["", "-1", "-1.0"])).to_numpy()
    keys = np.full(len(series), None, dtype=object)
    keys[~missing] = series[~missing].astype(str).to_numpy(dtype=object)
    return keys


def chunks_from_column(series: pd.Series, name: str, column: str) -> np.ndarray:
    """Chunk ids from a data column: blank or -1 is in no chunk; other values name chunks."""
    keys = chunk_keys(series)
    present = np.array([k is not None for k in keys], dtype=bool)
    ids = -np.ones(len(series), dtype=np.intp)
    if present.any():
        _, codes = np.unique(keys[present], return_inverse=True)
        ids[present] = codes
    return ids


def read_chunk_file(
    source: str, n_points: int, ids: np.ndarray | None = None, rows: np.ndarray | None = None
) -> np.ndarray:
    """A chunk file ``row,chunk`` (or ``id,chunk``), as ``metricli constraints --kind chunks``
    writes it, as one chunk id per point (-1: in no chunk). Points the file does not list are
    in no chunk; a point listed twice is an error naming the row.
    """
    name = display_name(source)
    frame, _ = read_table(source, None)
    line_offset = 2 if detect_format(source, None) in ("csv", "tsv") else None
    if frame.shape[1] != 2:
        raise MetricliError(
            f"{name}: chunk files have 2 columns (row or id, chunk); this one has {frame.shape[1]}"
        )

    def at(row: int) -> str:
        return f"{name}: row {row}" + (f" (line {row + line_offset})" if line_offset is not None else "")

    point_column, chunk_column = frame.columns
    if ids is not None:
        points = _ids_to_points(frame[point_column], ids, point_column, at)
    else:
        points = _file_rows_to_points(
            _integers(frame[point_column], point_column, at), rows, n_points, point_column, at
        )
        outside = (points < 0) | (points >= n_points)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise MetricliError(
                f"{at(row)}: refers to point {int(points[row])}, but the data has {n_points} rows"
            )
    seen = pd.Series(points).duplicated().to_numpy()
    if seen.any():
        row = int(np.flatnonzero(seen)[0])
        raise MetricliError(f"{at(row)}: lists point {frame[point_column].iloc[row]} a second time")
    chunks = -np.ones(n_points, dtype=np.intp)
    chunks[points] = chunks_from_column(frame[chunk_column], name, chunk_column)
    return chunks
