"""Where a run trains (the device) and its data, placed there with the config's subsets."""

from __future__ import annotations

import dataclasses
import os

import torch

from nasnet.data.arrays import Dataset, DataSplits, make_splits
from nasnet.errors import NasnetError
from nasnet.train.config import TrainConfig
from nasnet.train.loader import DeviceData


def default_device(requested: torch.device | str | None = None) -> torch.device:
    """``requested`` as a device; without one, CUDA when available, else the CPU."""
    device = torch.device(requested) if requested else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # so "cuda" and "cuda:0" compare equal
    return device


def prepare_data(
    data: DeviceData | DataSplits | Dataset | str | os.PathLike[str],
    device: torch.device,
    config: TrainConfig,
    include_test: bool = True,
) -> DeviceData:
    """Put ``data`` on ``device`` (unless it already is), applying the config's subsets."""
    if isinstance(data, DeviceData):
        if data.device != device:
            raise NasnetError(f"data lives on {data.device} but training runs on {device}")
        return subset_device_data(data, config.train_subset, config.val_subset, config.seed)
    if isinstance(data, (str, os.PathLike)):
        from nasnet.data.sources import load_splits

        data = load_splits(data)
    if isinstance(data, Dataset):
        data = make_splits(data)
    return DeviceData.from_splits(data, device, config.train_subset, config.val_subset, include_test, config.seed)


def subset_device_data(data: DeviceData, train_subset: int | None, val_subset: int | None, seed: int) -> DeviceData:
    if train_subset is None and val_subset is None:
        return data
    val = data.val.subset(val_subset, seed) if data.val is not None else None
    return dataclasses.replace(data, train=data.train.subset(train_subset, seed), val=val)
