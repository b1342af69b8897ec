"""CIFAR-10 and CIFAR-100 in their official python format, registered as the datasets ``cifar10`` and ``cifar100``.

The official batches are Python pickles. They are read with a restricted
unpickler that only rebuilds dicts, lists, strings, numbers and numpy arrays,
so a tampered file cannot run code. Archives are checked against the official
MD5 sums before use.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasnet.data.archive import read_tar
from nasnet.data.arrays import DataError, Dataset, ImageArray
from nasnet.data.download import download
from nasnet.data.registry import DATASETS
from nasnet.fileio import update_with_file


@dataclass(frozen=True)
class CifarSpec:
    name: str
    archive: str
    url: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: bytes
    names_key: bytes


CIFAR10 = CifarSpec(
    name="cifar10",
    archive="cifar-10-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    meta_file="batches.meta",
    label_key=b"labels",
    names_key=b"label_names",
)
CIFAR100 = CifarSpec(
    name="cifar100",
    archive="cifar-100-python.tar.gz",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    meta_file="meta",
    label_key=b"fine_labels",
    names_key=b"fine_label_names",
)
CIFAR_SPECS = {spec.name: spec for spec in (CIFAR10, CIFAR100)}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def read_batch(data: bytes, source: str) -> dict[bytes, Any]:
    """Decode one CIFAR python-format batch, allowing numpy arrays and plain data only."""
    try:
        batch = _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # any decoding failure means a corrupt or foreign file
        raise DataError(f"{source}: not a readable CIFAR batch ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{source}: not a CIFAR batch (expected a dict, got {type(batch).__name__})")
    return batch


def _batch_arrays(batch: dict[bytes, Any], spec: CifarSpec, source: str) -> ImageArray:
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[spec.label_key], dtype=np.int64)
    except KeyError as err:
        raise DataError(f"{source}: CIFAR batch lacks the key {err.args[0]!r}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{source}: expected data of shape [N, 3072] and N labels, got {data.shape} and {len(labels)}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return ImageArray(np.ascontiguousarray(images), labels)


def md5_of(path: Path) -> str:
    return update_with_file(hashlib.md5(usedforsecurity=False), path).hexdigest()


def detect_cifar(path: Path) -> CifarSpec | None:
    """The CIFAR variant stored at ``path`` (archive or folder), or ``None``."""
    if path.is_dir():
        for spec in CIFAR_SPECS.values():
            for folder in (path, path / spec.folder):
                if all((folder / f).is_file() for f in spec.train_files + spec.test_files):
                    return spec
        return None
    for spec in CIFAR_SPECS.values():
        if path.name == spec.archive:
            return spec
    if path.is_file() and tarfile.is_tarfile(path):
        names: list[str] = []
        try:
            with tarfile.open(path) as archive:
                for member in archive:  # the first entries suffice; stop before decompressing it all
                    names.append(member.name)
                    if len(names) >= 20:
                        break
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return None  # not CIFAR as far as can be seen; a damaged archive is refused when it is read
        for spec in CIFAR_SPECS.values():
            if any(Path(n).name == spec.meta_file or Path(n).parts[:1] == (spec.folder,) for n in names):
                return spec
    return None


def find_cifar(root: Path, spec: CifarSpec) -> Path | None:
    """Where in the data location ``root`` the official archive or its extracted folder is, if anywhere."""
    for folder in (root, root / spec.name):
        for candidate in (folder / spec.archive, folder / spec.folder):
            if candidate.exists():
                return candidate
    if root.is_file() or (root.is_dir() and detect_cifar(root) is spec):
        return root
    return None


def _read_members(path: Path, spec: CifarSpec) -> dict[str, bytes]:
    wanted = set(spec.train_files + spec.test_files + (spec.meta_file,))
    found: dict[str, bytes] = {}
    if path.is_dir():
        folder = path / spec.folder if (path / spec.folder).is_dir() else path
        for name in wanted:
            file = folder / name
            if file.is_file():
                found[name] = file.read_bytes()
        return found
    for member, data in read_tar(path, lambda member: Path(member).name in wanted).files:
        found[Path(member).name] = data
    return found


def load_cifar(path: str | Path, spec: CifarSpec | None = None, verify_checksum: bool = True) -> Dataset:
    """Load CIFAR-10/100 from the official ``.tar.gz`` or its extracted folder."""
    path = Path(path)
    spec = spec or detect_cifar(path)
    if spec is None:
        raise DataError(f"{path}: not a CIFAR-10/100 python-format archive or folder")
    if verify_checksum and path.is_file() and path.name == spec.archive:
        actual = md5_of(path)
        if actual != spec.md5:
            raise DataError(
                f"{path}: checksum mismatch (md5 {actual}, expected {spec.md5}); the file is corrupt or "
                f"incomplete: delete it and download {spec.url} again"
            )
    members = _read_members(path, spec)
    missing = [n for n in spec.train_files + spec.test_files if n not in members]
    if missing:
        raise DataError(f"{path}: {spec.name} files missing: {', '.join(missing)}")
    parts = {}
    for split, files in (("train", spec.train_files), ("test", spec.test_files)):
        arrays = [_batch_arrays(read_batch(members[f], f"{path}:{f}"), spec, f"{path}:{f}") for f in files]
        parts[split] = ImageArray(
            np.concatenate([a.images for a in arrays]), np.concatenate([a.labels for a in arrays])
        )
    num_classes = 100 if spec is CIFAR100 else 10
    if int(max(parts["train"].labels.max(), parts["test"].labels.max())) >= num_classes:
        raise DataError(f"{path}: labels exceed the {num_classes} classes of {spec.name}")
    classes = tuple(str(i) for i in range(num_classes))
    if spec.meta_file in members:
        meta = read_batch(members[spec.meta_file], f"{path}:{spec.meta_file}")
        names = meta.get(spec.names_key)
        if isinstance(names, list) and len(names) == num_classes:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return Dataset(spec.name, parts["train"], parts["test"], classes, source=str(path))


def _load_named(spec: CifarSpec, root: Path, allow_download: bool) -> Dataset:
    found = find_cifar(root, spec)
    if found is None:
        if not allow_download:
            raise DataError(f"{spec.name} not found in {root}; put {spec.archive} there")
        found = download(spec.url, root / spec.archive, spec.md5)
    return load_cifar(found, spec)


# Both keep their fixed 32 px: ``image_size`` only resizes ImageFolder images.
@DATASETS.register("cifar10")
def cifar10(root: Path, image_size: int | None, allow_download: bool) -> Dataset:
    """CIFAR-10 from the data location ``root``, downloaded there if missing and allowed."""
    return _load_named(CIFAR10, root, allow_download)


@DATASETS.register("cifar100")
def cifar100(root: Path, image_size: int | None, allow_download: bool) -> Dataset:
    """CIFAR-100 (its 100 fine labels) from the data location ``root``, downloaded there if missing and allowed."""
    return _load_named(CIFAR100, root, allow_download)
