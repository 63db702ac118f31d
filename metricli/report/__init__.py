"""One self-contained HTML page per model: what the learned metric did, as pictures.

:func:`report_figures` computes every number the page shows (and ``--json`` prints),
:func:`render_html` draws them; so the page and the machine output cannot disagree.
"""

from metricli.report.figures import report_figures
from metricli.report.html import render_html

__all__ = ["render_html", "report_figures"]
