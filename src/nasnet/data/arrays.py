"""In-memory image datasets as uint8 arrays, and the deterministic train/validation split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nasnet.errors import NasnetError


class DataError(NasnetError):
    """A dataset could not be found, read or used; the message names the file."""


@dataclass(frozen=True)
class ImageArray:
    """Images as ``uint8 [N, H, W, C]`` with ``int64 [N]`` labels."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise DataError(f"images must be uint8 [N, H, W, C], got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise DataError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def take(self, indices: np.ndarray) -> ImageArray:
        return ImageArray(np.ascontiguousarray(self.images[indices]), np.ascontiguousarray(self.labels[indices]))

    def subset(self, count: int | None, seed: int = 0) -> ImageArray:
        """A deterministic, class-balanced subset of ``count`` images (all if ``None``)."""
        if count is None or count >= len(self):
            return self
        return self.take(np.sort(stratified_indices(self.labels, count, seed)))


@dataclass(frozen=True)
class Dataset:
    """A named dataset: the training set, an optional test set, and class names."""

    name: str
    train: ImageArray
    test: ImageArray | None
    classes: tuple[str, ...]
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return self.train.images.shape[1]


@dataclass(frozen=True)
class DataSplits:
    """What training needs: ``train`` to fit, ``val`` for rewards, ``test`` for final reports only."""

    train: ImageArray
    val: ImageArray | None
    test: ImageArray | None
    classes: tuple[str, ...]
    name: str = ""
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return self.train.images.shape[1]

    @property
    def in_channels(self) -> int:
        return self.train.images.shape[3]


def stratified_indices(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` indices, as equal per class as possible, chosen by a seeded permutation."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    base, extra = divmod(count, len(classes))
    chosen = []
    for rank, c in enumerate(classes):
        want = base + (1 if rank < extra else 0)
        if want > len(per_class[c]):
            raise DataError(f"class {c} has {len(per_class[c])} images, fewer than the {want} requested")
        chosen.append(per_class[c][:want])
    return np.concatenate(chosen)


def channel_stats(images: np.ndarray, max_images: int = 10_000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation in [0, 1] units, from an evenly strided sample."""
    step = max(1, len(images) // max_images)
    pixels = images[::step].reshape(-1, images.shape[-1])
    # Exact integer sums, chunked, so no float copy of the whole set is made.
    total = np.zeros(pixels.shape[1], dtype=np.float64)
    total_sq = np.zeros(pixels.shape[1], dtype=np.float64)
    for start in range(0, len(pixels), 1 << 20):
        chunk = pixels[start : start + (1 << 20)].astype(np.int64)
        total += chunk.sum(axis=0)
        total_sq += (chunk * chunk).sum(axis=0)
    mean = total / len(pixels)
    var = np.maximum(total_sq / len(pixels) - mean**2, 0.0)
    return tuple(float(m) / 255.0 for m in mean), tuple(float(max(np.sqrt(v) / 255.0, 1e-6)) for v in var)


def make_splits(dataset: Dataset, val_size: int = 5000, seed: int = 0) -> DataSplits:
    """Hold out ``val_size`` training images as the reward set (the paper holds out 5,000 of 50,000).

    The split is stratified and depends only on ``seed``, so every process and
    machine gets the same one. The test set is kept aside untouched.
    """
    if val_size < 0:
        raise DataError(f"val_size must be >= 0, got {val_size}")
    if val_size >= len(dataset.train):
        raise DataError(f"val_size {val_size} leaves no training images (the training set has {len(dataset.train)})")
    train = dataset.train
    val = None
    if val_size:
        held_out = np.zeros(len(train), dtype=bool)
        held_out[stratified_indices(train.labels, val_size, seed)] = True
        val = train.take(np.flatnonzero(held_out))
        train = train.take(np.flatnonzero(~held_out))
    mean, std = channel_stats(train.images)
    return DataSplits(train, val, dataset.test, dataset.classes, dataset.name, mean, std)
