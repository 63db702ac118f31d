"""Side-by-side check of metricli's NCA, LMNN and MLKR against metric-learn and scikit-learn.

Protocol (issue 4): features standardized with the training fold's mean and standard
deviation, 5 folds (``stratified_folds`` for classes, ``kfold`` for diabetes, seed 0),
kNN with k=3 in the learned space (``knn_classify`` / ``knn_regress``). Every
implementation is timed on the same folds; the peers run in their own interpreter
(``--peer-python``, default /work/peer-venv/bin/python) from this same file, so their
numbers come from the same data and are scored by the same kNN code.

    python benchmarks/neighbours_check.py                      # real data sets, all three
    python benchmarks/neighbours_check.py --algos nca --data digits
    python benchmarks/neighbours_check.py --synthetic 20000    # scale run, one process per fit

Timings on a shared machine are indicative only.
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
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("METRICLI_DATA", "/work/shared/data"))
CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
PEERS = {
    "nca": ("metric-learn", "sklearn"),
    "lmnn": ("metric-learn",),
    "mlkr": ("metric-learn",),
}


def load_csv(name: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(DATA / f"{name}.csv")
    X = frame.iloc[:, :-1].to_numpy(dtype=np.float64)
    y = frame.iloc[:, -1].to_numpy()
    return X, y


def synthetic(n: int, d: int = 32, n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """10-class Gaussian mixture: class means on a few informative directions, noisy rest."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, d)) * np.r_[np.full(8, 1.5), np.full(d - 8, 0.15)]
    scales = np.r_[np.full(8, 1.0), rng.uniform(1.0, 3.0, d - 8)]
    y = rng.integers(0, n_classes, n)
    X = means[y] + rng.standard_normal((n, d)) * scales
    return X, y


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


# ---------------------------------------------------------------------------------------
# fitting, in whichever interpreter runs this file
def fit_one(impl: str, algo: str, X: np.ndarray, y: np.ndarray, params: dict) -> np.ndarray:
    """Fit one implementation and return its L (n_components x n_features)."""
    if impl == "metricli":
        from metricli.learners import LEARNERS

        learner = LEARNERS[algo](**params)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learner.fit(X, y)
        return learner.components_
    import warnings

    warnings.simplefilter("ignore")
    if impl == "sklearn":
        from sklearn.neighbors import NeighborhoodComponentsAnalysis

        model = NeighborhoodComponentsAnalysis(random_state=0, **params)
        return model.fit(X, y).components_
    import metric_learn

    cls = {"nca": metric_learn.NCA, "lmnn": metric_learn.LMNN, "mlkr": metric_learn.MLKR}[algo]
    model = cls(random_state=0, **params)
    return model.fit(X, y).components_


def sklearn_folds(python: str, y: np.ndarray, seed: int, regression: bool) -> list[np.ndarray]:
    """Test folds of scikit-learn's (Stratified)KFold(5, shuffle=True, random_state=seed), from the peer venv."""
    code = (
        "import sys, json, numpy as np\n"
        "from sklearn.model_selection import KFold, StratifiedKFold\n"
        "y = np.array(json.loads(sys.stdin.read()))\n"
        f"cv = (KFold if {regression} else StratifiedKFold)(5, shuffle=True, random_state={seed})\n"
        "print(json.dumps([t.tolist() for _, t in cv.split(np.zeros(len(y)), y)]))\n"
    )
    labels = [str(v) for v in y]
    out = subprocess.run(
        [python, "-c", code], input=json.dumps(labels), capture_output=True, text=True, check=True
    )
    return [np.array(t, dtype=np.intp) for t in json.loads(out.stdout)]


def worker(job_file: str) -> None:
    """Fit every fold of one (impl, algo) job stored in ``job_file``; write Ls and times back."""
    job = dict(np.load(job_file, allow_pickle=False))
    impl, algo = str(job["impl"]), str(job["algo"])
    params = json.loads(str(job["params"]))
    X, y = job["X"], job["y"]
    out = {}
    for f in range(int(job["n_folds"])):
        train = job[f"train{f}"]
        Xtr = X[train]
        if bool(job["standardize"]):
            Xtr, _ = standardize(Xtr, Xtr)
        start = time.perf_counter()
        out[f"L{f}"] = fit_one(impl, algo, Xtr, y[train], params)
        out[f"t{f}"] = np.array(time.perf_counter() - start)
    out["maxrss_mb"] = np.array(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    np.savez(job_file + ".out.npz", **out)


def run_job(
    python: str, impl: str, algo: str, X: np.ndarray, y: np.ndarray, folds: list, params: dict, std: bool
) -> dict:
    n = X.shape[0]
    with tempfile.TemporaryDirectory() as tmp:
        job_file = os.path.join(tmp, "job.npz")
        trains = {f"train{f}": np.setdiff1d(np.arange(n), test) for f, test in enumerate(folds)}
        np.savez(
            job_file,
            impl=impl,
            algo=algo,
            params=json.dumps(params),
            X=X,
            y=y if y.dtype != object else y.astype(str),
            n_folds=len(folds),
            standardize=std,
            **trains,
        )
        env = dict(os.environ, PYTHONPATH=str(HERE.parent))
        start = time.perf_counter()
        proc = subprocess.run(
            [python, __file__, "--worker", job_file], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1], "wall": wall}
        res = dict(np.load(job_file + ".out.npz"))
    return {
        "L": [res[f"L{f}"] for f in range(len(folds))],
        "times": [float(res[f"t{f}"]) for f in range(len(folds))],
        "maxrss_mb": float(res["maxrss_mb"]),
    }


def score(algo: str, X: np.ndarray, y: np.ndarray, folds: list, Ls: list) -> list[float]:
    from metricli.evaluation import knn_classify, knn_regress

    results = []
    for test, L in zip(folds, Ls, strict=True):
        train = np.setdiff1d(np.arange(X.shape[0]), test)
        Xtr, Xte = standardize(X[train], X[test])
        if algo == "mlkr":
            pred = knn_regress(Xtr @ L.T, y[train], Xte @ L.T, k=3)
            results.append(np.sqrt(np.mean((pred - y[test]) ** 2)))
        else:
            pred = knn_classify(Xtr @ L.T, y[train], Xte @ L.T, k=3)
            results.append(np.mean(pred == y[test]))
    return [float(r) for r in results]


def summarize(per_fold: list[float], n_seeds: int) -> dict:
    """Mean over all folds, and the mean of each fold seed's 5 folds when there are several."""
    out = {"score": round(float(np.mean(per_fold)), 4)}
    if n_seeds > 1:
        per_seed = np.array(per_fold).reshape(n_seeds, -1).mean(axis=1)
        out["per_seed"] = [round(float(v), 4) for v in per_seed]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--worker")
    parser.add_argument("--algos", default="nca,lmnn,mlkr")
    parser.add_argument("--data", default=",".join(CLASSIFICATION))
    parser.add_argument("--impls", default="euclidean,metricli,metric-learn,sklearn")
    parser.add_argument("--peer-python", default="/work/peer-venv/bin/python")
    parser.add_argument("--synthetic", type=int, default=0, help="n for the synthetic scale run")
    parser.add_argument("--params", default="{}", help="JSON parameters for metricli's learner")
    parser.add_argument("--seeds", default="0", help="fold seeds, e.g. 0,1,2,3,4 (scores averaged)")
    parser.add_argument(
        "--folds",
        choices=("metricli", "sklearn"),
        default="metricli",
        help="metricli.evaluation folds (the protocol), or scikit-learn's shuffled (Stratified)KFold",
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    from metricli.evaluation import kfold, stratified_folds

    impls = args.impls.split(",")
    ours = json.loads(args.params)
    seeds = [int(v) for v in args.seeds.split(",")]
    rows = []
    for algo in args.algos.split(","):
        if args.synthetic:
            datasets = [f"synthetic{args.synthetic}"]
        elif algo == "mlkr":
            datasets = ["diabetes"]
        else:
            datasets = args.data.split(",")
        for name in datasets:
            if name.startswith("synthetic"):
                # scale run: one fit on n points, scored on n/4 more from the same mixture
                X, y = synthetic(args.synthetic + args.synthetic // 4)
                folds = [np.arange(args.synthetic, X.shape[0])]
            else:
                X, y = load_csv(name)
                if args.folds == "sklearn":
                    folds = [
                        f for seed in seeds for f in sklearn_folds(args.peer_python, y, seed, algo == "mlkr")
                    ]
                else:
                    folds = [
                        fold
                        for seed in seeds
                        for fold in (
                            kfold(len(y), 5, seed) if algo == "mlkr" else stratified_folds(y, 5, seed)
                        )
                    ]
            for impl in impls:
                if impl not in ("metricli", "euclidean") and impl not in PEERS[algo]:
                    continue
                if impl == "euclidean":
                    Ls = [np.eye(X.shape[1])] * len(folds)
                    row = {
                        "algo": algo,
                        "data": name,
                        "impl": impl,
                        **summarize(score(algo, X, y, folds, Ls), len(seeds) if len(folds) > 1 else 1),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    continue
                python = sys.executable if impl == "metricli" else args.peer_python
                params = dict(ours) if impl == "metricli" else {}
                if impl == "sklearn":
                    params = {"max_iter": ours.get("max_iter", 100)}
                res = run_job(python, impl, algo, X, y, folds, params, std=True)
                if "error" in res:
                    row = {"algo": algo, "data": name, "impl": impl, "error": res["error"]}
                else:
                    row = {
                        "algo": algo,
                        "data": name,
                        "impl": impl,
                        **summarize(score(algo, X, y, folds, res["L"]), len(seeds) if len(folds) > 1 else 1),
                        "fit_s": round(float(np.mean(res["times"])), 3),
                        "peak_mb": round(res["maxrss_mb"]),
                    }
                rows.append(row)
                print(json.dumps(row), flush=True)
    metric = {"mlkr": "RMSE (lower is better)"}
    print("\nscore = kNN(k=3) accuracy, or " + metric["mlkr"] + " for mlkr; fit_s = mean fit time per fold")


if __name__ == "__main__":
    main()
