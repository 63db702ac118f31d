"""All-pairs verification at scale: `metricli evaluate BUNDLE TEST --group ID`.

    python benchmarks/verification_scale.py                  # 10,000 points of 1,000 identities
    python benchmarks/verification_scale.py --points 2000    # a quicker look

Generates seeded synthetic identities (--identities identities of --points / --identities
points each, --dim features: each identity a Gaussian around its own centre, all sharing
one random anisotropic covariance, so a learned metric has something to undo), fits LFDA
on a separate set of training identities (never the test ones: identity-disjoint), then
times, as its own process, the command a user runs:

    python -m metricli evaluate BUNDLE test.parquet --group identity --json

which scores every pair of the test points, learned and Euclidean (about 5·10⁷ pairs for
10⁴ points), with the default 1,000 bootstrap resamples. Peak memory is the kernel's peak
resident size of that process (ru_maxrss from wait4).

The machine may be shared: the wall time is shown beside the CPU time of the process (user +
system, all threads) and the load average when it started.

Then the exactness check: the same command on the first --subset test points (whole
identities), against an in-memory computation that holds every pair's distance (scipy's
pdist from differences) and takes the ROC from scikit-learn: the EER is found on
scikit-learn's curve by root search, AUC is roc_auc_score.

Data live in --workdir (default: a temporary folder), deleted at the end unless --keep.
Results go to benchmarks/results/verification_scale.json and are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def identities(n_points: int, n_identities: int, dim: int, seed: int, first: int = 0) -> pd.DataFrame:
    """n_points rows of n_identities identities (equal shares), columns x0.., identity."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(12345).normal(size=(dim, dim)) * np.geomspace(0.2, 3.0, dim)
    per = n_points // n_identities
    centres = rng.normal(size=(n_identities, dim)) * 1.5
    ids = np.repeat(np.arange(n_identities), per)
    X = centres[ids] + rng.normal(size=(ids.size, dim)) @ mixing.T * 0.6
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(dim)])
    frame["identity"] = [f"id{first + i}" for i in ids]
    return frame


def timed(command: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MiB, stdout) of one process: the kernel's figures from
    wait4 (ru_utime + ru_stime over all its threads, ru_maxrss in KiB on Linux)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the output is small (one JSON object, -q keeps stderr short); read it, then reap with usage
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout.decode()


def exact(bundle: Path, frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """AUC and EER of every pair, all distances in memory, ROC by scikit-learn."""
    from scipy.optimize import brentq
    from scipy.spatial.distance import pdist
    from sklearn.metrics import roc_auc_score, roc_curve

    X = frame.drop(columns="identity").to_numpy()
    meta = json.loads((bundle / "metadata.json").read_text())
    scale = (meta.get("preprocessing") or {}).get("scale")
    spaces = {"learned": X @ np.load(bundle / "L.npy").T, "euclidean": X / np.asarray(scale) if scale else X}
    y = frame["identity"].to_numpy()
    i, j = np.triu_indices(y.size, 1)
    genuine = y[i] == y[j]
    result = {}
    for name, Z in spaces.items():
        d = pdist(Z)
        fpr, tpr, _ = roc_curve(genuine, -d, drop_intermediate=False)
        s = np.arange(fpr.size, dtype=float)

        def gap(t: float, fpr=fpr, tpr=tpr, s=s) -> float:
            return np.interp(t, s, fpr) - (1.0 - np.interp(t, s, tpr))

        eer = float(np.interp(brentq(gap, 0.0, s[-1], xtol=1e-14, rtol=1e-15), s, fpr))
        result[name] = {"auc": float(roc_auc_score(genuine, -d)), "eer": eer, "pairs": int(d.size)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--identities", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--train-identities", type=int, default=300)
    parser.add_argument("--subset", type=int, default=2_000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "verification_scale.json")
    args = parser.parse_args()

    own = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="metricli-verify-")) if own else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    per = args.points // args.identities
    test = identities(args.points, args.identities, args.dim, args.seed + 1, first=10**6)
    train = identities(args.train_identities * per, args.train_identities, args.dim, args.seed)
    assert not set(train["identity"]) & set(test["identity"])
    test_path, train_path, bundle = workdir / "test.parquet", workdir / "train.parquet", workdir / "bundle"
    test.to_parquet(test_path)
    train.to_parquet(train_path)
    metricli = [sys.executable, "-m", "metricli"]
    subprocess.run(
        [
            *metricli,
            "fit",
            "lfda",
            str(train_path),
            "--label",
            "identity",
            "-o",
            str(bundle),
            "-q",
            "--force",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    load = round(os.getloadavg()[0], 1)
    n_pairs = args.points * (args.points - 1) // 2
    print(f"evaluate --group on {args.points} points of {args.identities} identities ({n_pairs:,} pairs)...")
    seconds, cpu, peak, stdout = timed(
        [
            *metricli,
            "evaluate",
            str(bundle),
            str(test_path),
            "--group",
            "identity",
            "--bootstrap",
            str(args.bootstrap),
            "--json",
            "-q",
        ]
    )
    full = json.loads(stdout)

    subset = test.iloc[: args.subset - args.subset % per]
    subset_path = workdir / "subset.parquet"
    subset.to_parquet(subset_path)
    sub_seconds, sub_cpu, sub_peak, stdout = timed(
        [
            *metricli,
            "evaluate",
            str(bundle),
            str(subset_path),
            "--group",
            "identity",
            "--bootstrap",
            "0",
            "--json",
            "-q",
        ]
    )
    streamed = json.loads(stdout)
    reference = exact(bundle, subset)
    check = {
        name: {
            "eer_streamed": streamed[name]["eer"]["value"],
            "eer_exact": reference[name]["eer"],
            "eer_difference": abs(streamed[name]["eer"]["value"] - reference[name]["eer"]),
            "auc_streamed": streamed[name]["auc"]["value"],
            "auc_exact": reference[name]["auc"],
            "auc_difference": abs(streamed[name]["auc"]["value"] - reference[name]["auc"]),
        }
        for name in ("learned", "euclidean")
    }
    record = {
        "command": "python benchmarks/verification_scale.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "points": args.points,
        "identities": args.identities,
        "dim": args.dim,
        "pairs": n_pairs,
        "n_genuine": full["learned"]["n_genuine"],
        "n_impostor": full["learned"]["n_impostor"],
        "bootstrap": args.bootstrap,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "load_average_before": load,
        "peak_rss_mib": round(peak, 1),
        "figures": {name: {key: full[name][key] for key in full[name]} for name in ("learned", "euclidean")},
        "subset": {
            "points": len(subset),
            "pairs": reference["learned"]["pairs"],
            "seconds": round(sub_seconds, 2),
            "cpu_seconds": round(sub_cpu, 2),
            "peak_rss_mib": round(sub_peak, 1),
            "check": check,
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "figures"}, indent=2))
    for name in ("learned", "euclidean"):
        f = full[name]
        print(
            f"{name:9s} AUC {f['auc']['value']:.4f}  EER {f['eer']['value']:.4f}  "
            f"TAR@1e-3 {f['tar_at_far_0.001']['value']:.4f}"
        )
    if own and not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
