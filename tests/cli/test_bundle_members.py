"""A bundle's members are named precisely when they are not regular files, and its JSON is read
with bounds: a member that is a link, a named pipe, a device or a folder is named as such (it
was "M.npy is missing"); a bundle folder that is itself a link is refused (it was accepted:
the link could be swapped between the checks and the use); metadata.json nested 700 deep is
one line (it was RecursionError, exit 70); one past 16 MiB is refused from its size, unread
(a 1 GiB one was read whole into 3.2 GB).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error

IRIS = Path(__file__).resolve().parents[2] / "sample_data" / "iris.csv"
COMMANDS = [("info",), ("check",), ("transform", "{bundle}", str(IRIS))]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from typer.testing import CliRunner

    from metricli.cli import app

    out = tmp_path_factory.mktemp("fit") / "b"
    run = CliRunner().invoke(app, ["--quiet", "fit", "covariance", str(IRIS), "-o", str(out)])
    assert run.exit_code == 0, run.stderr
    return out


def _copy(fitted, tmp_path) -> Path:
    bundle = tmp_path / "b"
    shutil.copytree(fitted, bundle)
    return bundle


def _run(cli, command, bundle):
    args = [a.replace("{bundle}", str(bundle)) for a in command] if len(command) > 1 else [command[0], bundle]
    return cli(*args)


def _member(path: Path, kind: str, real: Path) -> None:
    path.unlink()
    if kind == "symbolic link":
        path.symlink_to(real)
    elif kind == "named pipe (FIFO)":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/null")  # replaced below when mknod is allowed
        try:
            path.unlink()
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device node needs privileges here")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ["symbolic link", "named pipe (FIFO)", "folder", "device"])
@pytest.mark.parametrize("name", ["M.npy", "L.npy", "axioms.json", "metadata.json"])
def test_a_member_that_is_not_a_regular_file_is_named(cli, tmp_path, fitted, command, kind, name):
    bundle = _copy(fitted, tmp_path)
    _member(bundle / name, kind, fitted / name)
    assert_one_line_error(
        _run(cli, command, bundle), f"corrupt bundle, {name} is a {kind}, not a regular file"
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_bundle_folder_that_is_a_link_is_refused(cli, tmp_path, fitted, command):
    link = tmp_path / "link"
    link.symlink_to(fitted, target_is_directory=True)
    assert_one_line_error(_run(cli, command, link), "the bundle folder is a symbolic link")
    # the folder it points to is accepted
    assert _run(cli, command, fitted).exit_code == 0


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("depth", [700, 100_000])
def test_metadata_nested_too_deep_is_one_line(cli, tmp_path, fitted, command, depth):
    bundle = _copy(fitted, tmp_path)
    meta = json.loads((bundle / "metadata.json").read_text())
    text = json.dumps(meta)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    (bundle / "metadata.json").write_text(text)
    assert_one_line_error(_run(cli, command, bundle), "metadata.json nests its values too deeply")


def test_a_huge_metadata_json_is_refused_from_its_size_unread(cli, tmp_path, fitted, monkeypatch):
    bundle = _copy(fitted, tmp_path)
    with open(bundle / "metadata.json", "r+b") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB on paper
    opened = []
    real_open = open

    def spy(file, *args, **kwargs):
        if str(file).endswith("metadata.json"):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    run = cli("info", bundle)
    assert_one_line_error(run, "metadata.json is 1,073,741,824 bytes", "at most 16 MiB is read")
    assert opened == []
