"""Drawing a report: matplotlib figures as inline SVG images in one HTML file.

matplotlib is an optional extra (``pip install 'metricli[report]'``); nothing here
fetches anything: fonts are drawn as paths, styles are inline, there is no script
from outside.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from metricli.errors import MetricliError, install_extra
from metricli.report.figures import score_name

PALETTE = [
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
]
INK = "#222222"
MUTED = "#8C8C8C"
#: every figure is drawn this wide (inches) and shown at the page's width (CSS img.plot)
WIDTH = 9.6


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MetricliError(
            "metricli report draws with matplotlib, which is not installed; "
            f"install the extra: {install_extra('report')}"
        ) from None
    return matplotlib, Figure


def _svg(fig: Any) -> str:
    matplotlib, _ = _matplotlib()
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "metricli"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float, ncols: int = 1):
    _, Figure = _matplotlib()
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(colors=INK, labelsize=8)
    return fig, axes


def spectrum_bars(spectrum: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
    """What the spectrum plot draws: each eigenvalue's kind (positive, null, negative), its size
    relative to the largest, and the floor of the log axis, a decade below the smallest
    eigenvalue that is not null, where the null ones are marked."""
    values = np.array(spectrum["eigenvalues"])  # largest first
    n = len(values)
    kind = np.full(n, "positive", dtype=object)
    # by inertia the negative eigenvalues are the last ones, the null ones just above them
    negative, null = spectrum["negative"], spectrum["null_dimension"]
    if negative:
        kind[n - negative :] = "negative"
    if null:
        kind[n - negative - null : n - negative] = "null"
    relative = np.abs(values) / (float(np.abs(values).max()) or 1.0)
    seen = relative[(kind != "null") & (relative > 0)]
    floor = float(10 ** (np.floor(np.log10(seen.min() if seen.size else 1.0)) - 1))
    return kind, relative, floor


def spectrum_svg(spectrum: dict[str, Any]) -> str:
    """The eigenvalues of M relative to the largest, on a log axis: a metric of full rank whose
    smallest eigenvalue is 10⁻⁴ of its largest shows every direction stretched (on a linear
    axis it looked null); null directions, zero on any scale, are marked at the floor."""
    kind, relative, floor = spectrum_bars(spectrum)
    n = len(kind)
    fig, (ax,) = _figure(WIDTH, 3.0)
    index = np.arange(1, n + 1)
    base = floor / 10  # the bars rise from a decade below the floor
    styles = {
        "positive": (PALETTE[0], "stretched (λ > 0)"),
        "negative": (PALETTE[3], "negative: not a distance"),
    }
    for name, (colour, label) in styles.items():
        mask = (kind == name) & (relative > floor)
        if mask.any():
            ax.bar(index[mask], relative[mask] - base, bottom=base, color=colour, label=label)
    flat = (kind == "null") | (relative <= floor)
    if flat.any():
        ax.plot(index[flat], np.full(flat.sum(), floor), "x", color=MUTED, markersize=7, mew=2,
                label="null: the distance ignores it")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(base, 1.6)
    ax.set_title(f"rank {spectrum['rank']} of {n}", fontsize=9, color=INK)
    ax.set_xlabel("eigen-direction of M (largest first)", fontsize=9)
    ax.set_ylabel("eigenvalue / largest (log)", fontsize=9)
    ax.set_xticks(index if n <= 20 else index[:: max(1, n // 10)])
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def _scatter(ax: Any, panel: dict[str, Any], colour_by: dict[str, Any]) -> Any:
    x, y = np.array(panel["x"]), np.array(panel["y"])
    handle = None
    if colour_by["kind"] == "class":
        values = np.array(["(unlabelled)" if v is None else v for v in colour_by["values"]], dtype=object)
        for i, cls in enumerate(sorted(set(values))):
            mask = values == cls
            colour = MUTED if cls == "(unlabelled)" else PALETTE[i % len(PALETTE)]
            ax.scatter(x[mask], y[mask], s=10, color=colour, alpha=0.8, linewidths=0, label=str(cls))
    elif colour_by["kind"] == "target":
        handle = ax.scatter(x, y, s=10, c=colour_by["values"], cmap="viridis", alpha=0.85, linewidths=0)
    else:
        ax.scatter(x, y, s=10, color=PALETTE[0], alpha=0.8, linewidths=0)
    ax.set_title(panel["title"], fontsize=9, color=INK)
    return handle


def scatter_svg(scatter: dict[str, Any]) -> str:
    fig, axes = _figure(WIDTH, 3.8, ncols=2)
    _scatter(axes[0], scatter["before"], scatter["colour_by"])
    handle = _scatter(axes[1], scatter["after"], scatter["colour_by"])
    if scatter["colour_by"]["kind"] == "class":
        classes = {v for v in scatter["colour_by"]["values"]}
        if len(classes) <= 12:
            axes[1].legend(
                frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.5
            )
    elif handle is not None:
        fig.colorbar(handle, ax=axes[1], label="target")
    return _svg(fig)


def objective_svg(history: list[float]) -> str:
    fig, (ax,) = _figure(WIDTH, 3.0)
    ax.plot(
        np.arange(1, len(history) + 1),
        history,
        color=PALETTE[0],
        marker="o" if len(history) < 40 else None,
        markersize=3,
    )
    ax.set_xlabel("iteration", fontsize=9)
    ax.set_ylabel("objective", fontsize=9)
    return _svg(fig)


def _objective_course(history: list[float]) -> str:
    """Which way the objective went: learners that maximise theirs (NCA) see it rise."""
    first, last = history[0], history[-1]
    way = "rose" if last > first else "fell" if last < first else "stayed"
    return f"It {way} from {first:.4g} to {last:.4g} in {len(history)} iterations."


def evaluation_svg(evaluation: dict[str, Any]) -> str:
    score = score_name(evaluation)
    folds = evaluation["folds"]
    euclidean = [f["euclidean"][score] for f in folds]
    learned = [f["learned"][score] for f in folds]
    fig, (ax,) = _figure(WIDTH, 3.0)
    index = np.arange(len(folds))
    width = 0.38
    ax.bar(index - width / 2, euclidean, width, color=MUTED, label="Euclidean")
    ax.bar(index + width / 2, learned, width, color=PALETTE[0], label="learned metric")
    ax.set_xticks(index, [f"fold {i + 1}" for i in index])
    ax.set_ylabel(f"kNN {score}", fontsize=9)
    if score == "accuracy":
        ax.set_ylim(max(0.0, min(euclidean + learned) - 0.1), 1.0)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def verification_svg(verification: dict[str, Any]) -> str:
    """ROC (TAR against FAR, FAR on a log axis) and DET (FRR against FAR, both log): learned
    beside Euclidean."""
    fig, (roc, det) = _figure(WIDTH, 3.4, ncols=2)
    for side, colour, name in (("euclidean", MUTED, "Euclidean"), ("learned", PALETTE[0], "learned metric")):
        far = np.asarray(verification["curves"][side]["far"])
        tar = np.asarray(verification["curves"][side]["tar"])
        seen = far > 0
        roc.plot(far[seen], tar[seen], color=colour, label=name, linewidth=1.4)
        keep = seen & (tar < 1)
        det.plot(far[keep], 1.0 - tar[keep], color=colour, label=name, linewidth=1.4)
    roc.set_xscale("log")
    roc.set_xlabel("false accept rate (FAR)", fontsize=9)
    roc.set_ylabel("true accept rate (TAR)", fontsize=9)
    roc.set_title("ROC", fontsize=10)
    det.set_xscale("log")
    det.set_yscale("log")
    det.set_xlabel("false accept rate (FAR)", fontsize=9)
    det.set_ylabel("false reject rate (FRR)", fontsize=9)
    det.set_title("DET", fontsize=10)
    det.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig)


def _verification_section(verification: dict[str, Any] | None) -> str:
    if not verification:
        return ""
    rows = [("auc", "ROC AUC"), ("eer", "EER")] + [
        (f"tar_at_far_{t:g}", f"TAR at FAR {t:g}") for t in verification["far_targets"]
    ]

    def cell(entry: dict[str, Any]) -> str:
        if entry["value"] is None:
            return "-"
        ci = entry["interval"]
        return f"{entry['value']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")

    body = "".join(
        f"<tr><td>{_e(name)}</td><td class='num'>{_e(cell(verification['euclidean'][key]))}</td>"
        f"<td class='num'>{_e(cell(verification['learned'][key]))}</td></tr>"
        for key, name in rows
    )
    learned = verification["learned"]
    return (
        "<h2>Same or different? Verification</h2>"
        f"<p class='note'>{_e(verification['pairs'])}: {learned['n_genuine']} genuine and "
        f"{learned['n_impostor']} impostor pairs, accepted as the same when d &le; a threshold; "
        "95% bootstrap intervals.</p>"
        f"<img alt='ROC and DET curves, Euclidean against learned' "
        f"src='data:image/svg+xml;base64,{verification_svg(verification)}'>"
        f"<table><tr><th>figure</th><th>Euclidean</th><th>learned</th></tr>{body}</table>"
    )


# -- the page -------------------------------------------------------------------------------------

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1040px; margin: 2rem auto; padding: 0 1.5rem; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2.2rem; border-bottom: 1px solid #e5e5e5; padding-bottom: .3rem; }
.sub { color: #666; margin-top: 0; }
.verdict { display: inline-block; padding: .15rem .7rem; border-radius: 1rem; font-weight: 600; }
.metric { background: #e3f4e8; color: #1d6b35; } .pseudometric { background: #fff4d6; color: #8a5a00; }
.bad { background: #fde4e4; color: #9c1c1c; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .92rem; }
th, td { text-align: left; padding: .25rem .9rem .25rem 0; border-bottom: 1px solid #f0f0f0; vertical-align: top; }
th { color: #555; font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; text-align: right; }
.yes { color: #1d6b35; } .no { color: #9c1c1c; font-weight: 600; }
img { display: block; width: 100%; height: auto; margin: .6rem 0; }
.headline { font-size: 1.08rem; font-weight: 600; margin: .4rem 0 0; }
.note { color: #666; font-size: .9rem; }
code { background: #f5f5f5; padding: 0 .25rem; border-radius: 3px; }
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_num(v)}</td></tr>" for k, v in pairs)


def _axiom_table(axioms: dict[str, Any]) -> str:
    names = {
        "non_negativity": "non-negativity",
        "symmetry": "symmetry",
        "identity_of_indiscernibles": "identity of indiscernibles",
        "triangle_inequality": "triangle inequality",
    }
    rows = []
    for key, label in names.items():
        axiom = axioms["axioms"].get(key, {})
        holds = bool(axiom.get("holds"))
        detail = ""
        if "witness" in axiom:
            w = axiom["witness"]
            detail = f"witness: x = {_e(w['x'])}, y = {_e(w['y'])}"
        elif key == "identity_of_indiscernibles":
            detail = f"null space of dimension {axiom.get('null_dimension', 0)}"
        rows.append(
            f"<tr><th>{label}</th><td class='{'yes' if holds else 'no'}'>{'holds' if holds else 'fails'}"
            f"</td><td class='note'>{detail}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _evaluation_section(evaluation: dict[str, Any] | None) -> str:
    if not evaluation:
        return "<p class='note'>Not computed (pass <code>--cv N</code> with labels or a target).</p>"
    score = score_name(evaluation)
    summary = evaluation["summary"]
    head = "<tr><th>fold</th><th>Euclidean</th><th>learned</th></tr>"
    body = "".join(
        f"<tr><td>{i + 1}</td><td class='num'>{f['euclidean'][score]:.4f}</td>"
        f"<td class='num'>{f['learned'][score]:.4f}</td></tr>"
        for i, f in enumerate(evaluation["folds"])
    )
    mean = (
        f"<tr><th>mean ± sd</th><td class='num'>{summary['euclidean'][score]['mean']:.4f} ± "
        f"{summary['euclidean'][score]['std']:.4f}</td><td class='num'>{summary['learned'][score]['mean']:.4f} ± "
        f"{summary['learned'][score]['std']:.4f}</td></tr>"
    )
    what = (
        f"kNN {score} (k = {evaluation['k']}) on {len(evaluation['folds'])} held-out folds, the learner "
        f"refitted on each training part with the bundle's parameters; higher is better"
        if score == "accuracy"
        else f"kNN regression {score} (k = {evaluation['k']}) on {len(evaluation['folds'])} held-out folds; lower is better"
    )
    return (
        f"<p class='note'>{_e(what)}.</p><img alt='kNN score per fold, Euclidean against learned' "
        f"src='data:image/svg+xml;base64,{evaluation_svg(evaluation)}'><table>{head}{body}{mean}</table>"
    )


def _rule_note(selection: dict[str, Any], accuracy: bool) -> str:
    """How the choice was made, for bundles that record the non-inferiority margin."""
    points = selection.get("margin_points")
    if points is None:
        return ""
    loss = f"{points:g} points of accuracy" if accuracy else f"{points:g}% of the baseline's RMSE"
    level = selection.get("bound_level")
    if level is None:  # written before the one-sided bound: the two-sided interval's lower end
        return f" Chosen: the largest gain whose CI rules out a loss of more than {loss}."
    return f" Chosen: the largest gain whose one-sided {level:.0%} lower bound rules out a loss of more than {loss}."


def _selection_section(selection: dict[str, Any] | None) -> str:
    """For a bundle written by ``fit auto``: the verdict and the leaderboard it came from."""
    if not selection:
        return ""
    accuracy = selection["figure"] == "accuracy"
    scale, spec = (100.0, "+.1f") if accuracy else (1.0, "+.4g")
    head = (
        f"<tr><th></th><th>metric</th><th>{'accuracy' if accuracy else 'RMSE'} mean ± sd</th>"
        f"<th>gain</th><th>{selection['confidence']:.0%} CI</th><th>p</th></tr>"
    )
    body = []
    for rank, row in enumerate(selection["leaderboard"], start=1):
        gain = row.get("gain")
        cells = (
            "<td>baseline</td><td></td><td></td>"
            if gain is None
            else f"<td class='num'>{scale * gain['mean']:{spec}}</td><td class='num'>{scale * gain['low']:{spec}} "
            f"to {scale * gain['high']:{spec}}</td><td class='num'>{gain['p_value']:.2g}</td>"
        )
        name = f"<b>{_e(row['name'])}</b>" if row["name"] == selection["choice"] else _e(row["name"])
        body.append(
            f"<tr><td class='num'>{rank}</td><td>{name}</td>"
            f"<td class='num'>{row['mean']:.4f} ± {row['std']:.4f}</td>{cells}</tr>"
        )
    skipped = "".join(f"<li>{_e(s['name'])}: {_e(s['reason'])}</li>" for s in selection["skipped"])
    unit = "points of accuracy" if accuracy else "RMSE of the baseline minus the row's"
    return (
        "<h2>How this metric was chosen</h2>"
        f"<p><b>{_e(selection['verdict'])}</b></p>"
        f"<p class='note'>metricli fit auto: {selection['cv']}-fold cross-validation (seed {selection['seed']}, "
        f"kNN k = {selection['k']}) of every applicable learner and both baselines, then a grid of the best "
        f"learners' key parameters. Gain over the better baseline ({_e(selection['best_baseline'])}) in {unit}, "
        "from the paired held-out predictions; p: McNemar's test (accuracy) or a paired test of squared "
        f"errors (RMSE).{_rule_note(selection, accuracy)}</p>"
        f"<table>{head}{''.join(body)}</table>"
        + (f"<p class='note'>Skipped:</p><ul class='note'>{skipped}</ul>" if skipped else "")
    )


def render_html(figures: dict[str, Any]) -> str:
    """The whole page as one string: inline CSS, images as data URIs, no script, no network."""
    verdict = figures["verdict"]
    badge = "metric" if verdict == "metric" else "pseudometric" if verdict == "pseudometric" else "bad"
    spectrum = figures["spectrum"]
    scatter = figures["scatter"]
    history = figures["fit"].get("objective_history") or []
    provenance = figures["provenance"]
    data_in = provenance["input"]
    sections = [
        f"<h1>{_e(figures['title'])}</h1>",
        f"<p class='sub'>{_e(figures['algorithm'])} ({_e(figures['supervision'])}) · bundle "
        f"<code>{_e(Path(figures['bundle']).name)}</code> · points from "
        f"<code>{_e(Path(figures['data']).name)}</code></p>",
        *([f"<p class='headline'>{_e(figures['headline'])}</p>"] if figures.get("headline") else []),
        "<h2>Verdict</h2>",
        f"<p><span class='verdict {badge}'>{_e(verdict)}</span> &nbsp; rank {spectrum['rank']} of "
        f"{len(spectrum['eigenvalues'])}, condition number {_num(figures['axioms']['condition_number'])}</p>",
        _axiom_table(figures["axioms"]),
        "".join(f"<p class='note'>{_e(n)}</p>" for n in figures["axioms"].get("notes", [])),
        "<h2>Which directions the metric stretches</h2>",
        "<p class='note'>Eigenvalues of M: a large one stretches distances along its direction, "
        "a zero one makes the distance ignore it.</p>",
        f"<img alt='eigen-spectrum of M' src='data:image/svg+xml;base64,{spectrum_svg(spectrum)}'>",
        "<h2>The data before and after</h2>",
        f"<p class='note'>{scatter['n_shown']} of {scatter['n_points']} points"
        f"{' (a seeded sample)' if scatter['n_shown'] < scatter['n_points'] else ''}.</p>",
        f"<img alt='scatter before and after' src='data:image/svg+xml;base64,{scatter_svg(scatter)}'>",
        _selection_section(figures.get("selection")),
        "<h2>kNN with the learned metric against Euclidean</h2>",
        _evaluation_section(figures.get("evaluation")),
        _verification_section(figures.get("verification")),
        "<h2>The objective per iteration</h2>",
        (
            f"<p class='note'>{_e(_objective_course(history))}</p>"
            f"<img alt='objective per iteration' src='data:image/svg+xml;base64,{objective_svg(history)}'>"
            if len(history) > 1
            else f"<p class='note'>{_e(figures['algorithm'])} has no iterations to show (closed form, "
            f"{_e(figures['fit'].get('iterations'))} step).</p>"
        ),
        "<h2>Parameters and provenance</h2>",
        "<table>"
        + _rows([(k, v) for k, v in figures["params"].items()] + [("seed", figures["seed"])])
        + "</table>",
        "<table>"
        + _rows(
            [
                ("input", data_in.get("path")),
                ("input sha256", data_in.get("sha256")),
                ("rows used", f"{data_in.get('rows_used')} of {data_in.get('rows_read')}"),
                ("label / target", data_in.get("label") or data_in.get("target")),
                ("standardized", "yes" if provenance["preprocessing"].get("standardize") else "no"),
                ("iterations", figures["fit"].get("iterations")),
                ("converged", figures["fit"].get("converged")),
                ("fit seconds", figures["fit"].get("seconds")),
                ("created", provenance.get("created")),
                ("versions", ", ".join(f"{k} {v}" for k, v in provenance["versions"].items())),
            ]
        )
        + "</table>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(figures['title'])}</title><style>{CSS}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
