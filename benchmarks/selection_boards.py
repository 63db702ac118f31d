"""Every candidate's inner and outer cross-validation, stored once, so pick rules can be compared offline.

For one data set (seed 0, 5 outer folds, those of ``benchmarks.auto_selection``):

- ``outer``: every candidate (both baselines, every applicable learner at its defaults and every
  variant of :func:`metricli.selection.parameter_grid`) cross-validated on the outer folds: the
  score of each candidate on each outer held-out part, which is what fit auto's nested score is
  when it picks that candidate on that part;
- ``inner``: on each outer training part, the same candidates cross-validated on 5 inner folds
  for each inner seed 0..R-1 (no budget): per candidate its fold scores and its held-out value
  of every row (1/0 right or wrong, or the squared error), from which any pick rule's choice
  can be recomputed.

Written as JSON under ``--into`` (default ``benchmarks/.data/boards``, git-ignored). Then
``--score`` replays fit auto's choice from the stored boards for each number of inner runs R of
``--runs``, exactly as :func:`metricli.selection.choose` makes it without a budget: every
learner at its defaults on run 1, the grid of the two best tunable ones, all of them on runs
1..R, compared with the better baseline run by run (:func:`metricli.selection.merge_repeats`,
:func:`metricli.selection.leaderboard`) and picked by :func:`metricli.selection.pick`; the
choice's outer score is then read from the outer board. Run from the repository root::

    python -m benchmarks.selection_boards iris wine fgl crabs diabetes breast_cancer --outer-seeds 0 1 2
    python -m benchmarks.selection_boards iris wine fgl crabs diabetes breast_cancer --outer-seeds 0 1 2 \
        --score --runs 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.auto_selection import dataset
from benchmarks.datasets import REPO
from metricli.evaluation import kfold, stratified_folds
from metricli.learners import LEARNERS
from metricli.selection import (
    Candidate,
    Outcome,
    _variant,
    default_candidates,
    leaderboard,
    merge_repeats,
    parameter_grid,
    pick,
    run_candidates,
    task_of,
)


def universe(task: str, d: int, n_classes: int):
    """Baselines, every learner at its defaults, and every grid variant."""
    base = default_candidates(task)
    variants = [
        _variant(c.learner, params)
        for c in base
        if c.learner is not None
        for params in parameter_grid(c.learner, d, n_classes)
    ]
    return base + variants


def outer_splits(labels, target, n: int, n_splits: int = 5, seed: int = 0):
    if labels is not None:
        folds = stratified_folds(labels.astype(str), n_splits, seed)
    else:
        folds = kfold(n, n_splits, seed)
    out = []
    for test in folds:
        is_train = np.ones(n, dtype=bool)
        is_train[test] = False
        out.append((np.flatnonzero(is_train), test))
    return out


def record(outcomes) -> dict:
    rows = {}
    for o in outcomes:
        if o.skipped is not None:
            rows[o.candidate.name] = {"skipped": o.skipped}
            continue
        rows[o.candidate.name] = {
            **o.candidate.describe(),
            "scores": o.scores,
            "n_train": o.n_train,
            "n_test": o.n_test,
            "fit_seconds": o.fit_seconds,
            "estimate_seconds": o.estimate_seconds,
            "row_values": [None if not np.isfinite(v) else float(v) for v in o.row_values],
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", nargs="+")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--outer-seeds", type=int, nargs="+", default=[0], help="seeds of the outer folds")
    parser.add_argument("--into", default=str(REPO / "benchmarks" / ".data" / "boards"))
    parser.add_argument("--score", action="store_true", help="replay fit auto's choice from stored boards")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4], help="inner runs R to replay")
    args = parser.parse_args()
    if args.score:
        score(args)
        return
    into = Path(args.into)
    into.mkdir(parents=True, exist_ok=True)
    for name in args.data:
        X, labels, target = dataset(name)
        task = task_of(labels, target)
        n_classes = 0 if labels is None else len(set(labels))
        cands = universe(task, X.shape[1], n_classes)
        path = into / f"{name}.json"
        store = json.loads(path.read_text()) if path.exists() else {"data": name, "task": task, "inner": {}}
        start = time.process_time()
        wall = time.perf_counter()
        for outer_seed in args.outer_seeds:
            # outer seed 0 under the plain keys, others prefixed: "outer", "f:r"; "outer@1", "1/f:r"
            tag = "" if outer_seed == 0 else f"@{outer_seed}"
            prefix = "" if outer_seed == 0 else f"{outer_seed}/"
            if "outer" + tag not in store:
                store["outer" + tag] = record(
                    run_candidates(cands, X, labels, target, n_splits=5, seed=outer_seed, k=3, budget=None)
                )
                path.write_text(json.dumps(store))
            splits = outer_splits(labels, target, X.shape[0], seed=outer_seed)
            for r in range(args.repeats):  # seed by seed, so that a stopped run leaves whole repeats
                for f, (train, _) in enumerate(splits):
                    key = f"{prefix}{f}:{r}"
                    if key in store["inner"]:
                        continue
                    store["inner"][key] = record(
                        run_candidates(
                            cands,
                            X[train],
                            None if labels is None else labels[train],
                            None if target is None else target[train],
                            n_splits=5,
                            seed=r,
                            k=3,
                            budget=None,
                        )
                    )
                    path.write_text(json.dumps(store))
                    print(
                        f"{name} outer seed {outer_seed} part {f} inner seed {r}: "
                        f"{time.perf_counter() - wall:.0f} s wall, "
                        f"{time.process_time() - start:.0f} s CPU, load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )


def outcome(row: dict) -> Outcome:
    """An Outcome rebuilt from a stored record."""
    cls = LEARNERS.get(row["algorithm"])
    candidate = Candidate(row["name"], cls, dict(row["params"]), row["standardize"])
    if row["baseline"]:
        candidate = Candidate(row["name"], None, {}, row["standardize"])
    return Outcome(
        candidate,
        scores=row["scores"],
        fit_seconds=row["fit_seconds"],
        n_train=row["n_train"],
        n_test=row["n_test"],
        estimate_seconds=row["estimate_seconds"],
        row_values=[np.array([np.nan if v is None else v for v in row["row_values"]])],
    )


def replay(store: dict, key: str, runs: int) -> str:
    """fit auto's choice on one outer part from its stored inner boards (key: "f" or "o/f")."""
    task = store["task"]
    boards = [store["inner"][f"{key}:{r}"] for r in range(runs)]
    first = boards[0]
    names = [n for n, row in first.items() if "skipped" not in row]
    defaults = [n for n in names if not first[n]["params"]]
    board = leaderboard([outcome(first[n]) for n in defaults], task)
    tunable = [
        r
        for r in board["rows"]
        if not r["baseline"]
        and any(first[n]["algorithm"] == r["algorithm"] and first[n]["params"] for n in names)
    ]
    tunable.sort(key=lambda r: -r["gain"]["mean"])
    finalists = {r["algorithm"] for r in tunable[:2]}
    pool = defaults + [n for n in names if first[n]["params"] and first[n]["algorithm"] in finalists]
    pool = [n for n in pool if all(n in b and "skipped" not in b[n] for b in boards)]
    merged = merge_repeats([[outcome(b[n]) for n in pool] for b in boards])
    board = leaderboard(merged, task)
    chosen = pick(board["rows"], task)
    return chosen["name"] if chosen else board["best_baseline"]


def score(args: argparse.Namespace) -> None:
    """Within half a point of the best single learner, not below Euclidean, per set and outer seed."""
    into = Path(args.into)
    for runs in args.runs:
        within = below = count = 0
        gaps, cells = [], []
        for name in args.data:
            store = json.loads((into / f"{name}.json").read_text())
            sign = 1.0 if store["task"] == "classification" else -1.0
            for outer_seed in args.outer_seeds:
                outer = store.get("outer" if outer_seed == 0 else f"outer@{outer_seed}")
                prefix = "" if outer_seed == 0 else f"{outer_seed}/"
                if outer is None or any(
                    f"{prefix}{f}:{r}" not in store["inner"] for f in range(5) for r in range(runs)
                ):
                    continue
                auto = np.mean([outer[replay(store, f"{prefix}{f}", runs)]["scores"][f] for f in range(5)])
                learners = [
                    np.mean(r["scores"])
                    for r in outer.values()
                    if "scores" in r and not r["baseline"] and not r["params"]
                ]
                best = max(learners, key=lambda v: sign * v)
                euclidean = np.mean(outer["euclidean"]["scores"])
                point = 0.01 if sign > 0 else 0.01 * euclidean
                gap, over = sign * (auto - best) / point, sign * (auto - euclidean) / point
                count += 1
                within += gap >= -0.5 - 1e-9
                below += over < -0.5 - 1e-9
                gaps.append(gap)
                cells.append(f"{name}/{outer_seed} {gap:+.1f}")
        print(
            f"R={runs}: within 0.5 points of the best single learner on {within} of {count}; below "
            f"Euclidean - 0.5 on {below}; mean gap {np.mean(gaps):+.2f} points | " + ", ".join(cells)
        )


if __name__ == "__main__":
    main()
