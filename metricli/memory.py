"""How much memory this process may still take, and sizes written for people.

Commands whose memory follows from a number the user gave (a constraint count, the
width of a table) compare their estimate with :func:`available_bytes` before they
allocate, and refuse with both figures instead of running until the system kills them.
"""

from __future__ import annotations

import contextlib
import os

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
