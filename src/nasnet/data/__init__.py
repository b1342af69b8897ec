"""Datasets: CIFAR python format, ImageFolder directories and archives, the decoded cache, splits."""

from nasnet.data.arrays import DataError, Dataset, DataSplits, ImageArray, make_splits, stratified_indices
from nasnet.data.cifar import CIFAR10, CIFAR100, load_cifar
from nasnet.data.imagefolder import load_image_folder
from nasnet.data.locations import cache_root, data_root
from nasnet.data.sources import load_dataset, load_splits

__all__ = [
    "CIFAR10",
    "CIFAR100",
    "DataError",
    "DataSplits",
    "Dataset",
    "ImageArray",
    "cache_root",
    "data_root",
    "load_cifar",
    "load_dataset",
    "load_image_folder",
    "load_splits",
    "make_splits",
    "stratified_indices",
]
