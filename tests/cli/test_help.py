"""Help pages: what the source says is what the user reads (help text is Rich markup)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from metricli.cli import app
from metricli.learners import LEARNERS

COMMANDS = [
    ["check"],
    ["transform"],
    ["distance"],
    ["neighbors"],
    ["report"],
    ["compare"],
    ["fit", "auto"],
    *(["fit", name] for name in LEARNERS),
    *(["evaluate", name] for name in LEARNERS),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_pip_extras_keep_their_brackets(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"[│\s]+", " ", result.stdout)
    for install in re.findall(r"pip install '[^']*'", text):
        assert re.fullmatch(r"pip install 'metricli\[(dask|report)\]'", install), install


@pytest.mark.parametrize(("command", "extra"), [(["transform"], "dask"), (["report"], "report")])
def test_the_extra_to_install_is_named(command, extra):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"})
    assert f"pip install 'metricli[{extra}]'" in re.sub(r"[│\s]+", " ", result.stdout)
