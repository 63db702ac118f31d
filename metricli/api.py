"""The engine operations for Python callers: what ``metricli transform``, ``distance --to``,
``neighbors`` and ``evaluate BUNDLE`` do, with the same numbers, on either engine.

Each function takes a bundle (a :class:`~metricli.io.bundle.Bundle` or the path of one),
the data as a path (a CSV/TSV/Parquet/.npy file; with ``engine="dask"`` also a folder of
files or a glob), and ``engine``: ``"local"`` (this process, streamed batches), ``"dask"``
(with ``scheduler``, a running cluster; without, the current client or a new local
cluster), or an open :class:`~metricli.engines.Engine`. Results come back as pandas
frames (or dicts); with ``output`` they are written to a table instead (on Dask a folder
of Parquet files, one per partition) and the function returns what was written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metricli.engines import Engine, Output, Pass, Source, is_partitioned, make_engine, operations
from metricli.engines.operations import DistanceLayout, References, Search, Space, neighbour_columns
from metricli.errors import MetricliError
from metricli.io.bundle import Bundle, load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, STDIN, display_name, table_rows
from metricli.lazy import pd

PathLike = str | Path


def _bundle(bundle: Bundle | PathLike) -> Bundle:
    return bundle if isinstance(bundle, Bundle) else load_bundle(bundle)


def _opened(engine: str | Engine, scheduler: str | None) -> contextlib.AbstractContextManager[Engine]:
    """An engine to run in: one the caller opened stays open; one made here closes after."""
    if isinstance(engine, Engine):
        return contextlib.nullcontext(engine)
    return make_engine(engine, scheduler)


def source_of(
    path: PathLike,
    bundle: Bundle,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    keep: Sequence[str] = (),
    **selection: Any,
) -> Source:
    """The rows of ``path`` with the bundle's features, chosen by name."""
    return Source(
        str(path), tuple(bundle.feature_names), fmt=fmt, batch_rows=batch_rows, keep=tuple(keep), **selection
    )


def _output(output: PathLike | Output | None, empty: pd.DataFrame, fmt: str | None, force: bool) -> Output:
    if isinstance(output, Output):
        return output
    return Output(None if output is None else str(output), empty, fmt, force)


def _result(done: Pass, output: Output) -> pd.DataFrame | Pass:
    return done.frame if output.path is None else done


def transform(
    bundle: Bundle | PathLike,
    data: PathLike,
    *,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    keep: Sequence[str] = (),
    id_column: str | None = None,
    output: PathLike | Output | None = None,
    output_format: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> pd.DataFrame | Pass:
    """x -> L x for every row of ``data``: the points in the space where Euclidean distance is
    the learned metric (``metricli transform``).

    Returns a frame with the ``id_column`` (checked unique and never a feature), the ``keep``
    columns, then c0, c1, ...; with ``output``, writes it there instead and returns the
    :class:`~metricli.engines.Pass` (rows read, written).
    """
    bundle = _bundle(bundle)
    keep = [id_column, *(c for c in keep if c != id_column)] if id_column else list(keep)
    source = source_of(data, bundle, fmt, batch_rows, keep, id_column=id_column, drop_missing=drop_missing)
    target = _output(output, operations.transform_empty(bundle.L, list(keep)), output_format, force)
    with _opened(engine, scheduler) as runner:
        return _result(operations.transform(runner, bundle.L, source, target), target)


def distances(
    bundle: Bundle | PathLike,
    data: PathLike,
    to: PathLike,
    *,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    squared: bool = False,
    square: bool = False,
    id_column: str | None = None,
    output: PathLike | Output | None = None,
    output_format: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> pd.DataFrame | Pass:
    """The learned distance from every row of ``data`` to every row of ``to`` (held in
    memory), as ``metricli distance DATA --to OTHER``: a long table i, j, d (d2 with
    ``squared``), or with ``square`` one row per DATA row and one column per OTHER row.
    Rows are named by their 0-based row number, or by their ``id_column`` value.
    """
    bundle = _bundle(bundle)
    layout = DistanceLayout(squared=squared, square=square, id_column=id_column)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    with _opened(engine, scheduler) as runner:
        other = runner.read(source_of(to, bundle, fmt, **selection))
        target = _output(output, layout.empty(operations.row_keys(other)), output_format, force)
        source = source_of(data, bundle, fmt, batch_rows, **selection)
        done = operations.distances_to(runner, bundle.L, source, other, layout, target)
    done.others = other.n_samples
    return _result(done, target)


#: with stream="auto", a reference whose features take more than this is streamed
STREAM_REFERENCE_BYTES = 128 * 2**20


def streamed_side(
    engine: str, choice: str, reference: str, query: str, fmt: str | None, n_features: int
) -> str:
    """Which side of a neighbour search is read in pieces: as chosen; with ``auto``, a large
    or partitioned reference (unless only the queries are partitioned), else the queries."""
    if choice != "auto":
        return choice
    if is_partitioned(query) and not is_partitioned(reference):
        return "query"
    if engine != "local" or is_partitioned(reference):
        return "reference"
    rows = table_rows(reference, fmt)
    return "reference" if rows is not None and rows * n_features * 8 > STREAM_REFERENCE_BYTES else "query"


def same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def neighbors(
    bundle: Bundle | PathLike,
    reference: PathLike,
    query: PathLike | None = None,
    *,
    k: int | None = None,
    radius: float | None = None,
    exclude_self: bool = False,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    stream: str = "auto",
    id_column: str | None = None,
    keep: Sequence[str] = (),
    output: PathLike | Output | None = None,
    output_format: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> pd.DataFrame | Pass:
    """The ``k`` nearest ``reference`` rows of every ``query`` row (default: the reference
    itself) under the learned metric, or all within ``radius`` (at most k with both), as
    ``metricli neighbors``: columns query, rank, reference, d, nearest first, ties to the
    earlier reference row. ``exclude_self``: a row is not its own neighbour (``query`` must
    be ``reference``). ``stream``: the side read in pieces (``reference``, ``query`` or
    ``auto``). With ``output`` and ``stream="query"`` the table is written as it goes.
    ``keep``: columns of the query rows carried along, first, as :func:`transform` does.
    Row names are ids with ``id_column`` (integers stay integers), else row numbers.
    """
    if k is None and radius is None:
        raise MetricliError("give -k K (the k nearest) or --radius R (all within distance R), or both")
    reference, query = str(reference), str(reference if query is None else query)
    if exclude_self and (query == STDIN or not same_file(query, reference)):
        raise MetricliError("--exclude-self needs --query to be the REFERENCE file itself")
    bundle = _bundle(bundle)
    search = Search(k, radius, exclude_self)
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    queries = source_of(query, bundle, fmt, batch_rows, keep, **selection)
    references = source_of(reference, bundle, fmt, batch_rows, **selection)
    empty = pd.DataFrame(columns=neighbour_columns(keep))
    with _opened(engine, scheduler) as runner:
        side = streamed_side(runner.name, stream, reference, query, fmt, len(bundle.feature_names))
        if side == "query":
            held = runner.read(references)
            target = _output(output, empty, output_format, force)
            return _result(
                operations.neighbors_of_queries(runner, bundle.L, held, queries, search, target), target
            )
        # the queries in memory, the reference read in pieces past them
        held = runner.read(queries)
        frame, _ = operations.neighbors_in_reference(runner, bundle.L, references, held, search)
    if output is None:
        return frame
    from metricli.io.writers import TableWriter

    target = _output(output, empty, output_format, force)
    with TableWriter(target.path, target.fmt, force=target.force) as writer:
        for part in range(0, len(frame), 1 << 20):
            writer.write(frame.iloc[part : part + (1 << 20)])
        writer.write_if_empty(frame)
    return Pass(read=held.n_samples, kept=held.n_samples, written=writer.rows, files=1)


def build_index(
    bundle: Bundle | PathLike,
    data: PathLike,
    output: PathLike,
    *,
    links: int | None = None,
    ef_construction: int | None = None,
    ef_search: int | None = None,
    id_column: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> dict[str, Any]:
    """An approximate neighbour index of ``data`` in the bundle's learned space, written to the
    folder ``output`` (``metricli index``): each row projected x -> L x in batches and added to
    an HNSW graph (:mod:`metricli.io.index`; needs the extra ``metricli[index]``). Returns
    what was indexed: rows, rows dropped, dimensions."""
    from metricli.engines.local import LocalEngine
    from metricli.io import index as neighbour_index
    from metricli.io.tables import sha256_file

    data = str(data)
    if data == STDIN or is_partitioned(data):
        raise MetricliError(
            f"{display_name(data)}: the index is built from one file (CSV, TSV, Parquet or .npy)"
        )
    bundle = _bundle(bundle)
    builder = neighbour_index.IndexBuilder(
        bundle.L.shape[0],
        links=links or neighbour_index.DEFAULT_LINKS,
        ef_construction=ef_construction or neighbour_index.DEFAULT_EF_CONSTRUCTION,
    )
    source = source_of(data, bundle, fmt, batch_rows, id_column=id_column, drop_missing=drop_missing)
    with LocalEngine() as runner:
        builder, done = operations.build_index(runner, bundle.L, source, builder)
    if builder.n == 0:
        raise MetricliError(f"{display_name(data)}: no rows to index")
    builder.build()
    # a named pipe cannot be read twice: no checksum, so no --exclude-self with its index
    checksum = sha256_file(data) if Path(data).is_file() else None
    described = {"name": display_name(data), "sha256": checksum, "id_column": id_column}
    neighbour_index.save_index(
        output,
        builder,
        bundle.metadata,
        described,
        ef_search=ef_search or neighbour_index.DEFAULT_EF_SEARCH,
        force=force,
    )
    return {"rows": builder.n, "dropped": done.read - done.kept, "dims": builder.dims}


def neighbors_in_index(
    bundle: Bundle | PathLike,
    index: Any,
    query: PathLike,
    *,
    k: int,
    exclude_self: bool = False,
    ef: int | None = None,
    id_column: str | None = None,
    keep: Sequence[str] = (),
    output: PathLike | Output | None = None,
    output_format: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> pd.DataFrame | Pass:
    """The (approximate) ``k`` nearest indexed rows of every ``query`` row, searched in
    ``index`` (a path or a loaded :class:`~metricli.io.index.NeighbourIndex`, built by
    :func:`build_index` for this bundle) with ``ef`` candidates per query: the columns and row
    names of :func:`neighbors` on the indexed file. ``exclude_self``: ``query`` must be the
    file the index was built from; a row is not its own neighbour."""
    from metricli.engines.local import LocalEngine
    from metricli.io.index import NeighbourIndex, load_index
    from metricli.io.tables import sha256_file

    bundle = _bundle(bundle)
    found = index if isinstance(index, NeighbourIndex) else load_index(index, bundle)
    query = str(query)
    built_from = found.metadata["data"].get("sha256")
    if exclude_self and (query == STDIN or built_from is None or built_from != sha256_file(query)):
        raise MetricliError("--exclude-self needs --query to be the file the index was built from")
    keys = found.keys(id_column)
    queries = source_of(query, bundle, fmt, batch_rows, keep, id_column=id_column, drop_missing=drop_missing)
    target = _output(output, pd.DataFrame(columns=neighbour_columns(keep)), output_format, force)
    with LocalEngine() as runner:
        done = operations.neighbors_from_index(
            runner, bundle.L, found, keys, queries, Search(k, None, exclude_self), ef, target
        )
    return _result(done, target)


def euclidean_space(bundle: Bundle, n_features: int) -> Space:
    """The baseline of a bundle's kNN scores: the raw features, divided by the bundle's
    training scale if it standardized."""
    preprocessing = bundle.section("preprocessing")
    if not (preprocessing.get("standardize") and preprocessing.get("scale") is not None):
        return Space()
    scale = np.asarray(preprocessing["scale"], dtype=np.float64)
    if scale.shape != (n_features,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise MetricliError(
            f"{bundle.path}: corrupt bundle, metadata.json has an invalid standardization scale"
        )
    return Space(scale=scale)


def evaluate(
    bundle: Bundle | PathLike,
    test: PathLike,
    reference: PathLike,
    *,
    label: str | None = None,
    target: str | None = None,
    k: int = 3,
    retrieval: bool = True,
    engine: str | Engine = "local",
    scheduler: str | None = None,
    id_column: str | None = None,
    predictions: PathLike | Output | None = None,
    output_format: str | None = None,
    force: bool = False,
    fmt: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    drop_missing: bool = False,
) -> dict[str, Any]:
    """Scores of a bundle on held-out ``test`` rows, as ``metricli evaluate BUNDLE --json``:
    each row classified by the vote of its k nearest ``reference`` rows (``label``), or
    predicted as their mean ``target``, in the learned space beside the Euclidean baseline
    (scaled as the bundle was fitted). Rows with a blank label are skipped. ``predictions``:
    also write each test row's truth and predictions there.
    """
    if label is None and target is None:
        raise MetricliError(
            "evaluate needs --label (kNN accuracy) or --target (kNN regression error) to score against"
        )
    if label is not None and target is not None:
        raise MetricliError("give --label (classification) or --target (regression), not both")
    bundle = _bundle(bundle)
    selection = {"label": label, "target": target, "id_column": id_column, "drop_missing": drop_missing}
    with _opened(engine, scheduler) as runner:
        from metricli.engines.local import LocalEngine

        ref = LocalEngine(notify=runner.notify).read(source_of(reference, bundle, fmt, **selection))
        if label is not None:
            labelled = ref.labelled
            ref_X, ref_y = ref.X[labelled], ref.labels[labelled].astype(str)
        else:
            ref_X, ref_y = ref.X, ref.target
        # x -> L x and x -> x / scale exactly as in cross-validation and the benchmark protocol
        # (no centring): the same split then gives the same figures, ties and all
        spaces = {"learned": Space(L=bundle.L), "euclidean": euclidean_space(bundle, ref_X.shape[1])}
        ref_name = display_name(str(reference))
        references = References(
            {side: space(ref_X) for side, space in spaces.items()},
            ref_y,
            label is not None,
            k,
            retrieval,
            ref_name,
        )
        test_source = source_of(test, bundle, fmt, batch_rows, **selection)
        columns = operations.prediction_columns(id_column or "row", label or target)
        written = (
            None
            if predictions is None
            else _output(predictions, pd.DataFrame(columns=columns), output_format, force)
        )
        scorers, skipped, _ = operations.score(runner, test_source, spaces, references, written)
        on_dask = runner.name != "local"
    return {
        "mode": "bundle",
        "bundle": str(bundle.path),
        "algorithm": bundle.algorithm,
        "test": test_source.name,
        "reference": ref_name,
        "task": "classification" if label is not None else "regression",
        "k": k,
        "label": label,
        "target": target,
        "n_reference": int(ref_X.shape[0]),
        "skipped_unlabelled": skipped,
        "predictions": None if predictions is None else str(getattr(predictions, "path", predictions)),
        "learned": scorers["learned"].result(),
        "euclidean": scorers["euclidean"].result(),
        **({"engine": runner.name} if on_dask else {}),
    }


__all__ = ["distances", "evaluate", "neighbors", "transform"]
