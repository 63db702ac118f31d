"""Run metric-learn's LFDA, RCA and RCA_Supervised on jobs prepared by closed_form_check.py.

Runs under the peer virtualenv (metric-learn 0.7.0, scikit-learn); metricli never imports it:

    $PEER_PYTHON benchmarks/closed_form_peer.py IN.npz OUT.npz

IN holds jobs 0..n_jobs-1: algorithm_j ("lfda", "rca" or "rca_supervised"), X_j, and y_j
(class codes), chunks_j (chunk ids) or n_chunks_j / chunk_size_j / seed_j. OUT holds L_j
(the learned components; NaN when metric-learn failed) and error_j.
"""

import sys
import warnings

import numpy as np


def fit(data, j: int) -> np.ndarray:
    from metric_learn import LFDA, RCA, RCA_Supervised

    algorithm, X = str(data[f"algorithm_{j}"]), data[f"X_{j}"]
    if algorithm == "lfda":
        return LFDA().fit(X, data[f"y_{j}"]).components_
    if algorithm == "rca":
        return RCA().fit(X, data[f"chunks_{j}"]).components_
    model = RCA_Supervised(
        n_chunks=int(data[f"n_chunks_{j}"]),
        chunk_size=int(data[f"chunk_size_{j}"]),
        random_state=int(data[f"seed_{j}"]),
    )
    return model.fit(X, data[f"y_{j}"]).components_


def main(source: str, target: str) -> None:
    data = np.load(source, allow_pickle=False)
    results = {}
    for j in range(int(data["n_jobs"])):
        error = ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                L = np.asarray(fit(data, j))
                if np.iscomplexobj(L):
                    error, L = "complex components", np.real(L)
            except Exception as exc:  # report the failure, keep comparing
                error = f"{type(exc).__name__}: {exc}"[:200]
                L = np.full((1, data[f"X_{j}"].shape[1]), np.nan)
        results[f"L_{j}"] = L.astype(float)
        results[f"error_{j}"] = np.array(error)
    np.savez(target, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
