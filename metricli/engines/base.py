"""The engine interface: where the same data operations run, on this machine or on a cluster.

An engine reads points from a :class:`Source` and runs a function over them in pieces:
batches of a streamed file (:class:`~metricli.engines.local.LocalEngine`) or partitions
of a folder of files (:class:`~metricli.engines.dask.DaskEngine`). Every piece is a
:class:`~metricli.io.tables.Dataset` chosen and validated by the same
:func:`~metricli.io.tables.select_columns`, rows numbered from the start of the whole data
set, so errors name the same rows and results are the same numbers whichever engine ran
them. The operations (transform, distances, neighbours, scoring, statistics) are written
once, in :mod:`metricli.engines.operations`, against the five primitives below:

- :meth:`Engine.read`: the whole data set as one Dataset on the caller's side;
- :meth:`Engine.map`: a function of each piece, its frames written to one output;
- :meth:`Engine.fold`: a running accumulation over the pieces, merged associatively;
- :meth:`Engine.persist` and :meth:`Engine.map_reduce`: the pieces held (in memory or on
  the workers) and a map-reduce over them, repeated as often as an iterative solver needs.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from metricli.io.tables import DEFAULT_BATCH_ROWS, Dataset, column_names, display_name, select_columns

FEATURE_WHY = "a feature the metric was learned on"


def is_partitioned(source: str) -> bool:
    """A folder or a glob: read as partitions rather than as one file."""
    return Path(source).is_dir() or any(ch in source for ch in "*?[")


@dataclass(frozen=True)
class Source:
    """Points to read: a path (a file, '-' for stdin, or for Dask a folder or a glob) and
    the columns to choose from it, as the options of the commands name them."""

    path: str
    features: tuple[str, ...]
    fmt: str | None = None
    id_column: str | None = None
    label: str | None = None
    target: str | None = None
    drop_missing: bool = False
    keep: tuple[str, ...] = ()
    batch_rows: int = DEFAULT_BATCH_ROWS
    features_why: str | None = FEATURE_WHY

    @property
    def name(self) -> str:
        return display_name(self.path)

    def selection(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~metricli.io.tables.select_columns` for this source."""
        return {
            "label": self.label,
            "target": self.target,
            "id_column": self.id_column,
            "drop_missing": self.drop_missing,
            "features": list(self.features),
            "features_why": self.features_why,
            "learning": False,
        }

    def supervision_columns(self) -> list[str]:
        return [c for c in (self.label, self.target, self.id_column) if c]


def points_of(frame: pd.DataFrame, source: Source, fmt: str, name: str | None = None) -> Dataset:
    """A piece of ``source`` (its index the rows' numbers in the whole data set, or in the
    file ``name``) as points, with the ``keep`` columns carried along in ``extra``, as
    :func:`~metricli.io.tables.iter_points` does for a batch."""
    points = select_columns(frame, name or source.name, fmt=fmt, **source.selection())
    keep = column_names(list(source.keep), list(frame.columns))
    points.extra.update({c: frame[c].loc[points.rows].reset_index(drop=True) for c in keep})
    return points


@dataclass(frozen=True)
class Output:
    """Where the frames of :meth:`Engine.map` go. ``path`` None: back to the caller, as one
    frame. Locally one table (a file, '-' for stdout); on Dask a folder of Parquet files,
    one per partition. ``empty`` (the columns) is written when no piece has a row."""

    path: str | None
    empty: pd.DataFrame
    fmt: str | None = None
    force: bool = False


@dataclass
class Pass:
    """What one pass over a source did: rows read, rows kept as points, and per piece what
    the function returned; with an output, the rows written and (Dask) the files."""

    read: int = 0
    kept: int = 0
    written: int = 0
    files: int = 0
    values: list[Any] = field(default_factory=list)
    frame: pd.DataFrame | None = None
    #: the rows of the second set held in memory (distances to it, neighbours in it)
    others: int = 0

    @property
    def dropped(self) -> int:
        return self.read - self.kept


#: function(points, shared) -> (frames to write, a value)
PieceFunction = Callable[[Dataset, Any], tuple[Iterable[pd.DataFrame], Any]]


class _Silent:
    def __init__(self, name: str, total: int | None = None) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def advance(self, rows: int) -> None:
        pass


class Engine(abc.ABC):
    """Where data operations run. Use as a context manager (Dask connects on entry).

    ``notify(message)`` receives notes (columns left out, rows dropped); ``progress(name,
    total)`` makes a context manager with ``advance(rows)``, for a streamed pass.
    """

    name: ClassVar[str]

    def __init__(
        self,
        *,
        notify: Callable[[str], None] | None = None,
        progress: Callable[[str, int | None], Any] | None = None,
    ) -> None:
        self.notify = notify or (lambda message: None)
        self.progress = progress or _Silent

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    @abc.abstractmethod
    def read(self, source: Source) -> Dataset:
        """The whole of ``source`` as one Dataset, here."""

    @abc.abstractmethod
    def table(self, path: str, fmt: str | None, columns: Sequence[str]) -> tuple[pd.DataFrame, str]:
        """The raw ``columns`` of a table (all of them for a local file), rows numbered from 0, and its format."""

    @abc.abstractmethod
    def head(self, path: str, fmt: str | None, n: int) -> tuple[pd.DataFrame, str]:
        """Up to ``n`` first rows of a table (to choose its columns by their values) and its format."""

    @abc.abstractmethod
    def map(self, source: Source, function: PieceFunction, shared: Any, output: Output | None = None) -> Pass:
        """``function(points, shared)`` of every piece, in row order; its frames go to ``output``."""

    @abc.abstractmethod
    def fold(
        self,
        source: Source,
        start: Callable[[Any], Any],
        add: Callable[[Any, Dataset, Any], Any],
        finish: Callable[[Any, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> tuple[Any, Pass]:
        """``finish(add(...add(start(shared), piece)...), shared)``: locally one accumulator over
        every batch; on Dask one per partition, finished there and merged pairwise (``merge``
        must be associative, and finishing must make the value small)."""

    @abc.abstractmethod
    def persist(self, source: Source) -> Persisted:
        """Read ``source`` once and hold its pieces (here, or on the workers) for :meth:`map_reduce`."""

    @abc.abstractmethod
    def map_reduce(
        self,
        data: Persisted,
        function: Callable[[Dataset, Any], Any],
        merge: Callable[[Any, Any], Any],
        shared: Any,
    ) -> Any:
        """``merge`` of ``function(piece, shared)`` over the pieces of persisted data (one solver
        step: a gradient, a count, a sum). Pieces are not read again."""

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` run where the pieces are, its result kept there: a handle that
        later calls take as an argument (in place of the value) and :meth:`fetch` brings here.
        Locally the call runs at once and the handle is the value."""
        return function(*args)

    def fetch(self, handle: Any) -> Any:
        """The value behind a handle of :meth:`submit`, here."""
        return handle

    def share(self, value: Any) -> Any:
        """``value`` sent once to where the pieces are; calls take the handle in its place."""
        return value

    def triangle_tiles(self, Z: Any) -> contextlib.AbstractContextManager[Any]:
        """Runs the tiles of the exhaustive triangle check, or None to run them on local threads."""
        return contextlib.nullcontext(None)

    # -- shared helpers --------------------------------------------------------------------

    def _note_dropped(self, source: Source, dropped: int) -> None:
        if dropped:
            self.notify(f"{source.name}: dropped {dropped} rows with missing or infinite values")


@dataclass
class Persisted:
    """Pieces of a source held for repeated passes: Datasets here, or futures on the workers."""

    source: Source
    pieces: list[Any]
    rows: int
    kept: int


def merge_all(values: Iterable[Any], merge: Callable[[Any, Any], Any]) -> Any:
    """Merge values pairwise, level by level (the tree Dask uses, so sums agree bit for bit)."""
    values = list(values)
    if not values:
        raise ValueError("nothing to merge")
    while len(values) > 1:
        values = [
            merge(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
            for i in range(0, len(values), 2)
        ]
    return values[0]
