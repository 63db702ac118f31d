"""The field separator of CSV-like input: given with ``--delimiter``, or sniffed from a header.

Spreadsheets and R in many locales write "CSV" with ';' (the comma being their decimal
mark), and exports from databases use a tab or '|'. Read with commas, such a file is one
column whose name holds every real name, and every command then fails on a missing column
or on "no numeric feature columns". So a ``.csv`` whose header has no comma but holds one of
:data:`SNIFFED` is read with that separator, with a note; ``--delimiter`` says it outright.

The separator is chosen for a run, as the input files are (:mod:`metricli.io.atomic`): the
command line calls :func:`use_delimiter` once per command. Readers ask :func:`separator`
with a file's first line, so a file written with its format's own separator (a constraint
file metricli wrote, beside data separated by ';') is still read as written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from metricli.errors import MetricliError

#: what a .csv header with no comma is sniffed for, in this order when counts tie
SNIFFED = (";", "\t", "|")
#: spellings of the tab a shell makes hard to type
_TAB = {"\\t", "tab", "\t"}


class _Reading:
    """The separator given for this run (None: by format, and sniffed), and where notes go."""

    def __init__(self) -> None:
        self.delimiter: str | None = None
        self.notify: Callable[[str], None] = lambda message: None
        self.noted: set[str] = set()


_reading = _Reading()


def parse_delimiter(text: str) -> str:
    """One character; ``\\t`` or ``tab`` for a tab. Anything else is a one-line error."""
    if text.lower() in _TAB:
        return "\t"
    if len(text) != 1 or text in '\r\n"':
        raise MetricliError(
            f"--delimiter: {text!r} is not one character; give the separator itself, e.g. "
            "--delimiter ';' (or '\\t' for a tab)"
        )
    return text


def use_delimiter(text: str | None, notify: Callable[[str], None] | None = None) -> None:
    """Read this run's CSV-like input with ``text`` (None: by format, sniffed); notes to ``notify``."""
    _reading.delimiter = None if text is None else parse_delimiter(text)
    _reading.notify = notify or (lambda message: None)
    _reading.noted = set()


def given_delimiter() -> str | None:
    """The separator of ``--delimiter`` in this run, if one was given."""
    return _reading.delimiter


def shown(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def separator(fmt: str, header: bytes, name: str) -> str:
    """The separator to read a CSV (``fmt`` csv) or TSV file whose first line is ``header``.

    With ``--delimiter``, that one, unless the header holds none of it but does hold the
    format's own separator (then the file was written that way). Without, the format's own;
    for CSV, a header that is one column (no comma) holding ';', tab or '|' is read with the
    most frequent of them, with a note.
    """
    own = "\t" if fmt == "tsv" else ","
    try:
        text = header.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:  # the reader reports the file
        return _reading.delimiter or own
    given = _reading.delimiter
    if given is not None:
        if given in text or own not in text:
            return given
        _note(name, f"{name}: read with delimiter {shown(own)} (its header holds no {shown(given)})")
        return own
    if fmt != "csv" or len(next(csv.reader(io.StringIO(text, newline="")), [])) != 1:
        return own
    counts = {sep: text.count(sep) for sep in SNIFFED}
    best = max(SNIFFED, key=lambda sep: counts[sep])
    if counts[best] == 0:
        return own
    _note(
        name,
        f"{name}: read with delimiter {shown(best)} (its header has no comma); pass --delimiter to choose another",
    )
    return best


#: a cell written with a decimal comma (5,1), and one with a decimal point (5.1)
_COMMA_NUMBER = re.compile(rb"[+-]?[0-9]+,[0-9]+(?:[eE][+-]?[0-9]+)?")
_POINT_NUMBER = re.compile(rb"[+-]?[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?")


def decimal_mark(sep: str, sample: bytes, name: str) -> str:
    """'.' or ',': the decimal mark of a table separated by ``sep``, from the first bytes of
    the file (``sample``, header first). A file not separated by commas whose data cells
    hold numbers like 5,1 and none like 5.1 was written with decimal commas (R's
    ``write.csv2``, spreadsheets in most of Europe): read so, with a note."""
    if sep == ",":
        return "."
    lines = sample.split(b"\n")[1:-1][:50]  # the last line of a sample may be cut short
    cells = [c.strip().strip(b'"') for line in lines for c in line.rstrip(b"\r").split(sep.encode())]
    if any(_COMMA_NUMBER.fullmatch(c) for c in cells) and not any(_POINT_NUMBER.fullmatch(c) for c in cells):
        _note(f"{name} decimal", f"{name}: read with decimal commas (5,1 is 5.1)")
        return ","
    return "."


def _note(name: str, message: str) -> None:
    # a file read twice in one run (its header, then its rows) gets its note once
    if name not in _reading.noted:
        _reading.noted.add(name)
        _reading.notify(message)
