"""ImageFolder datasets (one folder per class), as a directory or a .tar/.tar.gz archive.

Accepted layouts, below any single wrapping folder::

    <class>/<image>                     one split, used as the training set
    <split>/<class>/<image>             split in train, test, val, valid, validation

Images (JPEG, PNG, BMP, WebP) are decoded once, in parallel, to uint8 arrays and
cached under a key of the content: the archive's SHA-256, or for a directory
every file's path, size and modification time. The second run loads the
arrays in seconds. Cache entries are written to a temporary folder and renamed
into place, so an interrupted decode never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import numpy as np

from nasnet.data.arrays import DataError, Dataset, ImageArray
from nasnet.data.locations import cache_root
from nasnet.fileio import update_with_file

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SPLIT_NAMES = {"train": "train", "test": "test", "val": "val", "valid": "val", "validation": "val"}
CACHE_VERSION = 1
_CHUNK = 1000
_PARALLEL_THRESHOLD = 4000


@dataclass(frozen=True)
class _Entry:
    split: str
    label: str
    name: str  # path inside the archive or folder, for messages


def _decode_one(data: bytes, name: str, image_size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError(f"{name}: unreadable image ({err})") from None
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


def _read_tar(path: Path) -> tuple[list[tuple[str, bytes]], set[str]]:
    files: list[tuple[str, bytes]] = []
    directories: set[str] = set()
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isdir():
                    directories.add(member.name.rstrip("/"))
                elif member.isfile() and PurePosixPath(member.name).suffix.lower() in IMAGE_EXTENSIONS:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        files.append((member.name, handle.read()))
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: truncated or corrupt archive ({type(err).__name__}: {err})") from None
    return files, directories


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


def _plan(names: list[str], directories: set[str], source: str) -> tuple[list[_Entry], dict[str, list[str]]]:
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
    classes: dict[str, list[str]] = {}
    for entry in entries:
        classes.setdefault(entry.split, [])
        if entry.label not in classes[entry.split]:
            classes[entry.split].append(entry.label)
    _check_empty_class_folders(directories, entries, skip, split_depth, source)
    return entries, classes


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


def _decode_dataset(path: Path, image_size: int | None, workers: int) -> Dataset:
    source = str(path)
    if path.is_dir():
        names, directories = _walk_directory(path)
        entries, classes = _plan(names, directories, source)
        items = []
        for entry in entries:
            try:
                items.append((f"{source}/{entry.name}", (path / entry.name).read_bytes()))
            except OSError as err:
                raise DataError(f"{path / entry.name}: cannot read ({err.strerror})") from None
    else:
        files, directories = _read_tar(path)
        entries, classes = _plan([n for n, _ in files], directories, source)
        items = [(f"{source}:{name}", data) for name, data in files]
    class_names = tuple(sorted(classes.get("train") or next(iter(classes.values()))))
    unknown = {label for split in classes.values() for label in split} - set(class_names)
    if unknown:
        raise DataError(f"{source}: classes {sorted(unknown)} appear outside the training split only")
    index = {label: i for i, label in enumerate(class_names)}
    images = _decode_all(items, image_size, workers)
    names = [name for name, _ in items]
    stacked = _stack(images, names, source)
    labels = np.array([index[e.label] for e in entries], dtype=np.int64)
    splits = {e.split for e in entries}
    if "train" not in splits:
        raise DataError(f"{source}: no 'train' split (found {sorted(splits)})")
    parts: dict[str, ImageArray] = {}
    for split in splits:
        mask = np.array([e.split == split for e in entries])
        parts[split] = ImageArray(stacked[mask], labels[mask])
    test = parts.get("test") or parts.get("val")
    return Dataset(path.name.split(".")[0], parts["train"], test, class_names, source)


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
    if path.is_file() and not tarfile.is_tarfile(path):
        raise DataError(f"{path}: not a directory or a .tar/.tar.gz archive (or a truncated one)")
    workers = workers or min(os.cpu_count() or 1, 8)
    entry = Path(cache_dir or cache_root() / "decoded") / _content_key(path, image_size)
    if use_cache and (cached := _load_cache(entry)) is not None:
        return cached
    dataset = _decode_dataset(path, image_size, workers)
    if use_cache:
        _save_cache(entry, dataset)
    return dataset
