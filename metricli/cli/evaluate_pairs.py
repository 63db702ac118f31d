"""``metricli evaluate BUNDLE TEST --pairs FILE | --group COLUMN``: verification figures.

Same or different? Each pair of TEST is scored by its distance, in the learned space and
in the Euclidean baseline (scaled as the bundle was fitted), and the two ROC curves are
summarized side by side: ROC AUC, EER and TAR at each FAR, with 95% bootstrap intervals
(:mod:`metricli.verification`). --pairs reads labelled pairs (row numbers or --id values,
then 1 same / -1 different), streamed; --group scores every pair of TEST's rows, genuine
within an identity and impostor across, exactly and in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metricli import verification
from metricli.api import euclidean_space
from metricli.cli.calibrate import scored_pairs
from metricli.cli.common import note, out, settings
from metricli.cli.pairs import learned_space
from metricli.io.bundle import Bundle
from metricli.io.tables import display_name


def evaluate_pairs(
    bundle: Bundle,
    test: str,
    pairs: str | None,
    group: str | None,
    far_targets: Sequence[float] | None,
    n_bootstrap: int,
    seed: int,
    selection: dict[str, Any],
    fmt: str | None,
    batch_rows: int,
    curves: bool = False,
) -> dict[str, Any]:
    """The verification figures of ``bundle`` on the pairs of ``test``, learned beside Euclidean
    (with ``curves``, also each side's ROC vertices, thinned for plotting)."""
    spaces = {
        "learned": learned_space(bundle),
        "euclidean": euclidean_space(bundle, len(bundle.feature_names)),
    }
    what, counts = scored_pairs(bundle, test, pairs, group, spaces, fmt, selection, batch_rows)
    learned = counts["learned"]
    if far_targets:  # asked for: each must be measurable on these pairs
        for target in far_targets:
            verification.require_measurable(learned, target)
    else:
        far_targets = [t for t in verification.DEFAULT_FAR_TARGETS if verification.measurable(learned, t)]
        skipped = [t for t in verification.DEFAULT_FAR_TARGETS if t not in far_targets]
        if skipped:
            note(
                f"{what}: TAR at FAR {', '.join(f'{t:g}' for t in skipped)} left out: "
                f"{learned.n_impostor} impostor pairs measure a FAR down to "
                f"{1 / learned.n_impostor:.2g} (FAR {skipped[-1]:g} needs "
                f"{verification.minimum_impostors(skipped[-1])})"
            )
    result = {
        "mode": "verification",
        "bundle": str(bundle.path),
        "algorithm": bundle.algorithm,
        "test": display_name(test),
        "pairs": what,
        "group": group,
        "far_targets": list(far_targets),
        "bootstrap": n_bootstrap,
        "seed": seed,
        "level": 0.95,
        **{side: verification.summarize(c, far_targets, n_bootstrap, seed) for side, c in counts.items()},
    }
    if curves:
        result["curves"] = {side: verification.curve(c) for side, c in counts.items()}
    return result


def render(result: dict[str, Any]) -> None:
    """The figures as a table: learned beside Euclidean, each with its interval."""
    from rich.table import Table

    learned, euclidean = result["learned"], result["euclidean"]
    out.print(
        f"metricli evaluate {result['bundle']} ({result['algorithm']}): verification on {result['pairs']}, "
        f"{learned['n_genuine']:,} genuine and {learned['n_impostor']:,} impostor pairs",
        markup=False,
        highlight=False,
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("figure")
    table.add_column("learned", justify="right")
    table.add_column("euclidean", justify="right")
    rows = [("auc", "ROC AUC"), ("eer", "EER")] + [
        (verification.far_key(t), f"TAR at FAR {t:g}") for t in result["far_targets"]
    ]
    for key, name in rows:
        table.add_row(name, _cell(learned[key]), _cell(euclidean[key]))
    out.print(table)
    if result["bootstrap"] and not settings.quiet:
        note(
            f"intervals: 95% percentile bootstrap over {result['bootstrap']} resamples of the pairs "
            "(genuine and impostor resampled apart; pairs sharing a point are treated as independent)"
        )


def _cell(entry: dict[str, Any]) -> str:
    value, interval = entry["value"], entry["interval"]
    if value is None:
        return "-"
    if interval is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"
