"""``metricli check``: do the metric axioms hold? Exit 0 yes, 1 no, 2 bad input."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from metricli.axioms.distance import DEFAULT_WITNESSES
from metricli.axioms.mahalanobis import DEFAULT_ATOL, DEFAULT_RTOL
from metricli.cli import render, render_axioms
from metricli.cli.common import (
    DASK_EXTRA,
    DASK_PANEL,
    PARTITIONED,
    DelimiterOption,
    ForceOption,
    JsonOption,
    QuietOption,
    SchedulerOption,
    configure,
    emit_json,
    note,
    open_engine,
    settings,
)
from metricli.engines.checking import holds, load_checked, refuse_repair_targets, run_check
from metricli.errors import MetricliError
from metricli.io.tables import display_name

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
    delimiter: DelimiterOption = None,
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
            help=f"With --data: local (this machine) or dask (POINTS is partitioned data: {PARTITIONED}; the "
            f"exhaustive triangle pass runs as tasks on a Dask cluster; needs {DASK_EXTRA}).",
            rich_help_panel=DASK_PANEL,
        ),
    ] = "local",
    scheduler: SchedulerOption = None,
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

    --engine dask (with a bundle and --data): POINTS is partitioned (Parquet, or CSV/TSV
    files, compressed too: a file, a folder of files in natural name order, or a glob); the client builds D (n x n) as on one machine
    and the O(n³) triangle pass runs in tiles as cluster tasks, each worker computing its
    own copy of D from the n learned points (n² × 8 bytes per worker). The report is the
    same as on one machine.
    """
    configure(json_output, quiet)
    runner = open_engine(engine, scheduler)
    if runner.name != "local" and data is None:
        raise MetricliError(
            f"--engine {runner.name} checks a bundle's metric on --data POINTS (partitioned data); give --data"
        )
    refuse_repair_targets(repair_metric, repair_psd, force)  # before the work, not after it
    if data is None and id_column is not None:
        raise MetricliError("--id names the id column of --data; a distance table carries its own ids")
    with runner:
        checked = load_checked(
            source, kind.value, data, id_column=id_column, fmt=fmt, rtol=rtol, atol=atol, engine=runner
        )
        if checked.points is not None:
            for line in checked.notes:
                note(line)
            checked.notes = []
        # every n³ triplet is long past a few thousand points: the label says how to sample instead
        hint = "" if sample is not None else " over every triplet (--sample N checks N random ones instead)"
        report, repair = run_check(
            checked,
            runner,
            rtol=rtol,
            atol=atol,
            ultrametric=ultrametric,
            euclidean=euclidean,
            fail_fast=fail_fast,
            sample=sample,
            seed=seed,
            witnesses=witnesses,
            jobs=jobs,
            repair_metric=repair_metric,
            repair_psd=repair_psd,
            force=force,
            progress=lambda label: render.progress_bar(
                label + hint * (label == "triangle inequality"), enabled=not settings.quiet
            ),
        )
    payload = {"source": source, **report}
    if repair is not None:
        payload["repair"] = repair
    if settings.json:
        emit_json(payload)
    elif checked.kind == "mahalanobis":
        render_axioms.mahalanobis_report(display_name(source), report)
        if repair is not None:
            render_axioms.repair_summary(repair)
    else:
        render_axioms.distance_report(display_name(source), payload)
    accepted = {"metric", *(a.value for a in accept or [])} | (
        {"pseudometric"} if allow_pseudometric else set()
    )
    raise typer.Exit(0 if holds(report, accepted) else 1)
