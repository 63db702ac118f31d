"""Reading tables of points: CSV, TSV, Parquet, .npy, or standard input.

Every problem is reported as a :class:`~metricli.errors.MetricliError` that names
the file, the column and the rows at fault. Rows are counted from 0, the first
data row after the header, which is also how constraint files refer to points.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import shlex
import stat
import sys
import tokenize
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metricli.errors import MetricliError
from metricli.io.atomic import note_input
from metricli.io.dialect import decimal_mark, separator
from metricli.io.streams import first_line, read_all, sniff_file, text_stream
from metricli.lazy import pd

FORMATS = ("csv", "tsv", "parquet", "npy")
#: compression suffixes CSV and TSV may carry (data.csv.gz); pandas infers them from the name
_COMPRESSED = (".gz", ".bz2", ".xz")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
}
STDIN = "-"
TAB = "\t"
DEFAULT_BATCH_ROWS = 65_536

#: formats people hand over that are not read, and what to do instead
_NOT_READ = {
    ".xlsx": "an Excel workbook",
    ".xls": "an Excel workbook",
    ".xlsm": "an Excel workbook",
    ".ods": "a spreadsheet",
    ".json": "JSON",
    ".jsonl": "JSON Lines",
    ".feather": "a Feather file",
    ".arrow": "an Arrow file",
    ".h5": "an HDF5 file",
    ".pkl": "a pickle",
    ".pickle": "a pickle",
}
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def detect_format(source: str, fmt: str | None = None) -> str:
    """The format named by ``fmt``, else by the file's extension; stdin, and a pipe without an
    extension (a shell's ``<(command)``), default to CSV."""
    if _URL.match(str(source)):
        scheme = source.split(":", 1)[0].lower()
        fetch = {"s3": f"aws s3 cp '{source}' -", "gs": f"gsutil cat '{source}'"}.get(
            scheme, f"curl -sL '{source}'"
        )
        raise MetricliError(
            f"{source}: metricli reads local files and stdin, not URLs; stream it in, e.g. {fetch} | metricli ... -"
        )
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise MetricliError(f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}")
        return fmt
    if source == STDIN:
        return "csv"
    suffixes = [x.lower() for x in Path(source).suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _COMPRESSED:  # data.csv.gz: pandas decompresses CSV and TSV as it reads
        inner = suffixes[-2] if len(suffixes) > 1 else ""
        if _EXTENSIONS.get(inner) not in ("csv", "tsv"):
            raise MetricliError(
                f"{source}: only CSV and TSV are read compressed ({', '.join(_COMPRESSED)}); "
                "decompress it first"
            )
        return _EXTENSIONS[inner]
    if not suffix and is_pipe(source):
        return "csv"
    if Path(source).is_dir():
        raise MetricliError(
            f"{source}: is a folder, not a table; name a file in it "
            "(a folder of CSV or Parquet parts is read with --engine dask, where the command has it)"
        )
    if suffix in _NOT_READ:
        raise MetricliError(
            f"{source}: is {_NOT_READ[suffix]}, which metricli does not read; save it as CSV "
            f"(or Parquet) and pass that ({', '.join(FORMATS)} are read)"
        )
    if suffix not in _EXTENSIONS:
        raise MetricliError(
            f"{source}: cannot tell the format from the extension '{suffix}'; "
            f"pass --format ({', '.join(FORMATS)})"
        )
    return _EXTENSIONS[suffix]


def _header_line(path: str | Path) -> bytes:
    """The first line of a text table, decompressed when its name ends in a compression suffix."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(Path(path).suffix.lower(), open)
    with opener(path, "rb") as handle:
        return first_line(handle, str(path))


#: bytes at the start of a text table that its decimal mark is told from
SAMPLE_BYTES = 1 << 16


def _head_bytes(path: str | Path) -> bytes:
    """The first :data:`SAMPLE_BYTES` of a text table, decompressed as :func:`_header_line` does."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(Path(path).suffix.lower(), open)
    with opener(path, "rb") as handle:
        return handle.read(SAMPLE_BYTES)


def display_name(source: str) -> str:
    return "<stdin>" if source == STDIN else str(source)


@contextlib.contextmanager
def reading(name: str) -> Iterator[None]:
    """Turn the system refusing a read (permission, I/O error) into one line naming the file."""
    try:
        yield
    except OSError as exc:
        raise unreadable(name, exc) from None


def unreadable(name: str, exc: OSError) -> MetricliError:
    return MetricliError(f"{name}: cannot read ({exc.strerror or message_line(exc)})")


def _open_source(source: str, fmt: str) -> tuple[object, str]:
    """The raw input (a path, or the bytes of stdin) and its sha256; its first bytes sniffed."""
    name = display_name(source)
    if source == STDIN:
        data = read_all(sys.stdin.buffer, fmt, name)
        return io.BytesIO(data), hashlib.sha256(data).hexdigest()
    path = require_file(source)
    if is_pipe(path):  # a named pipe or process substitution, <(cat f.csv): it can be read once
        with open(path, "rb") as handle:
            data = read_all(handle, fmt, name)
        return io.BytesIO(data), hashlib.sha256(data).hexdigest()
    sniff_file(path, fmt, name)
    return path, sha256_file(path)


def is_pipe(path: str | Path) -> bool:
    """A FIFO (``mkfifo``, or the /dev/fd/N of a shell's process substitution)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def require_file(source: str, what: str = "a table") -> Path:
    """``source`` as a path to an existing file, or a MetricliError saying what it is instead."""
    path = Path(source)
    if not path.exists():
        raise MetricliError(f"{source}: no such file")
    if path.is_dir():
        raise MetricliError(f"{source}: is a folder, not {what}")
    mode = os.stat(path).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        # /dev/zero or /dev/urandom never end: reading one filled memory, or hung
        raise MetricliError(f"{source}: is a device, not {what}; save the data to a file first")
    note_input(path)
    return path


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _npy_frame(array: np.ndarray, name: str) -> pd.DataFrame:
    if array.dtype.kind not in "biuf":
        raise MetricliError(f"{name}: .npy array of dtype {array.dtype} is not numeric")
    if array.ndim != 2:
        raise MetricliError(f"{name}: .npy array has {array.ndim} dimensions; expected 2 (rows, columns)")
    return pd.DataFrame(array, columns=[f"x{j}" for j in range(array.shape[1])])


def _load_npy(raw: object, name: str, mmap: bool = False) -> np.ndarray:
    require_npy_size(raw, name)
    try:
        return np.load(raw, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, SyntaxError, tokenize.TokenError) as exc:  # numpy tokenizes the header
        raise MetricliError(f"{name}: not a plain numeric .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise MetricliError(f"{name}: cannot read as .npy ({exc})") from None


def require_npy_size(raw: object, name: str) -> None:
    """Refuse a .npy whose header promises more (or fewer) bytes than the file holds, before
    numpy allocates for it: a header claiming 10¹¹ × 10⁵ was 'out of memory; lower --batch-rows'."""
    from metricli.memory import human_bytes

    try:
        handle = open(raw, "rb") if isinstance(raw, (str, Path)) else raw  # noqa: SIM115
    except OSError:
        return  # np.load names the problem
    try:
        start = handle.tell()
        try:
            version = np.lib.format.read_magic(handle)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(handle, max_header_size=10_000)
        except (ValueError, EOFError, TypeError, SyntaxError, UnicodeDecodeError, tokenize.TokenError):
            return  # np.load names the problem
        offset = handle.tell()
        handle.seek(0, os.SEEK_END)
        held = handle.tell() - offset
    finally:
        if handle is raw:
            handle.seek(start)
        else:
            handle.close()
    if dtype.hasobject:
        return
    promised = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if promised != held:

        def size(n: int) -> str:
            return f"{n:,} bytes" if n < 1 << 20 else human_bytes(n)

        dims = " × ".join(f"{d:,}" for d in shape) or "a scalar"
        raise MetricliError(
            f"{name}: the .npy header says {dims} of {dtype} ({size(promised)}), but the file "
            f"holds {size(held)} of data; it is truncated or its header is wrong"
        )


def read_table(source: str, fmt: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read a whole table; return it with the sha256 of the bytes read."""
    fmt = detect_format(source, fmt)
    name = display_name(source)
    with reading(name):
        return _read_table(source, fmt, name)


def _read_table(source: str, fmt: str, name: str) -> tuple[pd.DataFrame, str]:
    raw, digest = _open_source(source, fmt)
    try:
        if fmt in ("csv", "tsv"):
            first = raw.getvalue().split(b"\n", 1)[0] if isinstance(raw, io.BytesIO) else _header_line(raw)
            sep = separator(fmt, first, name)
            _check_header(first, sep, name)
            sample = raw.getvalue()[:SAMPLE_BYTES] if isinstance(raw, io.BytesIO) else _head_bytes(raw)
            decimal = decimal_mark(sep, sample, name)
            frame = next(_strict_rows(read_text_table(raw, sep, name, decimal=decimal), name, first, sep))
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            require_unique_names(pq.read_schema(raw).names, name)
            if hasattr(raw, "seek"):
                raw.seek(0)
            frame = pq.read_table(raw).to_pandas()
        else:
            frame = _npy_frame(_load_npy(raw, name), name)
    except pd.errors.EmptyDataError:
        raise MetricliError(f"{name}: empty file, no header and no rows") from None
    except pd.errors.ParserError as exc:
        raise MetricliError(f"{name}: malformed {fmt.upper()} ({message_line(exc)})") from None
    except UnicodeDecodeError:
        raise MetricliError(f"{name}: not a text {fmt.upper()} file (cannot decode as UTF-8)") from None
    except csv.Error as exc:  # the standard library's reader (a lone carriage return, say)
        raise MetricliError(f"{name}: malformed {fmt.upper()} ({message_line(exc)})") from None
    except (MetricliError, MemoryError):  # a table too large for memory is not a corrupt file
        raise
    except Exception as exc:  # pyarrow raises a zoo of types for corrupt files
        if fmt != "parquet":
            raise
        raise MetricliError(f"{name}: cannot read as Parquet ({message_line(exc)})") from None
    if frame.shape[1] == 0:
        raise MetricliError(f"{name}: empty file, no columns")
    if frame.shape[0] == 0:
        raise MetricliError(f"{name}: header only, no data rows")
    frame.columns = [str(c) for c in frame.columns]
    frame.index = pd.RangeIndex(len(frame))  # rows are counted from 0, whatever index a Parquet file stored
    return frame, digest


def iter_table(
    source: str, fmt: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pd.DataFrame]:
    """Read a table in batches of at most ``batch_rows`` rows, so memory stays bounded."""
    fmt = detect_format(source, fmt)
    name = display_name(source)
    if source != STDIN:
        require_file(source)
    seen = 0
    try:
        if fmt in ("csv", "tsv"):
            if source == STDIN or is_pipe(source):
                stream = sys.stdin.buffer if source == STDIN else open(source, "rb")  # noqa: SIM115
                first, raw, sample = text_stream(stream, fmt, name)
            else:
                sniff_file(source, fmt, name)
                first = _header_line(source)
                raw = source
                sample = _head_bytes(source)
            sep = separator(fmt, first, name)
            _check_header(first, sep, name)
            decimal = decimal_mark(sep, sample, name)
            batches: Iterator[pd.DataFrame] = _strict_rows(
                read_text_table(raw, sep, name, chunksize=batch_rows, decimal=decimal), name, first, sep
            )
        elif fmt == "parquet":
            # Parquet's footer is at the end: a pipe cannot be seeked, so stdin is read whole first
            raw = _whole_or_path(source, fmt, name)
            batches = _parquet_batches(raw, batch_rows, name)
        else:
            raw = _whole_or_path(source, fmt, name)
            array = _load_npy(raw, name, mmap=source != STDIN)
            _npy_frame(array if array.ndim != 2 else array[:0], name)  # its dtype and shape refused first
            batches = (
                _npy_frame(np.asarray(array[i : i + batch_rows]), name)
                for i in range(0, array.shape[0], batch_rows)
            )
        for batch in batches:
            batch.columns = [str(c) for c in batch.columns]
            batch.index = pd.RangeIndex(seen, seen + len(batch))
            seen += len(batch)
            yield batch
    except pd.errors.EmptyDataError:
        raise MetricliError(f"{name}: empty file, no header and no rows") from None
    except pd.errors.ParserError as exc:
        raise MetricliError(f"{name}: malformed {fmt.upper()} ({message_line(exc)})") from None
    except UnicodeDecodeError:
        raise MetricliError(f"{name}: not a text {fmt.upper()} file (cannot decode as UTF-8)") from None
    except OSError as exc:
        raise unreadable(name, exc) from None
    if seen == 0:
        raise MetricliError(f"{name}: header only, no data rows")


def _whole_or_path(source: str, fmt: str, name: str) -> object:
    """A binary input that must be seeked: stdin or a pipe read whole (sniffed first), else the path."""
    if source == STDIN:
        return io.BytesIO(read_all(sys.stdin.buffer, fmt, name))
    if is_pipe(source):
        with open(source, "rb") as handle:
            return io.BytesIO(read_all(handle, fmt, name))
    sniff_file(source, fmt, name)
    return source


def _parquet_batches(raw: object, batch_rows: int, name: str) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        # pre_buffer (pyarrow's default) keeps every column chunk read so far: memory grows with
        # the file. Unbuffered, buffered reads hold about one row group at a time.
        parquet = pq.ParquetFile(raw, pre_buffer=False, buffer_size=1 << 20)
    except Exception as exc:
        raise MetricliError(f"{name}: cannot read as Parquet ({message_line(exc)})") from None
    require_unique_names(parquet.schema_arrow.names, name)
    batches = parquet.iter_batches(batch_size=batch_rows)
    while True:
        # a corrupt page or pandas metadata shows only now, in pyarrow's zoo of exception types
        try:
            record_batch = next(batches, None)
            frame = None if record_batch is None else record_batch.to_pandas()
        except (MetricliError, MemoryError):
            raise
        except OSError as exc:
            raise unreadable(name, exc) from None
        except Exception as exc:
            raise MetricliError(f"{name}: cannot read as Parquet ({message_line(exc)})") from None
        if frame is None:
            return
        yield frame


def read_text_table(raw: object, sep: str, name: str, **options: Any) -> Any:
    """pandas' CSV reader with ``index_col=False``: rows that each end in an extra separator
    (``1,2,3,`` under ``a,b,c``) no longer make the first column the index and shift every
    other one left; the empty last field is dropped."""
    with _no_lost_fields(name, sep):
        return pd.read_csv(raw, sep=sep, index_col=False, **options)


@contextlib.contextmanager
def _no_lost_fields(name: str, sep: str) -> Iterator[None]:
    """A row with a non-empty field beyond the header's names is refused (pandas drops it with a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.ParserWarning:
            raise MetricliError(
                f"{name}: malformed {'TSV' if sep == TAB else 'CSV'} (a row has more fields than the "
                "header has names)"
            ) from None


def _strict_rows(read: Any, name: str, header: bytes, sep: str) -> Iterator[pd.DataFrame]:
    """The frames of ``read`` (one frame, or a chunked reader) with their fields checked
    (:func:`_no_lost_fields`). Values under a header that ends in the separator (a column with
    no name) are refused; a header ending in the separator over rows that end in it too is a
    trailing comma, and the empty column is dropped."""
    names = header_names(header, sep)
    unnamed = bool(names) and names[-1].strip() == ""
    frames = iter([read]) if isinstance(read, pd.DataFrame) else iter(read)
    seen = 0
    while True:
        with _no_lost_fields(name, sep):
            frame = next(frames, None)
        if frame is None:
            return
        if unnamed and frame.shape[1]:
            filled = np.flatnonzero(frame.iloc[:, -1].notna().to_numpy())
            if filled.size:
                raise MetricliError(
                    f"{name}: the header ends in an empty name, but its last column holds values "
                    f"(row {seen + int(filled[0])}); name that column"
                )
            frame = frame.iloc[:, :-1]
        if not seen:
            require_unique_names([str(c) for c in frame.columns], name)
        seen += len(frame)
        yield frame


def header_names(line: bytes, sep: str) -> list[str]:
    """The column names of a CSV/TSV header line as written (pandas renames a repeated name
    'a' to 'a.1', which would hide the repeat). Undecodable bytes give no names: the
    parser then reports the file."""
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    # a lone carriage return ends the line, as the parser reads it (in a list, csv.reader refused it)
    return next(csv.reader(io.StringIO(text.rstrip("\r\n"), newline=""), delimiter=sep), [])


def _check_header(line: bytes, sep: str, name: str) -> None:
    """Refuse repeated column names; a first line of numbers only is data, not names (the
    reader's caller says so, e.g. a constraint file without its header)."""
    names = header_names(line, sep)
    if not all(is_number(n) for n in names):
        require_unique_names(names, name)


def is_number(text: str) -> bool:
    """Whether a header cell reads as a number (a first line of numbers is data, not names)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def require_unique_names(names: Sequence[str], name: str) -> None:
    """Columns are chosen by name, so two with one name are ambiguous (Parquet allows it); a
    name holding a line break would split every message naming it, and the bundle's M.csv."""
    seen: set[str] = set()
    for position, column in enumerate(names):
        if "\n" in str(column) or "\r" in str(column):
            raise MetricliError(
                f"{name}: the name of column {position + 1}, {str(column)!r}, holds a line break; rename it"
            )
        if column in seen:
            raise MetricliError(f"{name}: more than one column is named '{column}'; rename the copies")
        seen.add(column)


def message_line(exc: BaseException) -> str:
    """An exception's message for a one-line error: its first line (pyarrow's run over several),
    or its type's name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe_rows(rows: Sequence[int] | np.ndarray, limit: int = 5) -> str:
    """'rows 3, 8 and 2 more' style listing, counted from 0."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}{more}"


@dataclass
class Dataset:
    """Points and their supervision, chosen from a table's columns.

    ``labels`` holds the class of each row as a string, or None for an unlabelled
    row; ``rows`` maps each kept point back to its row in the file.
    """

    name: str
    X: np.ndarray
    feature_names: list[str]
    rows: np.ndarray
    labels: np.ndarray | None = None
    label_column: str | None = None
    target: np.ndarray | None = None
    target_column: str | None = None
    ids: np.ndarray | None = None
    #: the ids as output names them: integers stay integers (``ids`` is their text, for matching)
    id_values: np.ndarray | None = None
    id_column: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)
    #: raw columns asked for by name (e.g. a chunk column), rows aligned with X
    extra: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of the rows that carry a label."""
        if self.labels is None:
            return np.zeros(self.n_samples, dtype=bool)
        return np.array([v is not None for v in self.labels], dtype=bool)


def _require_column(frame: pd.DataFrame, column: str, name: str, option: str, why: str | None = None) -> None:
    if column not in frame.columns:
        listing = ", ".join(frame.columns[:20]) + (", ..." if frame.shape[1] > 20 else "")
        # a name the user typed may be a typo; a name a bundle needs is not, so no guess there
        hint = _did_you_mean(column, frame.columns) if why is None else ""
        why = why or f"from {option}"
        raise MetricliError(f"{name}: no column '{column}' ({why}{hint}); columns are: {listing}")


def _did_you_mean(column: str, columns: Sequence[str]) -> str:
    """' - did you mean 'type'?' for a name that differs in case or by a typo, else ''."""
    import difflib

    names = [str(c) for c in columns]
    same_case = [c for c in names if c.lower() == column.lower()]
    close = same_case or difflib.get_close_matches(column, names, n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""  # inside the parenthesis


def is_time(series: pd.Series) -> bool:
    """Timestamps, durations or periods: pandas would turn them into nanosecond counts."""
    dtype = series.dtype
    return bool(
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    )


def numeric_column(
    series: pd.Series, name: str, column: str, line_offset: int | None, remedy: str | None = None
) -> np.ndarray:
    """The column as float64, or an error naming the first cells that are not numbers.

    ``remedy`` says what to do about it (default: leave a feature column out with --exclude).
    """
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if is_time(series):
        raise MetricliError(
            f"{name}: column '{column}' holds {series.dtype} values (times or durations); "
            "convert them to numbers, e.g. seconds, to use them"
        )
    coerced = pd.to_numeric(series, errors="coerce")
    bad = series.notna().to_numpy() & coerced.isna().to_numpy()
    if not bad.any():
        return coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    first = np.flatnonzero(bad)[:3]
    cells = ", ".join(
        f"row {series.index[i]}"
        + (f" (line {series.index[i] + line_offset})" if line_offset is not None else "")
        + f" is {series.iloc[i]!r}"
        for i in first
    )
    raise MetricliError(
        f"{name}: column '{column}' is not numeric: {cells}; "
        + (remedy or f"fix those cells or leave the column out with --exclude {column}")
    )


#: names that spreadsheet and data-frame exports give a row index (compared in lower case):
#: pandas' ``to_csv`` default ("Unnamed: 0"), R's ``write.csv`` read back ("rownames", "X",
#: readr's "...1"), and the usual names of an id or row-number column
_INDEX_NAMES = re.compile(
    r"(unnamed: ?\d+|\.\.\.1|rownames|row\.names|row_names|rowname|row|rowid|row_id|index|idx|id|)"
)


def row_index_column(column: str, series: pd.Series, first: bool = False) -> bool:
    """Whether a column is a row index rather than a measurement, so never a default feature.

    It is when it holds the row numbers in order (0..n-1 or 1..n), or when it holds distinct
    whole numbers and is named like an index (``rownames``, ``Unnamed: 0``, ``index``, ``id``,
    ``row``, ...; ``X`` only as the first column, as R reads back ``write.csv``'s row names;
    an unnamed first column). A class-sorted file's row numbers predict the label perfectly,
    so taking them as a feature makes any learned metric look perfect.
    """
    n = len(series)
    if n < 3 or not (pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series)):
        return False
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all() or not np.array_equal(values, np.round(values)):
        return False
    steps = np.diff(values)
    if np.all(steps == 1) and values[0] in (0, 1):
        return True
    lowered = str(column).strip().lower()
    named = bool(_INDEX_NAMES.fullmatch(lowered)) or (first and lowered == "x")
    return named and len(np.unique(values)) == n


def kept_columns(frame: pd.DataFrame, keep: Sequence[str], name: str) -> list[str]:
    """The columns ``--keep`` names (repeat or comma-separate), each required to be in ``frame``."""
    names = column_names(keep, frame.columns)
    for column in names:
        _require_column(frame, column, name, "--keep")
    return names


def column_names(values: Sequence[str] | None, columns: Sequence[str]) -> list[str]:
    """Column names from option values (``--features a,b --features c``): a value that is a
    column's exact name is that column, so names holding commas can be given; any other
    value is a comma-separated list (spaces around the names are dropped)."""
    known = set(columns)
    names: list[str] = []
    for value in values or ():
        if value in known:
            names.append(value)
        else:
            names.extend(part.strip() for part in value.split(",") if part.strip())
    return names


def select_columns(
    frame: pd.DataFrame,
    name: str,
    *,
    fmt: str = "csv",
    label: str | None = None,
    target: str | None = None,
    id_column: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    drop_missing: bool = False,
    unlabeled: str | None = None,
    extra_columns: Sequence[str] = (),
    sha256: str | None = None,
    features_why: str | None = None,
    learning: bool = True,
) -> Dataset:
    """Choose feature, label, target and id columns and validate them.

    With ``learning`` the notes also say what no learner can use (:func:`degenerate_columns`);
    commands that apply a learned metric to points leave that out.

    By default the features are every column except the label, target and id
    columns; a column of text is left out with a note, a column of numbers with a
    few non-numeric cells is an error naming the cells.
    """
    line_offset = 2 if fmt in ("csv", "tsv") else None
    features = column_names(features, frame.columns) or None
    exclude = column_names(exclude, frame.columns)
    for column, option in ((label, "--label"), (target, "--target"), (id_column, "--id")):
        if column is not None:
            _require_column(frame, column, name, option)
    for column in extra_columns:
        _require_column(frame, column, name, "--chunks")
    for column in list(features or []) + list(exclude):
        in_features = column in (features or [])
        _require_column(
            frame,
            column,
            name,
            "--features" if in_features else "--exclude",
            features_why if in_features else None,
        )
    if label is not None and label == target:
        raise MetricliError(f"{name}: column '{label}' cannot be both --label and --target")

    reserved = {c for c in (label, target, id_column, *extra_columns) if c is not None}
    notes: list[str] = []
    if features:
        clash = [c for c in features if c in reserved]
        if clash:
            raise MetricliError(
                f"{name}: column '{clash[0]}' is the label, target or id; it cannot be a feature"
            )
        chosen = [c for c in features if c not in exclude]
    else:
        chosen = []
        text_columns = []
        time_columns = []
        index_columns = []
        for column in frame.columns:
            if column in reserved or column in exclude:
                continue
            series = frame[column]
            if is_time(series):
                time_columns.append(column)
                continue
            is_numeric = pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
            if not is_numeric and pd.to_numeric(series, errors="coerce").notna().sum() == 0:
                text_columns.append(column)
                continue
            if row_index_column(column, series, first=column == frame.columns[0]):
                index_columns.append(column)
                continue
            chosen.append(column)
        if text_columns:
            shown = ", ".join(repr(c) for c in text_columns[:10]) + (
                ", ..." if len(text_columns) > 10 else ""
            )
            what = f"{len(text_columns)} text columns" if len(text_columns) > 1 else "text column"
            notes.append(f"{name}: leaving out {what} {shown} (not numeric)")
        if time_columns:
            shown = ", ".join(repr(c) for c in time_columns[:10]) + (
                ", ..." if len(time_columns) > 10 else ""
            )
            notes.append(
                f"{name}: leaving out {shown}: times or durations, not measurements; "
                "convert them to numbers, e.g. seconds, to use them"
            )
        if index_columns and not chosen:
            # nothing else to learn from (a toy file whose one feature counts up): keep it
            chosen = index_columns
        elif index_columns:
            shown = ", ".join(repr(c) for c in index_columns)
            notes.append(
                f"{name}: leaving out {shown}: row numbers or a row index, which would give away the "
                f"order of the rows; use it as ids with --id {shlex.quote(str(index_columns[0]))}, or keep it as a feature "
                "by naming the features with --features"
            )
    if not chosen:
        raise MetricliError(f"{name}: no numeric feature columns to learn from; name them with --features")

    X = np.column_stack([numeric_column(frame[c], name, c, line_offset) for c in chosen])
    keep = np.ones(frame.shape[0], dtype=bool)

    finite = np.isfinite(X)
    target_values = None
    if target is not None:
        target_values = numeric_column(
            frame[target],
            name,
            target,
            line_offset,
            remedy="a regression target must be numbers: fix those cells, or use --label for classes",
        )
    missing_rows = ~finite.all(axis=1)
    if target_values is not None:
        missing_rows |= ~np.isfinite(target_values)
    if missing_rows.any():
        if not drop_missing:
            bad_columns = [c for j, c in enumerate(chosen) if not finite[:, j].all()]
            if target_values is not None and not np.isfinite(target_values).all():
                bad_columns.append(target)
            rows = frame.index[missing_rows]
            raise MetricliError(
                f"{name}: missing or infinite values in column "
                f"{', '.join(repr(c) for c in bad_columns[:5])} at {describe_rows(rows)}; "
                "fix them or pass --drop-missing to drop those rows"
            )
        notes.append(f"{name}: dropped {int(missing_rows.sum())} rows with missing or infinite values")
        keep &= ~missing_rows

    labels = None
    if label is not None:
        series = frame[label]
        text = series.astype(object).where(series.notna(), None)
        values = np.array(
            [
                None
                if (v is None or (unlabeled is not None and str(v) == unlabeled) or str(v) == "")
                else _label_text(v)
                for v in text
            ],
            dtype=object,
        )
        labels = values[keep]

    ids = id_values = None
    if id_column is not None:
        id_series = frame[id_column]
        if id_series.isna().any():
            rows = frame.index[id_series.isna().to_numpy()]
            raise MetricliError(f"{name}: id column '{id_column}' is blank at {describe_rows(rows)}")
        dup = id_series.duplicated(keep="first").to_numpy()
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            raise MetricliError(
                f"{name}: id column '{id_column}' repeats the value {id_series.iloc[first]!r} at row "
                f"{frame.index[first]}; ids must be unique"
            )
        ids = id_series.astype(str).to_numpy(dtype=object)[keep]
        id_values = (
            id_series.to_numpy(dtype=np.int64)[keep] if pd.api.types.is_integer_dtype(id_series) else ids
        )

    if learning:
        notes.extend(degenerate_columns(X[keep], list(chosen), name))
    return Dataset(
        name=name,
        X=np.ascontiguousarray(X[keep]),
        feature_names=list(chosen),
        rows=frame.index.to_numpy()[keep],
        labels=labels,
        label_column=label,
        target=None if target_values is None else target_values[keep],
        target_column=target,
        ids=ids,
        id_values=id_values,
        id_column=id_column,
        sha256=sha256,
        notes=notes,
        extra={c: frame[c][keep].reset_index(drop=True) for c in extra_columns},
    )


def first_copies(X: np.ndarray) -> list[int]:
    """For each column, the first column equal to it (itself when none is): columns grouped by
    a digest of their bytes, then compared; one column's copy at a time, never a copy of X."""
    seen: dict[bytes, list[int]] = {}
    out = []
    for j in range(X.shape[1]):
        column = np.ascontiguousarray(X[:, j]) + 0.0  # -0.0 and 0.0 alike, as == sees them
        group = seen.setdefault(hashlib.blake2b(column.tobytes(), digest_size=16).digest(), [])
        same = next((a for a in group if np.array_equal(X[:, a], column)), None)
        if same is None:
            group.append(j)
        out.append(j if same is None else same)
    return out


def degenerate_columns(X: np.ndarray, names: list[str], name: str) -> list[str]:
    """Notes on what no learner can use: constant columns, exact copies, more columns than rows.

    None of these is an error: the learners give such directions zero weight (the metric
    is then a pseudometric, which ``check`` reports with a witness pair).
    """
    notes = []
    if X.shape[0] == 0:
        return notes
    constant = [names[j] for j in np.flatnonzero(np.all(X == X[0], axis=0))]
    if constant:
        notes.append(
            f"{name}: constant column{'s' if len(constant) > 1 else ''} "
            f"{', '.join(repr(c) for c in constant[:5])}: the metric cannot use "
            f"{'them' if len(constant) > 1 else 'it'}"
        )
    copies = [
        (names[a], names[j]) for j, a in enumerate(first_copies(X)) if a != j and names[j] not in constant
    ]
    if copies:
        shown = ", ".join(f"'{b}' = '{a}'" for a, b in copies[:3])
        notes.append(
            f"{name}: duplicated column{'s' if len(copies) > 1 else ''} {shown}: the metric sees each once"
        )
    if X.shape[1] >= X.shape[0]:
        notes.append(
            f"{name}: {X.shape[1]} features but only {X.shape[0]} rows: the metric can have "
            f"rank at most {X.shape[0] - 1} (a pseudometric)"
        )
    return notes


def _label_text(value: object) -> str:
    # 1.0 read from a float column with blanks should name the class "1", as in the file
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def load_dataset(
    source: str,
    fmt: str | None = None,
    fits_width: Callable[[int, str], None] | None = None,
    **selection,
) -> Dataset:
    """Read ``source`` and choose its columns: :func:`read_table` then :func:`select_columns`.

    ``fits_width(n, name)`` sees :func:`fewest_features` of the table read, before the columns
    are chosen one by one, so that a memory check refuses a table too wide at once."""
    frame, digest = read_table(source, fmt)
    if fits_width is not None:
        fits_width(fewest_features(frame, **selection), display_name(source))
    return select_columns(
        frame, display_name(source), fmt=detect_format(source, fmt), sha256=digest, **selection
    )


def fewest_features(
    frame: pd.DataFrame,
    *,
    label: str | None = None,
    target: str | None = None,
    id_column: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    extra_columns: Sequence[str] = (),
    **_: Any,
) -> int:
    """At most as many feature columns as :func:`select_columns` will choose, from whole columns
    at once: the columns ``features`` names, or by default the float columns (not the label,
    target, id or excluded) holding a fraction, which no rule leaves out (a column of whole
    numbers may be row numbers, a column of text is not a float column)."""
    excluded = set(column_names(exclude, frame.columns))
    excluded |= {c for c in (label, target, id_column, *extra_columns) if c is not None}
    named = column_names(features, frame.columns)
    if named:
        return len({c for c in named if c in set(frame.columns)} - excluded)
    floats = [
        j
        for j, (column, dtype) in enumerate(zip(frame.columns, frame.dtypes, strict=True))
        if column not in excluded and pd.api.types.is_float_dtype(dtype)
    ]
    if not floats:
        return 0
    values = frame.iloc[:, floats].to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        fractional = (values != np.round(values)) & np.isfinite(values)
    return int(fractional.any(axis=0).sum())


def table_rows(source: str, fmt: str | None = None) -> int | None:
    """The number of rows when the file says so without being read (Parquet, .npy), else None."""
    if source == STDIN or not Path(source).is_file():
        return None
    try:
        kind = detect_format(source, fmt)
        if kind == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(source).metadata.num_rows)
        if kind == "npy":
            return int(np.load(source, mmap_mode="r", allow_pickle=False).shape[0])
    except Exception:  # the reader proper reports an unreadable file
        return None
    return None


def iter_points(
    source: str,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    *,
    features: Sequence[str],
    features_why: str | None = None,
    keep: Sequence[str] = (),
    **selection,
) -> Iterator[tuple[int, Dataset]]:
    """A table in batches, each chosen and validated like :func:`select_columns`.

    Yields (rows read, points kept) per batch. The feature columns are fixed (e.g.
    those a metric was learned on) and must all be present; ``Dataset.rows`` counts
    rows from the start of the file, so errors name the right row whatever batch they
    fall in. Columns in ``keep`` are carried along, unchanged, in ``Dataset.extra``.
    """
    name = display_name(source)
    kind = detect_format(source, fmt)
    for i, batch in enumerate(iter_table(source, fmt, batch_rows)):
        if i == 0:
            for column in features:
                _require_column(batch, column, name, "--features", features_why)
            keep = kept_columns(batch, keep, name)
        points = select_columns(
            batch,
            name,
            fmt=kind,
            features=list(features),
            features_why=features_why,
            learning=False,
            **selection,
        )
        points.extra.update({c: batch[c].loc[points.rows].reset_index(drop=True) for c in keep})
        yield len(batch), points


# -- a data set in several files (for the Dask engine) -------------------------------------


def _natural_key(path: str) -> list[Any]:
    """part-2 before part-10: digits compare as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name)]


def part_files(source: str, fmt: str | None = None) -> tuple[list[str], str]:
    """The files of a data set given as a file, a folder of files or a glob, in natural name
    order, and their one format. In a folder, hidden files and markers (``.x``, ``_SUCCESS``)
    and files of no table format are left out; the rest must all be of one format."""
    import glob

    path = Path(source)
    if path.is_dir():
        names = [str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))]
    elif any(ch in source for ch in "*?["):
        names = [p for p in glob.glob(source) if Path(p).is_file()]
    else:
        require_file(source)
        return [source], detect_format(source, fmt)
    kinds: dict[str, list[str]] = {}
    for name in names:
        try:
            kinds.setdefault(detect_format(name, fmt), []).append(name)
        except MetricliError:
            continue
    if not kinds:
        raise MetricliError(f"{source}: no CSV, TSV, Parquet or .npy files in it")
    if len(kinds) > 1:
        raise MetricliError(
            f"{source}: holds files of several formats ({', '.join(sorted(kinds))}); "
            "keep one format per folder, or name the files with a glob"
        )
    ((kind, files),) = kinds.items()
    return sorted(files, key=_natural_key), kind


def text_separator(path: str, fmt: str) -> tuple[str, str]:
    """The separator and decimal mark of a CSV or TSV file (:mod:`metricli.io.dialect`), told
    from its first bytes where the run's ``--delimiter`` is known: on the client, before tasks run."""
    with reading(path):
        sep = separator(fmt, _header_line(path), path)
        return sep, decimal_mark(sep, _head_bytes(path), path)


def text_header(path: str, fmt: str, sep: str | None = None) -> list[str]:
    """The column names of a CSV or TSV file (repeats refused), from its first line only."""
    with reading(path):
        first = _header_line(path)
    if not first.strip():
        raise MetricliError(f"{path}: empty file, no header and no rows")
    sep = sep or separator(fmt, first, path)
    _check_header(first, sep, path)
    return header_names(first, sep)


def read_text_part(
    path: str,
    fmt: str,
    columns: Sequence[str] | None = None,
    nrows: int | None = None,
    sep: str | None = None,
    decimal: str = ".",
) -> pd.DataFrame:
    """One CSV or TSV file of a data set in several files (compressed too), only ``columns``,
    rows numbered from 0 in this file, so errors name the file and its row. A header-only
    file is a part with no rows. The errors are those of :func:`read_table`. A Dask worker
    is given ``sep`` and ``decimal`` (:func:`text_separator`): the run's --delimiter is not
    known there."""
    if sep is None:
        sep, decimal = text_separator(path, fmt)
    text_header(path, fmt, sep)
    try:
        with reading(path):
            frame = pd.read_csv(
                path,
                sep=sep,
                usecols=list(columns) if columns is not None else None,
                nrows=nrows,
                index_col=False,
                decimal=decimal,
            )
    except pd.errors.EmptyDataError:
        raise MetricliError(f"{path}: empty file, no header and no rows") from None
    except pd.errors.ParserError as exc:
        raise MetricliError(f"{path}: malformed {fmt.upper()} ({message_line(exc)})") from None
    except UnicodeDecodeError:
        raise MetricliError(f"{path}: not a text {fmt.upper()} file (cannot decode as UTF-8)") from None
    frame.columns = [str(c) for c in frame.columns]
    require_unique_names(frame.columns, path)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def count_text_rows(path: str, fmt: str, sep: str | None = None) -> int:
    """The data rows of a CSV or TSV file, parsing its first column only."""
    first = text_header(path, fmt, sep)[:1]
    return len(read_text_part(path, fmt, first, sep=sep))
