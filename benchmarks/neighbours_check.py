"""Side-by-side check of metricli's NCA, LMNN and MLKR against metric-learn and scikit-learn.

Protocol (issue 4): features standardized with the training fold's mean and standard
deviation, 5 folds (``stratified_folds`` for classes, ``kfold`` for diabetes, seed 0),
kNN with k=3 in the learned space (``knn_classify`` / ``knn_regress``). Every
implementation is fitted on the same folds in a fresh process of its own interpreter
(the peers in ``--peer-python``, default $PEER_PYTHON, from this same
file), and every learned L is scored here by the same kNN code. Fit time is the mean
wall time per fold (and CPU time of the fitting process); peak memory is the fitting
process's maximum resident set.

    python benchmarks/neighbours_check.py                        # real data, all three
    python benchmarks/neighbours_check.py --algos nca --data digits
    python benchmarks/neighbours_check.py --seeds 0,1,2,3,4      # average over fold seeds
    python benchmarks/neighbours_check.py --folds sklearn        # sklearn's shuffled folds
    python benchmarks/neighbours_check.py --algos nca,lmnn --synthetic 20000

For a fair CPU comparison on a shared machine run with OPENBLAS_NUM_THREADS=1 (metricli
fits single-threaded by default, see metricli/threads.py). Timings on a shared
machine are indicative only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("METRICLI_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
PEERS = {"nca": ("metric-learn", "sklearn"), "lmnn": ("metric-learn",), "mlkr": ("metric-learn",)}


def load_csv(name: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(DATA / f"{name}.csv")
    return frame.iloc[:, :-1].to_numpy(dtype=np.float64), frame.iloc[:, -1].to_numpy()


def synthetic(n: int, d: int = 32, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """10-class Gaussian mixture in d=32: class means differ on 8 directions, the rest is noise
    of unequal scale (so a learned metric has something to find)."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, d)) * np.r_[np.full(8, 1.5), np.full(d - 8, 0.15)]
    scales = np.r_[np.full(8, 1.0), rng.uniform(1.0, 3.0, d - 8)]
    y = rng.integers(0, n_classes, n)
    return means[y] + rng.standard_normal((n, d)) * scales, y


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


# -- fitting, in whichever interpreter runs this file -------------------------------------
def fit_one(impl: str, algo: str, X: np.ndarray, y: np.ndarray, params: dict) -> tuple[np.ndarray, int]:
    """Fit one implementation; return its L (n_components x n_features) and iteration count."""
    warnings.simplefilter("ignore")
    if impl == "metricli":
        from metricli.learners import LEARNERS

        model = LEARNERS[algo](**params).fit(X, y)
    elif impl == "sklearn":
        from sklearn.neighbors import NeighborhoodComponentsAnalysis

        model = NeighborhoodComponentsAnalysis(random_state=0, **params).fit(X, y)
    else:
        import metric_learn

        cls = {"nca": metric_learn.NCA, "lmnn": metric_learn.LMNN, "mlkr": metric_learn.MLKR}[algo]
        model = cls(random_state=0, **params).fit(X, y)
    return model.components_, int(getattr(model, "n_iter_", -1))


def preload(impl: str) -> None:
    """Import the implementation before any timing starts."""
    if impl == "metricli":
        import metricli.learners  # noqa: F401
    elif impl == "sklearn":
        import sklearn.neighbors  # noqa: F401
    else:
        import metric_learn  # noqa: F401


def worker(job_file: str) -> None:
    """Fit every fold of one (impl, algo) job stored in ``job_file``; write Ls and times back."""
    job = dict(np.load(job_file, allow_pickle=False))
    impl, algo = str(job["impl"]), str(job["algo"])
    preload(impl)
    params = json.loads(str(job["params"]))
    X, y = job["X"], job["y"]
    out = {}
    for f in range(int(job["n_folds"])):
        Xtr, _ = standardize(X[job[f"train{f}"]], X[:0])
        wall, cpu = time.perf_counter(), time.process_time()
        out[f"L{f}"], out[f"it{f}"] = fit_one(impl, algo, Xtr, y[job[f"train{f}"]], params)
        out[f"t{f}"] = time.perf_counter() - wall
        out[f"cpu{f}"] = time.process_time() - cpu
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez(job_file + ".out.npz", **{k: np.asarray(v) for k, v in out.items()})


def run_job(python: str, impl: str, algo: str, X, y, trains: list, params: dict, limits: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        job_file = os.path.join(tmp, "job.npz")
        np.savez(
            job_file,
            impl=impl,
            algo=algo,
            params=json.dumps(params),
            X=X,
            y=y.astype(str) if y.dtype == object else y,
            n_folds=len(trains),
            **{f"train{f}": t for f, t in enumerate(trains)},
        )
        memory = limits.get("memory_gb")

        def cap() -> None:
            if memory:
                size = int(memory * 2**30)
                resource.setrlimit(resource.RLIMIT_AS, (size, size))

        env = dict(os.environ, PYTHONPATH=str(HERE.parent))
        try:
            proc = subprocess.run(
                [python, __file__, "--worker", job_file],
                env=env,
                capture_output=True,
                text=True,
                preexec_fn=cap,
                timeout=limits.get("timeout"),
            )
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {limits['timeout']} s"}
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
            return {"error": lines[-1][:200]}
        res = dict(np.load(job_file + ".out.npz"))
    folds = range(len(trains))
    return {
        "L": [res[f"L{f}"] for f in folds],
        "iters": [int(res[f"it{f}"]) for f in folds],
        "wall": [float(res[f"t{f}"]) for f in folds],
        "cpu": [float(res[f"cpu{f}"]) for f in folds],
        "maxrss_mb": float(res["maxrss_mb"]),
    }


def sklearn_folds(python: str, y: np.ndarray, seed: int, regression: bool) -> list[np.ndarray]:
    """Test folds of scikit-learn's (Stratified)KFold(5, shuffle=True, random_state=seed)."""
    code = (
        "import sys, json, numpy as np\n"
        "from sklearn.model_selection import KFold, StratifiedKFold\n"
        "y = np.array(json.loads(sys.stdin.read()))\n"
        f"cv = (KFold if {regression} else StratifiedKFold)(5, shuffle=True, random_state={seed})\n"
        "print(json.dumps([t.tolist() for _, t in cv.split(np.zeros(len(y)), y)]))\n"
    )
    labels = json.dumps([str(v) for v in y])
    out = subprocess.run([python, "-c", code], input=labels, capture_output=True, text=True, check=True)
    return [np.array(t, dtype=np.intp) for t in json.loads(out.stdout)]


def score(algo: str, X: np.ndarray, y: np.ndarray, tests: list, trains: list, Ls: list) -> list[float]:
    from metricli.evaluation import knn_classify, knn_regress

    results = []
    for test, train, L in zip(tests, trains, Ls, strict=True):
        Xtr, Xte = standardize(X[train], X[test])
        if algo == "mlkr":
            pred = knn_regress(Xtr @ L.T, y[train], Xte @ L.T, k=3)
            results.append(float(np.sqrt(np.mean((pred - y[test]) ** 2))))
        else:
            pred = knn_classify(Xtr @ L.T, y[train], Xte @ L.T, k=3)
            results.append(float(np.mean(pred == y[test])))
    return results


def summarize(per_fold: list[float], n_seeds: int) -> dict:
    out = {"score": round(float(np.mean(per_fold)), 4)}
    if n_seeds > 1:
        out["per_seed"] = [round(float(v), 4) for v in np.array(per_fold).reshape(n_seeds, -1).mean(axis=1)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--algos", default="nca,lmnn,mlkr")
    parser.add_argument(
        "--data", default=",".join(CLASSIFICATION), help="classification sets (mlkr: diabetes)"
    )
    parser.add_argument("--impls", default="euclidean,metricli,metric-learn,sklearn")
    parser.add_argument("--peer-python", default=os.environ.get("PEER_PYTHON", "python"))
    parser.add_argument("--synthetic", type=int, default=0, help="fit n synthetic points, score on n/4 more")
    parser.add_argument("--params", default="{}", help="JSON parameters for metricli's learner")
    parser.add_argument("--sklearn-params", default=None, help="JSON (default: max_iter as metricli's)")
    parser.add_argument("--seeds", default="0", help="fold seeds, e.g. 0,1,2,3,4 (scores averaged)")
    parser.add_argument("--folds", choices=("metricli", "sklearn"), default="metricli")
    parser.add_argument("--memory-gb", type=float, default=None, help="address-space cap per fitting process")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per implementation and data set")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from metricli.evaluation import kfold, stratified_folds

    ours = json.loads(args.params)
    seeds = [int(v) for v in args.seeds.split(",")]
    limits = {"memory_gb": args.memory_gb, "timeout": args.timeout}
    for algo in args.algos.split(","):
        names = (
            [f"synthetic{args.synthetic}"]
            if args.synthetic
            else ["diabetes"]
            if algo == "mlkr"
            else args.data.split(",")
        )
        for name in names:
            if args.synthetic:
                X, y = synthetic(args.synthetic + args.synthetic // 4)
                tests = [np.arange(args.synthetic, X.shape[0])]
            else:
                X, y = load_csv(name)
                if algo == "mlkr":
                    y = y.astype(np.float64)
                if args.folds == "sklearn":
                    tests = [t for s in seeds for t in sklearn_folds(args.peer_python, y, s, algo == "mlkr")]
                else:
                    make = kfold if algo == "mlkr" else stratified_folds
                    tests = [
                        t for s in seeds for t in (make(len(y), 5, s) if algo == "mlkr" else make(y, 5, s))
                    ]
            trains = [np.setdiff1d(np.arange(X.shape[0]), t) for t in tests]
            n_seeds = len(seeds) if not args.synthetic else 1
            for impl in args.impls.split(","):
                row = {"algo": algo, "data": name, "impl": impl}
                if impl == "euclidean":
                    row.update(
                        summarize(
                            score(algo, X, y, tests, trains, [np.eye(X.shape[1])] * len(tests)), n_seeds
                        )
                    )
                    print(json.dumps(row), flush=True)
                    continue
                if impl != "metricli" and impl not in PEERS[algo]:
                    continue
                if impl == "metricli":
                    python, params = sys.executable, ours
                elif impl == "sklearn":
                    python = args.peer_python
                    params = json.loads(
                        args.sklearn_params or json.dumps({"max_iter": ours.get("max_iter", 100)})
                    )
                else:
                    python, params = args.peer_python, {}
                res = run_job(python, impl, algo, X, y, trains, params, limits)
                if "error" in res:
                    row["error"] = res["error"]
                else:
                    row.update(summarize(score(algo, X, y, tests, trains, res["L"]), n_seeds))
                    row.update(
                        fit_s=round(float(np.mean(res["wall"])), 3),
                        cpu_s=round(float(np.mean(res["cpu"])), 3),
                        iters=round(float(np.mean(res["iters"])), 1),
                        peak_mb=round(res["maxrss_mb"]),
                    )
                print(json.dumps(row), flush=True)
    print(
        "\nscore: kNN (k=3) accuracy, or RMSE for mlkr (lower is better); fit_s / cpu_s: mean wall / CPU "
        "seconds per fit; iters: mean iterations; peak_mb: peak resident memory of the fitting process"
    )


if __name__ == "__main__":
    main()
