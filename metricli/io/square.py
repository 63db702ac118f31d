"""Square tables: a distance matrix D between n points, or a matrix M between d features.

Layouts read, by file type:

- ``.npy``: a 2-D numeric array, no ids.
- CSV / TSV: the first line is a header of column ids when any of its cells is not a
  number (an empty first cell included), or when the file has one more line than
  columns; otherwise there is no header. The first column holds row ids when it is
  not numeric, or when each row has one more cell than there are rows. With both,
  the row ids must equal the column ids, in the same order.
- Parquet: column names are the column ids; a first column of text holds row ids.

Ids that are just 0, 1, ..., n-1 are dropped: points are then named by their index.
Every problem is one :class:`~metricli.errors.MetricliError` naming the file.
"""

from __future__ import annotations

import csv
import io
import sys
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metricli.errors import MetricliError
from metricli.io.atomic import FILE, atomic_path
from metricli.io.dialect import separator
from metricli.io.streams import read_all, sniff_file
from metricli.io.tables import (
    STDIN,
    detect_format,
    display_name,
    is_number,
    is_pipe,
    message_line,
    reading,
    require_file,
    require_npy_size,
)
from metricli.io.writers import TableWriter, output_format
from metricli.kernels import row_blocks
from metricli.lazy import pd

#: rows per block when scanning or writing a square table
_BLOCK_ROWS = 256


@dataclass
class SquareTable:
    """A square matrix read from a file, with the ids of its rows/columns if it had any."""

    name: str
    matrix: np.ndarray
    ids: list[str] | None

    @property
    def n(self) -> int:
        return self.matrix.shape[0]


def _lines(raw: bytes | Path) -> Iterator[str]:
    if isinstance(raw, bytes):
        yield from io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline="")
    else:
        with open(raw, encoding="utf-8", newline="") as f:
            yield from f


def _fields(line: str, sep: str) -> list[str]:
    if '"' in line:
        return next(csv.reader(io.StringIO(line, newline=""), delimiter=sep), [])
    return line.rstrip("\r\n").split(sep)


def _layout(raw: bytes | Path, name: str, sep: str) -> tuple[bool, bool, int, int]:
    """(has a header, has row ids, rows, columns of numbers), decided by the table's shape.

    With L non-empty lines of w cells: a first line one cell short is a header over row
    ids (pandas style); L = w + 1 means a header; L = w - 1 means row ids (the first cell
    is text); L = w means a header over row ids if the first line has a cell that is not
    a number, else neither.
    """
    first: list[str] | None = None
    width = None
    lines = 0
    try:
        for number, line in enumerate(_lines(raw), start=1):
            if not line.strip():
                continue
            lines += 1
            if first is None:
                first = _fields(line, sep)
                continue
            cells = line.count(sep) + 1 if '"' not in line else len(_fields(line, sep))
            if width is None:
                width = cells
            elif cells != width:
                raise MetricliError(
                    f"{name}: ragged table: line {number} has {cells} cells but the lines above have {width}"
                )
    except UnicodeDecodeError:
        raise MetricliError(f"{name}: not a text file (cannot decode as UTF-8)") from None
    if first is None:
        raise MetricliError(f"{name}: empty file, no header and no rows")
    numbers = [is_number(cell) for cell in first]
    if width is None:  # a single line: a 1 x 1 matrix, or a header alone
        if not all(numbers):
            raise MetricliError(f"{name}: header only, no data rows")
        width = len(first)
    if len(first) == width - 1:
        header, row_ids = True, True
    elif len(first) != width:
        raise MetricliError(
            f"{name}: ragged table: line 1 has {len(first)} cells but the lines below have {width}"
        )
    elif lines == width + 1:
        header, row_ids = True, False
    elif lines == width - 1 and not numbers[0] and all(numbers[1:]):
        header, row_ids = False, True
    elif lines == width:
        header = row_ids = not all(numbers)
    else:
        rows = lines - (not all(numbers))
        raise MetricliError(
            f"{name}: matrix must be square; got {rows} rows and {width} columns (including any column of row ids)"
        )
    return header, row_ids, lines - header, width - row_ids


def _numeric_frame(
    frame: pd.DataFrame, name: str, column_ids: list[str], first_row: int, line_offset: int
) -> np.ndarray:
    """The frame as float64, or an error naming the first cell that is not a number."""
    matrix = np.empty(frame.shape, dtype=np.float64)
    for j in range(frame.shape[1]):
        series = frame.iloc[:, j]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            matrix[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        coerced = pd.to_numeric(series, errors="coerce")
        bad = series.notna().to_numpy() & coerced.isna().to_numpy()
        if bad.any():
            i = first_row + int(np.flatnonzero(bad)[0])
            raise MetricliError(
                f"{name}: not a number at row {i} (line {i + line_offset}), column '{column_ids[j]}': "
                f"{series.iloc[i - first_row]!r}"
            )
        matrix[:, j] = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def _read_text(source: str, name: str, fmt: str) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    raw: bytes | Path = _read_or_path(source, fmt, name)
    try:
        first = next((line for line in _lines(raw) if line.strip()), "")
    except UnicodeDecodeError:  # _layout names the file
        first = ""
    sep = separator(fmt, first.encode("utf-8"), name)
    header, row_ids_present, n_rows, n_columns = _layout(raw, name, sep)
    _require_square(name, n_rows, n_columns)
    column_ids = None
    if header:
        cells = _fields(_first_line(raw), sep)
        column_ids = [c.strip() for c in cells[len(cells) - n_columns :]]
    labels = column_ids or [str(j) for j in range(n_columns)]
    matrix = np.empty((n_rows, n_columns), dtype=np.float64)
    row_ids: list[str] | None = [] if row_ids_present else None
    row = 0
    try:
        # in blocks of rows, so that memory is the matrix plus one block of text
        for chunk in pd.read_csv(
            io.BytesIO(raw) if isinstance(raw, bytes) else raw,
            sep=sep,
            header=None,
            skiprows=1 if header else 0,
            dtype={0: str} if row_ids_present else None,
            chunksize=_BLOCK_ROWS,
        ):
            if row_ids is not None:
                row_ids.extend(str(v) for v in chunk.iloc[:, 0])
                chunk = chunk.iloc[:, 1:]
            matrix[row : row + len(chunk)] = _numeric_frame(chunk, name, labels, row, 2 if header else 1)
            row += len(chunk)
    except pd.errors.ParserError as exc:
        raise MetricliError(f"{name}: malformed {fmt.upper()} ({message_line(exc)})") from None
    return matrix, row_ids, column_ids


def _read_or_path(source: str, fmt: str, name: str) -> bytes | Path:
    """stdin read whole (sniffed, lines capped), or the path of a file whose first bytes are sniffed."""
    if source == STDIN:
        return read_all(sys.stdin.buffer, fmt, name)
    if is_pipe(source):  # a named pipe or <(cat D.csv): it can be read once
        with open(source, "rb") as handle:
            return read_all(handle, fmt, name)
    sniff_file(source, fmt, name)
    return Path(source)


def _first_line(raw: bytes | Path) -> str:
    return next(line for line in _lines(raw) if line.strip())


def _read_parquet(source: str, name: str) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    import pyarrow.parquet as pq

    # Parquet's footer is at the end: a pipe cannot be seeked, so stdin is read whole first
    raw = _read_or_path(source, "parquet", name)
    raw = io.BytesIO(raw) if isinstance(raw, bytes) else raw
    try:
        # ParquetFile, not read_table: the dataset reader refuses columns sharing a name
        table = pq.ParquetFile(raw).read()
        # pandas cannot convert columns sharing a name; converted under stand-in names, the real
        # ones (ids, which may repeat) are put back so the id checks can name the repeat
        frame = table.rename_columns([str(i) for i in range(table.num_columns)]).to_pandas()
        frame.columns = table.column_names
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise MetricliError(f"{name}: cannot read as Parquet ({message_line(exc)})") from None
    if frame.shape[1] == 0:
        raise MetricliError(f"{name}: empty file, no columns")
    if frame.shape[0] == 0:
        raise MetricliError(f"{name}: header only, no data rows")
    first = frame.iloc[:, 0]
    row_ids = None
    if not pd.api.types.is_numeric_dtype(first) or frame.shape[1] == frame.shape[0] + 1:
        row_ids = [str(v) for v in first]
        frame = frame.iloc[:, 1:]
    column_ids = [str(c) for c in frame.columns]
    _require_square(name, frame.shape[0], frame.shape[1])
    return _numeric_frame(frame, name, column_ids, 0, 1), row_ids, column_ids


def _read_npy(source: str, name: str) -> np.ndarray:
    raw = _read_or_path(source, "npy", name)
    raw = io.BytesIO(raw) if isinstance(raw, bytes) else raw
    require_npy_size(raw, name)
    try:
        array = np.load(raw, allow_pickle=False, mmap_mode=None if source == STDIN else "r")
    except (ValueError, SyntaxError, tokenize.TokenError) as exc:  # numpy tokenizes the header
        raise MetricliError(f"{name}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise MetricliError(f"{name}: cannot read as .npy ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise MetricliError(f"{name}: .npy array of dtype {array.dtype} is not numeric")
    if array.ndim != 2:
        raise MetricliError(f"{name}: .npy array has {array.ndim} dimensions; a square matrix has 2")
    if array.size == 0:
        raise MetricliError(f"{name}: empty matrix")
    _require_square(name, *array.shape)
    # float64 stays memory-mapped: pages are read as the check reaches them
    return array if array.dtype == np.float64 else np.asarray(array, dtype=np.float64)


def _require_square(name: str, rows: int, columns: int) -> None:
    if rows != columns:
        raise MetricliError(
            f"{name}: matrix must be square; got {rows} rows and {columns} columns (not counting row ids)"
        )


def _check_ids(name: str, row_ids: list[str] | None, column_ids: list[str] | None) -> list[str] | None:
    if row_ids is not None and column_ids is not None and row_ids != column_ids:
        at = next(i for i, (r, c) in enumerate(zip(row_ids, column_ids, strict=True)) if r != c)
        raise MetricliError(
            f"{name}: row ids do not match column ids: row {at} is '{row_ids[at]}' but column {at} is "
            f"'{column_ids[at]}'; rows and columns must list the same points in the same order"
        )
    ids = row_ids if row_ids is not None else column_ids
    if ids is None:
        return None
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value in seen:
            raise MetricliError(f"{name}: id '{value}' appears twice (positions {seen[value]} and {i})")
        seen[value] = i
    if ids == [str(i) for i in range(len(ids))]:
        return None
    return ids


def _check_finite(name: str, matrix: np.ndarray, ids: list[str] | None) -> None:
    for rows in row_blocks(matrix.shape[0], _BLOCK_ROWS):
        finite = np.isfinite(matrix[rows])
        if not finite.all():
            i, j = np.argwhere(~finite)[0]
            i += rows.start
            where = f"row {i}, column {j}" + (f" ('{ids[i]}', '{ids[j]}')" if ids else "")
            raise MetricliError(f"{name}: missing or infinite value at {where}; every entry must be a number")


def read_square_table(source: str, fmt: str | None = None) -> SquareTable:
    """Read a square matrix (with optional ids) from CSV, TSV, Parquet, .npy or stdin."""
    fmt = detect_format(source, fmt)
    name = display_name(source)
    if source != STDIN:
        require_file(source, "a matrix file")
    with reading(name):
        if fmt == "npy":
            matrix, row_ids, column_ids = _read_npy(source, name), None, None
        elif fmt == "parquet":
            matrix, row_ids, column_ids = _read_parquet(source, name)
        else:
            matrix, row_ids, column_ids = _read_text(source, name, fmt)
    ids = _check_ids(name, row_ids, column_ids)
    _check_finite(name, matrix, ids)
    return SquareTable(name=name, matrix=matrix, ids=ids)


def write_square_table(
    path: str, matrix: np.ndarray, ids: list[str] | None = None, *, force: bool = False
) -> None:
    """Write a square matrix atomically, in a layout :func:`read_square_table` reads back.

    ``.npy`` holds the matrix alone; CSV/TSV/Parquet have a header of ids (or 0..n-1) and,
    with ids, a first column ``id`` naming the rows. Floats are written to round-trip.
    """
    n = matrix.shape[0]
    if Path(path).suffix.lower() == ".npy":
        with atomic_path(path, force=force, kind=FILE) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(matrix, dtype=np.float64), allow_pickle=False)
        return
    output_format(path, None)  # fail early on an unknown extension
    names = ids if ids is not None else [str(j) for j in range(n)]
    with TableWriter(path, force=force) as writer:
        for rows in row_blocks(n, _BLOCK_ROWS):
            frame = pd.DataFrame(np.asarray(matrix[rows]), columns=names)
            if ids is not None:
                frame.insert(0, "id", pd.Series(ids[rows], dtype=object))
            writer.write(frame)


#: the text layouts a Mahalanobis matrix M is written in, by extension
MATRIX_SEPARATORS = {".npy": None, ".csv": ",", ".tsv": "\t"}


def write_mahalanobis_table(path: Path, M: np.ndarray, names: list[str] | None, force: bool = False) -> None:
    """M atomically as .npy, or as CSV/TSV with the feature names on both axes (a bundle's
    M.csv layout, read back by :func:`read_square_table`)."""
    suffix = path.suffix.lower()
    if suffix not in MATRIX_SEPARATORS:
        raise MetricliError(f"{path}: write M as .npy, .csv or .tsv")
    if suffix == ".npy":
        with atomic_path(path, force=force, kind=FILE) as tmp, open(tmp, "wb") as f:
            np.save(f, M, allow_pickle=False)
        return
    labels = names if names is not None else [f"x{j}" for j in range(M.shape[0])]
    frame = pd.DataFrame(M, index=pd.Index(labels, name=""), columns=labels)
    with atomic_path(path, force=force, kind=FILE) as tmp:
        frame.to_csv(tmp, sep=MATRIX_SEPARATORS[suffix], float_format="%.17g")
