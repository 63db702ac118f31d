"""What ``metricli check`` checks, read and run: a bundle's M, a matrix file (M or D), or the
distances a bundle's metric puts between points (read by an engine, local or Dask).

The axioms themselves live in :mod:`metricli.axioms`; this module only finds the matrix,
decides which kind it is, runs the matching check and the repairs asked for, and writes
the repaired matrices atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metricli.axioms import check_distance, check_mahalanobis
from metricli.axioms.distance import DEFAULT_WITNESSES, tolerance
from metricli.axioms.mahalanobis import DEFAULT_ATOL, DEFAULT_RTOL
from metricli.axioms.repair import metric_repair, nearest_psd
from metricli.engines.base import Engine
from metricli.errors import MetricliError
from metricli.io.atomic import FILE, refuse_to_overwrite
from metricli.io.bundle import is_bundle, load_bundle
from metricli.io.square import (
    MATRIX_SEPARATORS,
    read_square_table,
    write_mahalanobis_table,
    write_square_table,
)
from metricli.io.tables import display_name, select_columns
from metricli.io.writers import output_format
from metricli.kernels import distance_matrix, project

#: kinds of matrix a check reads
KINDS = ("auto", "mahalanobis", "distance")

#: a factory of progress contexts: label -> context yielding a tick(done, total) or None
Progress = Callable[[str], AbstractContextManager[Callable[[int, int], None] | None]]


@dataclass
class Checked:
    """A matrix to check: M (``kind`` 'mahalanobis') or D ('distance')."""

    source: str
    matrix: np.ndarray
    kind: str
    ids: list[str] | None = None  # point ids of D
    names: list[str] | None = None  # feature names of M
    points: np.ndarray | None = None  # the points in the learned space, when D came from them
    notes: list[str] = field(default_factory=list)


def load_checked(
    source: str,
    kind: str = "auto",
    data: str | None = None,
    *,
    id_column: str | None = None,
    fmt: str | None = None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    engine: Engine,
) -> Checked:
    """The matrix ``source`` names: a bundle's M; with ``data``, the distances under the
    bundle's metric between those points (read by ``engine``); or a matrix file, whose kind
    ``auto`` guesses from its diagonal (zero within the tolerance: D) and says so in a note."""
    if kind not in KINDS:
        raise MetricliError(f"unknown kind '{kind}'; use one of: {', '.join(KINDS)}")
    if is_bundle(source) or Path(source).is_dir():
        bundle = load_bundle(source)
        if data is None:
            if kind == "distance":
                raise MetricliError(
                    f"{source} is a bundle: pass --data POINTS to check distances between points"
                )
            return Checked(source, bundle.M, "mahalanobis", names=bundle.feature_names)
        if kind == "mahalanobis":
            raise MetricliError("--data gives distances between points; leave out --kind mahalanobis")
        wanted = [*bundle.feature_names, *([id_column] if id_column else [])]
        frame, data_format = engine.table(data, fmt, wanted)
        missing = [c for c in bundle.feature_names if c not in frame.columns]
        if missing:
            raise MetricliError(
                f"{display_name(data)}: no column '{missing[0]}' (a feature the metric was learned on)"
            )
        points = select_columns(
            frame,
            display_name(data),
            fmt=data_format,
            id_column=id_column,
            features=bundle.feature_names,
            learning=False,
        )
        Z = project(points.X, bundle.L)
        ids = None if points.ids is None else [str(v) for v in points.ids]
        return Checked(source, distance_matrix(Z), "distance", ids=ids, points=Z, notes=list(points.notes))
    if data is not None:
        raise MetricliError(f"--data needs a model bundle as SOURCE; {source} is not a bundle folder")
    table = read_square_table(source, fmt)
    notes = []
    if kind == "auto":
        zero = tolerance(table.matrix, rtol, atol).threshold
        kind = "distance" if np.all(np.abs(np.diagonal(table.matrix)) <= zero) else "mahalanobis"
        notes.append(
            "read as a distance matrix D because its diagonal is zero; --kind mahalanobis overrides"
            if kind == "distance"
            else "read as a Mahalanobis matrix M because its diagonal is not zero; --kind distance overrides"
        )
    if kind == "mahalanobis":
        return Checked(source, np.asarray(table.matrix, dtype=np.float64), kind, names=table.ids, notes=notes)
    return Checked(source, table.matrix, kind, ids=table.ids, notes=notes)


def run_check(
    checked: Checked,
    engine: Engine,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    ultrametric: bool = False,
    euclidean: bool = False,
    fail_fast: bool = False,
    sample: int | None = None,
    seed: int = 0,
    witnesses: int = DEFAULT_WITNESSES,
    jobs: int | None = None,
    repair_metric: str | Path | None = None,
    repair_psd: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(report, repair) for ``checked``: :func:`~metricli.axioms.check_mahalanobis` on M or
    :func:`~metricli.axioms.check_distance` on D (its exhaustive triangle pass in tiles on
    ``engine`` when D came from points), and the repair asked for, written atomically."""
    given = {
        "--sample": sample is not None,
        "--fail-fast": fail_fast,
        "--ultrametric": ultrametric,
        "--euclidean": euclidean,
        "--repair-metric": repair_metric is not None,
    }
    if checked.kind == "mahalanobis" and any(given.values()):
        option = next(name for name, on in given.items() if on)
        raise MetricliError(
            f"{option} applies to a distance matrix; {checked.source} holds a Mahalanobis matrix M "
            "(pass --data POINTS, or --kind distance)"
        )
    if checked.kind == "distance" and repair_psd is not None:
        raise MetricliError(
            f"--repair-psd applies to a Mahalanobis matrix M; {checked.source} gives a distance matrix "
            "(use --repair-metric)"
        )
    progress = progress or (lambda label: nullcontext(None))
    repair: dict[str, Any] | None = None
    if checked.kind == "mahalanobis":
        report = check_mahalanobis(checked.matrix, checked.names, rtol=rtol, atol=atol)
        if repair_psd is not None:
            repaired, repair = nearest_psd(checked.matrix, rtol=rtol, atol=atol)
            write_mahalanobis_table(Path(repair_psd), repaired, checked.names, force)
            repair["output"] = str(repair_psd)
    else:
        with ExitStack() as stack:
            tiles = (
                stack.enter_context(engine.triangle_tiles(checked.points))
                if sample is None and checked.points is not None
                else None
            )
            tick = stack.enter_context(progress("triangle inequality"))
            report = check_distance(
                checked.matrix,
                checked.ids,
                rtol=rtol,
                atol=atol,
                ultrametric=ultrametric,
                euclidean=euclidean,
                fail_fast=fail_fast,
                sample=sample,
                seed=seed,
                n_witnesses=witnesses,
                n_jobs=jobs,
                progress=tick,
                run_tiles=tiles,
            )
        if repair_metric is not None:
            with progress("repair") as tick:
                repaired, repair = metric_repair(
                    checked.matrix, rtol=rtol, atol=atol, n_jobs=jobs, progress=tick
                )
            write_square_table(str(repair_metric), repaired, checked.ids, force=force)
            repair["output"] = str(repair_metric)
    report["notes"] = checked.notes + report["notes"]
    return report, repair


def refuse_repair_targets(
    repair_metric: str | Path | None, repair_psd: str | Path | None, force: bool
) -> None:
    """Refuse a repair's output before any work: one that exists (without ``force``) or
    has a type the repair cannot be written as."""
    if repair_metric is not None:
        refuse_to_overwrite(repair_metric, force, FILE)
        if Path(repair_metric).suffix.lower() != ".npy":
            output_format(str(repair_metric), None)
    if repair_psd is not None:
        refuse_to_overwrite(repair_psd, force, FILE)
        if Path(repair_psd).suffix.lower() not in MATRIX_SEPARATORS:
            raise MetricliError(f"{repair_psd}: write M as .npy, .csv or .tsv")


def holds(report: dict[str, Any], accepted: set[str]) -> bool:
    """Whether the verdict is one of ``accepted`` (and, when it was tested, the ultrametric
    inequality holds too): the exit status of ``metricli check``."""
    ok = report["verdict"] in accepted
    if "ultrametric" in report["axioms"]:
        ok = ok and report["axioms"]["ultrametric"]["holds"]
    return ok
