"""Start-up: what a command imports before it works (issue 17), and the shortcuts that keep it light.

The timings themselves are in benchmarks/startup.py and the README; here, the imports that
cost the time are checked in fresh processes, and the two shortcuts (the command list shown
without importing the commands, option values converted without pydantic) are checked to
give exactly what typer gives.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from enum import Enum

import pytest
import typer
from typer._coercion import build_runtime_param

from metricli.cli import COMMANDS, app, load_command
from metricli.cli.coercion import QuickParam
from tests.conftest import IRIS, ROOT

HEAVY = ("pandas", "scipy", "pyarrow", "dask", "pydantic", "sklearn", "matplotlib", "metricli.learners")

#: the top-level packages (and metricli.learners) a light command must not import
_PROBE = """
import json, sys
out, heavy = sys.argv.pop(1), HEAVY
from metricli.entry import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
finally:
    found = {m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy} | ({'metricli.learners'} & set(sys.modules))
    open(out, 'w').write(json.dumps({'code': code, 'heavy': sorted(found)}))
""".replace("HEAVY", repr(HEAVY))


def _heavy_after(tmp_path, *args: str, code: int = 0) -> list[str]:
    """The heavy modules ``metricli ARGS`` imported, run in a fresh process that exits with ``code``."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = json.loads(out.read_text())
    assert found["code"] == code, done.stderr
    return found["heavy"]


def test_importing_the_entry_point_pulls_in_nothing_heavy():
    code = (
        "import sys, metricli.entry; print(sorted(m for m in sys.modules "
        f"if m.split('.')[0] in {HEAVY!r} or m == 'metricli.learners'))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("startup")
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["-q", "fit", "covariance", str(IRIS), "-o", str(root / "B")])
    assert result.exit_code == 0, result.stderr
    return root / "B"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["check", "--help"], 0),
        (["chek"], 2),
    ],
)
def test_help_version_and_a_typo_import_no_table_or_solver_library(tmp_path, args, code):
    assert _heavy_after(tmp_path, *args, code=code) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_commands_help_imports_no_table_solver_or_pydantic(tmp_path, name):
    assert set(_heavy_after(tmp_path, name, "--help")) <= {"metricli.learners"}


def test_listing_the_learners_imports_them_but_no_solver_or_table_library(tmp_path):
    assert _heavy_after(tmp_path, "algorithms") == ["metricli.learners"]
    assert _heavy_after(tmp_path, "algorithms", "lmnn", "--json") == ["metricli.learners"]


def test_check_and_info_of_a_bundle_import_no_table_or_solver_library(tmp_path, bundle):
    assert _heavy_after(tmp_path, "check", str(bundle)) == []
    assert _heavy_after(tmp_path, "info", str(bundle)) == []


def test_transform_of_a_small_plain_csv_imports_no_table_library(tmp_path, bundle):
    # the direct path (metricli.io.plain_csv); a file it does not take goes through pandas
    table = tmp_path / "points.csv"
    table.write_text(
        IRIS.read_text(encoding="utf-8")
        .replace(",species", "")
        .replace(",setosa", "")
        .replace(",versicolor", "")
        .replace(",virginica", ""),
        encoding="utf-8",
    )
    assert _heavy_after(tmp_path, "transform", str(bundle), str(table), "-o", str(tmp_path / "z.csv")) == []
    assert _heavy_after(tmp_path, "transform", str(bundle), str(table)) == []
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(IRIS.read_text(encoding="utf-8").replace("setosa", '"setosa"'), encoding="utf-8")
    assert _heavy_after(tmp_path, "transform", str(bundle), str(quoted), "-o", str(tmp_path / "q.csv")) == [
        "pandas",
        "pyarrow",  # pandas imports it when it is installed
    ]
    assert (tmp_path / "z.csv").read_text() == (tmp_path / "q.csv").read_text()


def _walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


@pytest.fixture(scope="module")
def commands():
    return {name: load_command(name) for name in COMMANDS}


def test_the_listed_summaries_are_the_commands_own(commands):
    for name, command in commands.items():
        own = inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")
        assert COMMANDS[name][2] == own, name


def test_every_command_is_listed():
    names = typer.main.get_command(app).list_commands(None)
    assert names == list(COMMANDS)


def _samples(param) -> list:
    values = [
        None,
        "",
        "abc",
        "0",
        "1",
        "3",
        "-2",
        "007",
        "1.5",
        "-0.25",
        "1e3",
        ".5",
        "5.",
        "inf",
        "nan",
        " 4",
        "+2",
    ]
    values += [param.default] if param.default is not None else []
    descriptor = param.type_descriptor
    for choice in descriptor.choices or ():
        word = str(choice.value) if isinstance(choice, Enum) else str(choice)
        values += [word, word.upper(), choice]
    if param.multiple or param.nargs == -1:
        return [None, [], *([v] for v in values if v is not None), ["1", "abc"]]
    return values


def _outcome(runtime, value, param, ctx):
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
        return ("value", type(result).__name__, repr(result))  # repr: nan equals nan
    except Exception as exc:  # the message is what the user sees
        return ("error", type(exc).__name__, str(getattr(exc, "message", exc)))


def test_quick_conversion_gives_typers_answer_for_every_option(commands):
    checked = 0
    for name, top in commands.items():
        for path, command in _walk(top, (name,)):
            ctx = typer.Context(command, info_name=" ".join(path))
            for param in command.params:
                if not hasattr(param, "type_descriptor"):
                    continue
                quick, real = QuickParam(param.type_descriptor), build_runtime_param(param.type_descriptor)
                for value in _samples(param):
                    assert _outcome(quick, value, param, ctx) == _outcome(real, value, param, ctx), (
                        path,
                        param.name,
                        value,
                    )
                    checked += 1
    assert checked > 1000
