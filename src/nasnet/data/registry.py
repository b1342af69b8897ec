"""The datasets by name (``cifar10``, ``cifar100``, ...): what ``--data NAME`` and `load_dataset` look up.

Like every registry in nasnet, this one imports none of its plug-ins. A dataset module registers its
loader when it is imported::

    @DATASETS.register("cifar10")
    def cifar10(root: Path, image_size: int | None, allow_download: bool) -> Dataset: ...

`nasnet.data` imports the built-in ones; a module named with ``--plugin`` or an installed
distribution's entry point in the ``nasnet.datasets`` group adds more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from nasnet.data.arrays import DataError, Dataset
from nasnet.registry import Registry


class DatasetLoader(Protocol):
    """Loads one named dataset; called with positional arguments.

    ``root`` is the data location (``--data`` folder, ``$NASNET_DATA`` or the cache's ``data``
    folder), where a loader looks for its files and, when ``allow_download``, downloads them.
    ``image_size`` is the size asked for with ``--image-size`` (``None``: as stored); a loader
    whose images have one fixed size may ignore it. A loader that cannot get its data raises a
    `DataError` saying what to do, at once: with no network it must not wait.
    """

    def __call__(self, root: Path, image_size: int | None, allow_download: bool, /) -> Dataset: ...


DATASETS: Registry[DatasetLoader] = Registry("dataset", "nasnet.datasets", DataError)


def list_datasets() -> list[str]:
    """The names of every registered dataset, sorted (for ``--help`` and error messages)."""
    return DATASETS.names()


def registered_name(text: str) -> str | None:
    """The registered name that ``text`` spells, in any case (``CIFAR10`` is ``cifar10``), else ``None``."""
    for candidate in dict.fromkeys((text, text.lower())):
        if candidate in DATASETS:
            return candidate
    return None
