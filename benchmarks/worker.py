"""Fit one subject (metricli or a peer) on every fold of one job, in a fresh process.

    python worker.py JOB_DIR

Runs under either interpreter: the metricli one (imports metricli only) or the peer
venv (imports metric-learn / scikit-learn only, never metricli). The harness writes
``JOB_DIR/job.json`` (what to fit, with which parameters and limits) and
``JOB_DIR/data.npz`` (the already standardized folds and the constraints drawn for
them); this script writes, after every fold, ``embed_<fold>.npz`` (the training and
test points mapped by the learned L) and ``result.json`` (fit times, peak memory,
status). Scoring is not done here: the harness scores both sides with one code.

Fit time is measured around ``fit`` only (wall clock and process CPU time); a fit
under 50 ms is repeated on fresh models (up to 25 times or 0.25 s) and the median
kept, since a single few-millisecond timing is mostly scheduler noise. Memory
is the resident set size on Linux's ``/proc/self/status``: VmRSS just before each
fit and VmHWM (the peak) just after it, the peak being reset before the fit through
``/proc/self/clear_refs``, so each fold's peak is its own. Not ``ru_maxrss``: Linux
carries the parent's peak across fork + exec, so a child of a big harness would
inherit it. Elsewhere it falls back to ``ru_maxrss`` (and says so). A fit running
longer than the timeout is interrupted by SIGALRM; an address-space limit
(RLIMIT_AS) turns running out of memory into a MemoryError.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import warnings
from pathlib import Path

#: about the libraries' future, not about this fit: not recorded
QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


#: fits faster than this are repeated (fresh model each time) and the median time kept
REPEAT_BELOW_S = 0.05
REPEAT_BUDGET_S = 0.25
MAX_REPEATS = 25


class FitTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise FitTimeout


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _memory_kb() -> tuple[int, str]:
    """(current RSS, method) before a fit."""
    rss = _proc_status_kb("VmRSS")
    if rss is not None:
        return rss, "VmHWM, reset before each fit" if _reset_peak() else "VmHWM since process start"
    return int(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ), "ru_maxrss (may include the parent's peak)"


def _peak_kb() -> int:
    peak = _proc_status_kb("VmHWM")
    return peak if peak is not None else int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."


# -- building the model ------------------------------------------------------------------


def _metricli_model(spec: dict) -> tuple[object, dict, list[str]]:
    """The metricli learner with the spec's parameters resolved against its signature."""
    from metricli.learners import LEARNERS

    cls = LEARNERS[spec["cls"]]
    accepted = set(cls._param_names())
    used, ignored = {}, []
    for key, value in spec["params"].items():
        names = [name for name in key.split("|") if name in accepted]
        if names:
            used[names[0]] = value
        elif key != "random_state":  # deterministic learners have no seed: nothing lost
            ignored.append(key)
    return cls(**used), used, ignored


def _peer_model(spec: dict) -> tuple[object, dict, list[str]]:
    if spec["side"] == "scikit-learn":
        import sklearn.neighbors

        cls = getattr(sklearn.neighbors, spec["cls"])
    else:
        import metric_learn

        cls = getattr(metric_learn, spec["cls"])
    return cls(**spec["params"]), dict(spec["params"]), []


def _fit_arguments(spec: dict, data: dict, fold: int) -> tuple:
    """The arguments of ``fit`` for this side and this kind of supervision."""
    import numpy as np

    X = data[f"train_{fold}"]
    feed = spec["feed"]
    if feed == "unsupervised":
        return (X,)
    if feed in ("supervised", "regression"):
        return X, data[f"y_{fold}"]
    if feed == "semi":  # metricli: unlabelled rows carry None
        labels = data[f"y_{fold}"].astype(object)
        labels[~data[f"labelled_{fold}"]] = None
        return X, labels
    if feed == "labelled-only":
        mask = data[f"labelled_{fold}"]
        return X[mask], data[f"y_{fold}"][mask]
    index = data[f"cons_{fold}"]
    if spec["side"] == "metricli":
        from metricli import constraints as c

        if feed == "pairs":
            return X, c.Pairs(index[:, 0], index[:, 1], data[f"cons_y_{fold}"])
        if feed == "triplets":
            return X, c.Triplets(index[:, 0], index[:, 1], index[:, 2])
        if feed == "quadruplets":
            return X, c.Quadruplets(index[:, 0], index[:, 1], index[:, 2], index[:, 3])
        if feed == "chunks":
            return X, c.Chunks(index)
    else:  # metric-learn: tuples of points (n_tuples, tuple size, n_features), or chunk ids
        if feed == "pairs":
            return X[index], data[f"cons_y_{fold}"]
        if feed in ("triplets", "quadruplets"):
            return (X[index],)
        if feed == "chunks":
            return X, np.asarray(index)
    raise ValueError(f"unknown feed {feed!r}")


# -- the run ---------------------------------------------------------------------------------


def main(job_dir: str) -> int:
    # this directory's files (datasets.py, ...) must not shadow the libraries' imports
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    job = Path(job_dir)
    spec = json.loads((job / "job.json").read_text())
    limit = spec.get("memory_limit_bytes")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))

    import numpy as np

    result: dict = {"status": "running", "reason": "", "folds": [], "pid": os.getpid()}
    with np.load(job / "data.npz") as archive:
        data = {name: archive[name] for name in archive.files}
    if spec["side"] == "metricli":
        import metricli

        result["versions"] = {"metricli": metricli.__version__, "numpy": np.__version__}
        build = _metricli_model
    else:
        import metric_learn
        import scipy
        import sklearn

        result["versions"] = {
            "metric-learn": metric_learn.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        }
        build = _peer_model
    result["python"] = sys.version.split()[0]
    signal.signal(signal.SIGALRM, _on_alarm)
    timeout = float(spec["timeout"])

    for fold in range(int(spec["n_folds"])):
        try:
            model, used, ignored = build(spec)
        except Exception as exc:
            result.update(status="failed", reason=f"cannot build the model: {_first_line(exc)}")
            break
        result["used_params"], result["ignored_params"] = used, ignored
        args = _fit_arguments(spec, data, fold)
        (job / "progress").write_text(f"{fold} {time.time()}")
        rss_before, result["memory_method"] = _memory_kb()
        caught: list = []
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    model.fit(*args)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except FitTimeout:
            result.update(status="timeout", reason=f"timeout after {timeout:g} s (fold {fold})")
            break
        except MemoryError as exc:
            gb = f" (address space limited to {limit / 2**30:g} GB)" if limit else ""
            result.update(status="oom", reason=f"out of memory{gb} (fold {fold}): {_first_line(exc)}")
            break
        except Exception as exc:
            result.update(status="failed", reason=f"{_first_line(exc)} (fold {fold})")
            break
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        peak = _peak_kb()
        repeats = [(wall, cpu)]
        if wall < REPEAT_BELOW_S:  # a few ms: one timing is mostly scheduler noise
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                while len(repeats) < MAX_REPEATS and sum(w for w, _ in repeats) < REPEAT_BUDGET_S:
                    w0, c0 = time.perf_counter(), time.process_time()
                    build(spec)[0].fit(*args)
                    repeats.append((time.perf_counter() - w0, time.process_time() - c0))
            wall, cpu = float(np.median([w for w, _ in repeats])), float(np.median([c for _, c in repeats]))
        try:
            embed_train = model.transform(data[f"train_{fold}"])
            embed_test = model.transform(data[f"test_{fold}"])
        except Exception as exc:
            result.update(status="failed", reason=f"transform: {_first_line(exc)} (fold {fold})")
            break
        np.savez(job / f"embed_{fold}.npz", train=embed_train, test=embed_test)
        messages = []
        for w in caught:
            if issubclass(w.category, QUIET_WARNINGS):
                continue
            lines = str(w.message).strip().splitlines()
            text = f"{w.category.__name__}: {lines[0] if lines else ''}"[:200]
            if text not in messages:
                messages.append(text)
        n_iter = getattr(model, "n_iter_", None)
        converged = getattr(model, "converged_", None)
        result["folds"].append(
            {
                "fold": fold,
                "fit_wall_s": wall,
                "fit_cpu_s": cpu,
                "timed_fits": len(repeats),
                "rss_kb_before_fit": rss_before,
                "peak_rss_kb": peak,
                "n_iter": None if n_iter is None else int(np.max(n_iter)),
                "converged": None if converged is None else bool(converged),
                "n_components": int(np.shape(model.components_)[0]),
                "warnings": messages[:5],
            }
        )
        _write_json(job / "result.json", result)
    else:
        result["status"] = "ok"
    _write_json(job / "result.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
