"""Results files: merge a run into ``results/<name>.json`` and render ``results/<name>.md``.

The JSON holds every run (date, command, machine, versions, settings) and one record
per (learner, data set, subject); rerunning a subset replaces just those records, so
the lead can rerun one row after merging a learner and keep the rest of the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks.datasets import REAL, SCALING

METRICLI = "metricli"
EUCLIDEAN = "euclidean"


def record_key(record: dict) -> tuple[str, str, str]:
    return (record["learner"], record["dataset"], record["subject"])


def load(path: Path, fresh: bool) -> dict:
    """The results so far (empty with ``fresh`` or when there are none)."""
    if path.exists() and not fresh:
        return json.loads(path.read_text())
    return {"runs": [], "records": []}


def next_run_id(previous: dict) -> str:
    taken = {r["id"] for r in previous["runs"]}
    number = 1
    while f"r{number}" in taken:
        number += 1
    return f"r{number}"


def merge(previous: dict, run: dict, records: list[dict]) -> dict:
    """``previous`` plus ``run`` and its records, which replace records with the same key.

    Runs none of whose records survive are dropped.
    """
    new_keys = {record_key(r) for r in records}
    kept = [r for r in previous["records"] if record_key(r) not in new_keys]
    merged_records = kept + [{**r, "run": run["id"]} for r in records]
    used = {r["run"] for r in merged_records}
    runs = [r for r in previous["runs"] if r["id"] in used] + [run]
    return {"runs": runs, "records": merged_records}


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- Markdown ----------------------------------------------------------------------------------


class Notes:
    """Numbered footnotes; the same text gets the same number."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"[{self.texts.index(text) + 1}]"


STATUS_WORD = {
    "failed": "failed",
    "timeout": "timeout",
    "oom": "out of memory",
    "crashed": "crashed",
    "skipped": "skipped",
}


def _score(record: dict | None, notes: Notes, digits: int) -> str:
    if record is None:
        return "—"
    if record["status"] == "missing":
        return "not in metricli yet"
    if record["status"] != "ok":
        word = STATUS_WORD.get(record["status"], record["status"])
        note = notes.ref(f"{record['subject']}: {record['reason']}")
        return f"{word} {note}"
    text = f"{record['score']:.{digits}f}"
    extra = []
    if record.get("warnings"):
        extra.append("warnings: " + "; ".join(record["warnings"]))
    if record.get("ignored_params"):
        extra.append(
            "parameters the metricli class does not accept (dropped): " + ", ".join(record["ignored_params"])
        )
    if extra:
        text += " " + notes.ref(f"{record['subject']}: " + " / ".join(extra))
    return text


def _seconds(record: dict | None) -> str:
    if record is None or record["status"] != "ok":
        return "—"
    s = record["fit_wall_s"]
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s" if s < 1000 else f"{s:.0f} s"


def _memory(record: dict | None) -> str:
    if record is None or record["status"] != "ok":
        return "—"
    return f"{record['peak_rss_mb']:.0f} (+{record['fit_rss_mb']:.1f})"


def _speedup(ours: dict | None, peer: dict | None, notes: Notes) -> str:
    if not ours or not peer or ours["status"] != "ok" or peer["status"] != "ok":
        return "—"
    if ours["fit_wall_s"] <= 0:
        return "—"
    ratio = peer["fit_wall_s"] / ours["fit_wall_s"]
    text = f"{ratio:.2f}×" if ratio < 1 else f"{ratio:.1f}×" if ratio < 100 else f"{ratio:.0f}×"
    if ours.get("run") != peer.get("run"):
        text += " " + notes.ref(
            "metricli and the peer were timed in different runs: the ratio mixes machine loads"
        )
    return text


def _table(
    records: list[dict], datasets: list[str], notes: Notes, digits: int, lower_is_better: bool
) -> list[str]:
    by_key = {record_key(r): r for r in records}
    learners = []
    for r in records:
        if r["learner"] != EUCLIDEAN and r["learner"] not in learners:
            learners.append(r["learner"])
    score_name = "RMSE" if lower_is_better else "accuracy"
    lines = [
        f"| learner | data set | Euclidean {score_name} | metricli {score_name} | peer | peer {score_name} "
        "| metricli fit time | peer fit time | speed-up (peer time ÷ metricli time) | metricli peak MB (+fit) "
        "| peer peak MB (+fit) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for learner in learners:
        for dataset in datasets:
            ours = by_key.get((learner, dataset, METRICLI))
            peers = [
                r
                for r in records
                if r["learner"] == learner and r["dataset"] == dataset and r["side"] == "peer"
            ]
            if ours is None and not peers:
                continue
            base = _score(by_key.get((EUCLIDEAN, dataset, EUCLIDEAN)), notes, digits)
            if not peers:
                no_peer = ours.get("no_peer", "") if ours else ""
                peers = [None]
            for peer in peers:
                peer_name = peer["subject"] if peer else f"— ({no_peer or 'no peer'})"
                lines.append(
                    f"| {learner} | {dataset} | {base} | {_score(ours, notes, digits)} | {peer_name} "
                    f"| {_score(peer, notes, digits)} | {_seconds(ours)} | {_seconds(peer)} "
                    f"| {_speedup(ours, peer, notes)} | {_memory(ours)} | {_memory(peer)} |"
                )
    return lines


def _protocols(records: list[dict]) -> str:
    found = sorted({r["protocol"] for r in records if r.get("protocol")})
    return "; ".join(found) if found else "?"


def _describe_run(run: dict) -> list[str]:
    m, s = run["machine"], run["settings"]
    ours, peer = run["versions"].get("metricli", {}), run["versions"].get("peer", {})
    peer_text = ", ".join(f"{k} {v}" for k, v in peer.items()) if peer else "not run"
    return [
        f"- **{run['id']}** {run['date']} — `{run['command']}`",
        f"  - machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']:.1f} GB RAM, {m['platform']}; "
        f"load average {m['load_start']} at start, {m.get('load_end', '?')} at end",
        f"  - metricli {ours.get('metricli', '?')} (git {ours.get('git', '?')}), numpy {ours.get('numpy', '?')}, "
        f"Python {ours.get('python', '?')}; peers: {peer_text}",
        "  - data: " + ", ".join(f"{k} ({v})" for k, v in run.get("data", {}).items()),
        f"  - {s['threads_text']}; per-fit timeout {s['timeout']:g} s; address space limit "
        f"{s['memory_limit_gb']:g} GB per process; seed {s['seed']}; wall time of the run {run.get('elapsed_s', 0):.0f} s",
    ]


#: a 1-minute load average up to this (the harness itself keeps one core busy) counts as quiet
QUIET_LOAD = 1.5


def _timing_caveat(runs: list[dict]) -> str:
    """Whether the runs had the machine to themselves, judged by their recorded load averages."""
    loads = [
        float(m[key].split()[0])
        for m in (run["machine"] for run in runs)
        for key in ("load_start", "load_end")
        if key in m
    ]
    if loads and max(loads) <= QUIET_LOAD:
        return (
            f"Every run had the machine to itself (1-minute load average at most {max(loads):.2f}, the "
            "harness's own process included)."
        )
    return (
        "**Timings are indicative**: some runs shared the CPU cores with other jobs (load averages "
        "below); rerun on a quiet machine before quoting speed-ups."
    )


def render(results: dict, title: str) -> str:
    records, runs = results["records"], results["runs"]
    notes = Notes()
    out = [f"# {title}", ""]
    out += [
        "Made by `benchmarks/run.py` (see `benchmarks/README.md`). Both sides are fitted in fresh "
        "processes on the same standardized folds and scored by the same code; only the learner differs. "
        + _timing_caveat(runs),
        "",
        "## Runs",
        "",
    ]
    for run in runs:
        out += _describe_run(run)
    out += [
        "",
        "Columns: accuracy / RMSE is the mean over the folds of kNN (k = 3, majority vote) in the learned "
        "space, the Euclidean column is the same kNN on the standardized features; fit time is the mean "
        "over the folds of the wall-clock time of one `fit` (no data loading, no transform; fits under "
        "50 ms: the median of repeated fits); peak MB is the worker process's "
        "peak resident set size during a fit (Linux VmHWM, reset before each fit; imports and data "
        "included, largest over the folds) and (+fit) how much the fit added above the resident size "
        "just before it; speed-up > 1 means metricli is faster.",
        "",
    ]
    sections = [
        ("Classification", [d for d in REAL if REAL[d] == "classification"], 3, False),
        (
            "Regression (MLKR; RMSE of the predicted target, lower is better)",
            [d for d in REAL if REAL[d] == "regression"],
            1,
            True,
        ),
        (
            "Scaling series (Gaussian mixture, 10 classes, 32 features, nested samples)",
            list(SCALING),
            3,
            False,
        ),
    ]
    for heading, datasets, digits, lower in sections:
        chosen = [r for r in records if r["dataset"] in datasets]
        if not [r for r in chosen if r["learner"] != EUCLIDEAN]:
            continue
        out += [f"## {heading}", "", f"Protocol: {_protocols(chosen)}.", ""]
        out += _table(chosen, datasets, notes, digits, lower)
        out.append("")
    if len(runs) > 1:
        out += ["Rows come from several runs; each record's run id is in the JSON next to this file.", ""]
    if notes.texts:
        out += ["## Notes", ""]
        out += [f"{i}. {text}" for i, text in enumerate(notes.texts, 1)]
        out.append("")
    return "\n".join(out)
