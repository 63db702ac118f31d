"""``metricli calibrate``: choose a verification threshold on labelled pairs and store it in the bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import typer

from metricli import verification
from metricli.cli import render
from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DelimiterOption,
    DropMissingOption,
    FormatOption,
    IdOption,
    JsonOption,
    QuietOption,
    configure,
    emit_json,
    settings,
)
from metricli.cli.pairs import PairSource, file_digest, group_counts, learned_space
from metricli.cli.verify import DataOption
from metricli.errors import MetricliError
from metricli.io.bundle import load_bundle, save_threshold
from metricli.io.tables import DEFAULT_BATCH_ROWS, display_name

PairsOption = Annotated[
    str | None,
    typer.Option(
        "--pairs",
        metavar="FILE",
        help="Labelled pairs: two points of --data (row numbers or --id values), then 1 (same) or -1 "
        "(different). Streamed; 9 bytes a pair are kept.",
    ),
]
GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group",
        metavar="COLUMN",
        help="Instead of --pairs: every pair of rows of --data, same when they share this column's "
        "value (the identity). Exact, in bounded memory.",
    ),
]
BootstrapOption = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        min=0,
        help="Bootstrap resamples for the 95% intervals (pairs resampled, genuine and impostor "
        "separately); 0: no intervals.",
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")]


def scored_pairs(
    bundle: Any,
    data: str,
    pairs: str | None,
    group: str | None,
    spaces: dict[str, Any],
    fmt: str | None,
    selection: dict[str, Any],
    batch_rows: int,
) -> tuple[str, dict[str, verification.ScoreCounts]]:
    """(what was scored, counts per space) for --pairs FILE or --group COLUMN (exactly one of them)."""
    if (pairs is None) == (group is None):
        raise MetricliError("give --pairs FILE (labelled pairs) or --group COLUMN (all pairs by identity)")
    if pairs is not None:
        return display_name(pairs), PairSource(bundle, data, fmt, selection, spaces).counts(pairs, batch_rows)
    points, counts = group_counts(bundle, data, fmt, selection, group, spaces)
    return f"all pairs of {points.name} by '{group}'", counts


def calibrate(
    bundle_path: BundleArgument,
    data: DataOption,
    pairs: PairsOption = None,
    group: GroupOption = None,
    strategy: Annotated[
        Literal["eer", "accuracy", "f1"],
        typer.Option(
            "--strategy",
            help="eer: FAR and FRR as equal as the pairs allow; accuracy: most pairs decided right; "
            "f1: the F1 score of 'same'.",
        ),
    ] = "eer",
    target_far: Annotated[
        float | None,
        typer.Option(
            "--target-far",
            metavar="FAR",
            help="Instead of --strategy: the highest acceptance whose false-accept rate is at most FAR "
            "(needs at least 1/FAR impostor pairs).",
        ),
    ] = None,
    bootstrap: BootstrapOption = 1000,
    seed: SeedOption = 0,
    id_column: IdOption = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a threshold the bundle already holds.")
    ] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Choose a threshold on labelled pairs and store it in the bundle (threshold.json).

    Pairs are accepted as the same identity when d <= threshold. The threshold is one
    of the genuine pairs' distances, chosen by --strategy or --target-far; its FAR and
    FRR on these pairs are printed with 95% bootstrap intervals (pairs treated as
    independent, so the intervals are optimistic when points appear in many pairs).
    The file is checksummed in the bundle's metadata like every other file; 'metricli
    verify' then decides pairs with it. Calibrate on pairs the metric was not fitted on.
    """
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    if bundle.threshold is not None and not force:
        raise MetricliError(
            f"{bundle.path}: already holds a threshold ({bundle.threshold.get('threshold'):.6g}, "
            f"{bundle.threshold.get('strategy')}); pass --force to replace it"
        )
    selection = {"id_column": id_column, "drop_missing": drop_missing}
    what, counts = scored_pairs(
        bundle, data, pairs, group, {"learned": learned_space(bundle)}, fmt, selection, batch_rows
    )
    learned = counts["learned"]
    chosen = verification.choose_threshold(learned, strategy, target_far)
    intervals: dict[str, Any] = {}
    if bootstrap:
        intervals = verification.bootstrap(
            learned,
            lambda c: dict(zip(("far", "frr"), verification.far_frr(c, chosen.value), strict=True)),
            bootstrap,
            seed,
        )
    record = {
        "rule": "same when d <= threshold",
        **chosen.as_dict(),
        "far_interval": intervals.get("far"),
        "frr_interval": intervals.get("frr"),
        "calibration": {
            "pairs": what,
            "pairs_sha256": file_digest(pairs) if pairs is not None else None,
            "data": display_name(data),
            "group": group,
            "n_genuine": learned.n_genuine,
            "n_impostor": learned.n_impostor,
            "bootstrap": bootstrap,
            "seed": seed,
            "level": 0.95,
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    save_threshold(bundle, record)
    if settings.json:
        emit_json({"bundle": str(bundle.path), **record})
        return
    render.key_values(
        f"{bundle.path}: threshold stored (same when d <= threshold)",
        [
            ("threshold", chosen.value),
            ("chosen by", f"FAR <= {target_far:g}" if target_far is not None else strategy),
            ("FAR", _with_interval(chosen.far, intervals.get("far"))),
            ("FRR", _with_interval(chosen.frr, intervals.get("frr"))),
            ("pairs", f"{what}: {learned.n_genuine} genuine, {learned.n_impostor} impostor"),
        ],
    )


def _with_interval(value: float, interval: tuple[float, float] | None) -> str:
    if interval is None:
        return f"{value:.4g}"
    return f"{value:.4g}  (95% CI {interval[0]:.4g} to {interval[1]:.4g})"
