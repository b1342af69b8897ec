"""ImageFolder datasets (one folder per class), as a directory or a .tar/.tar.gz archive.

Accepted layouts, below any single wrapping folder::

    <class>/<image>                     one split, used as the training set
    <split>/<class>/<image>             split in train, test, val, valid, validation

Images (JPEG, PNG, BMP, WebP) are decoded once, in parallel, to uint8 arrays and
cached under a key of the content: the archive's SHA-256, or for a directory
every file's path, size and modification time. The second run loads the
arrays in seconds. Cache entries are written to a temporary folder and renamed
into place, so an interrupted decode never leaves a half-written entry.

An archive is read to its very end (see `nasnet.data.archive`): a truncated or
damaged one is refused, never decoded into a shorter dataset, and nothing is
cached. The structural checks (layout, empty class folders, at least two
classes) run on every load of a directory, whether or not its arrays are cached;
an archive's cache entry is keyed by its exact bytes, so the checks it passed
when decoded still hold.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import numpy as np

from nasnet.data.archive import looks_like_tar, read_tar
from nasnet.data.arrays import DataError, Dataset, ImageArray
from nasnet.data.locations import cache_root
from nasnet.fileio import update_with_file

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}
# 2: entries written by version 1 may hold a damaged archive's images, read short without a word.
CACHE_VERSION = 2
MIN_CLASSES = 2
_CHUNK = 1000
_PARALLEL_THRESHOLD = 4000


@dataclass(frozen=True)
class _Entry:
    split: str
    label: str
    name: str  # path inside the archive or folder, for messages


@dataclass(frozen=True)
class _Layout:
    """Each image's split and class, once the structural checks have passed."""

    entries: list[_Entry]
    classes: tuple[str, ...]  # the training split's class names, sorted


def _decode_one(data: bytes, name: str, image_size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = image.convert("RGB")
    except UnidentifiedImageError:
        raise DataError(f"{name}: unreadable image (not a JPEG, PNG, BMP or WebP image)") from None
    except Exception as err:  # PIL's decoders raise OSError, ValueError, struct.error, EOFError... on bad bytes
        raise DataError(f"{name}: unreadable image ({type(err).__name__}: {err})") from None
    if image_size is not None:
        rgb = _resize_center_crop(rgb, image_size)
    return np.asarray(rgb, dtype=np.uint8)


def _resize_center_crop(image, size: int):
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    if scale != 1:
        image = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.BICUBIC)
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return image.crop((left, top, left + size, top + size))


def _decode_chunk(items: list[tuple[str, bytes]], image_size: int | None) -> list[np.ndarray] | DataError:
    try:
        return [_decode_one(data, name, image_size) for name, data in items]
    except DataError as err:
        return err


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def _read_tar(path: Path) -> tuple[list[tuple[str, bytes]], set[str]]:
    """The images and folders of the archive, read to its end; a damaged archive raises `DataError`."""
    contents = read_tar(path, _is_image_name)
    return contents.files, contents.directories


def _walk_directory(path: Path) -> tuple[list[str], set[str]]:
    files: list[str] = []
    directories: set[str] = set()
    for root, dirnames, filenames in os.walk(path):
        dirnames.sort()
        rel_root = Path(root).relative_to(path)
        for d in dirnames:
            directories.add((rel_root / d).as_posix())
        for f in sorted(filenames):
            if Path(f).suffix.lower() in IMAGE_EXTENSIONS:
                files.append((rel_root / f).as_posix())
    return files, directories


def _strip_wrapper(parts_list: list[tuple[str, ...]]) -> int:
    """How many leading folders all paths share (a wrapping folder such as ``cifar10/``)."""
    depth = 0
    while parts_list and all(len(p) > depth + 2 for p in parts_list):
        heads = {p[depth] for p in parts_list}
        if len(heads) != 1 or heads.pop().lower() in SPLIT_NAMES:
            break
        depth += 1
    return depth


def _plan(names: list[str], directories: set[str], source: str) -> _Layout:
    """Each image's split and class; raises `DataError` for a layout that is not a usable ImageFolder."""
    if not names:
        raise DataError(f"{source}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    parts_list = [PurePosixPath(n).parts for n in names]
    skip = _strip_wrapper(parts_list)
    relative = [p[skip:] for p in parts_list]
    depths = {len(p) for p in relative}
    if depths == {2}:
        entries = [_Entry("train", p[0], n) for p, n in zip(relative, names, strict=True)]
        split_depth = None
    elif depths == {3} and all(p[0].lower() in SPLIT_NAMES for p in relative):
        entries = [_Entry(SPLIT_NAMES[p[0].lower()], p[1], n) for p, n in zip(relative, names, strict=True)]
        split_depth = 1
    else:
        example = next(n for p, n in zip(relative, names, strict=True) if len(p) not in (2, 3))
        raise DataError(
            f"{source}: not an ImageFolder layout (<class>/<image> or <split>/<class>/<image>); for example {example!r}"
        )
    _check_empty_class_folders(directories, entries, skip, split_depth, source)
    return _Layout(entries, _training_classes(entries, source))


def _training_classes(entries: list[_Entry], source: str) -> tuple[str, ...]:
    classes: dict[str, set[str]] = {}
    for entry in entries:
        classes.setdefault(entry.split, set()).add(entry.label)
    if "train" not in classes:
        raise DataError(f"{source}: no 'train' split (found {sorted(classes)})")
    unknown = set().union(*classes.values()) - classes["train"]
    if unknown:
        raise DataError(f"{source}: classes {sorted(unknown)} appear outside the training split only")
    _check_class_count(sorted(classes["train"]), source)
    return tuple(sorted(classes["train"]))


def _check_class_count(classes: list[str] | tuple[str, ...], source: str) -> None:
    if len(classes) < MIN_CLASSES:
        raise DataError(
            f"{source}: only {len(classes)} class ({', '.join(map(repr, classes))}); a classifier needs at least "
            f"{MIN_CLASSES} class folders"
        )


def _check_dataset(dataset: Dataset, source: str) -> None:
    """The checks every load passes, from the cache or a fresh decode: enough classes, each with training images."""
    _check_class_count(dataset.classes, source)
    for split, array in (("train", dataset.train), ("test", dataset.test)):
        if array is not None and len(array) and not 0 <= array.labels.min() <= array.labels.max() < dataset.num_classes:
            raise DataError(f"{source}: {split} labels fall outside the {dataset.num_classes} classes")
    counts = np.bincount(dataset.train.labels, minlength=dataset.num_classes)
    empty = [name for name, count in zip(dataset.classes, counts, strict=True) if count == 0]
    if empty:
        raise DataError(f"{source}: class {empty[0]!r} has no training images")


def _matches_layout(dataset: Dataset, layout: _Layout) -> bool:
    train_images = sum(entry.split == "train" for entry in layout.entries)
    return dataset.classes == layout.classes and len(dataset.train) == train_images


def _check_empty_class_folders(
    directories: set[str], entries: list[_Entry], skip: int, split_depth: int | None, source: str
) -> None:
    used = {PurePosixPath(e.name).parent.as_posix() for e in entries}
    class_depth = skip + (split_depth or 0) + 1
    for directory in sorted(directories):
        parts = PurePosixPath(directory).parts
        if len(parts) == class_depth and directory not in used:
            if split_depth and parts[skip].lower() not in SPLIT_NAMES:
                continue
            raise DataError(f"{source}: class folder {directory!r} contains no images")


def _content_key(path: Path, image_size: int | None) -> str:
    digest = hashlib.sha256(f"imagefolder-v{CACHE_VERSION}|size={image_size}|".encode())
    if path.is_dir():
        for root, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for f in sorted(filenames):
                stat = (Path(root) / f).stat()
                digest.update(
                    f"{Path(root, f).relative_to(path).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
                )
    else:
        update_with_file(digest, path)
    return digest.hexdigest()[:32]


def _decode_all(items: list[tuple[str, bytes]], image_size: int | None, workers: int) -> list[np.ndarray]:
    chunks = [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    if multiprocessing.current_process().daemon:
        workers = 1  # daemonic processes may not start children
    if workers <= 1 or len(items) < _PARALLEL_THRESHOLD:
        return _join_chunks(_decode_chunk(c, image_size) for c in chunks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return _join_chunks(pool.map(_decode_chunk, chunks, [image_size] * len(chunks)))


def _join_chunks(results: Iterable[list[np.ndarray] | DataError]) -> list[np.ndarray]:
    """The decoded images in order; the first chunk's error is raised."""
    decoded: list[np.ndarray] = []
    for result in results:
        if isinstance(result, DataError):
            raise result
        decoded.extend(result)
    return decoded


def _stack(images: list[np.ndarray], names: list[str], source: str) -> np.ndarray:
    first = images[0].shape
    for image, name in zip(images, names, strict=True):
        if image.shape != first:
            raise DataError(
                f"{source}: mixed image sizes: {name} is {image.shape[1]}x{image.shape[0]} but "
                f"{names[0]} is {first[1]}x{first[0]}; pass an image size to resize every image"
            )
    return np.stack(images)


def _plan_directory(path: Path) -> _Layout:
    return _plan(*_walk_directory(path), str(path))


def _read_directory_images(path: Path, layout: _Layout) -> list[tuple[str, bytes]]:
    items = []
    for entry in layout.entries:
        try:
            items.append((f"{path}/{entry.name}", (path / entry.name).read_bytes()))
        except OSError as err:
            raise DataError(f"{path / entry.name}: cannot read ({err.strerror})") from None
    return items


def _decode_dataset(path: Path, layout: _Layout | None, image_size: int | None, workers: int) -> Dataset:
    """Decode every image; ``layout`` is the directory's (an archive's is planned from what it holds)."""
    source = str(path)
    if layout is not None:
        items = _read_directory_images(path, layout)
    else:
        files, directories = _read_tar(path)
        layout = _plan([n for n, _ in files], directories, source)
        items = [(f"{source}:{name}", data) for name, data in files]
    entries = layout.entries
    index = {label: i for i, label in enumerate(layout.classes)}
    images = _decode_all(items, image_size, workers)
    names = [name for name, _ in items]
    stacked = _stack(images, names, source)
    labels = np.array([index[e.label] for e in entries], dtype=np.int64)
    splits = {e.split for e in entries}
    parts: dict[str, ImageArray] = {}
    for split in splits:
        mask = np.array([e.split == split for e in entries])
        parts[split] = ImageArray(stacked[mask], labels[mask])
    test = parts.get("test") or parts.get("val")
    return Dataset(path.name.split(".")[0], parts["train"], test, layout.classes, source)


def _save_cache(entry: Path, dataset: Dataset) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        meta = {"name": dataset.name, "classes": list(dataset.classes), "source": dataset.source, "splits": []}
        for split, array in (("train", dataset.train), ("test", dataset.test)):
            if array is None:
                continue
            np.save(tmp / f"{split}_images.npy", array.images)
            np.save(tmp / f"{split}_labels.npy", array.labels)
            meta["splits"].append(split)
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / "meta.json").exists():  # not a concurrent writer that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_cache(entry: Path) -> Dataset | None:
    meta_file = entry / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text())
        parts = {
            split: ImageArray(
                np.load(entry / f"{split}_images.npy", allow_pickle=False),
                np.load(entry / f"{split}_labels.npy", allow_pickle=False),
            )
            for split in meta["splits"]
        }
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        shutil.rmtree(entry, ignore_errors=True)  # damaged entry: decode again
        return None
    return Dataset(meta["name"], parts["train"], parts.get("test"), tuple(meta["classes"]), meta["source"])


def load_image_folder(
    path: str | Path,
    image_size: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    use_cache: bool = True,
) -> Dataset:
    """Load an ImageFolder directory or archive, decoding once and caching the arrays.

    Without ``image_size`` every image must have the same size; with it, each
    image's shorter side is resized to ``image_size`` and the centre cropped.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_file() and not looks_like_tar(path):
        raise DataError(f"{path}: not a directory or a .tar/.tar.gz archive (or a truncated one)")
    workers = workers or min(os.cpu_count() or 1, 8)
    # A directory's structure is checked on every load: its cache key covers its files but not its folders.
    layout = _plan_directory(path) if path.is_dir() else None
    entry = Path(cache_dir or cache_root() / "decoded") / _content_key(path, image_size)
    cached = _load_cache(entry) if use_cache else None
    if cached is not None and layout is not None and not _matches_layout(cached, layout):
        shutil.rmtree(entry, ignore_errors=True)  # stale, from before a change the key cannot see: decode again
        cached = None
    dataset = cached if cached is not None else _decode_dataset(path, layout, image_size, workers)
    _check_dataset(dataset, str(path))
    if use_cache and cached is None:
        _save_cache(entry, dataset)
    return dataset
