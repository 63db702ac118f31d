"""The package's layering, checked by walking its imports (ast, no execution).

The bottom (learners, axioms, kernels) knows nothing of files, engines or the command line;
the command line never imports Dask (the engines do); the public names cover every learner.
"""

from __future__ import annotations

import ast
from pathlib import Path

import metricli

PACKAGE = Path(metricli.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(*parts: str) -> list[Path]:
    base = PACKAGE.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


def _violations(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for layer in layers:
        for path in _files(*layer.split(".")):
            for name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


def test_the_bottom_layers_import_nothing_above_them():
    assert (
        _violations(("learners", "axioms", "kernels"), ("metricli.cli", "metricli.io", "metricli.engines"))
        == []
    )


def test_the_command_line_never_imports_dask():
    assert _violations(("cli",), ("dask", "distributed")) == []


def test_the_walk_sees_a_violation():
    # the checker itself: the CLI does import the library layers it sits on
    assert _violations(("cli",), ("metricli.io",)) != []


def test_every_learner_is_a_public_name():
    exported = [
        getattr(metricli, name) for name in metricli.__all__ if isinstance(getattr(metricli, name), type)
    ]
    assert all(cls in exported for cls in metricli.LEARNERS.values())
    assert all(cls.__doc__ for cls in exported)


def test_the_command_line_stays_thin():
    # argument parsing, rendering and error mapping only: a command file past 300 lines is
    # holding logic that belongs in the library
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in _files("cli")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert long == {}
