"""The README's two set-up commands stay true: the main job runs, and CI runs the test command."""

import re
import shlex
import shutil
import subprocess

from .cli.test_fit_check_transform import _executable
from .conftest import ROOT


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = _setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_the_main_job_runs_on_shipped_data(tmp_path):
    install, *steps = _setup_commands()[0].split(" && ")
    assert "pip install ." in " && ".join([install, *steps])
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    for step in steps:
        words = shlex.split(step)
        if not words[0].endswith("metricli"):
            continue
        run = subprocess.run(
            [*_executable(), *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, (step, run.stderr)
    assert (tmp_path / "wine-model" / "M.npy").exists()


def _library_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]


def test_the_library_example_runs_and_gives_the_commands_numbers(tmp_path):
    """The README's Library example, run as written beside a copy of sample_data; its
    neighbours and scores are those of the commands on the bundle it saved."""
    import json
    import os
    import sys

    import pandas as pd

    (code,) = re.findall(r"```python\n(.*?)```", _library_section(), flags=re.S)
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    script = tmp_path / "example.py"
    script.write_text(
        code + "\nnear.to_csv('near.csv', index=False)\njson.dump(scores, open('s.json', 'w'))\n"
    )
    script.write_text("import json\n" + script.read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr
    data = "sample_data/iris.csv"
    cli = [sys.executable, "-m", "metricli"]
    neighbours = [
        *cli,
        "neighbors",
        "iris-nca",
        data,
        "-Q",
        data,
        "-k",
        "3",
        "--exclude-self",
        "-o",
        "cli-near.csv",
    ]
    assert subprocess.run(neighbours, cwd=tmp_path, capture_output=True, env=env).returncode == 0
    assert pd.read_csv(tmp_path / "near.csv").equals(pd.read_csv(tmp_path / "cli-near.csv"))
    evaluate = [*cli, "evaluate", "iris-nca", data, "--reference", data, "--label", "species", "--json"]
    scored = subprocess.run(evaluate, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert scored.returncode == 0, scored.stderr
    expected = json.loads(scored.stdout)
    got = json.loads((tmp_path / "s.json").read_text())
    assert got["learned"] == expected["learned"] and got["euclidean"] == expected["euclidean"]


def test_the_public_names_are_those_the_library_section_lists():
    import metricli

    listed = _library_section().split("Public names", 1)[1]
    names = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", listed))
    assert names == set(metricli.__all__)
    for name in metricli.__all__:
        value = getattr(metricli, name)
        if callable(value):
            assert value.__doc__ and value.__module__.startswith("metricli"), name
