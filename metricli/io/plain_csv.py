"""A direct path for the commonest small job: ``transform`` of a plain CSV file to CSV.

Reading a table through pandas costs more start-up than the rest of the command line put
together (pandas and the pyarrow it loads, about twice the import floor of numpy, typer and
rich; benchmarks/startup.py). A small file whose feature cells are all plain finite
numbers, with no quotes, no blank lines and one field per header name, needs none of what
pandas brings: this module reads it with the standard library, projects it with the same
:func:`~metricli.kernels.project` and writes the floats as pyarrow's writer does. Anything
else (a quote, a text or missing cell, a value the two writers would spell differently)
returns None before a byte is written, and the command takes the general path, which
gives the same numbers and every error message.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from metricli.io.atomic import FILE, atomic_path, note_input
from metricli.io.dialect import separator

#: files up to this size take the direct path (a few thousand rows: parsing stays instant)
MAX_BYTES = 1 << 20
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
#: a number as pandas' C parser and float() read it alike
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def read_plain(path: str, fmt: str | None, features: list[str]) -> np.ndarray | None:
    """The feature columns of a small plain CSV/TSV file as float64 rows, or None when the
    file is anything but plain (then the general reader decides what it holds)."""
    source = Path(path)
    kind = _SUFFIXES.get(source.suffix.lower())
    if kind is None or (fmt is not None and fmt.lower() != kind) or not source.is_file():
        return None
    if source.stat().st_size > MAX_BYTES:
        return None
    raw = source.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if '"' in text or "\x00" in text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if len(lines) < 2 or any(not line.strip() for line in lines) or "\r" in "".join(lines):
        return None
    sep = separator(kind, lines[0].encode("utf-8"), path)
    names = lines[0].split(sep)
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        return None
    try:
        columns = [names.index(f) for f in features]
    except ValueError:
        return None
    X = np.empty((len(lines) - 1, len(columns)), dtype=np.float64)
    for i, line in enumerate(lines[1:]):
        cells = line.split(sep)
        if len(cells) != len(names):
            return None
        for j, c in enumerate(columns):
            cell = cells[c]
            if len(cell) > 24 or not _NUMBER.fullmatch(cell):
                return None
            X[i, j] = float(cell)
    if not np.isfinite(X).all():
        return None
    note_input(source)
    return X


def _shortest(value: float) -> str | None:
    """``value`` as pyarrow's CSV writer spells it (shortest exact form, no '.0'), or None
    where the two spellings part (exponents: pyarrow writes 1e+10 and 0.00001)."""
    if value != 0 and not 1e-4 <= abs(value) < 1e10:
        return None
    text = repr(value)
    if "e" in text:
        return None
    return text[:-2] if text.endswith(".0") else text


def format_rows(Z: np.ndarray, sep: str) -> str | None:
    """The CSV/TSV text of ``Z`` (header c0, c1, ...) as the general writer writes it, or None."""
    lines = [sep.join(f"c{j}" for j in range(Z.shape[1]))]
    for row in Z.tolist():
        cells = [_shortest(v) for v in row]
        if None in cells:
            return None
        lines.append(sep.join(cells))  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def transform_plain(
    L: np.ndarray,
    features: list[str],
    data: str,
    output: str,
    fmt: str | None,
    output_format: str | None,
    force: bool,
) -> int | None:
    """``transform`` of a small plain CSV/TSV file to CSV/TSV (or stdout): rows written, or
    None when the general path must run (nothing was written)."""
    from metricli.kernels import project

    if output == "-":
        sep = "\t" if output_format == "tsv" else ","
        if output_format not in (None, "csv", "tsv"):
            return None
    else:
        out_kind = output_format or _SUFFIXES.get(Path(output).suffix.lower())
        if out_kind not in ("csv", "tsv"):
            return None
        sep = "," if out_kind == "csv" else "\t"
    X = read_plain(data, fmt, features)
    if X is None:
        return None
    text = format_rows(project(X, L), sep)
    if text is None:
        return None
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        with atomic_path(output, force=force, kind=FILE) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="")
    return X.shape[0]
