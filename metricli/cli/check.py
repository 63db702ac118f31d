"""``metricli check``: do the metric axioms hold? Exit 0 yes, 1 no, 2 bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metricli.axioms import check_mahalanobis
from metricli.axioms.mahalanobis import DEFAULT_ATOL, DEFAULT_RTOL
from metricli.cli import render
from metricli.cli.common import JsonOption, QuietOption, configure, emit_json, settings
from metricli.io.bundle import is_bundle, load_bundle, read_matrix_file


def check(
    source: Annotated[
        str,
        typer.Argument(
            help="A model bundle folder, or a matrix M (.npy, or CSV with a header).",
            show_default=False,
        ),
    ],
    rtol: Annotated[
        float,
        typer.Option(
            "--rtol",
            help="Relative tolerance: eigenvalues within rtol × the largest count as zero.",
        ),
    ] = DEFAULT_RTOL,
    atol: Annotated[
        float, typer.Option("--atol", help="Absolute tolerance added to the relative one.")
    ] = DEFAULT_ATOL,
    allow_pseudometric: Annotated[
        bool,
        typer.Option(
            "--allow-pseudometric",
            help="Exit 0 for a pseudometric too (distinct points may be at distance 0).",
        ),
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Verify the metric axioms for a learned metric: symmetry, PSD (eigenvalues), rank,
    condition number, and a witness pair for a pseudometric.

    Exit status: 0 the distance is a metric, 1 an axiom fails, 2 usage or input error.
    """
    configure(json_output, quiet)
    if is_bundle(source) or Path(source).is_dir():
        bundle = load_bundle(source)
        M, names = bundle.M, bundle.feature_names
    else:
        M, names = read_matrix_file(source)
    report = check_mahalanobis(M, names, rtol=rtol, atol=atol)
    if settings.json:
        emit_json({"source": source, **report})
    else:
        render.mahalanobis_report(source, report)
    accepted = report["verdict"] == "metric" or (allow_pseudometric and report["verdict"] == "pseudometric")
    raise typer.Exit(0 if accepted else 1)
