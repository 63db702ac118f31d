"""Print the compact benchmark table the main README shows, from results/<name>.json.

    python benchmarks/readme_table.py [full]

One row per (learner, data set, peer): accuracy (RMSE for MLKR) of metricli and of the
peer, the mean fit time of each and the speed-up; failures of either side as failures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SHORT = {
    "metric-learn": "ml",
    "scikit-learn NeighborhoodComponentsAnalysis": "sklearn NCA",
}


def _time(record: dict | None) -> str:
    if not record or record.get("status") != "ok" or record.get("fit_wall_s") is None:
        return "—"
    s = record["fit_wall_s"]
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def _score(record: dict | None) -> str:
    if record is None:
        return "—"
    if record.get("status") != "ok":
        return {"timeout": "timeout", "oom": "out of memory", "skipped": "skipped"}.get(
            record["status"], "failed"
        )
    return f"{record['score']:.3f}" if record.get("metric") == "accuracy" else f"{record['score']:.1f}"


def _peer_name(record: dict) -> str:
    name = f"{record.get('library', '')} {record.get('class', '')}".strip()
    for long, short in SHORT.items():
        name = name.replace(long, short)
    return name


def main(name: str = "full") -> None:
    data = json.loads((RESULTS / f"{name}.json").read_text())
    records = data["records"]
    by_key = {(r["learner"], r["dataset"], r["side"], r["subject"]): r for r in records}
    learners, datasets = [], []
    for r in records:
        if r["side"] != "baseline":
            learners += [r["learner"]] if r["learner"] not in learners else []
            datasets += [r["dataset"]] if r["dataset"] not in datasets else []
    present = {(r["learner"], r["dataset"]) for r in records if r["side"] != "baseline"}
    order = [(ln, ds) for ln in learners for ds in datasets if (ln, ds) in present]
    print(
        "| learner | data | Euclidean | metricli | peer | peer score | metricli fit | peer fit | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for learner, dataset in order:
        ours = next(
            (
                r
                for (ln, ds, side, _), r in by_key.items()
                if (ln, ds, side) == (learner, dataset, "metricli")
            ),
            None,
        )
        base = next((r for r in records if r["dataset"] == dataset and r["side"] == "baseline"), None)
        peers = [
            r for (ln, ds, side, _), r in by_key.items() if (ln, ds, side) == (learner, dataset, "peer")
        ] or [None]
        for peer in peers:
            speed = "—"
            if peer and ours and ours.get("status") == "ok" and peer.get("status") == "ok":
                speed = f"{peer['fit_wall_s'] / ours['fit_wall_s']:.1f}×"
            print(
                f"| {learner} | {dataset} | {_score(base)} | {_score(ours)} | "
                f"{_peer_name(peer) if peer else 'none'} | {_score(peer)} | {_time(ours)} | {_time(peer)} | {speed} |"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
