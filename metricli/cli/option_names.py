"""What options are called where the name is not the obvious one (issue 17).

``-k`` is the kNN vote, everywhere (``-k/--vote-k``); a learner's own neighbour count
(LMNN's target neighbours, LFDA's and SELF's affinity scale, the parameter ``k``) is
``--n-neighbors``; a learner's ``random_state`` is the shared ``--seed``. The old spellings
(``--knn``, ``--k``) are still read, hidden from --help, with a note.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from metricli.cli.common import note

#: a learner parameter's option where it is not ``--`` + its name
FLAGS = {"k": "--n-neighbors", "random_state": "--seed"}

#: the learners' neighbour-count parameters (shown in evaluate's header)
NEIGHBOUR_PARAMS = ("k",)

#: old options still read, hidden from --help: parameter -> old flag
OLD_FLAGS = {"k": "--k"}

#: the k of the kNN vote
VoteKOption = Annotated[
    int, typer.Option("-k", "--vote-k", min=1, help="Neighbours in the kNN vote (or average, for --target).")
]
#: the vote's old long name
OldVoteKOption = Annotated[int | None, typer.Option("--knn", min=1, hidden=True)]


def option(annotation: Any, *decls: str, **kwargs: Any) -> Any:
    """A Typer option of this type, declared as ``typer.Option(*decls, **kwargs)``."""
    return Annotated[annotation, typer.Option(*decls, **kwargs)]


def flag_of(name: str) -> str:
    """The command-line option of the learner parameter ``name``."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def read_old_flags(learner: str, options: dict[str, Any]) -> None:
    """Move a value given under an old flag (``NAME_old``) to its parameter, with a note."""
    for name, old in OLD_FLAGS.items():
        if options.get(f"{name}_old") is not None:
            note(f"{old} is now {flag_of(name)} ({learner}'s own neighbour count; -k is the kNN vote)")
            options[name] = options.pop(f"{name}_old")


def vote_k(k: int, old: int | None) -> int:
    """The kNN vote's k, from -k/--vote-k or the old --knn."""
    if old is None:
        return k
    note("--knn is now -k/--vote-k (the kNN vote); it still works")
    return old
