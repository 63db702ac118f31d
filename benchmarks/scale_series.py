"""The scale series of issue 16: NCA and LMNN, stochastic, at growing n, against the full solver and peers.

The data: the hard synthetic set (benchmarks.datasets.hard_mixture: 10 classes, d = 32,
4 informative directions, 28 loud noise directions), standardized with the training
points' mean and scale; every size is a prefix of the largest, and the held-out test points
(``--test``, 5,000) come after it, so every fit is scored on the same points.

Each fit runs in a fresh process (this file with ``--child``): metricli's with this
interpreter, the peers' (scikit-learn NCA, metric-learn NCA / LMNN, mlpack lmnn / nca) with
``--peer-python`` (default $PEER_PYTHON), which never imports metricli. A child writes the
learned L and its fit time and peak memory (VmHWM of /proc/self/status, the whole process);
a child past ``--timeout`` seconds is killed and recorded as such, as is any error. The
parent scores every L alike: 3-NN accuracy of the test points against the training points in
the space x -> L x (metricli.evaluation.knn_classify), Euclidean as the baseline.

Subjects, smallest size first, per size n in ``--sizes``: metricli NCA and LMNN with the full
solver (at every size up to ``--full-size``, 20,000, and at that size) and with ``--solver
stochastic``; then each peer, at each size up to ``--peer-max`` (the peers' n² costs put larger
sizes out of their reach on a small machine). A peer that fails or times out at one size is
not tried at the larger ones (recorded as such). Each child records its wall and CPU time.

    python benchmarks/scale_series.py --sizes 5000,20000,100000 --timeout 900
    python benchmarks/scale_series.py --sizes 2000 --full-size 2000 --peer-max 2000 --timeout 300

``--data diamonds`` runs the same on a real set instead (benchmarks/heldout.py --fetch
--datasets diamonds first): its rows in an order shuffled with seed 0, the last --test held out.

    python benchmarks/scale_series.py --data diamonds --sizes 2000,20000,48940 --test 5000

Results: printed as a table and appended to benchmarks/results/scale_series.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: (subject, library, learner): what each child fits
METRICLI = [("metricli", "nca"), ("metricli", "lmnn")]
PEERS = [
    ("scikit-learn", "nca"),
    ("metric-learn", "nca"),
    ("metric-learn", "lmnn"),
    ("mlpack", "lmnn"),
    ("mlpack", "nca"),
]


def peak_kib() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fit_child(spec: dict) -> dict:
    """In a fresh process: fit one subject on the training points of spec['data']; return L and costs."""
    data = np.load(spec["data"])
    X, y = data["X"][: spec["n"]], data["y"][: spec["n"]]
    library, learner, seed = spec["library"], spec["learner"], 0
    start, cpu = time.perf_counter(), time.process_time()
    if library == "metricli":
        from metricli.learners import LMNN, NCA

        cls = NCA if learner == "nca" else LMNN
        model = cls(solver=spec["solver"], random_state=seed).fit(X, y)
        L, extra = model.components_, {"epochs_or_iterations": int(model.n_iter_)}
    elif library == "scikit-learn":
        from sklearn.neighbors import NeighborhoodComponentsAnalysis

        L, extra = NeighborhoodComponentsAnalysis(random_state=seed).fit(X, y).components_, {}
    elif library == "metric-learn":
        import metric_learn

        model = (
            metric_learn.NCA(random_state=seed) if learner == "nca" else metric_learn.LMNN(random_state=seed)
        )
        L, extra = model.fit(X, y).components_, {}
    else:
        import mlpack

        if learner == "lmnn":
            out = mlpack.lmnn(input_=X, labels=y, k=3, seed=seed)
        else:
            out = mlpack.nca(input_=X, labels=y, seed=seed)
        L, extra = np.asarray(out["output"]).T, {}  # its transformed data is X @ output
    seconds = time.perf_counter() - start
    return {
        "cpu_seconds": time.process_time() - cpu,
        "L": np.asarray(L, dtype=np.float64).tolist(),
        "seconds": seconds,
        "peak_kib": peak_kib(),
        **extra,
    }


def run_child(python: str, spec: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        command = [python, str(Path(__file__).resolve()), "--child", json.dumps(spec), str(out)]
        started = time.perf_counter()
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": f"timeout after {timeout:.0f} s"}
        if run.returncode < 0:  # SIGKILL with no message: most often the kernel's out-of-memory killer
            return {"status": f"killed by signal {-run.returncode}", "wall": time.perf_counter() - started}
        if run.returncode != 0 or not out.exists():
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            return {"status": f"failed: {last[:160]}", "wall": time.perf_counter() - started}
        return {"status": "ok", **json.loads(out.read_text())}


def points(data: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points of the hard synthetic set, or of a real set (benchmarks.datasets) in an
    order shuffled with seed 0 (refused when it has fewer rows)."""
    from benchmarks import datasets

    if data == "hard":
        return datasets.hard_mixture(count)
    real = datasets.load(data)
    if real.X.shape[0] < count:
        raise SystemExit(f"{data} has {real.X.shape[0]:,} rows; sizes and --test ask for {count:,}")
    order = np.random.default_rng(0).permutation(real.X.shape[0])[:count]
    return real.X[order], real.y[order]


def plan_of(
    sizes: list[int], full_size: int, peer_max: int, peers: list, peer_python: str | None
) -> list[tuple[str, str, str, int]]:
    """(library, learner, solver, n) of every child, smallest n first: at each size metricli's
    full solver (up to ``full_size``) and stochastic solver, then each peer (up to ``peer_max``).
    The full solver also runs at ``full_size`` when that is not one of the sizes (0: never)."""
    plan = []
    for n in sorted({*sizes, full_size} - {0}):  # --full-size 0: no full-solver fit
        if n <= full_size:
            plan += [("metricli", learner, "full", n) for _, learner in METRICLI]
        if n in sizes:
            plan += [("metricli", learner, "stochastic", n) for _, learner in METRICLI]
            if peer_python and n <= peer_max:
                plan += [(lib, learner, "", n) for lib, learner in peers]
    return plan


def knn_accuracy(
    L: np.ndarray | None, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray
) -> float:
    from metricli.evaluation import knn_classify

    if L is not None:
        X, X_test = X @ L.T, X_test @ L.T
    return float(np.mean(knn_classify(X, y, X_test, 3) == y_test))


def ratio_table(rows: list[dict]) -> str:
    """Each peer's row against metricli's same learner at the same n (the solver `auto` picks
    there: full up to 20,000 points, else stochastic): CPU time (which a shared machine's load
    moves less than wall time) and peak memory as peer / metricli, held-out 3-NN accuracy as
    peer - metricli in points; '>' where the peer timed out (its wall-clock limit)."""
    from metricli.learners.stochastic import AUTO_FULL_UP_TO

    def ours(learner: str, n: int) -> dict | None:
        solver = "full" if n <= AUTO_FULL_UP_TO else "stochastic"
        found = [r for r in rows if r["library"] == "metricli" and r["learner"] == learner and r["n"] == n]
        return next((r for r in found if r["solver"] == solver), next(iter(found), None))

    lines = [
        "| peer | n | peer CPU time | metricli CPU time (solver) | time ratio | memory ratio | 3-NN, peer − metricli (points) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        base = ours(r["learner"], r["n"]) if r["library"] != "metricli" else None
        if base is None or base.get("status") != "ok":
            continue
        name = f"{r['library']} {r['learner'].upper()}"
        mine = f"{base['cpu_seconds']:.1f} s ({base['solver']})"
        if r["status"] == "ok":
            peer, ratio = f"{r['cpu_seconds']:.1f} s", f"{r['cpu_seconds'] / base['cpu_seconds']:.0f}×"
            memory = (
                f"{r['peak_kib'] / base['peak_kib']:.1f}×"
                if r.get("peak_kib") and base.get("peak_kib")
                else "—"
            )
            delta = f"{100 * (r['knn_accuracy'] - base['knn_accuracy']):+.1f}"
        elif r["status"].startswith("timeout"):
            limit = float(r["status"].split()[2])
            peer, ratio, memory, delta = (
                f"> {limit:.0f} s wall",
                f"> {limit / base['cpu_seconds']:.0f}×",
                "—",
                "—",
            )
        else:
            peer, ratio, memory, delta = r["status"], "—", "—", "—"
        lines.append(f"| {name} | {r['n']:,} | {peer} | {mine} | {ratio} | {memory} | {delta} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="hard", help="'hard' (synthetic) or a real set, e.g. diamonds")
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--full-size", type=int, default=20_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--peer-max", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=1200.0)
    parser.add_argument("--peer-python", default=os.environ.get("PEER_PYTHON"))
    parser.add_argument("--peers", default="all", help="'all', 'none' or library:learner,...")
    parser.add_argument("--out", default=str(HERE / "results" / "scale_series.json"))
    parser.add_argument(
        "--ratios", metavar="JSON", help="only print the ratio table of a results file's last run"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    if args.ratios:
        print(ratio_table(json.loads(Path(args.ratios).read_text())[-1]["rows"]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    largest = max([*sizes, args.full_size])
    X, y = points(args.data, largest + args.test)
    X_test, y_test = X[largest:], y[largest:]
    X = X[:largest]
    mean, scale = X.mean(axis=0), X.std(axis=0)
    X, X_test = (X - mean) / scale, (X_test - mean) / scale
    peers = (
        PEERS
        if args.peers == "all"
        else []
        if args.peers == "none"
        else [tuple(p.split(":")) for p in args.peers.split(",")]
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data = str(Path(folder) / "data.npz")
        np.savez(data, X=X, y=y)
        failed = {}  # (library, learner) -> the size at which it failed: not tried above it
        for library, learner, solver, n in plan_of(
            sizes, args.full_size, args.peer_max, peers, args.peer_python
        ):
            python = sys.executable if library == "metricli" else args.peer_python
            spec = {"data": data, "n": n, "library": library, "learner": learner, "solver": solver}
            if (library, learner) in failed:
                result = {"status": f"not tried: failed at n = {failed[library, learner]:,}"}
            else:
                result = run_child(python, spec, args.timeout)
                if result["status"] != "ok" and library != "metricli":
                    failed[library, learner] = n
            L = np.asarray(result.pop("L")) if "L" in result else None
            if L is not None:
                result["knn_accuracy"] = round(knn_accuracy(L, X[:n], y[:n], X_test, y_test), 4)
            row = {"library": library, "learner": learner, "solver": solver or "-", "n": n, **result}
            rows.append(row)
            print(json.dumps(row), flush=True)
        baseline = {
            n: round(knn_accuracy(None, X[:n], y[:n], X_test, y_test), 4)
            for n in sorted({*sizes, args.full_size} - {0})
        }
    record = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(sys.argv),
        "data": args.data,
        "euclidean_knn": baseline,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*history, record], indent=1))
    print(f"\nEuclidean 3-NN: {baseline}")
    print(
        "| library | learner | solver | n | time (s) | CPU (s) | peak memory (MiB) | 3-NN accuracy | status |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        seconds = f"{r['seconds']:.1f}" if "seconds" in r else "—"
        memory = f"{r['peak_kib'] / 1024:.0f}" if r.get("peak_kib") else "—"
        cpu = f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else "—"
        print(
            f"| {r['library']} | {r['learner']} | {r['solver']} | {r['n']:,} | {seconds} | {cpu} | {memory} | {r.get('knn_accuracy', '—')} | {r['status']} |"
        )
    print()
    print(ratio_table(rows))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        os.environ.setdefault("OMP_NUM_THREADS", "2")
        Path(sys.argv[3]).write_text(json.dumps(fit_child(json.loads(sys.argv[2]))))
    else:
        main()
