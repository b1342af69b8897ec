"""`load_dataset`: a dataset from a registered name (`list_datasets`) or a path."""

from __future__ import annotations

import os
from pathlib import Path

from nasnet.data.arrays import DataError, Dataset, DataSplits, make_splits
from nasnet.data.cifar import CIFAR_SPECS, detect_cifar, find_cifar, load_cifar
from nasnet.data.imagefolder import load_image_folder
from nasnet.data.locations import data_root
from nasnet.data.registry import DATASETS, list_datasets, registered_name


def load_dataset(
    spec: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Load a registered dataset by name (``cifar10``, ``cifar100``, ... from the data location) or a path.

    A name is looked up first, in any case; its loader finds its files in the data location
    (``data_dir``, else ``$NASNET_DATA``, else the cache's ``data`` folder) and downloads them
    there if missing and ``allow_download``. Anything else is a path: a CIFAR python-format
    archive or folder, a data location holding one, or an ImageFolder directory or
    .tar/.tar.gz archive.
    """
    text = os.fspath(spec)
    name = registered_name(text)
    if name is not None:
        return _load_registered(name, data_root(data_dir), image_size, allow_download)
    path = Path(text).expanduser()
    if not path.exists() and data_dir is not None and (Path(data_dir) / text).exists():
        path = Path(data_dir) / text
    if not path.exists():
        raise DataError(
            f"{path}: no such file or directory (and not a known dataset name: {', '.join(list_datasets())})"
        )
    if detect_cifar(path) is not None:
        return load_cifar(path)
    if path.is_dir():  # a data location holding an official archive or its extracted folder
        for cifar in CIFAR_SPECS.values():
            found = find_cifar(path, cifar)
            if found is not None and found != path:
                return load_cifar(found, cifar)
    return load_image_folder(path, image_size=image_size)


def _load_registered(name: str, root: Path, image_size: int | None, allow_download: bool) -> Dataset:
    loader = DATASETS.get(name)
    dataset = loader(root, image_size, allow_download)
    if not isinstance(dataset, Dataset):  # a plug-in's mistake, said here rather than deep inside training
        raise DataError(f"dataset {name!r}: its loader returned a {type(dataset).__name__}, not a nasnet Dataset")
    return dataset


def load_splits(
    spec: str | os.PathLike[str],
    val_size: int = 5000,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
) -> DataSplits:
    """`load_dataset`, then hold out ``val_size`` training images as the reward set."""
    return make_splits(load_dataset(spec, data_dir=data_dir, image_size=image_size), val_size=val_size, seed=seed)
