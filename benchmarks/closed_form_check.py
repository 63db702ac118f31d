"""LFDA and RCA: metricli vs metric-learn 0.7.0, side by side on the same folds.

Protocol (issue 5): features standardized with the training fold's mean and standard
deviation, 5 stratified folds (metricli.evaluation.stratified_folds, seed 0), kNN with
k = 3 (metricli.evaluation.knn_classify) in the learned space, accuracy averaged over
the folds. metric-learn runs in the peer virtualenv on exactly the same standardized
training folds, and its L is scored by the same kNN code.

RCA learns from chunks of 2 points drawn from the labels: 100 chunks, or n_train // 4 on
small sets where metric-learn cannot draw 100. Chunk draws move RCA's accuracy by
several points, so RCA is run with 5 chunk seeds (0-4) on each side and averaged:
metricli draws with metricli.constraints.chunks_from_labels, metric-learn's
RCA_Supervised with its own generator. "same chunks" fits metric-learn's RCA on
metricli's chunks and reports the largest relative difference between the two M.
metric-learn 0.7.0's chunk generator never draws from the last class (numpy's randint
excludes its upper bound); the last column runs metricli's RCA on chunks drawn the same
way, to show how much of the difference that accounts for.

    python benchmarks/closed_form_check.py [--data ../shared/data] [--peer $PEER_PYTHON]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from metricli.constraints import chunks_from_labels
from metricli.evaluation import knn_classify, stratified_folds
from metricli.learners import LFDA, RCA

DATASETS = ("iris", "wine", "breast_cancer", "digits")
CHUNK_SEEDS = range(5)


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(path)
    return frame.iloc[:, :-1].to_numpy(dtype=float), frame.iloc[:, -1].astype(str).to_numpy()


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def accuracy(L: np.ndarray | None, train, ytrain, test, ytest) -> float:
    """kNN (k = 3) accuracy in the space x -> Lx; Euclidean for L None; NaN for a non-finite L."""
    if L is None:
        return float(np.mean(knn_classify(train, ytrain, test, k=3) == ytest))
    if not np.all(np.isfinite(L)):
        return float("nan")
    return float(np.mean(knn_classify(train @ L.T, ytrain, test @ L.T, k=3) == ytest))


def run_peer(peer: str, jobs: list[dict]) -> tuple[list[np.ndarray], list[str]]:
    """Fit metric-learn on each job in the peer virtualenv; (L per job, error per job)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        arrays = {"n_jobs": np.array(len(jobs))}
        for j, job in enumerate(jobs):
            arrays.update({f"{key}_{j}": np.asarray(value) for key, value in job.items()})
        np.savez(source, **arrays)
        script = Path(__file__).with_name("closed_form_peer.py")
        subprocess.run([peer, str(script), str(source), str(target)], check=True)
        out = np.load(target, allow_pickle=False)
        return [out[f"L_{j}"] for j in range(len(jobs))], [str(out[f"error_{j}"]) for j in range(len(jobs))]


def summarize(accs: list[float], errors: list[str]) -> str:
    failed = [e or "non-finite L" for a, e in zip(accs, errors, strict=True) if e or not np.isfinite(a)]
    if len(failed) == len(accs):
        return f"failed ({failed[0]})"
    text = f"{np.nanmean(accs):.3f}"
    return text + (f" ({len(failed)}/{len(accs)} fits failed: {failed[0]})" if failed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--peer", default=os.environ.get("PEER_PYTHON", "python"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()

    rows = []
    for name in args.datasets.split(","):
        X, y = load(Path(args.data) / f"{name}.csv")
        split = []
        for test_idx in stratified_folds(y, 5, seed=0):
            train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
            train, test = standardize(X[train_idx], X[test_idx])
            split.append((train, y[train_idx], test, y[test_idx]))
        n_chunks = min(100, min(len(s[1]) for s in split) // 4)

        euclidean = np.mean([accuracy(None, *s) for s in split])
        lfda, rca, rca_chunks, seconds = [], [], [], {"lfda": 0.0, "rca": 0.0}
        rca_like_peer = []
        jobs: list[dict] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for train, ytrain, test, ytest in split:
                codes = np.unique(ytrain, return_inverse=True)[1]
                start = time.perf_counter()
                L = LFDA().fit(train, ytrain).components_
                seconds["lfda"] += time.perf_counter() - start
                lfda.append(accuracy(L, train, ytrain, test, ytest))
                jobs.append({"algorithm": "lfda", "X": train, "y": codes})
                for seed in CHUNK_SEEDS:
                    chunks = chunks_from_labels(ytrain, n_chunks, chunk_size=2, seed=seed)
                    start = time.perf_counter()
                    L = RCA().fit(train, chunks).components_
                    seconds["rca"] += time.perf_counter() - start
                    rca.append(accuracy(L, train, ytrain, test, ytest))
                    rca_chunks.append(L.T @ L)
                    jobs.append({"algorithm": "rca", "X": train, "chunks": chunks.ids})
                    # metric-learn 0.7.0 draws a class with randint(0, n_classes - 1), whose upper
                    # bound is exclusive: it never draws from the last class. Same draw here:
                    without_last = np.where(codes < codes.max(), ytrain, None).astype(object)
                    chunks = chunks_from_labels(without_last, n_chunks, chunk_size=2, seed=seed)
                    L = RCA().fit(train, chunks).components_
                    rca_like_peer.append(accuracy(L, train, ytrain, test, ytest))
                    jobs.append(
                        {
                            "algorithm": "rca_supervised",
                            "X": train,
                            "y": codes,
                            "n_chunks": n_chunks,
                            "chunk_size": 2,
                            "seed": seed,
                        }
                    )
        Ls, errors = run_peer(args.peer, jobs)
        peer = {"lfda": ([], []), "rca": ([], []), "rca_supervised": ([], [])}
        same_chunk_gap = []
        rca_index = 0
        for job, L, error in zip(jobs, Ls, errors, strict=True):
            fold = next(i for i, s in enumerate(split) if s[0] is job["X"])
            acc = accuracy(L, *split[fold]) if not error else float("nan")
            peer[job["algorithm"]][0].append(acc)
            peer[job["algorithm"]][1].append(error)
            if job["algorithm"] == "rca":
                ours = rca_chunks[rca_index]
                rca_index += 1
                if np.all(np.isfinite(L)) and not error:
                    same_chunk_gap.append(np.abs(L.T @ L - ours).max() / np.abs(ours).max())
        gap = f"{max(same_chunk_gap):.1e}" if same_chunk_gap else "n/a"
        rows.append(
            {
                "dataset": name,
                "euclidean": f"{euclidean:.3f}",
                "LFDA metricli": f"{np.mean(lfda):.3f}",
                "LFDA metric-learn": summarize(*peer["lfda"]),
                "RCA metricli (chunks×seeds)": f"{np.mean(rca):.3f} ({n_chunks}×2, 5 seeds)",
                "RCA_Supervised metric-learn": summarize(*peer["rca_supervised"]),
                "same chunks: ml RCA / max rel. ΔM": f"{summarize(*peer['rca'])} / {gap}",
                "RCA metricli, no chunk from last class": f"{np.mean(rca_like_peer):.3f}",
                "s/fit LFDA, RCA": f"{seconds['lfda'] / 5:.3f}, {seconds['rca'] / 25:.4f}",
            }
        )
        print(" | ".join(f"{k}: {v}" for k, v in rows[-1].items()), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
