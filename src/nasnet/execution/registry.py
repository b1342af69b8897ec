"""The executors by name.

Like every registry in nasnet, this one imports none of its plug-ins: each executor module
registers its class when it is imported (``@EXECUTORS.register("local")``), `nasnet.execution`
imports the built-in ones, and an installed distribution may add more through the
``nasnet.executors`` entry-point group (or a ``--plugin`` module).
"""

from __future__ import annotations

from nasnet.execution.base import Executor, ExecutorError
from nasnet.registry import Registry

EXECUTORS: Registry[type[Executor]] = Registry("executor", "nasnet.executors", ExecutorError)


def list_executors() -> list[str]:
    """The names of every executor, sorted."""
    return EXECUTORS.names()
