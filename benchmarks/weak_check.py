"""Side-by-side check of metricli's weakly supervised learners against metric-learn.

Protocol (issue 6): features standardized with the training fold's mean and standard
deviation; 5-fold stratified folds (metricli.evaluation.stratified_folds, seed 0);
kNN with k = 3 (metricli.evaluation.knn_classify) in the learned space, for both
libraries; each learner gets as many constraints, drawn from the training labels, as
metric-learn's *_Supervised class draws by default:

- ITML, MMC, SDML: 20·c² similar + 20·c² dissimilar pairs (c classes);
- LSML: 20·c² quadruplets;
- SCML: k-NN triplets (3 same-class x 10 other-class neighbours per point) on both
  sides: metricli's neighbors strategy builds the same set metric-learn's
  generate_knntriplets does.

Columns: kNN accuracy of metricli with its own constraints ("ours"), of metricli on
exactly the constraints metric-learn drew ("on ml", which compares the solvers alone),
of metric-learn ("ml"), and mean fit seconds of each.

Fit time is the mean over folds, constraint generation included on both sides, each
library warmed up by one untimed fit first; BLAS runs on one thread on both sides
(set OPENBLAS_NUM_THREADS etc. to change that).
metric-learn runs in its own interpreter (``--peer``), one dataset at a time, right
after metricli on the same folds. Timings on a shared machine are indicative.

    python benchmarks/weak_check.py                      # all learners, all data sets
    python benchmarks/weak_check.py --datasets iris --algorithms itml,mmc
    python benchmarks/weak_check.py --json weak.json
    python benchmarks/weak_check.py --repeats 5   # 5 constraint draws per fold: less sampling noise

This file is also the peer worker: ``python weak_check.py --worker JOB.json`` runs
under metric-learn's interpreter and writes L per fold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

# Small dense problems on a shared machine: a multithreaded BLAS spends its time spinning.
# One thread for both libraries (inherited by the peer process); override by exporting these.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]
DATA = next(
    (p for p in (_ROOT.parent / "shared" / "data", _ROOT.parents[1] / "shared" / "data") if p.is_dir()),
    _ROOT.parent / "shared" / "data",
)
DATASETS = ("iris", "wine", "breast_cancer", "digits")
ALGORITHMS = ("itml", "sdml", "mmc", "lsml", "scml")
PEER_PYTHON = os.environ.get("PEER_PYTHON", "python")
PEER_CLASSES = {
    "itml": "ITML_Supervised",
    "sdml": "SDML_Supervised",
    "mmc": "MMC_Supervised",
    "lsml": "LSML_Supervised",
    "scml": "SCML_Supervised",
}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path)
    return frame.iloc[:, :-1].to_numpy(dtype=float), frame.iloc[:, -1].astype(str).to_numpy()


def standardize(X: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    std[std == 0] = 1.0
    return (X[train] - mean) / std, (X[test] - mean) / std


# -- metric-learn side (runs in the peer interpreter) ---------------------------------------------


def worker(job_path: str) -> None:
    import metric_learn
    from metric_learn.constraints import Constraints

    job = json.loads(Path(job_path).read_text())
    X, y_text = load(Path(job["data"]))
    _, y = np.unique(y_text, return_inverse=True)
    results = {}
    for algorithm in job["algorithms"]:
        runs = []
        cls = getattr(metric_learn, PEER_CLASSES[algorithm])
        with warnings.catch_warnings():  # warm-up, untimed
            warnings.simplefilter("ignore")
            with contextlib.suppress(Exception):
                cls(random_state=0).fit(*_first_train(X, y, job["folds"]))
        for index in range(job["repeats"] * len(job["folds"])):
            repeat, fold = divmod(index, len(job["folds"]))
            seed = fold + 100 * repeat
            test = np.array(job["folds"][fold], dtype=int)
            train = np.setdiff1d(np.arange(len(y)), test)
            X_train, _ = standardize(X, train, test)
            # the constraints metric-learn draws inside fit, drawn again the same way
            if algorithm == "scml":
                drawn = Constraints(y[train]).generate_knntriplets(X_train, 3, 10).T
            else:
                n = 20 * len(np.unique(y[train])) ** 2
                drawn = Constraints(y[train]).positive_negative_pairs(
                    n, same_length=algorithm == "lsml", random_state=seed
                )
            run = {"constraints": [np.asarray(c).tolist() for c in drawn]}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    start = time.perf_counter()
                    model = cls(random_state=seed).fit(X_train, y[train])
                    run.update(L=model.components_.tolist(), seconds=time.perf_counter() - start)
                except Exception as exc:
                    run["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            runs.append(run)
        results[algorithm] = runs
    Path(job["output"]).write_text(json.dumps(results))


def _first_train(X: np.ndarray, y: np.ndarray, folds: list) -> tuple[np.ndarray, np.ndarray]:
    test = np.array(folds[0], dtype=int)
    train = np.setdiff1d(np.arange(len(y)), test)
    return standardize(X, train, test)[0], y[train]


# -- metricli side ----------------------------------------------------------------------------------

KINDS = {"itml": "pairs", "sdml": "pairs", "mmc": "pairs", "lsml": "quadruplets", "scml": "triplets"}


def count(algorithm: str, y_train: np.ndarray) -> int:
    """As many constraints as metric-learn's *_Supervised draws by default."""
    return (20 if algorithm == "lsml" else 40) * len(np.unique(y_train)) ** 2


def ours(algorithm: str, X_train: np.ndarray, y_train: np.ndarray, seed: int, given=None):
    """Fit metricli's learner on constraints drawn from y_train (or on ``given``); L and seconds."""
    from metricli import constraints
    from metricli.learners import get_learner

    start = time.perf_counter()
    if given is not None:
        drawn = given
    elif algorithm == "scml":  # k-NN triplets, 3 same-class x 10 other-class per point, as metric-learn
        drawn = constraints.from_labels("triplets", y_train, None, seed=seed, X=X_train, strategy="neighbors")
    else:
        drawn = constraints.from_labels(KINDS[algorithm], y_train, count(algorithm, y_train), seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = get_learner(algorithm)(random_state=seed).fit(X_train, drawn)
    return model.components_, time.perf_counter() - start


def as_constraints(algorithm: str, drawn: list):
    """metric-learn's drawn index arrays as metricli constraints."""
    from metricli.constraints import Pairs, Quadruplets, Triplets

    columns = [np.asarray(c, dtype=np.intp) for c in drawn]
    if algorithm == "scml":
        return Triplets(*columns)
    if algorithm == "lsml":
        return Quadruplets(*columns)
    a, b, c, d = columns
    return Pairs(np.r_[a, c], np.r_[b, d], np.r_[np.ones(len(a)), -np.ones(len(c))])


def mmc_objective(L: np.ndarray, X: np.ndarray, pairs) -> float:
    """Xing et al.'s g(A) at f(A) = 1: what MMC maximizes, for any L."""
    sq = np.sum(((X[pairs.a] - X[pairs.b]) @ L.T) ** 2, axis=1)
    return float(np.sum(np.sqrt(sq[~pairs.similar])) / np.sqrt(np.sum(sq[pairs.similar])))


def accuracy(L: np.ndarray, X_train, y_train, X_test, y_test) -> float:
    from metricli.evaluation import knn_classify

    predicted = knn_classify(X_train @ L.T, y_train, X_test @ L.T, k=3)
    return float(np.mean(predicted == y_test))


def run_peer(python: str, path: Path, folds: list, algorithms: list[str], repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        job = {
            "data": str(path),
            "folds": [f.tolist() for f in folds],
            "algorithms": algorithms,
            "repeats": repeats,
            "output": str(Path(tmp) / "out.json"),
        }
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        subprocess.run([python, __file__, "--worker", str(Path(tmp) / "job.json")], check=True)
        return json.loads(Path(job["output"]).read_text())


def compare(
    dataset: str, algorithm: str, y: np.ndarray, splits: list, runs: list | None, repeats: int
) -> dict:
    row: dict = {"dataset": dataset, "algorithm": algorithm}
    ours(algorithm, splits[0][2], y[splits[0][0]], 0)  # warm-up, untimed
    acc, secs = [], []
    # repeat r of fold f draws its constraints with seed f + 100 r, on both sides
    seeds = [fold + 100 * repeat for repeat in range(repeats) for fold in range(len(splits))]
    splits = splits * repeats
    for seed, (tr, te, Xtr, Xte) in zip(seeds, splits, strict=True):
        L, seconds = ours(algorithm, Xtr, y[tr], seed)
        acc.append(accuracy(L, Xtr, y[tr], Xte, y[te]))
        secs.append(seconds)
    row.update(ours=float(np.mean(acc)), ours_seconds=float(np.mean(secs)))
    if not runs:
        return row
    # metricli on exactly the constraints metric-learn drew: the solvers alone compared
    shared, objectives = [], []
    for seed, (tr, te, Xtr, Xte), run in zip(seeds, splits, runs, strict=True):
        given = as_constraints(algorithm, run["constraints"])
        L, _ = ours(algorithm, Xtr, y[tr], seed, given=given)
        shared.append(accuracy(L, Xtr, y[tr], Xte, y[te]))
        if algorithm == "mmc" and "L" in run:
            objectives.append((mmc_objective(L, Xtr, given), mmc_objective(np.array(run["L"]), Xtr, given)))
    row["ours_on_peer_constraints"] = float(np.mean(shared))
    if objectives:
        row["mmc_objective"] = {
            "ours": float(np.mean([o[0] for o in objectives])),
            "peer": float(np.mean([o[1] for o in objectives])),
        }
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        row["peer_error"] = errors[0]
        row["peer_failed_folds"] = len(errors) // repeats
        return row
    peer_L = [np.array(r["L"]) for r in runs]
    row["peer"] = float(
        np.mean(
            [
                accuracy(L, Xtr, y[tr], Xte, y[te])
                for L, (tr, te, Xtr, Xte) in zip(peer_L, splits, strict=True)
            ]
        )
    )
    row["peer_seconds"] = float(np.mean([r["seconds"] for r in runs]))
    # a metric proportional to the identity means the solver never left its starting point
    stuck = [
        np.allclose(
            L.T @ L,
            np.trace(L.T @ L) / L.shape[1] * np.eye(L.shape[1]),
            rtol=0,
            atol=1e-9 * np.trace(L.T @ L),
        )
        for L in peer_L
    ]
    if any(stuck):
        row["peer_stuck_at_init_folds"] = int(sum(stuck)) // repeats
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", default=str(DATA), help="folder with <dataset>.csv (label last)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--peer", default=PEER_PYTHON, help="python with metric-learn ('' to skip)")
    parser.add_argument(
        "--peer-skip",
        default="digits:itml,digits:mmc,digits:lsml,digits:scml",
        help="dataset:algorithm pairs not to run metric-learn on (default: digits except sdml, for time)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="constraint draws per fold (seeds fold + 100 r), both sides"
    )
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from metricli.evaluation import stratified_folds

    algorithms = [a for a in args.algorithms.split(",") if a]
    skip = {tuple(item.split(":")) for item in args.peer_skip.split(",") if item}
    rows = []
    print(f"{'data set':<14}{'learner':<10}{'ours':>7}{'(on ml':>8}{'ml':>7}{'ours s':>9}{'ml s':>9}  notes")
    for dataset in [d for d in args.datasets.split(",") if d]:
        path = Path(args.data) / f"{dataset}.csv"
        X, y = load(path)
        folds = stratified_folds(y, 5, seed=0)
        splits = []
        for test in folds:
            train = np.setdiff1d(np.arange(len(y)), test)
            splits.append((train, test, *standardize(X, train, test)))
        euclid = float(
            np.mean([accuracy(np.eye(X.shape[1]), Xtr, y[tr], Xte, y[te]) for tr, te, Xtr, Xte in splits])
        )
        rows.append({"dataset": dataset, "algorithm": "euclidean", "ours": euclid})
        print(f"{dataset:<14}{'euclidean':<10}{euclid:>7.3f}", flush=True)
        peer_algorithms = [a for a in algorithms if (dataset, a) not in skip]
        peer = (
            run_peer(args.peer, path, folds, peer_algorithms, args.repeats)
            if args.peer and peer_algorithms
            else {}
        )
        for algorithm in algorithms:
            row = compare(dataset, algorithm, y, splits, peer.get(algorithm), args.repeats)
            rows.append(row)
            print(_format(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _format(row: dict) -> str:
    def number(key: str, width: int, digits: int = 3) -> str:
        return f"{row[key]:>{width}.{digits}f}" if key in row else " " * (width - 1) + "-"

    text = f"{row['dataset']:<14}{row['algorithm']:<10}{number('ours', 7)}"
    text += number("ours_on_peer_constraints", 8) + number("peer", 7)
    text += number("ours_seconds", 9, 4) + number("peer_seconds", 9, 4)
    notes = []
    if "peer_seconds" in row:
        notes.append(f"{row['peer_seconds'] / max(row['ours_seconds'], 1e-9):.0f}x faster")
    if "peer_error" in row:
        notes.append(f"metric-learn FAILED on {row['peer_failed_folds']}/5 folds: {row['peer_error'][:60]}")
    if "peer_stuck_at_init_folds" in row:
        notes.append(f"metric-learn returned its initial metric on {row['peer_stuck_at_init_folds']}/5 folds")
    if "mmc_objective" in row:
        o = row["mmc_objective"]
        notes.append(f"MMC objective on ml's pairs: ours {o['ours']:.2f}, ml {o['peer']:.2f}")
    return text + "  " + "; ".join(notes)


if __name__ == "__main__":
    main()
