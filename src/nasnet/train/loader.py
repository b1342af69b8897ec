"""Datasets resident on the training device, served as augmented batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from nasnet.data.arrays import DatasetInfo, DataSplits, DescribedData, ImageArray, stratified_indices
from nasnet.train.augment import cutout, normalize, random_crop, random_flip


@dataclass
class DeviceArray:
    """uint8 images ``[N, C, H, W]`` and int64 labels, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_array(cls, array: ImageArray, device: torch.device) -> DeviceArray:
        images = torch.from_numpy(array.images).to(device).permute(0, 3, 1, 2)
        return cls(images, torch.from_numpy(array.labels).to(device))

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, count: int | None, seed: int = 0) -> DeviceArray:
        """The same class-balanced subset as `ImageArray.subset` picks (all if ``None``)."""
        if count is None or count >= len(self):
            return self
        index = np.sort(stratified_indices(self.labels.cpu().numpy(), count, seed))
        index_on_device = torch.from_numpy(index).to(self.images.device)
        return DeviceArray(self.images[index_on_device], self.labels[index_on_device])


@dataclass
class DeviceData(DescribedData):
    """Training, validation and (optionally) test sets on one device, with the dataset's `DatasetInfo`.

    Build it once and pass it to `nasnet.train.train` for many runs: the data
    stays on the device between children. ``num_classes``, ``image_size``,
    ``classes`` (...) read ``info``; ``mean`` and ``std`` are its normalization
    statistics as tensors on the device.
    """

    train: DeviceArray
    val: DeviceArray | None
    test: DeviceArray | None
    info: DatasetInfo
    mean: torch.Tensor = field(init=False, repr=False)
    std: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Made once here rather than per batch; `dataclasses.replace` (a subset) makes them again, which is cheap.
        self.mean = torch.tensor(self.info.mean, device=self.device, dtype=torch.float32)
        self.std = torch.tensor(self.info.std, device=self.device, dtype=torch.float32)

    @property
    def device(self) -> torch.device:
        return self.train.images.device

    @classmethod
    def from_splits(
        cls,
        splits: DataSplits,
        device: torch.device | str,
        train_subset: int | None = None,
        val_subset: int | None = None,
        include_test: bool = True,
        seed: int = 0,
    ) -> DeviceData:
        device = torch.device(device)

        def put(array: ImageArray | None, count: int | None = None) -> DeviceArray | None:
            if array is None:
                return None
            return DeviceArray.from_array(array.subset(count, seed), device)

        train = put(splits.train, train_subset)
        assert train is not None
        return cls(
            train=train,
            val=put(splits.val, val_subset),
            test=put(splits.test) if include_test else None,
            info=splits.info,
        )


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped); at least one."""
    return max(1, num_images // batch_size)


def train_batches(
    data: DeviceData,
    batch_size: int,
    generator: torch.Generator,
    pad: int,
    flip: bool,
    cutout_size: int,
    channels_last: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled, augmented, normalized batches."""
    count = len(data.train)
    order = torch.randperm(count, device=data.device, generator=generator)
    batch_size = min(batch_size, count)
    for step in range(steps_per_epoch(count, batch_size)):
        index = order[step * batch_size : (step + 1) * batch_size]
        x = data.train.images[index]
        x = random_crop(x, pad, generator)
        if flip:
            x = random_flip(x, generator)
        x = normalize(x, data.mean, data.std)
        x = cutout(x, cutout_size, generator)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, data.train.labels[index]


def eval_batches(
    array: DeviceArray, data: DeviceData, batch_size: int, channels_last: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for start in range(0, len(array), batch_size):
        x = normalize(array.images[start : start + batch_size], data.mean, data.std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, array.labels[start : start + batch_size]
