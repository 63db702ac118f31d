"""``metricli info``: describe a model bundle."""

from __future__ import annotations

from typing import Any

from metricli.cli import render
from metricli.cli.common import BundleArgument, JsonOption, QuietOption, configure, emit_json, out, settings
from metricli.io.bundle import load_bundle


def info(
    bundle_path: BundleArgument,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Describe a model bundle: algorithm, parameters, features, input checksum, fit report, verdict."""
    configure(json_output, quiet)
    bundle = load_bundle(bundle_path)
    meta = bundle.metadata
    if settings.json:
        emit_json({"bundle": str(bundle.path), "metadata": meta, "axioms": bundle.axioms})
        return
    fit, data = bundle.section("fit"), bundle.section("input")
    render.key_values(
        f"{bundle.path}",
        [
            ("algorithm", f"{meta.get('algorithm')} ({meta.get('supervision')})"),
            ("verdict", bundle.axioms.get("verdict")),
            ("features", f"{meta['n_features']}: {', '.join(meta['feature_names'])}"),
            ("components", meta.get("n_components")),
            ("parameters", ", ".join(f"{k}={v}" for k, v in bundle.section("params").items()) or "-"),
            ("seed", meta.get("seed")),
            ("standardized", "yes" if bundle.section("preprocessing").get("standardize") else "no"),
            ("input", data.get("path")),
            ("input sha256", data.get("sha256")),
            ("rows used", f"{data.get('rows_used')} of {data.get('rows_read')}"),
            ("label / target", data.get("label") or data.get("target")),
            ("iterations", fit.get("iterations")),
            ("objective", fit.get("objective")),
            ("converged", "yes" if fit.get("converged") else "NO"),
            ("fit seconds", fit.get("seconds")),
            ("created", meta.get("created")),
            ("versions", ", ".join(f"{k} {v}" for k, v in bundle.section("versions").items())),
            *_selection_rows(meta.get("selection")),
        ],
    )
    out.print("checksums verified", style="dim")


def _selection_rows(selection: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """For a bundle written by ``fit auto``: what was chosen, why, and the top of the leaderboard."""
    if not selection:
        return []
    figure = selection["figure"]
    top = ", ".join(f"{row['name']} {row['mean']:.4g}" for row in selection["leaderboard"][:5])
    return [
        (
            "chosen by",
            f"fit auto: {selection['cv']}-fold cross-validation of {len(selection['leaderboard'])} candidates",
        ),
        ("why", selection["verdict"]),
        (f"leaderboard ({figure})", top),
        ("skipped", ", ".join(s["name"] for s in selection["skipped"]) or "none"),
    ]
