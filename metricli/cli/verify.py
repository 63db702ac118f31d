"""``metricli verify``: same or different? The learned distance of each listed pair, and a decision."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import typer

from metricli.cli.common import (
    BatchRowsOption,
    BundleArgument,
    DelimiterOption,
    DropMissingOption,
    ForceOption,
    FormatOption,
    IdOption,
    JsonOption,
    OutputFormatOption,
    OutputOption,
    QuietOption,
    configure,
    emit_json,
    note,
    settings,
)
from metricli.cli.pairs import PairSource, learned_space
from metricli.cli.streaming import open_writer
from metricli.errors import MetricliError
from metricli.io.bundle import load_bundle
from metricli.io.tables import DEFAULT_BATCH_ROWS, display_name

DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        metavar="POINTS",
        help="The points the pairs name (held in memory); '-' reads stdin.",
        show_default=False,
    ),
]


def verify(
    bundle_path: BundleArgument,
    pairs: Annotated[
        str,
        typer.Argument(
            metavar="PAIRS",
            help="Pairs to decide, streamed: first two columns name points of --data (0-based row "
            "numbers, or --id values); every column is copied to the output. '-' reads stdin.",
            show_default=False,
        ),
    ],
    data: DataOption,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            help="Decide with this distance threshold instead of the one stored by 'metricli calibrate'.",
        ),
    ] = None,
    id_column: IdOption = None,
    output: OutputOption = "-",
    output_format: OutputFormatOption = None,
    fmt: FormatOption = None,
    delimiter: DelimiterOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    drop_missing: DropMissingOption = False,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Same or different? For each pair of PAIRS, its learned distance, a score and a decision.

    Appends to each row of PAIRS:

      d       the learned distance sqrt((x - y)ᵀ M (x - y))
      score   -d: higher means more alike, the convention of ROC tools
      same    1 (same) when d <= the threshold, else -1 (different); only when
              the bundle holds a threshold ('metricli calibrate') or --threshold is given

    The `same` column uses the y convention of pair files, so the output can be compared
    with labelled pairs or fed back as a pairs file. PAIRS is streamed in batches of
    --batch-rows: any number of pairs in memory O(points + batch).
    """
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    if threshold is not None and not math.isfinite(threshold):
        raise MetricliError("--threshold must be a finite distance")
    stored = bundle.threshold
    cut = threshold if threshold is not None else (stored["threshold"] if stored else None)
    source = PairSource(
        bundle,
        data,
        fmt,
        {"id_column": id_column, "drop_missing": drop_missing},
        {"learned": learned_space(bundle)},
    )
    added = ["d", "score", *(["same"] if cut is not None else [])]
    n_same = 0
    with open_writer(output, output_format, force) as writer:
        for batch in source.batches(pairs, batch_rows):
            clash = [c for c in added if c in batch.frame.columns]
            if clash:
                raise MetricliError(f"{display_name(pairs)}: already has a column '{clash[0]}'; rename it")
            frame = batch.frame
            d = batch.distances["learned"]
            frame["d"] = d
            frame["score"] = -d
            if cut is not None:
                same = np.where(d <= cut, 1, -1)
                n_same += int((same == 1).sum())
                frame["same"] = same
            writer.write(frame)
        if not writer.rows:
            raise MetricliError(f"{display_name(pairs)}: no pairs to verify")
    summary = {
        "output": output,
        "pairs": writer.rows,
        "threshold": cut,
        "threshold_from": None if cut is None else ("--threshold" if threshold is not None else "bundle"),
        "same": n_same if cut is not None else None,
        "different": writer.rows - n_same if cut is not None else None,
    }
    if cut is None:
        note(
            f"{bundle.path} holds no threshold: wrote distances only; run 'metricli calibrate' "
            "or pass --threshold to get decisions"
        )
    if output == "-":
        return
    if settings.json:
        emit_json(summary)
    else:
        decided = "" if cut is None else f" ({n_same} same, {writer.rows - n_same} different, d <= {cut:.6g})"
        note(f"wrote {writer.rows} pairs to {output}{decided}")
