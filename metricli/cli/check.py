"""``metricli check``: do the metric axioms hold? Exit 0 yes, 1 no, 2 bad input."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from metricli.axioms import check_distance, check_mahalanobis
from metricli.axioms.distance import DEFAULT_WITNESSES, tolerance
from metricli.axioms.mahalanobis import DEFAULT_ATOL, DEFAULT_RTOL
from metricli.axioms.repair import metric_repair, nearest_psd
from metricli.cli import render
from metricli.cli.common import (
    DASK_EXTRA,
    ForceOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    err,
    note,
    open_engine,
    settings,
)
from metricli.engines import Engine
from metricli.errors import MetricliError
from metricli.io.atomic import FILE, atomic_path, refuse_to_overwrite
from metricli.io.bundle import is_bundle, load_bundle
from metricli.io.square import read_square_table, write_square_table
from metricli.io.tables import display_name, select_columns
from metricli.io.writers import output_format
from metricli.kernels import distance_matrix, project

_MATRIX_SEPARATORS = {".npy": None, ".csv": ",", ".tsv": "\t"}
PANEL_INPUT = "Input"
PANEL_CHECK = "Distance matrices"
PANEL_REPAIR = "Repairs (written only when asked)"


class Kind(StrEnum):
    auto = "auto"
    mahalanobis = "mahalanobis"
    distance = "distance"


class Acceptable(StrEnum):
    pseudometric = "pseudometric"
    semimetric = "semimetric"
    quasimetric = "quasimetric"


def check(
    source: Annotated[
        str,
        typer.Argument(
            help="A model bundle folder; or a matrix file (CSV, TSV, Parquet, .npy; '-' reads CSV from "
            "stdin): a Mahalanobis matrix M, or a square table of distances D.",
            show_default=False,
        ),
    ],
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            help="What a matrix file holds. auto: a matrix whose diagonal is all zero (within the "
            "tolerance) is a distance matrix D, any other is a Mahalanobis M; a bundle is M, or with "
            "--data the distances between those points.",
            rich_help_panel=PANEL_INPUT,
        ),
    ] = Kind.auto,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Points (CSV, TSV, Parquet, .npy) to check the bundle's metric on: their pairwise "
            "distances under it form D.",
            show_default=False,
            rich_help_panel=PANEL_INPUT,
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="With --data: its column of unique point ids, which then name the witnesses.",
            show_default=False,
            rich_help_panel=PANEL_INPUT,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Format of the matrix file, or of --data: csv, tsv, parquet or npy (default: by "
            "extension; stdin: csv).",
            show_default=False,
            rich_help_panel=PANEL_INPUT,
        ),
    ] = None,
    rtol: Annotated[
        float,
        typer.Option(
            "--rtol",
            help="Relative tolerance, times the largest |eigenvalue| of M or the largest |entry| of D: "
            "smaller deviations are not violations.",
        ),
    ] = DEFAULT_RTOL,
    atol: Annotated[
        float, typer.Option("--atol", help="Absolute tolerance added to the relative one.")
    ] = DEFAULT_ATOL,
    allow_pseudometric: Annotated[
        bool,
        typer.Option(
            "--allow-pseudometric",
            help="Exit 0 for a pseudometric too (distinct points may be at distance 0). Same as "
            "--accept pseudometric.",
        ),
    ] = False,
    accept: Annotated[
        list[Acceptable] | None,
        typer.Option(
            "--accept",
            help="Exit 0 for this verdict too, besides metric (repeat for several).",
            show_default=False,
        ),
    ] = None,
    ultrametric: Annotated[
        bool,
        typer.Option(
            "--ultrametric",
            help="Also test d(i, j) <= max(d(i, k), d(k, j)); exit 0 then needs it to hold.",
            rich_help_panel=PANEL_CHECK,
        ),
    ] = False,
    euclidean: Annotated[
        bool,
        typer.Option(
            "--euclidean",
            help="Also say whether the points fit in a Euclidean space with these distances "
            "(classical MDS eigenvalues; O(n³) time and one more n x n matrix).",
            rich_help_panel=PANEL_CHECK,
        ),
    ] = False,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            help="Stop the triangle search at the first violation (counts become lower bounds).",
            rich_help_panel=PANEL_CHECK,
        ),
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            min=1,
            help="Check N random triplets instead of all n³, and report the violation rate with a "
            "95% Clopper-Pearson interval. For very large n.",
            show_default=False,
            rich_help_panel=PANEL_CHECK,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Random seed for --sample.", rich_help_panel=PANEL_CHECK)
    ] = 0,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Threads for the triangle check. Default: every CPU.",
            show_default=False,
            rich_help_panel=PANEL_CHECK,
        ),
    ] = None,
    witnesses: Annotated[
        int,
        typer.Option(
            "--witnesses", min=1, help="Witnesses to report per failed axiom.", rich_help_panel=PANEL_CHECK
        ),
    ] = DEFAULT_WITNESSES,
    repair_metric: Annotated[
        Path | None,
        typer.Option(
            "--repair-metric",
            help="Write the largest metric below D (shortest paths over min(D, Dᵀ)) to this table "
            "(.csv, .tsv, .parquet, .npy).",
            show_default=False,
            rich_help_panel=PANEL_REPAIR,
        ),
    ] = None,
    repair_psd: Annotated[
        Path | None,
        typer.Option(
            "--repair-psd",
            help="Write the PSD matrix nearest to M (negative eigenvalues set to 0) to this file "
            "(.npy, or .csv with feature names).",
            show_default=False,
            rich_help_panel=PANEL_REPAIR,
        ),
    ] = None,
    force: ForceOption = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="With --data: local (this machine) or dask (POINTS is partitioned Parquet, the "
            f"exhaustive triangle pass runs as tasks on a Dask cluster; needs {DASK_EXTRA}).",
            rich_help_panel=PANEL_INPUT,
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="With --engine dask: the scheduler address, e.g. tcp://10.0.0.5:8786 (default: a "
            "local cluster, one worker process per core).",
            show_default=False,
            rich_help_panel=PANEL_INPUT,
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Prove whether a learned metric M or any distance matrix D satisfies the metric axioms.

    For M: symmetry, eigenvalues (PSD), rank, condition number and a null-space witness
    pair. For D: every axiom (non-negativity, zero self-distance, symmetry, identity of
    indiscernibles, and the triangle inequality over all n³ triplets, in parallel blocks)
    with counts, worst violations, their quantiles and witnesses by id.

    Verdicts: metric, pseudometric (distinct points at distance 0), semimetric (the
    triangle inequality fails), quasimetric (only symmetry fails), not a distance.

    A distance table may have a header of ids and/or a first column of row ids: a table
    with one more line than columns has a header, one with one more column than lines
    has row ids; row and column ids must then agree.

    Exit status: 0 the distance is a metric (or an accepted verdict), 1 an axiom fails,
    2 usage or input error.

    --engine dask (with a bundle and --data): POINTS is partitioned Parquet, read by Dask;
    the client builds D (n x n) exactly as on one machine, and the O(n³) exhaustive
    triangle pass, the only part that grows faster than D, runs in tiles as cluster
    tasks: each worker process receives the n points in the learned space once and
    computes its own copy of D from them (n² × 8 bytes per worker: 3.2 GB for n = 20,000).
    The O(n²) axioms, witnesses, --sample, --euclidean and repairs run on the client.
    The report is the same as on one machine.
    """
    configure(json_output, quiet)
    runner = open_engine(engine, scheduler)
    if runner.name != "local" and data is None:
        raise MetricliError(
            f"--engine {runner.name} checks a bundle's metric on --data POINTS (partitioned Parquet); give --data"
        )
    # fail before the work, not after it
    if repair_metric is not None:
        refuse_to_overwrite(repair_metric, force, FILE)
        if repair_metric.suffix.lower() != ".npy":
            output_format(str(repair_metric), None)
    if repair_psd is not None:
        refuse_to_overwrite(repair_psd, force, FILE)
        if repair_psd.suffix.lower() not in _MATRIX_SEPARATORS:
            raise MetricliError(f"{repair_psd}: write M as .npy, .csv or .tsv")
    if data is None and id_column is not None:
        raise MetricliError("--id names the id column of --data; a distance table carries its own ids")

    with contextlib.ExitStack() as engine_context:
        engine_context.enter_context(runner)
        inferred: list[str] = []
        matrix, ids, names, what, points = _load(
            source, kind, data, id_column, fmt, rtol, atol, inferred, runner
        )
        accepted = {"metric", *(a.value for a in accept or [])}
        if allow_pseudometric:
            accepted.add("pseudometric")

        repair: dict[str, Any] | None = None
        if what == "mahalanobis":
            for option, given in (
                ("--sample", sample is not None),
                ("--fail-fast", fail_fast),
                ("--ultrametric", ultrametric),
                ("--euclidean", euclidean),
                ("--repair-metric", repair_metric is not None),
            ):
                if given:
                    raise MetricliError(
                        f"{option} applies to a distance matrix; {source} holds a Mahalanobis matrix M "
                        "(pass --data POINTS, or --kind distance)"
                    )
            report = check_mahalanobis(matrix, names, rtol=rtol, atol=atol)
            if repair_psd is not None:
                repaired, repair = nearest_psd(matrix, rtol=rtol, atol=atol)
                _write_matrix(repair_psd, repaired, names, force)
                repair["output"] = str(repair_psd)
        else:
            if repair_psd is not None:
                raise MetricliError(
                    f"--repair-psd applies to a Mahalanobis matrix M; {source} gives a distance matrix "
                    "(use --repair-metric)"
                )
            run_tiles = (
                engine_context.enter_context(runner.triangle_tiles(points)) if sample is None else None
            )
            with render.progress_bar(
                "triangle inequality", enabled=not settings.quiet and err.is_terminal
            ) as tick:
                report = check_distance(
                    matrix,
                    ids,
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
                    run_tiles=run_tiles,
                )
            if repair_metric is not None:
                with render.progress_bar("repair", enabled=not settings.quiet and err.is_terminal) as tick:
                    repaired, repair = metric_repair(matrix, rtol=rtol, atol=atol, n_jobs=jobs, progress=tick)
                write_square_table(str(repair_metric), repaired, ids, force=force)
                repair["output"] = str(repair_metric)

        report["notes"] = inferred + report["notes"]
        payload = {"source": source, **report}
        if repair is not None:
            payload["repair"] = repair
        if settings.json:
            emit_json(payload)
        elif what == "mahalanobis":
            render.mahalanobis_report(display_name(source), report)
            if repair is not None:
                render.repair_summary(repair)
        else:
            render.distance_report(display_name(source), payload)
        holds = report["verdict"] in accepted
        if ultrametric and "ultrametric" in report["axioms"]:
            holds = holds and report["axioms"]["ultrametric"]["holds"]
        raise typer.Exit(0 if holds else 1)


def _load(
    source: str,
    kind: Kind,
    data: str | None,
    id_column: str | None,
    fmt: str | None,
    rtol: float,
    atol: float,
    inferred: list[str],
    runner: Engine,
) -> tuple[np.ndarray, list[str] | None, list[str] | None, str, np.ndarray | None]:
    """(matrix, point ids, feature names, 'mahalanobis' or 'distance', points in the learned space).

    How the kind was guessed, if it was, is appended to ``inferred``. The --data points are
    read by ``runner`` (with Dask, a partitioned data set).
    """
    if is_bundle(source) or Path(source).is_dir():
        bundle = load_bundle(source)
        if data is None:
            if kind is Kind.distance:
                raise MetricliError(
                    f"{source} is a bundle: pass --data POINTS to check distances between points"
                )
            return bundle.M, None, bundle.feature_names, "mahalanobis", None
        if kind is Kind.mahalanobis:
            raise MetricliError("--data gives distances between points; leave out --kind mahalanobis")
        frame, data_format = runner.table(
            data, fmt, [*bundle.feature_names, *([id_column] if id_column else [])]
        )
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
        for line in points.notes:
            note(line)
        Z = project(points.X, bundle.L)
        ids = None if points.ids is None else [str(v) for v in points.ids]
        return distance_matrix(Z), ids, None, "distance", Z
    if data is not None:
        raise MetricliError(f"--data needs a model bundle as SOURCE; {source} is not a bundle folder")
    table = read_square_table(source, fmt)
    if kind is Kind.auto:
        zero = tolerance(table.matrix, rtol, atol).threshold
        kind = Kind.distance if np.all(np.abs(np.diagonal(table.matrix)) <= zero) else Kind.mahalanobis
        inferred.append(
            "read as a distance matrix D because its diagonal is zero; --kind mahalanobis overrides"
            if kind is Kind.distance
            else "read as a Mahalanobis matrix M because its diagonal is not zero; --kind distance overrides"
        )
    if kind is Kind.mahalanobis:
        return np.asarray(table.matrix, dtype=np.float64), None, table.ids, "mahalanobis", None
    return table.matrix, table.ids, None, "distance", None


def _write_matrix(path: Path, M: np.ndarray, names: list[str] | None, force: bool) -> None:
    """M as .npy, or as CSV/TSV with feature names on both axes (the bundle's M.csv layout)."""
    if path.suffix.lower() == ".npy":
        with atomic_path(path, force=force, kind=FILE) as tmp, open(tmp, "wb") as f:
            np.save(f, M, allow_pickle=False)
        return
    import pandas as pd

    sep = _MATRIX_SEPARATORS[path.suffix.lower()]
    labels = names if names is not None else [f"x{j}" for j in range(M.shape[0])]
    frame = pd.DataFrame(M, index=pd.Index(labels, name=""), columns=labels)
    with atomic_path(path, force=force, kind=FILE) as tmp:
        frame.to_csv(tmp, sep=sep, float_format="%.17g")
