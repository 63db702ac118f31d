"""Scored pairs for ``verify``, ``calibrate`` and ``evaluate --pairs``/``--group``.

A pairs file names two points per row (first two columns, by 0-based row number of
the data or by its --id, as constraint files do) and, for calibration and evaluation,
whether they are the same identity (third column, 1 same / -1 different). It is read
in batches; the data points are held in memory, projected once into each space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from metricli import verification
from metricli.cli.common import note
from metricli.cli.progress import RowProgress
from metricli.cli.streaming import load_points
from metricli.errors import MetricliError
from metricli.io.bundle import Bundle
from metricli.io.constraints import check_reference
from metricli.io.tables import (
    DEFAULT_BATCH_ROWS,
    Dataset,
    describe_rows,
    display_name,
    iter_table,
    sha256_file,
)
from metricli.kernels import project
from metricli.lazy import pd

#: where a metric is applied: the learned space, and the Euclidean baseline beside it
Space = Callable[[np.ndarray], np.ndarray]


def learned_space(bundle: Bundle) -> Space:
    return lambda X: project(X, bundle.L)


@dataclass
class PairBatch:
    """One batch of a pairs file: its rows as read, each pair's distance per space, and y if asked."""

    frame: pd.DataFrame
    distances: dict[str, np.ndarray]
    genuine: np.ndarray | None


class PairSource:
    """The data points in each space, and the pairs of a file scored against them in batches."""

    def __init__(
        self,
        bundle: Bundle,
        data: str,
        fmt: str | None,
        selection: dict[str, Any],
        spaces: dict[str, Space],
    ) -> None:
        self.points = load_points(data, fmt, bundle.feature_names, **selection)
        self.id_column = selection.get("id_column")
        self.Z = {name: space(self.points.X) for name, space in spaces.items()}

    def batches(
        self, pairs: str, batch_rows: int = DEFAULT_BATCH_ROWS, labelled: bool = False
    ) -> Iterator[PairBatch]:
        """Each batch of ``pairs``, scored; with ``labelled`` the third column must be 1 or -1."""
        where = display_name(pairs)
        with RowProgress(where) as progress:
            for frame in iter_table(pairs, None, batch_rows):
                needed = 3 if labelled else 2
                if frame.shape[1] < needed:
                    raise MetricliError(
                        f"{where}: a pairs file needs {needed} columns (two points"
                        + (", then 1 for same or -1 for different)" if labelled else ")")
                        + f"; this one has {frame.shape[1]}"
                    )
                first, second = frame.columns[:2]
                if progress.rows == 0:
                    check_reference([first, second], self.id_column, where, note)
                a = locate_points(frame[first], self.points, where, first, self.id_column)
                b = locate_points(frame[second], self.points, where, second, self.id_column)
                genuine = same_or_different(frame[frame.columns[2]], where) if labelled else None
                distances = {name: verification.pair_distances(Z, a, b) for name, Z in self.Z.items()}
                yield PairBatch(frame, distances, genuine)
                progress.advance(len(frame))

    def counts(self, pairs: str, batch_rows: int = DEFAULT_BATCH_ROWS) -> dict[str, verification.ScoreCounts]:
        """Genuine and impostor counts per distance in each space (memory: 9 bytes a pair and space)."""
        distances: dict[str, list[np.ndarray]] = {name: [] for name in self.Z}
        genuine: list[np.ndarray] = []
        for batch in self.batches(pairs, batch_rows, labelled=True):
            genuine.append(batch.genuine)
            for name, d in batch.distances.items():
                distances[name].append(d)
        flags = np.concatenate(genuine) if genuine else np.empty(0, dtype=bool)
        counts = {
            name: verification.ScoreCounts.from_distances(np.concatenate(d) if d else np.empty(0), flags)
            for name, d in distances.items()
        }
        for c in counts.values():
            c.require_both(display_name(pairs))
        return counts


def group_counts(
    bundle: Bundle,
    data: str,
    fmt: str | None,
    selection: dict[str, Any],
    group: str,
    spaces: dict[str, Space],
) -> tuple[Dataset, dict[str, verification.ScoreCounts]]:
    """Every pair of the rows of DATA with an identity in column ``group``: genuine within, impostor across."""
    points = load_points(data, fmt, bundle.feature_names, **{**selection, "label": group})
    keep = points.labelled
    if not keep.any():
        raise MetricliError(f"{points.name}: column '{group}' is blank on every row; it names the identities")
    groups = points.labels[keep].astype(str)
    counts = {}
    for name, space in spaces.items():
        counts[name] = verification.all_pairs_counts(space(points.X[keep]), groups)
    return points, counts


def same_or_different(values: pd.Series, where: str) -> np.ndarray:
    """The third column of a pairs file as genuine flags: 1 same, -1 different."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isin(numbers, (1.0, -1.0))
    if bad.any():
        row = values.index[bad][0]
        raise MetricliError(
            f"{where}: row {row}, column '{values.name}' is {values.loc[row]!r}; "
            "use 1 (same identity) or -1 (different)"
        )
    return numbers == 1.0


def locate_points(
    values: pd.Series, points: Dataset, where: str, column: str, id_column: str | None
) -> np.ndarray:
    """Positions in ``points`` of the rows a pairs column names, by --id value or by row number."""
    if id_column is not None:
        text = values.astype(str)
        found = pd.Index(points.ids).get_indexer(text.to_numpy(dtype=object))
        missing = found < 0
        if missing.any():
            row = values.index[missing][0]
            raise MetricliError(
                f"{where}: row {row}, column '{column}': {points.name} has no row with {id_column} "
                f"{text.loc[row]!r}"
            )
        return found
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    whole = np.isfinite(numbers) & (numbers == np.round(numbers))
    if not whole.all():
        row = values.index[~whole][0]
        raise MetricliError(
            f"{where}: row {row}, column '{column}' is {values.loc[row]!r}, not a row number "
            "(pass --id COLUMN to name rows by id)"
        )
    wanted = numbers.astype(np.int64)
    found = np.searchsorted(points.rows, wanted)
    valid = found < points.rows.size
    valid[valid] &= points.rows[found[valid]] == wanted[valid]
    if not valid.all():
        bad = np.flatnonzero(~valid)
        last = int(points.rows.max(initial=-1))
        dropped = "; rows dropped by --drop-missing are not either" if points.rows.size < last + 1 else ""
        raise MetricliError(
            f"{where}: {describe_rows(values.index[bad])}, column '{column}': row {wanted[bad[0]]} is not in "
            f"{points.name} (it has rows 0 to {last}{dropped})"
        )
    return found


def file_digest(source: str) -> str | None:
    """sha256 of a named file (None for stdin), recorded with a calibration."""
    return None if source == "-" else sha256_file(source)
