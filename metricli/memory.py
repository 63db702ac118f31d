"""How much memory this process may still take, and sizes written for people.

Commands whose memory follows from a number the user gave (a constraint count, the
width of a table) compare their estimate with :func:`available_bytes` before they
allocate, and refuse with both figures instead of running until the system kills them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

#: tests (and cautious users) can pretend the machine has this many bytes free
ENV_LIMIT = "METRICLI_MEMORY_LIMIT"


def available_bytes() -> int:
    """Bytes this process can still allocate: the kernel's MemAvailable, lowered by an
    address-space limit (``ulimit -v``) or ``METRICLI_MEMORY_LIMIT`` when they are smaller."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            found.append(8 << 30)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft not in (resource.RLIM_INFINITY, -1) and soft > 0:
            found.append(int(soft))
    except (ImportError, OSError, ValueError):
        pass
    limit = os.environ.get(ENV_LIMIT)
    if limit:
        with contextlib.suppress(ValueError):
            found.append(int(float(limit)))
    return max(min(found), 0)


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; one decimal, binary units."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover


#: what writing a bundle holds at its peak besides the learner (its M, the eigen-decomposition
#: behind the axioms check, M.csv's rows), in d x d and n_components x d float64 arrays; measured
#: with tracemalloc by benchmarks/fit_memory.py
BUNDLE_ARRAYS = (5.0, 2.0)


def fit_bytes(learner: object, n_features: int, bundle: bool = False, n_components: int | None = None) -> int:
    """The bytes a fit of ``learner`` on ``n_features`` columns holds at its peak (and, with
    ``bundle``, writing its bundle after), from the learner's ``peak_arrays``."""
    squares, per_component = type(learner).peak_arrays  # type: ignore[attr-defined]
    d = int(n_features)
    k = _components(learner, d) if n_components is None else min(int(n_components), d)
    need = 8.0 * d * (squares * d + per_component * k)
    if bundle:
        need = max(need, 8.0 * d * (BUNDLE_ARRAYS[0] * d + BUNDLE_ARRAYS[1] * k))
    return int(need)


def _components(learner: object, d: int) -> int:
    k = getattr(learner, "n_components", None)
    return d if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= d else k


def require_fit_memory(learner: object, n_features: int, bundle: bool = False, where: str = "") -> None:
    """Refuse, before anything is allocated, a fit whose d x d (or n_components x d) arrays do
    not fit in :func:`available_bytes`: the figures, and the ways out the command has."""
    from metricli.errors import MetricliError

    d = int(n_features)
    need, free = fit_bytes(learner, d, bundle), available_bytes()
    if need <= free:
        return
    name = getattr(learner, "name", type(learner).__name__)
    ways = []
    k = _components(learner, d)
    if hasattr(learner, "n_components") and type(learner).peak_arrays[1] > 0:  # type: ignore[attr-defined]
        fits = _largest(lambda c: fit_bytes(learner, d, bundle, n_components=c) <= free, k)
        if fits:
            ways.append(f"lower --n-components to {fits:,} or fewer")
    columns = _largest(lambda c: fit_bytes(learner, c, bundle, n_components=min(k, c)) <= free, d)
    keep = f"at most {columns:,} columns" if columns else "fewer columns"
    ways.append(f"keep {keep} with --features or --exclude, or reduce them first (e.g. with PCA)")
    raise MetricliError(
        f"{where + ': ' if where else ''}{name}: {d:,} features need about {human_bytes(need)} to fit (a {d:,} × {d:,} float64 "
        f"matrix is {human_bytes(8.0 * d * d)}; the fit holds about {need / (8.0 * d * d):.0f} of "
        f"them at once) and {human_bytes(free)} is available; {'; or '.join(ways)}"
    )


def _largest(fits: Callable[[int], bool], upper: int) -> int:
    """The largest c in 1..upper with fits(c) (fits grows false with c), 0 if none."""
    if not fits(1):
        return 0
    low, high = 1, upper
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low
