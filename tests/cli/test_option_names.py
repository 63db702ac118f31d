"""One name per idea (issue 17): -k/--vote-k is the kNN vote everywhere, --n-neighbors a
learner's own neighbour count, and what ``algorithms`` lists is what ``fit`` accepts."""

from __future__ import annotations

import json
import re
import shlex

import pytest
import typer.main
from typer.testing import CliRunner

from metricli.cli import app, load_command
from metricli.cli.commands import EXAMPLES
from metricli.learners import LEARNERS
from tests.conftest import IRIS


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def _flat(text: str) -> str:
    return re.sub(r"[│\s]+", " ", text)


def test_n_neighbors_sets_lmnns_target_neighbours(tmp_path):
    result = run("-q", "fit", "lmnn", IRIS, "--label", "species", "--n-neighbors", "2", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(run("info", tmp_path / "b", "--json").stdout)["metadata"]
    assert meta["params"]["k"] == 2


def test_the_old_k_still_works_with_a_note(tmp_path):
    result = run("fit", "lmnn", IRIS, "--label", "species", "--k", "2", "-o", tmp_path / "b")
    assert result.exit_code == 0, result.stderr
    assert "--k is now --n-neighbors" in result.stderr
    assert json.loads(run("info", tmp_path / "b", "--json").stdout)["metadata"]["params"]["k"] == 2


def test_evaluate_header_names_the_vote_and_the_learners_neighbours():
    args = ("evaluate", "lmnn", IRIS, "--label", "species", "--cv", "2", "--max-iter", "5")
    text = run(*args, "-k", "5", "--n-neighbors", "2")
    assert text.exit_code == 0, text.stderr
    header = text.stdout.splitlines()[0]
    assert "kNN vote -k 5" in header and "lmnn --n-neighbors 2" in header, header
    figures = json.loads(run(*args, "--vote-k", "5", "--n-neighbors", "2", "--json").stdout)
    assert (figures["k"], figures["params"]["k"]) == (5, 2)
    old = run(*args, "--knn", "4", "--json")
    assert json.loads(old.stdout)["k"] == 4
    assert "--knn is now -k/--vote-k" in old.stderr


@pytest.mark.parametrize(
    "command",
    [["compare"], ["fit", "auto"], ["evaluate", "lmnn"], ["evaluate", "bundle"], ["report"]],
    ids=" ".join,
)
def test_every_vote_is_minus_k_or_vote_k(command):
    text = _flat(run(*command, "--help").stdout)
    assert "-k --vote-k" in text or "--vote-k -k" in text, text
    assert "--knn" not in text


def _accepted(algorithm: str) -> set[str]:
    command = load_command("fit").commands[algorithm]
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


@pytest.mark.parametrize("algorithm", sorted(LEARNERS))
def test_algorithms_lists_what_fit_accepts(algorithm):
    listed = json.loads(run("algorithms", algorithm, "--json").stdout)[0]["parameters"]
    accepted = _accepted(algorithm)
    for parameter in listed:
        assert parameter["option"] in accepted, (algorithm, parameter)
    if any(p["name"] == "random_state" for p in listed):
        assert "--random-state" not in _flat(run("algorithms", algorithm).stdout)


def test_fit_help_shows_target_only_for_learners_that_take_it():
    assert "--target" not in _flat(run("fit", "lmnn", "--help").stdout)
    assert "--target" in _flat(run("fit", "mlkr", "--help").stdout)
    assert "--target" in _flat(run("fit", "covariance", "--help").stdout)


def _example_options(line: str) -> tuple[list[str], list[str]]:
    """The command path and the options of one example line (after a pipe, before a redirect)."""
    words = shlex.split(line.split("|")[-1].split(">")[0])[1:]
    path = [w for w in words if not w.startswith("-")][:2]
    return path, [w for w in words if w.startswith("-") and w != "-"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_in_the_help_uses_real_options(name):
    assert f"Examples: {EXAMPLES[name][0]}" in _flat(run(name, "--help").stdout)
    top = {opt for param in typer.main.get_command(app).params for opt in param.opts}
    for line in EXAMPLES[name]:
        path, options = _example_options(line)
        command = load_command(path[0])
        if getattr(command, "commands", None) and len(path) > 1 and path[1] in command.commands:
            command = command.commands[path[1]]
        elif path[0] == "evaluate":
            command = command.commands["bundle"]
        accepted = top | {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        assert set(options) <= accepted, (line, set(options) - accepted)
