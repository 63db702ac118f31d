"""The local engine: this process, a file read whole or streamed in batches of ``batch_rows``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from metricli.engines.base import Engine, Output, Pass, Persisted, PieceFunction, Source, merge_all, points_of
from metricli.io.tables import (
    Dataset,
    detect_format,
    iter_points,
    kept_columns,
    load_dataset,
    read_table,
    table_rows,
)
from metricli.io.writers import TableWriter
from metricli.lazy import pd


class LocalEngine(Engine):
    """Pieces are batches of one file (or stdin), read one after another in this process."""

    name = "local"

    def read(self, source: Source) -> Dataset:
        if source.keep:  # the columns carried along, beside the chosen ones
            frame, digest = read_table(source.path, source.fmt)
            kept_columns(frame, list(source.keep), source.name)
            points = points_of(frame, source, detect_format(source.path, source.fmt))
            points.sha256 = digest
        else:
            points = load_dataset(source.path, source.fmt, **source.selection())
        for message in points.notes:
            self.notify(message)
        return points

    def table(self, path: str, fmt: str | None, columns: Sequence[str]) -> tuple[pd.DataFrame, str]:
        from metricli.io.tables import detect_format

        frame, _ = read_table(path, fmt)
        return frame, detect_format(path, fmt)

    def head(self, path: str, fmt: str | None, n: int) -> tuple[pd.DataFrame, str]:
        from metricli.io.tables import detect_format, iter_table

        return next(iter(iter_table(path, fmt, n))), detect_format(path, fmt)

    def _batches(self, source: Source, done: Pass):
        selection = source.selection()
        del selection["learning"]
        with self.progress(source.name, table_rows(source.path, source.fmt)) as progress:
            for read, points in iter_points(
                source.path, source.fmt, source.batch_rows, keep=source.keep, **selection
            ):
                done.read += read
                done.kept += points.n_samples
                yield points
                progress.advance(read)
        self._note_dropped(source, done.dropped)

    def map(self, source: Source, function: PieceFunction, shared: Any, output: Output | None = None) -> Pass:
        done = Pass()
        collected: list[pd.DataFrame] = []
        writer: Any = None
        if output is not None and output.path is not None:
            writer = TableWriter(output.path, output.fmt, force=output.force)
        with writer or contextlib.nullcontext():
            for points in self._batches(source, done):
                frames, value = function(points, shared)
                done.values.append(value)
                for frame in frames:
                    if writer is not None:
                        writer.write(frame)
                    elif output is not None:
                        collected.append(frame)
            if writer is not None:
                writer.write_if_empty(output.empty)
                done.written, done.files = writer.rows, 1
        if output is not None and writer is None:
            done.frame = pd.concat(collected, ignore_index=True) if collected else output.empty
            done.written = len(done.frame)
        return done

    def fold(
        self,
        source: Source,
        start: Callable[[Any], Any],
        add: Callable[[Any, Dataset, Any], Any],
        finish: Callable[[Any, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> tuple[Any, Pass]:
        done = Pass()
        accumulator = start(shared)
        for points in self._batches(source, done):
            accumulator = add(accumulator, points, shared)
        return finish(accumulator, shared), done

    def persist(self, source: Source) -> Persisted:
        done = Pass()
        pieces = list(self._batches(source, done))
        return Persisted(source, pieces, done.read, done.kept)

    def map_reduce(
        self,
        data: Persisted,
        function: Callable[[Dataset, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> Any:
        return merge_all((function(points, shared) for points in data.pieces), merge)
