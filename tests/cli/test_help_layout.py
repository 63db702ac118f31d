"""--help puts the everyday use first (issue 17): every command and every fit/evaluate
learner has Examples with real lines on sample_data/, and the Dask options and paragraphs
come below the everyday ones."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from metricli.cli import app, load_command
from metricli.cli.commands import COMMANDS
from metricli.learners import LEARNERS
from tests.conftest import ROOT


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def _flat(text: str) -> str:
    return re.sub(r"[│\s]+", " ", text)


def _examples(text: str) -> list[str]:
    """The example lines of a --help text (one paragraph each, after 'Examples:')."""
    tail = text.split("Examples:", 1)[1]
    lines = [line.strip(" │") for line in tail.splitlines()]
    return [line for line in lines if line.startswith("metricli ")]


@pytest.mark.parametrize("group", ["fit", "evaluate"])
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_every_learner_has_examples_on_sample_data_with_real_options(group, name):
    result = run(group, name, "--help")
    assert result.exit_code == 0
    lines = _examples(result.stdout)
    assert 2 <= len(lines) <= 3, result.stdout
    command = load_command(group).commands[name]
    accepted = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    uses_it = [line for line in lines if line.startswith(f"metricli {group} {name} ")]
    assert uses_it, lines
    for line in uses_it:
        words = shlex.split(line, comments=True)
        data = next(w for w in words if w.startswith("sample_data/"))
        assert (ROOT / data).is_file(), data
        options = {w for w in words if w.startswith("-") and w != "-"}
        assert options <= accepted, (line, options - accepted)


@pytest.mark.parametrize(
    "command", [["transform"], ["fit", "lmnn"], ["fit", "covariance"], ["neighbors"], ["distance"], ["check"]],
    ids=" ".join,
)  # fmt: skip
def test_dask_options_and_paragraphs_come_below_the_everyday_ones(command):
    text = run(*command, "--help").stdout
    panels = re.findall(r"╭─ (.+?) ─", text)
    assert panels[-1].startswith("Dask"), panels
    dask = text.index("╭─ Dask")
    assert text.index("--engine") > dask and text.index("--scheduler") > dask
    assert text.index("--json") < dask and text.index("--help") < dask
    # what --engine dask does is told after the examples, not above the options
    before, _, after = text.partition("Examples:")
    assert "--engine dask" not in before.split("╭─", 1)[0]
    if command[0] != "fit":
        assert "engine dask" in after, after


def test_the_fit_groups_dask_paragraph_comes_after_the_learners():
    text = run("fit", "--help").stdout
    assert text.index("--engine dask fits from partitioned data") > text.index("scml")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_examples(name):
    lines = _examples(run(name, "--help").stdout)
    assert 1 <= len(lines) <= 3 and all(name in line.split() for line in lines), lines
