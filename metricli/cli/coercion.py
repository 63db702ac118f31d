"""Option values converted without pydantic, where that gives typer's own answer.

Typer (0.2x) converts every option value through a pydantic ``TypeAdapter``, built for each
option of the command being run, even one left at its default: importing pydantic and
building some twenty adapters costs about as much as importing numpy, on every call of
every command. The values a user types are almost always plain (a path, a count, a flag,
one of a few words); :class:`QuickParam` converts those itself and hands anything else
(a malformed number, a path option, a bool given as text) to typer's own conversion,
built only then, so that every accepted value and every error message stays typer's.
tests/cli/test_startup.py checks that both give the same answer on every option of every
command.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal, get_args, get_origin

#: what int() and float() read exactly as pydantic does; other spellings go to typer
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


class _Unsure(Exception):
    """The quick conversion does not know this value: typer's decides."""


class QuickParam:
    """Stands for typer's runtime conversion of one parameter (``param._runtime_param``)."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        self._typer: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        try:
            if multi:
                if isinstance(value, str) or not isinstance(value, list | tuple):
                    raise _Unsure()
                (item,) = get_args(self.descriptor.annotation) or (None,)
                return [self._leaf(item, v, ctx) for v in value]
            return self._leaf(self.descriptor.annotation, value, ctx)
        except _Unsure:
            return self.typer_param().coerce(value, param=param, ctx=ctx)

    def typer_param(self) -> Any:
        if self._typer is None:
            from typer._coercion import build_runtime_param

            self._typer = build_runtime_param(self.descriptor)
        return self._typer

    def _leaf(self, annotation: Any, value: Any, ctx: Any) -> Any:
        info = self.descriptor.parameter_info
        if info.parser is not None or self.descriptor.file_annotation is not None:
            raise _Unsure()
        if annotation is str and isinstance(value, str):
            return value
        if annotation is int or annotation is float:
            return self._number(annotation, value, info)
        if get_origin(annotation) is Literal or (
            isinstance(annotation, type) and issubclass(annotation, Enum)
        ):
            return self._choice(annotation, value, info, ctx)
        raise _Unsure()

    @staticmethod
    def _number(kind: type, value: Any, info: Any) -> Any:
        if info.clamp:
            raise _Unsure()
        if (
            (isinstance(value, str) and (_INT if kind is int else _FLOAT).fullmatch(value))
            or type(value) is kind
            or (kind is float and type(value) is int)
        ):
            number = kind(value)
        else:
            raise _Unsure()
        if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
            raise _Unsure()  # typer words the error
        return number

    @staticmethod
    def _choice(annotation: Any, value: Any, info: Any, ctx: Any) -> Any:
        choices = tuple(annotation) if isinstance(annotation, type) else get_args(annotation)
        if any(isinstance(c, Enum) and value is c for c in choices):
            return value
        if (
            not isinstance(value, str)
            or not info.case_sensitive
            or getattr(ctx, "token_normalize_func", None)
        ):
            raise _Unsure()
        for choice in choices:
            if (str(choice.value) if isinstance(choice, Enum) else str(choice)) == value:
                return choice
        raise _Unsure()


def quicken(param: Any) -> None:
    """Give a typer parameter a :class:`QuickParam` (typer's own parameters only: another
    typer may have other internals)."""
    if (
        hasattr(param, "_runtime_param")
        and hasattr(param, "type_descriptor")
        and param._runtime_param is None
    ):
        param._runtime_param = QuickParam(param.type_descriptor)
