"""--force replaces only a metricli output of the same kind; nothing else is ever deleted (issue 20, 1, 5, 6).

Every command that writes is tried against what must survive: a user's folder, a
symbolic link (dangling or not), a device, an output of another kind, an input of the
same run, and ``.``.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from metricli.errors import MetricliError
from metricli.io import atomic
from tests.conftest import IRIS, assert_one_line_error


@pytest.fixture
def bundle(cli, tmp_path):
    out = tmp_path / "B"
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", out, "-q").exit_code == 0
    return out


@pytest.fixture
def matrix(tmp_path):
    path = tmp_path / "M.npy"
    np.save(path, np.array([[2.0, 0.5], [0.5, -1.0]]))
    return path


#: every command that writes, as (name, arguments with {out} for the output, what it writes)
WRITERS = {
    "fit": (["fit", "covariance", IRIS, "--label", "species", "-o", "{out}"], "bundle"),
    "transform": (["transform", "{bundle}", IRIS, "-o", "{out}", "--output-format", "csv"], "file"),
    "distance": (["distance", "{bundle}", IRIS, "-o", "{out}", "--output-format", "csv"], "file"),
    "neighbors": (
        ["neighbors", "{bundle}", IRIS, "-Q", IRIS, "-k", "2", "-o", "{out}", "--output-format", "csv"],
        "file",
    ),
    "constraints": (["constraints", IRIS, "-y", "species", "-n", "20", "-o", "{out}"], "file"),
    "evaluate": (
        ["evaluate", "{bundle}", IRIS, "--reference", IRIS, "-y", "species", "--predictions", "{out}"],
        "file",
    ),
    "check-psd": (["check", "{matrix}", "--repair-psd", "{out}"], "file"),
    "report": (["report", "{bundle}", IRIS, "-y", "species", "--cv", "0", "-o", "{out}"], "file"),
}


def _args(name, out, bundle, matrix):
    args, _ = WRITERS[name]
    return [str(a).format(out=out, bundle=bundle, matrix=matrix) for a in args]


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if ".metricli-" in p.name]


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_users_folder_is_never_replaced(cli, tmp_path, bundle, matrix, name):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "code.py").write_text("x\n")
    (proj / "notes.txt").write_text("mine\n")
    before = _snapshot(proj)
    run = cli(*_args(name, proj, bundle, matrix), "--force")
    assert_one_line_error(run, str(proj), "not a metricli output", "notes.txt")
    assert _snapshot(proj) == before
    _no_temporaries(tmp_path)


@pytest.mark.parametrize("name", list(WRITERS))
def test_symlinks_and_devices_are_refused_even_with_force(cli, tmp_path, bundle, matrix, name):
    real = tmp_path / "real.csv"
    real.write_text("keep\n")
    links = {"link": real, "dangling": tmp_path / "nowhere"}
    for link, to in links.items():
        (tmp_path / link).symlink_to(to)
        for force in ([], ["--force"]):
            run = cli(*_args(name, tmp_path / link, bundle, matrix), *force)
            assert_one_line_error(run, "symbolic link", "choose another name")
            assert (tmp_path / link).is_symlink() and os.readlink(tmp_path / link) == str(to)
    assert real.read_text() == "keep\n"
    assert not (tmp_path / "nowhere").exists()
    run = cli(*_args(name, "/dev/null", bundle, matrix), "--force")
    assert_one_line_error(run, "/dev/null", "is a device")
    _no_temporaries(tmp_path)


@pytest.mark.parametrize("name", list(WRITERS))
def test_force_replaces_only_the_same_kind(cli, tmp_path, bundle, matrix, name):
    kind = WRITERS[name][1]
    other = tmp_path / "other"
    if kind == "file":
        # a bundle is in the way of a file output
        assert cli("fit", "covariance", IRIS, "--label", "species", "-o", other, "-q").exit_code == 0
        words = "is a metricli bundle; --force will not replace it with a file"
    else:
        other.write_text("a file\n")
        words = "is a file; --force will not replace it with a bundle"
    before = _snapshot(other) if other.is_dir() else other.read_bytes()
    assert_one_line_error(cli(*_args(name, other, bundle, matrix), "--force"), str(other), words)
    assert (_snapshot(other) if other.is_dir() else other.read_bytes()) == before

    # and the same kind is replaced, whole
    same = tmp_path / ("same.csv" if kind == "file" else "same")
    first = cli(*_args(name, same, bundle, matrix))
    assert first.exit_code in (0, 1), first.stderr  # check exits 1 on a non-PSD M
    assert_one_line_error(cli(*_args(name, same, bundle, matrix)), "already exists", "--force")
    again = cli(*_args(name, same, bundle, matrix), "--force")
    assert again.exit_code == first.exit_code, again.stderr
    assert same.is_dir() == (kind == "bundle")
    _no_temporaries(tmp_path)


def test_an_input_is_never_replaced_by_the_output(cli, tmp_path, bundle):
    data = tmp_path / "iris.csv"
    data.write_bytes(IRIS.read_bytes())
    run = cli("transform", bundle, data, "-o", data, "--force", "--keep", "species")
    assert_one_line_error(run, str(data), "is also an input of this run")
    assert data.read_bytes() == IRIS.read_bytes()
    run = cli("fit", "covariance", data, "--label", "species", "-o", bundle, "--force", "-q")
    assert run.exit_code == 0  # the bundle is not read by fit: replacing it is what --force asks


def test_dot_is_not_an_output_name(cli, tmp_path, bundle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = cli("transform", bundle, IRIS, "-o", ".", "--output-format", "csv", "--force")
    assert_one_line_error(run, ".: names a folder, not an output")


def test_an_empty_folder_may_take_a_bundle(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("fit", "covariance", IRIS, "--label", "species", "-o", empty, "--force", "-q").exit_code == 0
    assert json.loads((empty / "metadata.json").read_text())["format"] == "metricli-bundle"


def test_a_bundle_with_a_users_file_in_it_is_not_replaced(cli, bundle):
    (bundle / "notes.txt").write_text("mine\n")
    run = cli("fit", "covariance", IRIS, "--label", "species", "-o", bundle, "--force")
    assert_one_line_error(run, "not a metricli output", "notes.txt")
    assert (bundle / "notes.txt").read_text() == "mine\n"


# --- the publishing step itself --------------------------------------------------------


def test_two_runs_racing_for_one_name_do_not_overwrite_each_other(tmp_path):
    """Both pass the early 'exists' test; the one that publishes second must lose, not replace."""
    target = tmp_path / "e.csv"
    with pytest.raises(MetricliError, match="already exists"), atomic.atomic_path(target) as first:
        first.write_text("first\n")
        with atomic.atomic_path(target) as second:
            second.write_text("second\n")
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def test_two_runs_racing_for_one_bundle_name(tmp_path):
    target = tmp_path / "B"
    with (
        pytest.raises(MetricliError, match="already exists"),
        atomic.atomic_path(target, kind=atomic.BUNDLE) as first,
    ):
        first.mkdir()
        (first / "metadata.json").write_text('{"format": "metricli-bundle"}')
        with atomic.atomic_path(target, kind=atomic.BUNDLE) as second:
            second.mkdir()
            (second / "metadata.json").write_text('{"format": "metricli-bundle", "second": 1}')
    assert "second" in (target / "metadata.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B"]


def test_publishing_without_renameat2_still_refuses_an_existing_name(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    target = tmp_path / "e.csv"
    with pytest.raises(MetricliError, match="already exists"), atomic.atomic_path(target) as first:
        first.write_text("first\n")
        target.write_text("someone else's\n")
    assert target.read_text() == "someone else's\n"
    folder = tmp_path / "parts"
    with (
        pytest.raises(MetricliError, match="already exists"),
        atomic.atomic_path(folder, kind=atomic.PARTS) as tmp,
    ):
        tmp.mkdir()
        (tmp / "part-000000.parquet").write_text("x")
        folder.mkdir()
        (folder / "theirs").write_text("y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv", "parts"]
    assert sorted(p.name for p in folder.iterdir()) == ["theirs"]


def test_a_folder_swapped_in_during_the_run_is_not_replaced(tmp_path):
    target = tmp_path / "B"
    with (
        pytest.raises(MetricliError, match="not a metricli output"),
        atomic.atomic_path(target, force=True, kind=atomic.BUNDLE) as tmp,
    ):
        tmp.mkdir()
        (tmp / "metadata.json").write_text('{"format": "metricli-bundle"}')
        (target / "src").mkdir(parents=True)
    assert (target / "src").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["B"]


def test_a_full_disk_names_the_output(tmp_path):
    target = tmp_path / "e.csv"
    with (
        pytest.raises(MetricliError, match=r"e\.csv: No space left on device; nothing was written"),
        atomic.atomic_path(target) as tmp,
    ):
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next_write(cli, tmp_path, bundle):
    old_file = tmp_path / ".e.csv.metricli-abcd1234.tmp"
    old_file.write_bytes(b"x" * 1000)
    old_folder = tmp_path / ".B.metricli-efgh5678.tmp"
    old_folder.mkdir()
    (old_folder / "M.npy").write_bytes(b"x")
    fresh = tmp_path / ".f.csv.metricli-ijkl9012.tmp"
    fresh.write_text("a run still going")
    theirs = tmp_path / ".something.tmp"
    theirs.write_text("not ours")
    day_ago = time.time() - atomic.STALE_SECONDS - 60
    for path in (old_file, old_folder, theirs):
        os.utime(path, (day_ago, day_ago))
    run = cli("transform", bundle, IRIS, "-o", tmp_path / "e.csv", "-q")
    assert run.exit_code == 0, run.stderr
    assert not old_file.exists() and not old_folder.exists()
    assert fresh.exists() and theirs.exists()
