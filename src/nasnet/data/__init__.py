"""Datasets: named ones from a registry, CIFAR python format, ImageFolder directories and archives, splits.

Importing this package registers the built-in datasets (`list_datasets`). To add one, write a module
that registers a loader (``@DATASETS.register("name")``, see `nasnet.data.registry`) and import it
below, or from outside with ``--plugin module`` or a ``nasnet.datasets`` entry point.
"""

# The built-in datasets, registered as these modules are imported.
from nasnet.data import cifar  # noqa: F401  (registers cifar10, cifar100)
from nasnet.data.arrays import (
    DataError,
    Dataset,
    DatasetInfo,
    DataSplits,
    DescribedData,
    ImageArray,
    make_splits,
    stratified_indices,
)
from nasnet.data.cifar import CIFAR10, CIFAR100, load_cifar
from nasnet.data.imagefolder import load_image_folder
from nasnet.data.locations import cache_root, data_root
from nasnet.data.registry import DATASETS, DatasetLoader, list_datasets
from nasnet.data.sources import load_dataset, load_splits

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DATASETS",
    "DataError",
    "DataSplits",
    "Dataset",
    "DatasetInfo",
    "DatasetLoader",
    "DescribedData",
    "ImageArray",
    "cache_root",
    "data_root",
    "list_datasets",
    "load_cifar",
    "load_dataset",
    "load_image_folder",
    "load_splits",
    "make_splits",
    "stratified_indices",
]
