"""Bounded reading of inputs that may never end: stdin, pipes, and files that are not tables.

``/dev/zero`` piped into a command is one endless line of NUL bytes: read whole, it filled
memory at about 240 MB/s. Every text input is therefore read with a cap on the length of a
line (:data:`MAX_LINE_BYTES`), and every input's first bytes are sniffed for what its format
must start with: no NUL byte in a text table, the magic bytes of Parquet and ``.npy``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from metricli.errors import MetricliError

#: the longest line of a CSV/TSV read (a 1,000,000-column row of 20-character cells is 20 MB)
MAX_LINE_BYTES = 64 << 20

#: how many leading bytes are sniffed
SNIFF_BYTES = 8192

_CHUNK = 1 << 20
_MAGIC = {"parquet": b"PAR1", "npy": b"\x93NUMPY"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")

#: the first bytes of compressed data and archives, which a text table never starts with
_PACKED = {
    b"\x1f\x8b": "gzip-compressed",
    b"BZh": "bzip2-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook is one)",
}


def sniff(head: bytes, fmt: str, name: str) -> None:
    """Refuse an input whose first bytes cannot begin a file of format ``fmt``.

    An empty ``head`` passes: the readers say "empty file" themselves.
    """
    if not head:
        return
    magic = _MAGIC.get(fmt)
    if magic is not None:
        if not head.startswith(magic[: len(head)]):
            raise MetricliError(
                f"{name}: not a {fmt.capitalize() if fmt == 'parquet' else '.npy'} file "
                f"(its first bytes are not {magic!r}); check the file or pass the right --format"
            )
        return
    for start, what in _PACKED.items():
        if head.startswith(start):
            raise MetricliError(
                f"{name}: is {what}, not a text {fmt.upper()} table; decompress it first "
                "(e.g. gunzip -c FILE.gz | metricli ...), or name a .csv.gz/.tsv.gz file, which is read as it is"
                if "archive" not in what
                else f"{name}: is {what}, not a text {fmt.upper()} table; save the sheet or the file in it as CSV"
            )
    if b"\x00" in head[:SNIFF_BYTES] and not head.startswith(_UTF16_BOMS):
        raise MetricliError(
            f"{name}: holds binary data (a NUL byte in its first {SNIFF_BYTES:,} bytes), "
            f"not a text {fmt.upper()} table"
        )


def sniff_file(path: str | Path, fmt: str, name: str) -> None:
    """:func:`sniff` the first bytes of a regular file (compressed files are left to their reader)."""
    if Path(path).suffix.lower() in _COMPRESSED:
        return
    with open(path, "rb") as handle:
        sniff(handle.read(SNIFF_BYTES), fmt, name)


def _too_long(name: str) -> MetricliError:
    return MetricliError(
        f"{name}: a line longer than {MAX_LINE_BYTES >> 20} MiB; not a table "
        "(an endless input such as /dev/zero, or a file without line ends?)"
    )


class _Runs:
    """The length of the current line across chunks; raises past :data:`MAX_LINE_BYTES`."""

    def __init__(self, name: str) -> None:
        self.name, self.run = name, 0

    def feed(self, chunk: bytes | memoryview) -> None:
        data = bytes(chunk) if isinstance(chunk, memoryview) else chunk
        first = data.find(b"\n")
        if first < 0:
            self.run += len(data)
        else:
            # lines inside one chunk are shorter than the chunk, itself below the cap
            if self.run + first > MAX_LINE_BYTES:
                raise _too_long(self.name)
            self.run = len(data) - data.rfind(b"\n") - 1
        if self.run > MAX_LINE_BYTES:
            raise _too_long(self.name)


def read_all(handle: Any, fmt: str, name: str) -> bytes:
    """All of ``handle`` (stdin or a pipe), sniffed, and for text with every line under the cap."""
    chunks: list[bytes] = []
    runs = _Runs(name) if fmt in ("csv", "tsv") else None
    head = b""
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            break
        if len(head) < SNIFF_BYTES:
            head += chunk[:SNIFF_BYTES]
            sniff(head, fmt, name)
        if runs is not None:
            runs.feed(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def first_line(handle: Any, name: str) -> bytes:
    """The first line of a text stream, at most :data:`MAX_LINE_BYTES` long."""
    line = handle.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise _too_long(name)
    return line


class Guarded(io.RawIOBase):
    """``head`` (bytes already read), then the rest of a stream, every line under the cap."""

    def __init__(self, head: bytes, rest: Any, name: str) -> None:
        self._head, self._rest = head, rest
        self._runs = _Runs(name)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._rest.read(len(buffer))
        self._runs.feed(data)
        buffer[: len(data)] = data
        return len(data)


def text_stream(stream: Any, fmt: str, name: str) -> tuple[bytes, io.BufferedReader, bytes]:
    """A text table's stream (stdin or a pipe) sniffed and guarded: its first line, a reader
    of the whole stream, that line included, and its first :data:`SNIFF_BYTES` (a sample)."""
    head = stream.read(SNIFF_BYTES)
    sniff(head, fmt, name)
    rest = io.BufferedReader(Guarded(head, stream, name))
    first = first_line(rest, name)
    return first, io.BufferedReader(Guarded(first, rest, name)), head
