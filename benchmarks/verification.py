"""Verification at scale, and on identities the metric never saw.

Two parts, run from the repository root::

    python -m benchmarks.verification                    # both parts
    python -m benchmarks.verification --part scale --points 10000 --identities 1000
    python -m benchmarks.verification --part digits --data ../shared/data/digits.csv

scale: every pair of --points synthetic points of --identities identities (about
n²/2 pairs: 5·10⁷ for 10⁴ points) scored by ``metricli evaluate BUNDLE DATA --group id``
as its own process, wall time and peak resident memory (ru_maxrss, from wait4) recorded,
with and without bootstrap intervals. Then its EER is checked against the exact
computation on a --subset of the points: every pair's distance in memory, the ROC from
scikit-learn's ``roc_curve`` and the EER where FAR = FRR on it.

digits: the UCI handwritten digits treated as identities, identity-disjoint: each learner
is fitted on the digits 0-4 and verified on every pair of the digits 5-9 (never seen),
learned beside Euclidean (EER and TAR at FAR 1e-2), through the CLI.

Data and bundles live in --workdir (a temporary folder unless given), outside the
repository. The machine may be shared: times are indicative.
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
import pandas as pd

HERE = Path(__file__).resolve().parent
DEFAULT_DIGITS = HERE.parent.parent / "shared" / "data" / "digits.csv"  # ../shared/data beside the repository


def metricli(*args: object) -> list[str]:
    return [sys.executable, "-m", "metricli", *map(str, args)]


def measured(command: list[str]) -> tuple[dict, str]:
    """Run ``command``; wall time and peak RSS of that child (MiB), and its stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout_chunks = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{stderr}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}, stdout_chunks


def synthetic(n: int, identities: int, d: int, seed: int) -> pd.DataFrame:
    """Identities as Gaussian clusters: a centre each, points scattered around it with a
    shared anisotropic noise (so that a learned metric has something to undo)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, d))
    who = np.concatenate([np.arange(identities), rng.integers(0, identities, n - identities)])
    scale = np.exp(rng.normal(scale=1.0, size=d))
    X = centres[who] + rng.normal(scale=1.2, size=(n, d)) * scale
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    frame["id"] = [f"p{i:05d}" for i in who]
    return frame


def exact_eer(d: np.ndarray, genuine: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(genuine, -d, drop_intermediate=False)
    gap = fpr + tpr - 1.0
    j = int(np.argmax(gap >= 0))
    if gap[j] == 0:
        return float(fpr[j])
    t = -gap[j - 1] / (gap[j] - gap[j - 1])
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


def scale_part(args: argparse.Namespace, work: Path) -> dict:
    frame = synthetic(args.points, args.identities, args.dim, args.seed)
    data = work / "points.csv"
    frame.to_csv(data, index=False)
    bundle = work / "rca"
    subprocess.run(
        metricli("fit", "rca", data, "--chunks", "id", "--exclude", "id", "-o", bundle, "--force", "-q"),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = {}
    for name, extra in (("no intervals", ["--bootstrap", "0"]), ("1000 bootstrap resamples", [])):
        figures, stdout = measured(
            metricli("evaluate", bundle, data, "--group", "id", "--json", "-q", *extra)
        )
        result = json.loads(stdout)
        figures.update(
            pairs=result["learned"]["n_genuine"] + result["learned"]["n_impostor"],
            genuine=result["learned"]["n_genuine"],
            eer_learned=result["learned"]["eer"]["value"],
            eer_euclidean=result["euclidean"]["eer"]["value"],
        )
        runs[name] = figures
        print(
            f"{name:26s} {figures['seconds']:7.1f} s  peak RSS {figures['peak_rss_mib']:7.1f} MiB", flush=True
        )
    # the exact check: a subset small enough for every pair in memory
    subset = frame.iloc[: args.subset]
    small = work / "subset.csv"
    subset.to_csv(small, index=False)
    _, stdout = measured(
        metricli("evaluate", bundle, small, "--group", "id", "--json", "-q", "--bootstrap", "0")
    )
    streamed = json.loads(stdout)["learned"]["eer"]["value"]
    L = np.load(bundle / "L.npy")
    Z = subset.drop(columns="id").to_numpy() @ L.T
    i, j = np.triu_indices(len(subset), k=1)
    ids = subset["id"].to_numpy()
    exact = exact_eer(np.linalg.norm(Z[i] - Z[j], axis=1), ids[i] == ids[j])
    print(f"EER on the {args.subset}-point subset: metricli {streamed:.12f}, exact {exact:.12f}", flush=True)
    return {
        "points": args.points,
        "identities": args.identities,
        "dim": args.dim,
        "runs": runs,
        "subset": {"points": args.subset, "eer_metricli": streamed, "eer_exact": exact},
    }


def digits_part(args: argparse.Namespace, work: Path) -> dict:
    frame = pd.read_csv(args.data)
    label = "digit"
    seen, unseen = work / "digits_0_4.csv", work / "digits_5_9.csv"
    frame[frame[label] <= 4].to_csv(seen, index=False)
    frame[frame[label] >= 5].to_csv(unseen, index=False)
    rows = {}
    for learner in args.learners:
        bundle = work / f"digits_{learner}"
        # the pixels share one scale (0-16): no --standardize, so every learner has the same baseline
        fit = metricli("fit", learner, seen, "--label", label, "-o", bundle, "--force", "-q")
        subprocess.run(fit, check=True, stdout=subprocess.DEVNULL)
        _, stdout = measured(
            metricli(
                "evaluate",
                bundle,
                unseen,
                "--group",
                label,
                "--far",
                "1e-2",
                "--json",
                "-q",
                "--bootstrap",
                "200",
            )
        )
        result = json.loads(stdout)
        rows[learner] = {
            side: {key: result[side][key] for key in ("eer", "tar_at_far_0.01")}
            for side in ("learned", "euclidean")
        }
        rows[learner]["pairs"] = result["learned"]["n_genuine"] + result["learned"]["n_impostor"]
        learned, euclidean = rows[learner]["learned"], rows[learner]["euclidean"]
        print(
            f"{learner:10s} EER {learned['eer']['value']:.4f} (Euclidean {euclidean['eer']['value']:.4f})  "
            f"TAR@FAR=1e-2 {learned['tar_at_far_0.01']['value']:.4f} "
            f"(Euclidean {euclidean['tar_at_far_0.01']['value']:.4f})",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["scale", "digits", "both"], default="both")
    parser.add_argument(
        "--workdir", type=Path, help="Where data and bundles go (default: a temporary folder)."
    )
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--identities", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--subset", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DIGITS, help="The digits CSV (a 'digit' column)."
    )
    parser.add_argument("--learners", nargs="+", default=["lmnn", "nca", "lfda", "itml", "rca", "kissme"])
    parser.add_argument("--json-out", type=Path, help="Also write the figures here as JSON.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures = {}
        if args.part in ("scale", "both"):
            figures["scale"] = scale_part(args, work)
        if args.part in ("digits", "both"):
            figures["digits"] = digits_part(args, work)
    print(json.dumps(figures, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
