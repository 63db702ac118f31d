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

Written as a compressed ``.npz``-free pickle-free JSON under ``--into`` (default
``benchmarks/.data/boards``, git-ignored). Run from the repository root::

    python -m benchmarks.selection_boards iris wine --repeats 4
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
from metricli.selection import (
    _variant,
    default_candidates,
    parameter_grid,
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
