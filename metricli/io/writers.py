"""Writing tables incrementally, batch by batch, atomically (or to stdout).

Formats: CSV, TSV, Parquet, and JSON Lines (one object per row; floats to 15 digits).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from typing import Any

from metricli.errors import MetricliError
from metricli.io.atomic import FILE, atomic_path, refuse_to_overwrite
from metricli.lazy import pd

OUTPUT_FORMATS = ("csv", "tsv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


def output_format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt.lower() not in OUTPUT_FORMATS:
            raise MetricliError(f"cannot write format '{fmt}'; use one of: {', '.join(OUTPUT_FORMATS)}")
        return fmt.lower()
    if path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise MetricliError(
            f"{path}: cannot tell the output format from '{suffix}'; pass --output-format "
            f"({', '.join(OUTPUT_FORMATS)})"
        )
    return _EXTENSIONS[suffix]


class TableWriter:
    """Append DataFrames to one CSV/TSV/Parquet output; the file appears only when complete.

    ``path`` '-' writes CSV/TSV/JSON Lines to stdout as batches arrive. Write at least
    one (possibly empty) frame so that an empty result still has its header.
    """

    def __init__(self, path: str, fmt: str | None = None, force: bool = False) -> None:
        self.path = path
        if path != "-":  # what is in the way matters more than the format
            refuse_to_overwrite(path, force, FILE)
        self.fmt = output_format(path, fmt)
        self.force = force
        self.rows = 0
        self._started = False
        self._stack = contextlib.ExitStack()
        self._parquet: Any = None
        self._handle: Any = None

    def __enter__(self) -> TableWriter:
        if self.path == "-":
            if self.fmt == "parquet":
                raise MetricliError("Parquet cannot be written to stdout; name an output file")
            self._handle = sys.stdout
        else:
            tmp = self._stack.enter_context(atomic_path(self.path, force=self.force, kind=FILE))
            self._tmp = tmp
            if self.fmt != "parquet":
                self._handle = self._stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))
        return self

    def write_if_empty(self, frame: pd.DataFrame) -> None:
        """Write ``frame`` (typically no rows, just the columns) if nothing was written yet."""
        if not self._started:
            self.write(frame)

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(str(self._tmp), table.schema)
            elif not table.schema.equals(self._parquet.schema, check_metadata=False):
                table = self._as_first(table)
            self._parquet.write_table(table)
        elif self.fmt == "jsonl":
            if len(frame):
                frame.to_json(self._handle, orient="records", lines=True, double_precision=15)
            self._handle.flush()
        else:
            sep = "," if self.fmt == "csv" else "\t"
            if not self._started:
                frame.iloc[:0].to_csv(self._handle, sep=sep, index=False)  # the header, unquoted
            if len(frame):
                self._handle.write(_delimited_rows(frame, sep))
            self._handle.flush()
        self.rows += len(frame)
        self._started = True

    def _as_first(self, table: Any) -> Any:
        """A later batch in the first batch's column types (a CSV read in batches may type a
        column anew in each, e.g. ids 1, 2, ... then 'A7'), or an error naming the column."""
        import pyarrow as pa

        first = self._parquet.schema
        try:
            return table.select(first.names).cast(first)
        except (pa.ArrowException, KeyError, ValueError):
            changed = [
                f.name
                for f in first
                if f.name not in table.schema.names or table.schema.field(f.name).type != f.type
            ]
            raise MetricliError(
                f"{self.path}: column {changed[0]!r} changes type between batches of rows "
                f"({first.field(changed[0]).type} first); write CSV, or raise --batch-rows to read it whole"
            ) from None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self.fmt == "parquet" and exc_type is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), str(self._tmp))
        self._stack.__exit__(exc_type, exc, tb)


def _delimited_rows(frame: pd.DataFrame, sep: str) -> str:
    """CSV/TSV rows without header; floats in their shortest exact form.

    pyarrow's writer is ~10x faster than pandas' with ``%.17g``; pandas is the fallback
    for columns arrow cannot type (mixed objects).
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        # unquoted like pandas; arrow refuses ("none") when a value holds a delimiter or quote
        for quoting in ("none", "needed"):
            sink = io.BytesIO()
            options = pa_csv.WriteOptions(include_header=False, delimiter=sep, quoting_style=quoting)
            try:
                pa_csv.write_csv(table, sink, options)
            except pa.ArrowInvalid:
                continue
            return sink.getvalue().decode("utf-8")
        raise ValueError("unwritable")
    except (pa.ArrowException, TypeError, ValueError):
        return frame.to_csv(None, sep=sep, index=False, header=False, float_format="%.17g")
