"""Safe output writing: a temporary sibling, then one rename that replaces only metricli's own output.

An interrupted or failed run never leaves a partial file behind, and an existing
output is only replaced once the new one is complete. What may be replaced is narrow:

- without ``--force`` nothing is replaced, also when two runs race for one name: the
  output is published with a rename that refuses an existing target (Linux
  ``renameat2(RENAME_NOREPLACE)``; elsewhere a hard link or an exclusive ``mkdir``), so
  the later run gets "already exists" and exit 2;
- with ``--force`` a file may replace a regular file, a bundle a metricli bundle, and a
  folder of Parquet parts a folder of metricli's Parquet parts; a folder holding anything
  else, a symbolic link (even a dangling one), a device, a FIFO or an input of this run
  is refused, naming what is in the way.

Temporary names follow one pattern (``.NAME.metricli-XXXXXXXX.tmp``); those left by a
killed run are removed by the next write to the same folder once they are a day old.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from metricli.errors import MetricliError

#: kinds of output: one regular file, a model bundle folder, a folder of Parquet parts, a neighbour index
FILE, BUNDLE, PARTS, INDEX = "file", "bundle", "parts", "index"

#: files a bundle folder holds (see metricli.io.bundle); anything else in it is the user's
BUNDLE_NAMES = frozenset(
    {"M.npy", "M.csv", "L.npy", "L.csv", "axioms.json", "metadata.json", "threshold.json"}
)
#: files a neighbour index folder holds (see metricli.io.index)
INDEX_NAMES = frozenset({"index.json", "vectors.faiss", "rows.npy", "ids.parquet"})
_PART = re.compile(r"part-\d+\.parquet")
_TEMPORARY = re.compile(r"\..+\.metricli-[A-Za-z0-9_]{8}\.(tmp|old)")
STALE_SECONDS = 24 * 3600

#: files this run reads: an output may never replace one of them
_inputs: list[Path] = []


def note_input(path: str | os.PathLike) -> None:
    """Remember that this run reads ``path``, so that no output of the run replaces it."""
    _inputs.append(Path(path))


def forget_inputs() -> None:
    """Start a new run (the CLI calls this once per command)."""
    _inputs.clear()


def output_kinds(path: Path) -> frozenset[str]:
    """The kinds of metricli output (FILE, BUNDLE, PARTS) ``path`` may be replaced by; empty if none.

    A folder is a bundle only if its metadata.json says so and it holds nothing but the
    bundle's files; a folder of parts holds only ``part-N.parquet`` files. An empty
    folder may take either folder kind: replacing it loses nothing.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return frozenset()
    if stat.S_ISREG(mode):
        return frozenset({FILE})
    if not stat.S_ISDIR(mode):
        return frozenset()
    names = set(os.listdir(path))
    if not names:
        return frozenset({BUNDLE, PARTS, INDEX})
    plain = all(stat.S_ISREG(os.lstat(path / n).st_mode) for n in names)
    if plain and all(_PART.fullmatch(n) for n in names):
        return frozenset({PARTS})
    if plain and "metadata.json" in names and names <= BUNDLE_NAMES and _says_bundle(path / "metadata.json"):
        return frozenset({BUNDLE})
    if (
        plain
        and "index.json" in names
        and names <= INDEX_NAMES
        and _says(path / "index.json", "metricli-index")
    ):
        return frozenset({INDEX})
    return frozenset()


def _says_bundle(metadata: Path) -> bool:
    return _says(metadata, "metricli-bundle")


def _says(metadata: Path, fmt: str) -> bool:
    if metadata.is_symlink() or not metadata.is_file():
        return False
    try:
        with open(metadata, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return f'"format": "{fmt}"'.encode() in head


def _describe(path: Path) -> str:
    """What is in the way at ``path``, in a few words, for the refusal."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "nothing"
    if stat.S_ISLNK(mode):
        return "a symbolic link" + ("" if path.exists() else " (dangling)")
    if stat.S_ISDIR(mode):
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return "a folder metricli cannot list"
        foreign = [
            n
            for n in names
            if (n not in BUNDLE_NAMES and n not in INDEX_NAMES and not _PART.fullmatch(n))
            or (path / n).is_dir()
            or (path / n).is_symlink()
        ]
        shown = foreign or names
        listed = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        return f"a folder that is not a metricli output (it holds {listed})"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a regular file"


_WORDS = {FILE: "a file", BUNDLE: "a bundle", PARTS: "a folder of Parquet parts", INDEX: "an index"}
_FOUND = {
    FILE: "a file",
    BUNDLE: "a metricli bundle",
    PARTS: "a folder of metricli's Parquet parts",
    INDEX: "a metricli index",
}


def refuse_to_overwrite(
    path: str | os.PathLike, force: bool, kind: str | None = None, update: bool = False
) -> None:
    """Fail early, before any work is done, if writing ``path`` would replace what it must not.

    ``kind`` (FILE, BUNDLE, PARTS) is what will be written, if the caller knows it yet;
    the same test runs again, with the kind certain, just before the output is published.
    ``update`` says the run rewrites an input of its own on purpose (a bundle given a threshold).
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise MetricliError(f"{path}: names a folder, not an output; give the output a name")
    existing = os.path.lexists(target)
    if not existing:
        return
    if target.is_symlink() or not (target.is_file() or target.is_dir()):
        raise MetricliError(
            f"{target}: is {_describe(target)}; metricli writes only regular files and bundle folders, "
            "choose another name"
        )
    if not force:
        raise MetricliError(f"{target}: already exists; pass --force to overwrite it")
    if not update:
        _refuse_input(target)
    kinds = output_kinds(target)
    if not kinds:
        raise MetricliError(
            f"{target}: is {_describe(target)}; --force replaces only metricli's own output, choose another name"
        )
    if kind is not None and kind not in kinds:
        found = "an empty folder" if len(kinds) > 1 else _FOUND[next(iter(kinds))]
        raise MetricliError(
            f"{target}: is {found}; --force will not replace it with {_WORDS[kind]}, choose another name"
        )


def _refuse_input(target: Path) -> None:
    for source in _inputs:
        with contextlib.suppress(OSError):
            if os.path.samefile(source, target) or _inside(source, target):
                raise MetricliError(
                    f"{target}: is also an input of this run ({source}); write the output to another name"
                )


def _inside(source: Path, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(source)).parents


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, force: bool = False, kind: str | None = None, update: bool = False
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; publish it there on success.

    The caller creates a file or a folder at the yielded path. On any exception
    (including KeyboardInterrupt) the temporary path is removed and ``path`` is untouched.
    """
    target = Path(path)
    refuse_to_overwrite(target, force, kind, update)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise MetricliError(f"{target}: folder {parent} does not exist")
    remove_stale_temporaries(parent)
    tmp = _temporary_name(target, parent, "tmp")
    _ACTIVE.add(tmp)
    try:
        try:
            yield tmp
            _publish(tmp, target, force, update)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise MetricliError(f"{target}: {exc.strerror or exc}; nothing was written") from None
            raise
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _ACTIVE.discard(tmp)


#: the temporary paths being written now, for a signal that must end the run from another thread
_ACTIVE: set[Path] = set()


def remove_active_temporaries() -> None:
    """Remove what this run is writing (metricli/cli/watchdog.py calls it before ending the run)."""
    for path in list(_ACTIVE):
        _remove(path)


def _temporary_name(target: Path, parent: Path, suffix: str) -> Path:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.metricli-", suffix=f".{suffix}", dir=parent)
    except OSError as exc:
        raise MetricliError(f"{target}: cannot write in folder {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)
    return Path(name)


def _publish(tmp: Path, target: Path, force: bool, update: bool) -> None:
    kind = (
        FILE
        if not tmp.is_dir()
        else BUNDLE
        if (tmp / "metadata.json").exists()
        else INDEX
        if (tmp / "index.json").exists()
        else PARTS
    )
    if not force or not os.path.lexists(target):
        try:
            _rename_noreplace(tmp, target)
            return
        except FileExistsError:
            if not force:
                raise MetricliError(f"{target}: already exists; pass --force to overwrite it") from None
    refuse_to_overwrite(target, force, kind, update)
    if kind == FILE:
        os.replace(tmp, target)
        return
    # a folder cannot be renamed over a non-empty one: move the old one aside, check once
    # more that it is what may be replaced, and only then put the new one in its place
    aside = _temporary_name(target, target.parent if str(target.parent) else Path("."), "old")
    os.rename(target, aside)
    if kind not in output_kinds(aside):
        os.rename(aside, target)
        refuse_to_overwrite(target, force, kind, update)
        raise MetricliError(f"{target}: changed while metricli was writing; nothing was replaced")
    try:
        _rename_noreplace(tmp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    _remove(aside)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, or raise FileExistsError if ``target`` exists (even racing)."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(target))
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(target))
    # the file system (or system) has no RENAME_NOREPLACE: claim the name exclusively
    if source.is_dir():
        os.mkdir(target)  # FileExistsError if taken; rename onto an empty folder replaces it
        try:
            os.rename(source, target)
        except BaseException:
            os.rmdir(target)
            raise
    else:
        os.link(source, target)  # FileExistsError if taken
        os.unlink(source)


_libc: list[object] = []


def _renameat2() -> object | None:
    if not _libc:
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
            _libc.append(function)
        except (AttributeError, OSError):
            _libc.append(None)
    return _libc[0]


def remove_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove metricli's own temporary files/folders in ``folder`` left by a killed run a day ago or more."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMPORARY.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            if now - entry.stat(follow_symlinks=False).st_mtime >= older_than:
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
