"""Human-readable reports of the metric axioms (``metricli check`` and repairs): Rich tables on stdout."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from metricli.cli.common import note, out
from metricli.cli.render import _MARK, _fmt


def _point(point: Any) -> str:
    if isinstance(point, dict):
        return "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in point.items()) + ")"
    return "(" + ", ".join(_fmt(v) for v in point) + ")"


_AXIOM_NAMES = {
    "non_negativity": "non-negativity",
    "zero_self_distance": "zero self-distance",
    "symmetry": "symmetry",
    "identity_of_indiscernibles": "identity of indiscernibles",
    "triangle_inequality": "triangle inequality",
    "ultrametric": "ultrametric inequality",
}


def _verdict_line(source: str, verdict: str) -> None:
    colour = "green" if verdict == "metric" else "yellow" if verdict == "pseudometric" else "red"
    out.print(f"{source}: [bold {colour}]{verdict}[/bold {colour}]")


def _axiom_table() -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("axiom")
    table.add_column("holds")
    table.add_column("details")
    return table


def mahalanobis_report(source: str, report: dict[str, Any]) -> None:
    _verdict_line(source, report["verdict"])
    table = _axiom_table()
    names = {key: _AXIOM_NAMES[key] for key in report["axioms"]}
    for key, label in names.items():
        axiom = report["axioms"][key]
        details = ""
        if key == "non_negativity":
            details = f"smallest eigenvalue {_fmt(axiom['min_eigenvalue'])}"
        elif key == "identity_of_indiscernibles":
            details = f"null space of dimension {axiom['null_dimension']}"
        elif key == "symmetry":
            details = (
                "M symmetric"
                if axiom["matrix_symmetric"]
                else f"M asymmetric by {_fmt(axiom['max_asymmetry'])}"
            )
        table.add_row(label, _MARK[bool(axiom["holds"])], details)
    out.print(table)
    cond = report["condition_number"]
    out.print(
        f"rank {report['rank']} of {report['n_features']}, condition number {_fmt(cond) if cond else 'infinite'}"
    )
    ind = report["axioms"]["identity_of_indiscernibles"]
    if "witness" in ind:
        w = ind["witness"]
        out.print(
            f"witness: x = {_point(w['x'])} and y = {_point(w['y'])} are distinct but d(x, y) = {w['distance']:.3g}"
        )
    neg = report["axioms"]["non_negativity"]
    if "witness" in neg:
        w = neg["witness"]
        out.print(
            f"witness: x = {_point(w['x'])}, y = {_point(w['y'])} give d(x, y)² = {w['squared_distance']:.6g} < 0"
        )
    for line in report.get("notes", []):  # notes go to stderr (silenced by --quiet), like every note
        note(line)


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _count(value: int | None, noun: str, plural: str | None = None) -> str:
    """'1 pair', '3 pairs', '1,000 points': a count with its noun in the right number."""
    return f"{_n(value)} {noun if value == 1 else plural or noun + 's'}"


def _quantiles(entry: dict[str, Any]) -> str:
    q = entry.get("quantiles")
    if not q:
        return ""
    sampled = (
        ""
        if entry.get("quantiles_from") == entry.get("violations", entry.get("pairs_violated"))
        else " (sampled)"
    )
    return f"; sizes: median {_fmt(q['p50'])}, 90% {_fmt(q['p90'])}, 99% {_fmt(q['p99'])}{sampled}"


def _distance_details(key: str, axiom: dict[str, Any]) -> str:
    if key == "non_negativity":
        if axiom["holds"]:
            return f"smallest off-diagonal entry {_fmt(axiom['min_off_diagonal'])}"
        return f"{_n(axiom['violations'])} of {_n(axiom['checked'])} entries negative, worst {_fmt(-axiom['worst'])}"
    if key == "zero_self_distance":
        if axiom["holds"]:
            return "every d(i, i) = 0"
        return f"{_n(axiom['violations'])} of {_n(axiom['checked'])} points, worst |d(i, i)| = {_fmt(axiom['worst'])}"
    if key == "symmetry":
        if axiom["holds"]:
            return (
                "exactly symmetric"
                if axiom["exactly_symmetric"]
                else f"within {_fmt(axiom['max_asymmetry'])}"
            )
        return (
            f"{_n(axiom['violations'])} of {_n(axiom['checked'])} pairs differ, worst by "
            f"{_fmt(axiom['worst'])}" + _quantiles(axiom)
        )
    if key == "identity_of_indiscernibles":
        if axiom["holds"]:
            return "no two distinct points at distance 0"
        return f"{_count(axiom['violations'], 'pair')} of distinct points at distance 0"
    # triangle or ultrametric
    if axiom["method"] == "sampled":
        low, high = axiom["rate_interval"]
        text = (
            f"{_n(axiom['triplets_violated'])} of {_n(axiom['triplets_sampled'])} sampled triplets violate; "
            f"rate {_fmt(axiom['violation_rate'])}, {axiom['confidence']:.0%} interval [{_fmt(low)}, {_fmt(high)}]"
        )
    elif axiom["holds"]:
        text = f"all {_n(axiom['triplets_checked'])} triplets" if axiom["complete"] else "no violation found"
    else:
        text = f"{_n(axiom['pairs_violated'])} of {_n(axiom['pairs_checked'])} pairs"
        if axiom["triplets_violated"] is not None:
            text += f" ({_n(axiom['triplets_violated'])} of {_n(axiom['triplets_checked'])} triplets)"
        elif not axiom["complete"]:
            text = "at least " + text
        text += f" violate, worst excess {_fmt(axiom['worst'])}" + _quantiles(axiom)
    factor = axiom.get("relaxation_factor")
    if factor and not axiom["holds"]:
        value = factor["value"] if factor["value"] is not None else factor["at_least"]
        text += f"; relaxation factor {'' if factor['value'] is not None else '>= '}{_fmt(value)}"
    return text


def _witness_line(key: str, w: dict[str, Any]) -> str:
    if key == "non_negativity":
        return f"d({w['i']}, {w['j']}) = {_fmt(w['d_ij'])} < 0"
    if key == "zero_self_distance":
        return f"d({w['i']}, {w['i']}) = {_fmt(w['d_ii'])} != 0"
    if key == "symmetry":
        return f"d({w['i']}, {w['j']}) = {_fmt(w['d_ij'])} but d({w['j']}, {w['i']}) = {_fmt(w['d_ji'])}"
    if key == "identity_of_indiscernibles":
        return f"{w['i']} and {w['j']} are distinct but d({w['i']}, {w['j']}) = {_fmt(w['d_ij'])}"
    i, j, k = w["i"], w["j"], w["k"]
    if key == "ultrametric":
        return (
            f"d({i}, {j}) = {_fmt(w['d_ij'])} > max(d({i}, {k}), d({k}, {j})) = "
            f"max({_fmt(w['d_ik'])}, {_fmt(w['d_kj'])})"
        )
    return (
        f"d({i}, {j}) = {_fmt(w['d_ij'])} > d({i}, {k}) + d({k}, {j}) = {_fmt(w['d_ik'])} + "
        f"{_fmt(w['d_kj'])} (excess {_fmt(w['excess'])})"
    )


def distance_report(source: str, report: dict[str, Any]) -> None:
    """The verdict, one row per axiom, then witnesses of each failed axiom."""
    _verdict_line(source, report["verdict"])
    table = _axiom_table()
    for key, axiom in report["axioms"].items():
        table.add_row(_AXIOM_NAMES[key], _MARK[bool(axiom["holds"])], _distance_details(key, axiom))
    out.print(table)
    out.print(f"{_count(report['n_points'], 'point')}, tolerance {_fmt(report['tolerance']['threshold'])}")
    embedding = report.get("euclidean_embedding")
    if embedding is not None:
        if embedding["embeddable"]:
            out.print(f"Euclidean embedding: yes, in {embedding['dimension']} dimensions")
        else:
            out.print(
                f"Euclidean embedding: no, {embedding['negative_eigenvalues']} negative eigenvalues of the "
                f"MDS matrix, the lowest {_fmt(embedding['min_eigenvalue'])} "
                f"({_fmt(100 * embedding['negative_fraction'])}% of the spectrum)"
            )
    for key, axiom in report["axioms"].items():
        for w in axiom.get("witnesses", []):
            out.print(f"witness ({_AXIOM_NAMES[key]}): {_witness_line(key, w)}", markup=False)
    if "repair" in report:
        repair_summary(report["repair"])
    for line in report.get("notes", []):  # notes go to stderr (silenced by --quiet), like every note
        note(line)


def repair_summary(repair: dict[str, Any]) -> None:
    if "pairs_lowered" in repair:
        if repair["unchanged"]:
            text = "unchanged (already a metric within the tolerance)"
        else:
            text = (
                f"lowered {_n(repair['pairs_lowered'])} of {_n(repair['pairs'])} pairs, largest decrease "
                f"{_fmt(repair['max_decrease'])}, relative change {_fmt(repair['relative_change'])}"
            )
            if repair["pairs_symmetrized"]:
                text += f", {_count(repair['pairs_symmetrized'], 'asymmetric pair')} set to the smaller value"
    elif repair["unchanged"]:
        text = "unchanged (already positive semi-definite)"
    else:
        text = (
            f"clipped {repair['eigenvalues_clipped']} negative eigenvalues (sum {_fmt(-repair['clipped_mass'])}), "
            f"Frobenius change {_fmt(repair['frobenius_change'])} ({_fmt(repair['relative_change'])} relative)"
        )
    out.print(f"repair written to {repair['output']}: {text}", markup=False)
