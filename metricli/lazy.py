"""Modules imported when first used, so that a command pays only for what it runs.

pandas (with pyarrow behind it) costs more to import than numpy, typer and rich together,
and scipy nearly as much; ``metricli --help``, ``info`` and ``check BUNDLE`` need neither,
so the modules they share with the table commands and the learners name them through a
:class:`LazyModule`, imported on the first attribute taken from it
(benchmarks/startup.py measures the difference).
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name``; imports it when an attribute is first asked for."""

    def __init__(self, name: str) -> None:
        self.__dict__["_name"] = name

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self.__dict__["_name"])
        self.__dict__.update(vars(module))  # later look-ups are plain attribute reads
        return getattr(module, attribute)


#: pandas, imported on first use
pd: Any = LazyModule("pandas")
