"""Side-by-side benchmark: metricli's learners against metric-learn 0.7.0 and scikit-learn.

    python benchmarks/run.py --quick                   # under 2 minutes: iris + wine, 5 learners
    python benchmarks/run.py                           # everything, unattended
    python benchmarks/run.py --learners nca --datasets iris,digits   # rerun rows, merged into full.md

Protocol (identical for both sides, only the learner differs):
features standardized with the training fold's statistics; folds from
``metricli.evaluation.stratified_folds(y, k, seed)`` (``kfold`` for regression),
computed once here and handed to both sides; weakly supervised learners get the same
constraints, drawn once per fold from the training labels with
``metricli.constraints`` and the fold's seed; each side fits in a fresh process
(``benchmarks/worker.py``) and returns the embedded training and test points, which
this script scores with ``metricli.evaluation.knn_classify`` (k = 3) or
``knn_regress`` (RMSE). The peers run in their own venv (``PEER_PYTHON`` or
``benchmarks/.peer-venv``, created on demand from ``requirements-peers.txt``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# run as a script: import this directory as the `benchmarks` package, not its files as top-level
# modules (its datasets.py must not shadow anything)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import datasets, report  # noqa: E402
from benchmarks.peers import (  # noqa: E402
    BENCHMARKS,
    BY_NAME,
    CHUNK_SIZE,
    CLASSIFICATION,
    Benchmark,
    constraint_count,
)
from metricli import constraints as metricli_constraints  # noqa: E402
from metricli.evaluation import kfold, knn_classify, knn_regress, stratified_folds  # noqa: E402
from metricli.learners import LEARNERS  # noqa: E402

WORKER = BENCH / "worker.py"
PEER_VENV = BENCH / ".peer-venv"
PEER_REQUIREMENTS = BENCH / "requirements-peers.txt"
RESULTS = BENCH / "results"

QUICK_LEARNERS = ("covariance", "nca", "lmnn", "lfda", "itml")
QUICK_DATASETS = ("iris", "wine")
K = 3  # kNN neighbours used to score every side

#: how long a worker may take to import its libraries and load the job before its first fit
STARTUP_GRACE_S = 300.0
#: how long past the timeout a fit may run before the worker is killed (SIGALRM did not land)
KILL_GRACE_S = 30.0


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Fit each metricli learner and its metric-learn / scikit-learn peers on the same folds "
        "and write a Markdown + JSON table to benchmarks/results/.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="iris + wine, learners " + ",".join(QUICK_LEARNERS)
    )
    parser.add_argument("--learners", help="comma-separated metricli learner names, or 'all' (default: all)")
    parser.add_argument(
        "--datasets",
        help="comma-separated: " + ", ".join(datasets.ALL) + "; 'real' and 'scaling' select groups "
        "(default: all real data sets, plus the scaling series for nca and lmnn)",
    )
    parser.add_argument(
        "--folds", type=int, default=5, help="cross-validation folds on real data (default 5)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds, constraints and learners")
    parser.add_argument("--timeout", type=float, help="seconds one fit may take (default 60 quick, 600 full)")
    parser.add_argument(
        "--memory-limit-gb", type=float, default=6.0, help="address-space limit of each worker (default 6)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS/OpenMP threads per side (default 1; 0 = library default)"
    )
    parser.add_argument(
        "--peer-python", help="python of the peer venv (default: $PEER_PYTHON, else .peer-venv)"
    )
    parser.add_argument("--no-peers", action="store_true", help="run metricli only")
    parser.add_argument(
        "--data-dir", help="directory with <name>.csv (default: ../shared/data, then sample_data/)"
    )
    parser.add_argument("--output", help="results file name without extension (default: quick or full)")
    parser.add_argument("--fresh", action="store_true", help="start a new results file instead of merging")
    parser.add_argument("--list", action="store_true", help="print the learner / peer table and exit")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 60.0 if args.quick else 600.0
    return args


def _split(value: str | None) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()] if value else []


def select_learners(args: argparse.Namespace) -> list[Benchmark]:
    names = _split(args.learners)
    if not names or names == ["all"]:
        names = list(QUICK_LEARNERS) if args.quick else [b.key for b in BENCHMARKS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown learner(s) {', '.join(unknown)}; choose from: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def select_datasets(args: argparse.Namespace) -> tuple[list[str], bool]:
    """The data sets, and whether they were named explicitly (then every matching learner runs)."""
    names = _split(args.datasets)
    if not names:
        return (list(QUICK_DATASETS) if args.quick else [*datasets.SHARED, *datasets.SCALING]), False
    chosen: list[str] = []
    for name in names:
        group = {
            "real": list(datasets.SHARED),
            "heldout": list(datasets.HELDOUT),
            "scaling": list(datasets.SCALING),
        }.get(name, [name])
        for g in group:
            if g not in datasets.ALL:
                raise SystemExit(
                    f"unknown data set '{g}'; choose from: {', '.join(datasets.ALL)}, real, heldout, scaling"
                )
            if g not in chosen:
                chosen.append(g)
    order = list(datasets.ALL)  # scaling sizes ascending, so a timeout can skip the larger ones
    return sorted(chosen, key=order.index), True


def applies(bench: Benchmark, dataset: str, explicit: bool) -> bool:
    """Same task; the scaling series only for the learners flagged for it, unless named explicitly."""
    if bench.task != datasets.task_of(dataset):
        return False
    return dataset not in datasets.SCALING or bench.scaling or explicit


# -- the peer interpreter ----------------------------------------------------------------------


def peer_python(args: argparse.Namespace) -> str:
    chosen = args.peer_python or os.environ.get("PEER_PYTHON")
    if chosen:
        return chosen
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(
            f"creating the peer venv {PEER_VENV} (metric-learn 0.7.0, scikit-learn<1.6) ...", file=sys.stderr
        )
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "-r", str(PEER_REQUIREMENTS)], check=True
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(PEER_VENV, ignore_errors=True)
            raise SystemExit(
                f"could not build the peer venv ({exc}); set PEER_PYTHON to a python with them"
            ) from None
    return str(python)


def peer_versions(python: str) -> dict:
    probe = (
        "import json, sys, numpy, scipy, sklearn, metric_learn; print(json.dumps({'metric-learn': "
        "metric_learn.__version__, 'scikit-learn': sklearn.__version__, 'numpy': numpy.__version__, "
        "'scipy': scipy.__version__, 'python': sys.version.split()[0]}))"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"the peer python {python} cannot import metric-learn / scikit-learn: {last}")
    return json.loads(done.stdout)


# -- one (learner, data set) pair: the folds both sides receive -----------------------------------


def fold_indices(data: datasets.Data, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices, computed once per data set and shared by every side."""
    n = len(data.y)
    if data.scaling:
        tests = stratified_folds(data.y, 5, seed)[:1]
    elif data.task == CLASSIFICATION:
        tests = stratified_folds(data.y, n_folds, seed)
    else:
        tests = kfold(n, n_folds, seed)
    return [(np.setdiff1d(np.arange(n), test), test) for test in tests]


def protocol_text(data: datasets.Data, n_folds: int, seed: int) -> str:
    if data.scaling:
        return f"one 80/20 split (fold 0 of 5 stratified folds, seed {seed})"
    kind = "stratified " if data.task == CLASSIFICATION else ""
    return f"{n_folds}-fold {kind}CV, seed {seed}"


def draw_constraints(kind: str, labels: np.ndarray, n_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Constraints from the training labels, as row indices into the training fold."""
    count = constraint_count(kind, n_classes)
    if kind == "chunks":
        return {"cons": metricli_constraints.chunks_from_labels(labels, count, CHUNK_SIZE, seed).ids}
    drawn = metricli_constraints.from_labels(kind, labels, count, seed)
    columns = drawn.as_columns()
    out = {"cons": np.stack([columns[c] for c in drawn.columns if c != "y"], axis=1)}
    if kind == "pairs":
        out["cons_y"] = drawn.y
    return out


@dataclasses.dataclass
class Fold:
    """What scoring needs of one fold."""

    y_train: np.ndarray
    y_test: np.ndarray
    #: training points whose label the learner saw (all but for semi-supervised learners)
    labelled: np.ndarray
    #: constraints actually drawn (fewer than asked when the labels cannot give more)
    n_constraints: int = 0


def build_job(
    bench: Benchmark | None, data: datasets.Data, folds: list, seed: int
) -> tuple[dict[str, np.ndarray], list[Fold]]:
    """The standardized folds (plus constraints or label masks) every side receives, and the scoring folds."""
    arrays: dict[str, np.ndarray] = {}
    scoring = []
    for f, (train, test) in enumerate(folds):
        X_train, X_test = datasets.standardize(data.X[train], data.X[test])
        arrays[f"train_{f}"], arrays[f"test_{f}"], arrays[f"y_{f}"] = X_train, X_test, data.y[train]
        labelled = np.ones(len(train), dtype=bool)
        if bench is not None and bench.unlabelled_fraction:
            hidden = np.random.default_rng(seed + f).permutation(len(train))
            labelled[hidden[: round(bench.unlabelled_fraction * len(train))]] = False
            arrays[f"labelled_{f}"] = labelled
        n_constraints = 0
        if bench is not None and bench.constraints:
            drawn = draw_constraints(bench.constraints, data.y[train], data.n_classes, seed + f)
            arrays.update({f"{name}_{f}": values for name, values in drawn.items()})
            cons = drawn["cons"]
            n_constraints = len(np.unique(cons[cons >= 0])) if cons.ndim == 1 else len(cons)
        scoring.append(Fold(data.y[train], data.y[test], labelled, n_constraints))
    return arrays, scoring


def score_fold(task: str, embed_train: np.ndarray, embed_test: np.ndarray, fold: Fold) -> dict:
    """kNN (k = 3) in the embedding: accuracy, or RMSE and MAE. The one scoring code for every side."""
    train, labels = embed_train[fold.labelled], fold.y_train[fold.labelled]
    if task == CLASSIFICATION:
        predicted = knn_classify(train, labels, embed_test, k=K)
        return {"score": float(np.mean(predicted == fold.y_test))}
    error = knn_regress(train, labels, embed_test, k=K) - fold.y_test
    return {"score": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


# -- one side: a fresh worker process ---------------------------------------------------------------


@dataclasses.dataclass
class Side:
    kind: str  # "metricli" or "peer"
    subject: str  # the name in the table
    python: str
    library: str  # "metricli", "metric-learn", "scikit-learn"
    cls: str
    params: dict


def sides_of(bench: Benchmark, peer_py: str | None, seed: int) -> list[Side]:
    """metricli and the peers, with ``--seed`` as every side's ``random_state``."""
    ours = {**bench.params, "random_state": seed}  # dropped by the worker if the learner has no seed
    sides = [Side("metricli", "metricli", sys.executable, "metricli", bench.learner, ours)]
    if peer_py:
        for peer in bench.peers:
            params = {**peer.params, "random_state": seed} if "random_state" in peer.params else peer.params
            sides.append(Side("peer", peer.label, peer_py, peer.library, peer.cls, params))
    return sides


def feed_of(bench: Benchmark, side: Side) -> str:
    """How the worker calls ``fit``: with labels, targets, nothing, a label mask or constraints."""
    if bench.constraints:
        return bench.constraints
    if bench.supervision == "semi-supervised" and bench.unlabelled_fraction:
        return "semi" if side.kind == "metricli" else "labelled-only"
    if bench.supervision == "semi-supervised":  # every label given: fitted as a supervised learner
        return "supervised"
    return bench.supervision


def worker_env(threads: int, side: Side) -> dict:
    env = dict(os.environ)
    if threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
            env[var] = str(threads)
    if side.kind == "metricli":  # this checkout's metricli, even if another copy is installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_worker(python: str, job_dir: Path, spec: dict, env: dict) -> dict:
    """Run the worker in a fresh process under a watchdog; its result.json, or why it died."""
    (job_dir / "job.json").write_text(json.dumps(spec))
    for stale in [*job_dir.glob("embed_*.npz"), job_dir / "result.json", job_dir / "progress"]:
        stale.unlink(missing_ok=True)
    killed = ""
    with open(job_dir / "stdout", "w") as out, open(job_dir / "stderr", "w") as err:
        proc = subprocess.Popen(
            [python, str(WORKER), str(job_dir)], stdout=out, stderr=err, env=env, start_new_session=True
        )
        started = time.time()
        try:
            while proc.poll() is None:
                time.sleep(0.2)
                try:
                    fold, fold_start = (job_dir / "progress").read_text().split()
                except (OSError, ValueError):  # not fitting yet (or the file is being written)
                    if time.time() - started > STARTUP_GRACE_S:
                        killed = f"worker did not start fitting within {STARTUP_GRACE_S:g} s"
                else:
                    if time.time() - float(fold_start) > spec["timeout"] + KILL_GRACE_S:
                        killed = f"timeout after {spec['timeout']:g} s (fold {fold}; killed)"
                if killed:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        except BaseException:  # Ctrl-C: take the worker down with us
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    result_path = job_dir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else {"folds": []}
    if killed:
        result.update(status="timeout", reason=killed)
    elif result.get("status") in (None, "running"):
        if proc.returncode < 0:
            why = f"killed by signal {-proc.returncode}"
            if -proc.returncode == signal.SIGKILL:
                why += " (likely the kernel's out-of-memory killer)"
        else:
            lines = (job_dir / "stderr").read_text().strip().splitlines()
            why = f"exit status {proc.returncode}: {lines[-1] if lines else 'no message'}"
        result.update(status="crashed", reason=f"worker {why}")
    return result


def summarize(
    bench: Benchmark, data: datasets.Data, side: Side, result: dict, scores: list[dict], scoring: list[Fold]
) -> dict:
    """One record of the results JSON: status, mean score, mean fit time, peak memory, what was run."""
    folds = result.get("folds", [])
    record = {
        "learner": bench.key,
        "dataset": data.name,
        "subject": side.subject,
        "side": side.kind,
        "library": side.library,
        "class": side.cls,
        "metric": "accuracy" if data.task == CLASSIFICATION else "rmse",
        "status": result.get("status", "crashed"),
        "reason": result.get("reason", ""),
        "n": len(data.y),
        "d": int(data.X.shape[1]),
        "folds_done": len(folds),
        "params": result.get("used_params", side.params),
        "ignored_params": result.get("ignored_params", []),
        "versions": result.get("versions", {}),
        "warnings": sorted({w for f in folds for w in f.get("warnings", [])}),
    }
    if bench.constraints:
        record["constraints"] = {
            "kind": bench.constraints,
            "asked": constraint_count(bench.constraints, data.n_classes),
            "drawn_per_fold": [fold.n_constraints for fold in scoring],
            **({"chunk_size": CHUNK_SIZE} if bench.constraints == "chunks" else {}),
        }
    if bench.unlabelled_fraction:
        record["unlabelled_fraction"] = bench.unlabelled_fraction
    if side.kind == "metricli" and not bench.peers:
        record["no_peer"] = bench.no_peer
    if folds:
        record.update(
            fit_wall_s=float(np.mean([f["fit_wall_s"] for f in folds])),
            fit_cpu_s=float(np.mean([f["fit_cpu_s"] for f in folds])),
            fit_wall_s_folds=[f["fit_wall_s"] for f in folds],
            peak_rss_mb=max(f["peak_rss_kb"] for f in folds) / 1024,
            fit_rss_mb=max(f["peak_rss_kb"] - f["rss_kb_before_fit"] for f in folds) / 1024,
            memory_method=result.get("memory_method", "?"),
            n_iter=[f["n_iter"] for f in folds],
            converged=[f["converged"] for f in folds],
            n_components=folds[0]["n_components"],
        )
    if record["status"] == "ok" and scores:
        values = [s["score"] for s in scores]
        record.update(score=float(np.mean(values)), score_std=float(np.std(values)), scores=values)
        if "mae" in scores[0]:
            record["mae"] = float(np.mean([s["mae"] for s in scores]))
    return record


def run_side(
    bench: Benchmark, data: datasets.Data, side: Side, job_dir: Path, scoring: list[Fold], args, limit
) -> dict:
    spec = {
        "side": side.library,
        "cls": side.cls,
        "params": side.params,
        "feed": feed_of(bench, side),
        "n_folds": len(scoring),
        "timeout": args.timeout,
        "memory_limit_bytes": limit,
    }
    result = run_worker(side.python, job_dir, spec, worker_env(args.threads, side))
    scores = []
    for f in range(len(result.get("folds", []))):
        with np.load(job_dir / f"embed_{f}.npz") as embedded:
            train, test = embedded["train"], embedded["test"]
        if not (np.all(np.isfinite(train)) and np.all(np.isfinite(test))):
            # a learned space holding NaN or inf cannot be scored: the fit failed, whatever it says
            result = {
                **result,
                "status": "failed",
                "reason": f"the learned space holds NaN or inf (fold {f})",
            }
            scores = []
            break
        scores.append(score_fold(data.task, train, test, scoring[f]))
    return summarize(bench, data, side, result, scores, scoring)


def euclidean_record(data: datasets.Data, folds: list) -> dict:
    """kNN on the standardized features: the baseline column."""
    arrays, scoring = build_job(None, data, folds, 0)
    scores = [
        score_fold(data.task, arrays[f"train_{f}"], arrays[f"test_{f}"], s) for f, s in enumerate(scoring)
    ]
    base = Benchmark(report.EUCLIDEAN, "supervised" if data.task == CLASSIFICATION else "regression", {}, ())
    side = Side("baseline", report.EUCLIDEAN, "", "", "", {})
    return summarize(base, data, side, {"status": "ok"}, scores, scoring)


# -- the run -------------------------------------------------------------------------------------


def machine() -> dict:
    memory_kb = 0
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "cpu": cpu,
        "memory_gb": memory_kb / 2**20,
        "platform": platform.platform(terse=True),
        "load_start": load_average(),
    }


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def metricli_versions() -> dict:
    import metricli

    def git(*cmd: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *cmd], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    if git("status", "--porcelain", "--", "metricli", "benchmarks", ":!benchmarks/results"):
        commit += " + uncommitted changes"
    return {
        "metricli": metricli.__version__,
        "git": commit,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }


def command_line(argv: list[str]) -> str:
    """The command as typed from the repository root; PEER_PYTHON, when set, is recorded by
    name only (its value is a path on one machine, which a results file must not carry)."""
    prefix = "PEER_PYTHON=... " if os.environ.get("PEER_PYTHON") else ""
    return prefix + shlex.join(["python", "benchmarks/run.py", *argv])


def list_table() -> None:
    for bench in BENCHMARKS:
        here = "yes" if bench.learner in LEARNERS else "not in metricli yet"
        peers = ", ".join(p.label for p in bench.peers) or bench.no_peer
        extra = f"; constraints: {bench.constraints}" if bench.constraints else ""
        print(f"{bench.key:11s} {bench.supervision:18s} metricli: {here:20s} peers: {peers}{extra}")
    missing = sorted(set(LEARNERS) - set(BY_NAME))
    if missing:
        print(f"in metricli but not in benchmarks/peers.py: {', '.join(missing)}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        list_table()
        return 0
    started = time.time()
    benches = select_learners(args)
    names, explicit = select_datasets(args)
    for name in sorted(set(LEARNERS) - set(BY_NAME)):
        print(f"note: metricli learner '{name}' has no entry in benchmarks/peers.py", file=sys.stderr)
    if not any(applies(b, name, explicit) for b in benches for name in names):
        raise SystemExit(
            "nothing to run: none of the chosen learners applies to the chosen data sets "
            "(mlkr needs diabetes; the others need a classification data set)"
        )
    peer_py = None if args.no_peers else peer_python(args)
    versions = {"metricli": metricli_versions()}
    if peer_py:
        versions["peer"] = peer_versions(peer_py)
    limit = int(args.memory_limit_gb * 2**30) if args.memory_limit_gb > 0 else None
    threads = (
        f"{args.threads} BLAS thread(s) per side" if args.threads > 0 else "BLAS threads: library default"
    )
    run = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(argv),
        "machine": machine(),
        "versions": versions,
        "data": {},
        "settings": {
            "mode": "quick" if args.quick else "full",
            "folds": args.folds,
            "seed": args.seed,
            "timeout": args.timeout,
            "memory_limit_gb": args.memory_limit_gb,
            "threads": args.threads,
            "threads_text": threads,
        },
    }
    stem = args.output or run["settings"]["mode"]
    previous = report.load(RESULTS / f"{stem}.json", args.fresh)
    run["id"] = report.next_run_id(previous)
    records: list[dict] = []
    gave_up: dict[tuple[str, str], str] = {}  # (learner, subject) -> why the larger scaling sizes are skipped
    with tempfile.TemporaryDirectory(prefix="metricli-bench-") as tmp:
        for name in names:
            chosen = [b for b in benches if applies(b, name, explicit)]
            if not chosen:
                continue
            data = datasets.load(name, args.data_dir)
            run["data"][name] = (
                os.path.relpath(data.source, REPO) if os.path.isabs(data.source) else data.source
            )
            folds = fold_indices(data, args.folds, args.seed)
            protocol = protocol_text(data, len(folds), args.seed)
            records.append({**euclidean_record(data, folds), "protocol": protocol})
            for bench in chosen:
                arrays, scoring = build_job(bench, data, folds, args.seed)
                job_dir = Path(tmp) / f"{bench.key}-{name}"
                job_dir.mkdir()
                np.savez(job_dir / "data.npz", **arrays)
                for side in sides_of(bench, peer_py, args.seed):
                    t0 = time.time()
                    if side.kind == "metricli" and bench.learner not in LEARNERS:
                        result = {"status": "missing", "reason": "not in metricli yet"}
                        record = summarize(bench, data, side, result, [], scoring)
                    elif (bench.key, side.subject) in gave_up:
                        result = {"status": "skipped", "reason": gave_up[(bench.key, side.subject)]}
                        record = summarize(bench, data, side, result, [], scoring)
                    else:
                        record = run_side(bench, data, side, job_dir, scoring, args, limit)
                    record["protocol"] = protocol
                    if data.scaling and record["status"] in ("timeout", "oom", "crashed"):
                        gave_up[(bench.key, side.subject)] = f"skipped after {record['status']} at {name}"
                    records.append(record)
                    shown = f"{record['score']:.4f}" if "score" in record else record["reason"]
                    print(
                        f"{bench.key:10s} {name:13s} {side.subject:45s} {shown}  ({time.time() - t0:.1f} s)",
                        file=sys.stderr,
                    )
                # after every (learner, data set): an interrupted full run keeps what it measured
                write_results(stem, previous, run, records, started)
    print(write_results(stem, previous, run, records, started))
    print(f"wrote {RESULTS / stem}.md and {stem}.json in {run['elapsed_s']:.0f} s", file=sys.stderr)
    return 0


def write_results(stem: str, previous: dict, run: dict, records: list[dict], started: float) -> str:
    run["machine"]["load_end"] = load_average()
    run["elapsed_s"] = time.time() - started
    results = report.merge(previous, run, records)
    markdown = report.render(results, f"metricli vs metric-learn / scikit-learn — {stem} benchmark")
    report.write_atomic(RESULTS / f"{stem}.json", json.dumps(results, indent=1))
    report.write_atomic(RESULTS / f"{stem}.md", markdown)
    return markdown


if __name__ == "__main__":
    sys.exit(main())
