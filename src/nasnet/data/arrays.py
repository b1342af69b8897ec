"""In-memory image datasets as uint8 arrays, what is known about them (`DatasetInfo`), and the validation split."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

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

    def take(self, indices: np.ndarray) -> ImageArray:
        return ImageArray(np.ascontiguousarray(self.images[indices]), np.ascontiguousarray(self.labels[indices]))

    def subset(self, count: int | None, seed: int = 0) -> ImageArray:
        """A deterministic, class-balanced subset of ``count`` images (all if ``None``)."""
        if count is None or count >= len(self):
            return self
        return self.take(np.sort(stratified_indices(self.labels, count, seed)))


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and its training need to know about a dataset, apart from the images themselves.

    Worked out once, when the dataset is loaded (`Dataset`), and then carried, never derived again, by
    the forms the data takes on its way to training: `DataSplits` adds the normalization statistics of
    its training split, and ``nasnet.train.DeviceData`` keeps the same info for the copy on the device.

    ``image_size`` is the training images' height, the side the models are built for; ``mean`` and
    ``std`` are per channel, in [0, 1] units, and empty until a split has computed them.
    """

    name: str
    classes: tuple[str, ...]
    image_size: int
    channels: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        # Tuples whatever the caller passed (a list read from JSON, a generator), so the info stays frozen whole.
        for key in ("classes", "mean", "std"):
            object.__setattr__(self, key, tuple(getattr(self, key)))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def describe(
        cls,
        name: str,
        classes: Iterable[str],
        train: ImageArray,
        mean: Iterable[float] = (),
        std: Iterable[float] = (),
    ) -> DatasetInfo:
        """The info of a dataset named ``name`` whose training images are ``train``."""
        _, height, _, channels = train.images.shape
        return cls(name, tuple(classes), int(height), int(channels), tuple(mean), tuple(std))

    def with_stats(self, mean: Iterable[float], std: Iterable[float]) -> DatasetInfo:
        """The same info with the normalization statistics of a training split."""
        return dataclasses.replace(self, mean=tuple(mean), std=tuple(std))


class DescribedData:
    """Read-only views of ``info``, so that every form of a dataset answers ``num_classes`` (...) alike."""

    info: DatasetInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def image_size(self) -> int:
        return self.info.image_size

    @property
    def in_channels(self) -> int:
        return self.info.channels


@dataclass(frozen=True, init=False)
class Dataset(DescribedData):
    """A loaded dataset: the training set, an optional test set, its `DatasetInfo` and where it came from.

    Built from the facts a loader knows (``name``, ``classes``); the rest of the info is read from the
    training images here, once.
    """

    info: DatasetInfo
    train: ImageArray
    test: ImageArray | None
    source: str

    def __init__(
        self, name: str, train: ImageArray, test: ImageArray | None, classes: Iterable[str], source: str = ""
    ) -> None:
        _set_fields(self, info=DatasetInfo.describe(name, classes, train), train=train, test=test, source=source)


@dataclass(frozen=True, init=False)
class DataSplits(DescribedData):
    """What training needs: ``train`` to fit, ``val`` for rewards, ``test`` for final reports only.

    `make_splits` passes the dataset's ``info`` on (with its training split's statistics). Splits made
    by hand may instead give ``classes``, ``name``, ``mean`` and ``std``, and the rest is read from
    ``train``.
    """

    train: ImageArray
    val: ImageArray | None
    test: ImageArray | None
    info: DatasetInfo

    def __init__(
        self,
        train: ImageArray,
        val: ImageArray | None,
        test: ImageArray | None,
        classes: Iterable[str] | None = None,
        name: str = "",
        mean: Iterable[float] = (),
        std: Iterable[float] = (),
        *,
        info: DatasetInfo | None = None,
    ) -> None:
        if info is None:
            if classes is None:
                raise TypeError("DataSplits needs either info= or the class names")
            info = DatasetInfo.describe(name, classes, train, mean, std)
        elif classes is not None or name or tuple(mean) or tuple(std):
            raise TypeError("DataSplits takes either info= or classes, name, mean and std, not both")
        _set_fields(self, train=train, val=val, test=test, info=info)

    @property
    def mean(self) -> tuple[float, ...]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.info.std


def _set_fields(obj: object, **values: object) -> None:
    # The frozen dataclasses above have their own __init__, which must get past the frozen __setattr__.
    for key, value in values.items():
        object.__setattr__(obj, key, value)


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
    return DataSplits(train, val, dataset.test, info=dataset.info.with_stats(mean, std))
