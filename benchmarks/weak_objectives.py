"""MMC, LSML and ITML: which side reaches the better value of which objective, fold by fold.

The harness's protocol (benchmarks/README.md): the same standardized folds (5 stratified,
seed 0), the same constraints drawn from the training labels with metricli.constraints
(seed = fold), the parameters of benchmarks/peers.py on both sides, kNN (k = 3) scoring.
metric-learn 0.7.0 runs in the peer virtualenv on the same arrays and hands back its M.
For each fold this prints, for metricli's M and metric-learn's M:

- MMC (Xing et al. 2002): the paper's g(A) = Σ_D ||v||_A at f(A) = Σ_S ||v||²_A = 1
  (higher is better; "I" is the identity start), and the largest eigenvalue of
  G - (g/2) S relative to (g/2)·λmax(S), the optimality condition of the convex problem
  (0 at the optimum; see tests/learners/test_mmc.py);
- LSML (Liu et al. 2012): the objective mean_q max(0, d_M(a,b) - d_M(c,d))² +
  λ (tr M - log det M - d) with λ = 0.1 (metricli's default) and λ = 1 (what
  metric-learn's LSML minimizes; it has no λ parameter), and metricli refitted with
  regularization=1 ("ours@1");
- ITML (Davis et al. 2007): each side's bounds (u, l); the objective D_ld(M, I) +
  γ Σ_violated h(d_M/ξ0), h(r) = r - 1 - log r, at metric-learn's bounds, of metric-learn's
  M and of metricli refitted at those bounds ("ours@ml", tol 1e-9), how many constraints
  violate those bounds, ||M_ours@ml - M_ml|| / ||M_ml||, and the objective of metricli's
  own M at its own bounds;
- kNN accuracy of each M on the held-out fold.

    python benchmarks/weak_objectives.py [--datasets iris,breast_cancer] [--learners mmc,lsml,itml]
        [--data ../shared/data] [--peer $PEER_PYTHON]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import datasets  # noqa: E402
from benchmarks.peers import BY_NAME, constraint_count  # noqa: E402
from metricli import constraints as C  # noqa: E402
from metricli.evaluation import knn_classify, stratified_folds  # noqa: E402
from metricli.learners import ITML, LSML, MMC  # noqa: E402

# runs under the peer interpreter: fit metric-learn on the saved folds, save each M
PEER_SCRIPT = """
import json, sys, warnings
import numpy as np
from metric_learn import ITML, LSML, MMC
warnings.simplefilter("ignore")
job = np.load(sys.argv[1])
params = json.loads(sys.argv[3])
out = {}
for f in range(int(job["n_folds"])):
    X = job[f"train_{f}"]
    if "mmc" in params:
        pairs = job[f"pairs_{f}"]
        out[f"mmc_{f}"] = MMC(**params["mmc"]).fit(X[pairs], job[f"pairs_y_{f}"]).get_mahalanobis_matrix()
    if "lsml" in params:
        out[f"lsml_{f}"] = LSML(**params["lsml"]).fit(X[job[f"quads_{f}"]]).get_mahalanobis_matrix()
    if "itml" in params:
        model = ITML(**params["itml"]).fit(X[job[f"pairs_{f}"]], job[f"pairs_y_{f}"])
        out[f"itml_{f}"], out[f"itml_bounds_{f}"] = model.get_mahalanobis_matrix(), model.bounds_
np.savez(sys.argv[2], **out)
"""


def sq_norms(V: np.ndarray, M: np.ndarray) -> np.ndarray:
    return np.einsum("ij,jk,ik->i", V, M, V)


def mmc_scores(M: np.ndarray, similar: np.ndarray, dissimilar: np.ndarray) -> tuple[float, float]:
    """(g(A) at f(A) = 1, relative largest eigenvalue of G - (g/2) S)."""
    S = similar.T @ similar
    A = M / np.sum(S * M)
    dist = np.sqrt(np.clip(sq_norms(dissimilar, A), 0.0, None))
    g = float(dist.sum())
    G = (dissimilar / (2.0 * np.maximum(dist, 1e-300)[:, None])).T @ dissimilar
    return g, float(np.linalg.eigvalsh(G - g / 2 * S)[-1] / (g / 2 * np.linalg.eigvalsh(S)[-1]))


def lsml_value(M: np.ndarray, near: np.ndarray, far: np.ndarray, regularization: float) -> float:
    d_near = np.sqrt(np.clip(sq_norms(near, M), 0.0, None))
    d_far = np.sqrt(np.clip(sq_norms(far, M), 0.0, None))
    sign, logdet = np.linalg.slogdet(M)
    if sign <= 0:
        return np.inf
    loss = float(np.mean(np.maximum(d_near - d_far, 0.0) ** 2))
    return loss + regularization * (float(np.trace(M)) - logdet - len(M))


def itml_value(
    M: np.ndarray, diff: np.ndarray, similar: np.ndarray, bounds: np.ndarray, gamma: float
) -> tuple[float, int]:
    """(D_ld(M, I) + γ Σ h(d_M / ξ0) over the violated constraints, how many are violated)."""
    ratio = sq_norms(diff, M) / np.where(similar, bounds[0], bounds[1])
    violated = np.where(similar, ratio > 1.0, ratio < 1.0)
    r = ratio[violated]
    sign, logdet = np.linalg.slogdet(M)
    if sign <= 0:
        return np.inf, int(violated.sum())
    return float(np.trace(M) - logdet - len(M) + gamma * np.sum(r - 1.0 - np.log(r))), int(violated.sum())


def accuracy(M: np.ndarray, X_train, y_train, X_test, y_test) -> float:
    values, vectors = np.linalg.eigh((M + M.T) / 2)
    L = (vectors * np.sqrt(np.clip(values, 0.0, None))).T
    return float(np.mean(knn_classify(X_train @ L.T, y_train, X_test @ L.T, k=3) == y_test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="iris,wine,breast_cancer")
    parser.add_argument("--learners", default="mmc,lsml")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--peer", default=os.environ.get("PEER_PYTHON", "python"))
    args = parser.parse_args()
    learners = args.learners.split(",")
    ours_params = {name: dict(BY_NAME[name].params) for name in learners}
    ours_params.get("mmc", {}).pop("max_proj", None)  # metric-learn's projection count only
    peer_params = {name: dict(BY_NAME[name].peers[0].params) for name in learners}
    warnings.simplefilter("ignore")
    for name in args.datasets.split(","):
        data = datasets.load(name, args.data)
        tests = stratified_folds(data.y, 5, 0)
        folds = [(np.setdiff1d(np.arange(len(data.y)), test), test) for test in tests]
        job: dict[str, np.ndarray] = {"n_folds": np.array(len(folds))}
        drawn = []
        for f, (train, test) in enumerate(folds):
            X_train, X_test = datasets.standardize(data.X[train], data.X[test])
            job[f"train_{f}"], job[f"test_{f}"] = X_train, X_test
            pairs = C.from_labels("pairs", data.y[train], constraint_count("pairs", data.n_classes), f)
            quads = C.from_labels(
                "quadruplets", data.y[train], constraint_count("quadruplets", data.n_classes), f
            )
            job[f"pairs_{f}"], job[f"pairs_y_{f}"] = np.stack([pairs.a, pairs.b], 1), pairs.y
            job[f"quads_{f}"] = np.stack([quads.a, quads.b, quads.c, quads.d], 1)
            drawn.append((pairs, quads))
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "job.npz", **job)
            import json

            subprocess.run(
                [args.peer, "-c", PEER_SCRIPT, f"{tmp}/job.npz", f"{tmp}/peer.npz", json.dumps(peer_params)],
                check=True,
            )
            peer = dict(np.load(Path(tmp) / "peer.npz"))
        for learner in learners:
            accs = []
            print(
                f"\n{learner} on {name} (metricli {ours_params[learner]}; metric-learn {peer_params[learner]})"
            )
            for f, (train, test) in enumerate(folds):
                X_train, X_test = job[f"train_{f}"], job[f"test_{f}"]
                y_train, y_test = data.y[train], data.y[test]
                pairs, quads = drawn[f]
                M_peer = peer[f"{learner}_{f}"]
                if learner == "mmc":
                    model = MMC(**ours_params["mmc"]).fit(X_train, pairs)
                    M = model.get_mahalanobis_matrix()
                    diff = X_train[pairs.a] - X_train[pairs.b]
                    sim, dis = diff[pairs.similar], diff[~pairs.similar]
                    (g, kkt), (g_peer, kkt_peer) = mmc_scores(M, sim, dis), mmc_scores(M_peer, sim, dis)
                    g_id = mmc_scores(np.eye(len(M)), sim, dis)[0]
                    detail = (
                        f"g ours {g:8.3f} ml {g_peer:8.3f} I {g_id:8.3f} | "
                        f"KKT ours {kkt:9.2e} ml {kkt_peer:9.2e} | ours iterations {model.n_iter_}"
                    )
                elif learner == "itml":
                    model = ITML(**ours_params["itml"]).fit(X_train, pairs)
                    M = model.get_mahalanobis_matrix()
                    gamma, ml_bounds = float(ours_params["itml"]["gamma"]), peer[f"itml_bounds_{f}"]
                    at_ml = {**ours_params["itml"], "tol": 1e-9, "max_iter": 5000}
                    at_ml.update(similar_bound=ml_bounds[0], dissimilar_bound=ml_bounds[1])
                    M_at = ITML(**at_ml).fit(X_train, pairs).get_mahalanobis_matrix()
                    diff = X_train[pairs.a] - X_train[pairs.b]
                    (v_ml, n_ml), (v_at, n_at) = (
                        itml_value(M_peer, diff, pairs.similar, ml_bounds, gamma),
                        itml_value(M_at, diff, pairs.similar, ml_bounds, gamma),
                    )
                    v_own, n_own = itml_value(M, diff, pairs.similar, model.bounds_, gamma)
                    gap = np.linalg.norm(M_at - M_peer) / np.linalg.norm(M_peer)
                    detail = (
                        f"bounds ours {np.round(model.bounds_, 2)} ml {np.round(ml_bounds, 2)} | "
                        f"at ml's bounds: ml {v_ml:.4f} ({n_ml} violated) ours@ml {v_at:.4f} ({n_at}) "
                        f"|ΔM| {gap:.1e} | ours at its own {v_own:.4f} ({n_own}) | "
                        f"acc ours@ml {accuracy(M_at, X_train, y_train, X_test, y_test):.3f}"
                    )
                else:
                    model = LSML(**ours_params["lsml"]).fit(X_train, quads)
                    M = model.get_mahalanobis_matrix()
                    refit = {**ours_params["lsml"], "regularization": 1.0}
                    M_one = LSML(**refit).fit(X_train, quads).get_mahalanobis_matrix()
                    near = X_train[quads.a] - X_train[quads.b]
                    far = X_train[quads.c] - X_train[quads.d]
                    detail = " | ".join(
                        f"λ={lam}: ours {lsml_value(M, near, far, lam):.5f} ml {lsml_value(M_peer, near, far, lam):.5f} "
                        f"ours@1 {lsml_value(M_one, near, far, lam):.5f}"
                        for lam in (0.1, 1.0)
                    )
                    detail += f" | acc ours@1 {accuracy(M_one, X_train, y_train, X_test, y_test):.3f}"
                acc = (
                    accuracy(M, X_train, y_train, X_test, y_test),
                    accuracy(M_peer, X_train, y_train, X_test, y_test),
                )
                accs.append(acc)
                print(f"  fold {f}: {detail} | acc ours {acc[0]:.3f} ml {acc[1]:.3f}")
            mean = np.mean(accs, axis=0)
            print(f"  mean accuracy: ours {mean[0]:.4f} ml {mean[1]:.4f}")


if __name__ == "__main__":
    main()
