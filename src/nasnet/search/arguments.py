"""Checks of `search`'s arguments, run before anything is written: each refusal is one line naming the flag."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nasnet.errors import NasnetError, short_repr
from nasnet.validation import check_int, check_number

MAX_TRIALS = 10**12  # a budget beyond any search; larger numbers are typing mistakes


class SearchError(NasnetError):
    """A search could not start or continue."""


def check_arguments(
    out: str | os.PathLike[str], trials: Any, hours: Any, snapshot_every: Any, resume: bool
) -> tuple[int | None, float | None]:
    """Refuse a bad budget or directory in one line, naming the command-line flag too; returns the budget
    as plain numbers (a NumPy integer becomes an int, so that the config stays JSON)."""
    flag = "--resume" if resume else "--out"
    try:
        path = os.fspath(out)
    except TypeError:
        raise SearchError(f"out ({flag}) must be a path, got {short_repr(out)}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.strip():
        raise SearchError(f"out ({flag}) is empty: name the experiment directory")
    if "\0" in path:
        raise SearchError(f"out ({flag}) {short_repr(path)}: a path cannot hold a NUL character")
    if trials is not None:
        trials = check_int("trials (--trials)", trials, 1, MAX_TRIALS, SearchError)
    if hours is not None:
        hours = check_number("hours (--hours)", hours, positive=True, error=SearchError)
    check_int("snapshot_every", snapshot_every, 1, error=SearchError)
    if not resume:
        check_can_make_directory(Path(path))
    return trials, hours


def check_can_make_directory(directory: Path) -> None:
    """Refuse, before any long preparation, a ``--out`` that is a file or lies under one."""
    probe = directory
    while True:
        try:
            is_dir = probe.is_dir()
            exists = is_dir or probe.exists()
        except OSError as err:  # e.g. a name too long for the file system
            raise SearchError(f"--out {short_repr(str(directory), 200)}: cannot be used ({err.strerror})") from None
        if exists:
            break
        if probe.parent == probe:
            return
        probe = probe.parent
    if not is_dir:
        where = "" if probe == directory else f" ({probe} is a file)"
        raise SearchError(
            f"--out {short_repr(str(directory), 200)}: not a directory{where}; name a new or existing directory"
        )
    if probe != directory and not os.access(probe, os.W_OK | os.X_OK):
        raise SearchError(f"--out {short_repr(str(directory), 200)}: cannot create it: {probe} is not writable")
