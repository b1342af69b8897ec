"""`load_dataset`: a dataset from a name (cifar10, cifar100) or a path."""

from __future__ import annotations

import os
from pathlib import Path

from nasnet.data.arrays import DataError, Dataset, DataSplits, make_splits
from nasnet.data.cifar import CIFAR_SPECS, detect_cifar, load_cifar
from nasnet.data.download import download
from nasnet.data.imagefolder import load_image_folder
from nasnet.data.locations import data_root


def _find_named(name: str, root: Path) -> Path | None:
    spec = CIFAR_SPECS[name]
    for candidate in (root / spec.archive, root / spec.folder, root / name / spec.archive, root / name / spec.folder):
        if candidate.exists():
            return candidate
    if root.is_file() or (root.is_dir() and detect_cifar(root) is spec):
        return root
    return None


def load_dataset(
    spec: str | os.PathLike[str],
    data_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Load ``cifar10``/``cifar100`` (from the data location, downloading if needed) or a path.

    A path may be a CIFAR python-format archive or folder, or an ImageFolder
    directory or .tar/.tar.gz archive.
    """
    text = os.fspath(spec)
    if text.lower() in CIFAR_SPECS:
        name = text.lower()
        root = data_root(data_dir)
        found = _find_named(name, root)
        if found is None:
            if not allow_download:
                raise DataError(f"{name} not found in {root}; put {CIFAR_SPECS[name].archive} there")
            found = download(CIFAR_SPECS[name].url, root / CIFAR_SPECS[name].archive, CIFAR_SPECS[name].md5)
        return load_cifar(found, CIFAR_SPECS[name])
    path = Path(text).expanduser()
    if not path.exists() and data_dir is not None and (Path(data_dir) / text).exists():
        path = Path(data_dir) / text
    if not path.exists():
        raise DataError(f"{path}: no such file or directory (and not a known dataset name: {', '.join(CIFAR_SPECS)})")
    if detect_cifar(path) is not None:
        return load_cifar(path)
    if path.is_dir():  # a data location holding an official archive or its extracted folder
        for name in CIFAR_SPECS:
            found = _find_named(name, path)
            if found is not None and found != path:
                return load_cifar(found, CIFAR_SPECS[name])
    return load_image_folder(path, image_size=image_size)


def load_splits(
    spec: str | os.PathLike[str],
    val_size: int = 5000,
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
) -> DataSplits:
    """`load_dataset`, then hold out ``val_size`` training images as the reward set."""
    return make_splits(load_dataset(spec, data_dir=data_dir, image_size=image_size), val_size=val_size, seed=seed)
