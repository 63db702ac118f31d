"""Scoped limits on BLAS threads (OpenBLAS), without an extra dependency.

Small matrix products gain nothing from BLAS threads, and when the cores are busy
the threads' hand-offs cost far more than the work: measured on a shared 2-core
machine, L-BFGS-B's internal BLAS calls on a 16-variable problem took 0.2 s with two
OpenBLAS threads and 0.006 s with one. :func:`limit_blas_threads` sets the thread
count of every OpenBLAS library loaded in the process (numpy's and scipy's bundled
ones, found through /proc/self/maps) for the duration of a ``with`` block, and
restores it afterwards. Where that is not possible (no /proc, another BLAS) it does
nothing.

The iterative learners (``MahalanobisLearner.iterative``: NCA, LMNN, MLKR, ITML, MMC, LSML,
SCML) fit with ``METRICLI_BLAS_THREADS`` threads (default 1), set once around ``fit``: their
pairwise work is cut into blocks sized for one core, and on a shared machine a second
BLAS thread made a 20,000-point NCA evaluation 2x slower, not faster. Set the
variable to use more threads on an idle multi-core machine.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


@functools.cache
def _openblas_controls() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """Thread getters and setters of the loaded OpenBLAS libraries (scanned once: reading
    /proc/self/maps costs milliseconds, and numpy's and scipy's BLAS are loaded by then)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = set()
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and "openblas" in fields[5].lower() and ".so" in fields[5]:
            paths.add(fields[5].strip())
    controls = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    getter.restype = ctypes.c_int
                    setter.argtypes = [ctypes.c_int]
                    controls.append((getter, setter))
                    break
            else:
                continue
            break
    return controls


def fit_threads() -> int:
    """BLAS threads for fitting: ``METRICLI_BLAS_THREADS``, default 1."""
    try:
        return max(1, int(os.environ.get("METRICLI_BLAS_THREADS", "1")))
    except ValueError:
        return 1


@contextmanager
def limit_blas_threads(n_threads: int | None = None) -> Iterator[None]:
    """Run the block with at most ``n_threads`` OpenBLAS threads (default :func:`fit_threads`)."""
    n_threads = fit_threads() if n_threads is None else n_threads
    controls = _openblas_controls()
    previous = []
    for getter, setter in controls:
        count = int(getter())
        previous.append((setter, count))
        if count > n_threads:
            setter(n_threads)
    try:
        yield
    finally:
        for setter, count in previous:
            setter(count)
