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
choice's outer score is then read from the outer board. The issue's criterion is judged per
outer seed and on the outer seeds averaged (repeated outer cross-validation, :func:`score`).
``--rules`` replays other pick rules on the same boards (:func:`rule_choice`); ``--noise N``
instead counts how often each rule chooses a learner on N pure-noise sets (:func:`noise`).
Run from the repository root::

    python -m benchmarks.selection_boards iris wine fgl crabs diabetes breast_cancer --outer-seeds 0 1 2
    python -m benchmarks.selection_boards iris wine fgl crabs diabetes breast_cancer --outer-seeds 0 1 2 \
        --score --runs 1 2 4 --rules noninferior:0.975 fit-auto argmax
    python -m benchmarks.selection_boards --noise 20 --runs 1 2 4 --rules noninferior:0.975 fit-auto argmax
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
    NONINFERIORITY_LEVEL,
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
            "row_values": [None if not np.isfinite(v) else float(v) for v in o.row_values[0]],
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", nargs="*")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--outer-seeds", type=int, nargs="+", default=[0], help="seeds of the outer folds")
    parser.add_argument("--into", default=str(REPO / "benchmarks" / ".data" / "boards"))
    parser.add_argument("--score", action="store_true", help="replay fit auto's choice from stored boards")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4], help="inner runs R to replay")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=["fit-auto"],
        help="fit-auto, noninferior:LEVEL or argmax (see rule_choice)",
    )
    parser.add_argument(
        "--min-runs",
        type=int,
        default=1,
        help="score a set and outer seed only with at least this many inner runs",
    )
    parser.add_argument(
        "--noise",
        type=int,
        default=0,
        help="instead: how often each rule picks a learner on N pure-noise sets",
    )
    parser.add_argument("--noise-rows", type=int, default=120)
    parser.add_argument("--noise-folds", type=int, default=3)
    args = parser.parse_args()
    if args.noise:
        noise(args)
        return
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


def rule_choice(rows: list[dict], task: str, rule: str) -> dict | None:
    """The learner row ``rule`` chooses from a leaderboard's rows, or None for the better baseline.

    ``fit-auto``: :func:`metricli.selection.pick` (its one-sided bound at
    :data:`metricli.selection.NONINFERIORITY_LEVEL`); ``noninferior:LEVEL``: the same rule with the
    one-sided bound at LEVEL (the rows must have been built at that level, see :func:`replay`;
    0.975 is the lower end of a two-sided 95% interval); ``argmax``: the largest gain, if positive.
    """
    if rule == "argmax":
        ok = [r for r in rows if not r["baseline"] and r["gain"]["mean"] > 0]
        return (
            min(ok, key=lambda r: (-r["gain"]["mean"], r.get("estimate_seconds", 0.0), r["name"]))
            if ok
            else None
        )
    return pick(rows, task)


def rule_level(rule: str) -> float:
    """The one-sided level of the lower bound ``rule`` reads."""
    name, _, value = rule.partition(":")
    if name == "noninferior" and value:
        return float(value)
    if rule in ("fit-auto", "argmax"):
        return NONINFERIORITY_LEVEL
    raise SystemExit(f"unknown rule {rule!r}: fit-auto, noninferior:LEVEL or argmax")


def replay(store: dict, key: str, runs: int, rule: str = "fit-auto") -> str:
    """fit auto's choice on one outer part from its stored inner boards (key: "f" or "o/f")."""
    task = store["task"]
    boards = [store["inner"][f"{key}:{r}"] for r in range(runs)]
    first = boards[0]
    names = [n for n, row in first.items() if "skipped" not in row]
    # cheapest first, as choose orders them: equal gains on run 1 send the cheaper learner to round 2
    defaults = sorted(
        (n for n in names if not first[n]["params"]),
        key=lambda n: (not first[n]["baseline"], first[n]["estimate_seconds"]),
    )
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
    board = leaderboard(merged, task, bound_level=rule_level(rule))
    chosen = rule_choice(board["rows"], task, rule)
    return chosen["name"] if chosen else board["best_baseline"]


def complete(store: dict, outer_seed: int, runs: int) -> int:
    """How many of ``runs`` inner runs every outer part of ``outer_seed`` has stored (0: no outer board)."""
    if store.get("outer" if outer_seed == 0 else f"outer@{outer_seed}") is None:
        return 0
    prefix = "" if outer_seed == 0 else f"{outer_seed}/"
    stored = 0
    while stored < runs and all(f"{prefix}{f}:{stored}" in store["inner"] for f in range(5)):
        stored += 1
    return stored


def score(args: argparse.Namespace) -> None:
    """The issue's criterion per set and outer seed, and per set over the outer seeds averaged.

    Per outer seed: fit auto's nested score (its choice on each outer part, scored on that part's
    held-out rows) against the best single learner at its defaults and Euclidean on the same
    outer folds. Averaged (repeated outer cross-validation): each candidate's outer score is
    averaged over the outer seeds first, the best single learner is the best of those means,
    fit auto's score is the mean of its nested scores. A set is scored with as many inner runs
    as every one of its outer parts has stored, up to R (``--min-runs`` skips those with fewer).
    """
    into = Path(args.into)
    stores = {name: json.loads((into / f"{name}.json").read_text()) for name in args.data}
    for rule in args.rules:
        for runs in args.runs:
            within = below = count = 0
            cells, averaged = [], []
            set_within = set_below = 0
            for name, store in stores.items():
                sign = 1.0 if store["task"] == "classification" else -1.0
                autos, outers = [], []
                for outer_seed in args.outer_seeds:
                    stored = complete(store, outer_seed, runs)
                    if stored < min(runs, args.min_runs):
                        continue
                    outer = store["outer" if outer_seed == 0 else f"outer@{outer_seed}"]
                    prefix = "" if outer_seed == 0 else f"{outer_seed}/"
                    auto = float(
                        np.mean(
                            [
                                outer[replay(store, f"{prefix}{f}", stored, rule)]["scores"][f]
                                for f in range(5)
                            ]
                        )
                    )
                    gap, over = criterion(auto, outer_means([outer]), sign)
                    count += 1
                    within += gap >= -0.5 - 1e-9
                    below += over < -0.5 - 1e-9
                    cells.append(
                        f"{name}/{outer_seed} {gap:+.1f}" + ("" if stored == runs else f" (R={stored})")
                    )
                    autos.append(auto)
                    outers.append(outer)
                if not autos:
                    continue
                gap, over = criterion(float(np.mean(autos)), outer_means(outers), sign)
                set_within += gap >= -0.5 - 1e-9
                set_below += over < -0.5 - 1e-9
                averaged.append(f"{name} {gap:+.2f} ({len(autos)} seeds; {over:+.1f} over Euclidean)")
            print(
                f"{rule} R={runs}, per outer seed: within 0.5 points of the best single learner on {within} of "
                f"{count}; below Euclidean - 0.5 on {below} | " + ", ".join(cells)
            )
            print(
                f"{rule} R={runs}, outer seeds averaged: within on {set_within} of {len(averaged)} sets; below "
                f"Euclidean - 0.5 on {set_below} | " + ", ".join(averaged),
                flush=True,
            )


def outer_means(outers: list[dict]) -> tuple[dict[str, float], list[str]]:
    """Each candidate's outer score averaged over the outer folds, then over the outer seeds; and
    the names of the single learners (every learner at its defaults)."""
    names = [n for n in outers[0] if all("scores" in o.get(n, {}) for o in outers)]
    means = {n: float(np.mean([np.mean(o[n]["scores"]) for o in outers])) for n in names}
    return means, [n for n in names if not outers[0][n]["baseline"] and not outers[0][n]["params"]]


def criterion(auto: float, outer: tuple[dict[str, float], list[str]], sign: float) -> tuple[float, float]:
    """fit auto's gap to the best single learner and its gain over Euclidean, in points."""
    means, learners = outer
    best = max((means[n] for n in learners), key=lambda v: sign * v)
    euclidean = means["euclidean"]
    point = 0.01 if sign > 0 else 0.01 * euclidean
    return sign * (auto - best) / point, sign * (auto - euclidean) / point


def pure_noise(seed: int, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """The pure-noise features of tests/test_selection.py: 5 features of different scales, 3 random labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * rng.uniform(0.5, 5, size=5)
    return X, rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)


def noise(args: argparse.Namespace) -> None:
    """How often each rule chooses a learner on pure noise: fit auto's choice on each of ``--noise`` sets.

    Boards as for a data set's outer part (every candidate, inner seeds 0..R-1), on all rows of
    each pure-noise set with ``--noise-folds`` folds (3, as the test), stored in
    noise-ROWSxFOLDS.json under ``--into``.
    """
    into = Path(args.into)
    into.mkdir(parents=True, exist_ok=True)
    path = into / f"noise-{args.noise_rows}x{args.noise_folds}.json"
    store = json.loads(path.read_text()) if path.exists() else {"task": "classification", "inner": {}}
    for seed in range(args.noise):
        X, labels = pure_noise(seed, args.noise_rows)
        cands = universe("classification", X.shape[1], 3)
        for r in range(max(args.runs)):
            key = f"{seed}:{r}"
            if key not in store["inner"]:
                store["inner"][key] = record(
                    run_candidates(
                        cands, X, labels, None, n_splits=args.noise_folds, seed=r, k=3, budget=None
                    )
                )
                path.write_text(json.dumps(store))
    for rule in args.rules:
        counts = []
        for runs in args.runs:
            chosen = [replay(store, str(seed), runs, rule) for seed in range(args.noise)]
            learners = sum(c not in ("euclidean", "standardized") for c in chosen)
            counts.append(f"R={runs}: {learners} of {args.noise}")
        print(
            f"{rule}: a learner chosen on pure noise ({args.noise_rows} rows, {args.noise_folds} folds) "
            + ", ".join(counts)
        )


if __name__ == "__main__":
    main()
