"""Atomic file and directory writes: a temporary sibling, then one rename.

An interrupted or failed run never leaves a partial file behind, and an existing
output is only replaced once the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from metricli.errors import MetricliError


def refuse_to_overwrite(path: str | os.PathLike, force: bool) -> None:
    """Fail early, before any work is done, if ``path`` exists and ``force`` is off."""
    p = Path(path)
    if p.exists() and not force:
        raise MetricliError(f"{p}: already exists; pass --force to overwrite it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    Works for files and directories alike. On any exception (including
    KeyboardInterrupt) the temporary path is removed and ``path`` is untouched.
    """
    target = Path(path)
    refuse_to_overwrite(target, force)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise MetricliError(f"{target}: folder {parent} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise MetricliError(f"{target}: cannot write in folder {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(tmp_name)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _replace(tmp: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        # os.replace cannot put a directory over a non-empty one: move the old one
        # aside first, so that there is never a moment with neither in place
        # beyond this one rename.
        aside = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, aside)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(aside, target)
            raise
        _remove(aside)
    else:
        os.replace(tmp, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
