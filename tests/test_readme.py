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
