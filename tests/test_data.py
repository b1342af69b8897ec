import io
import pickle
import tarfile
import time
import urllib.error

import numpy as np
import pytest
from PIL import Image

from nasnet.data import (
    CIFAR10,
    DataError,
    load_cifar,
    load_dataset,
    load_image_folder,
    make_splits,
)
from nasnet.data import imagefolder as imagefolder_module

# ---- CIFAR python format ---------------------------------------------------------------


def _cifar_batch(rng, count, label_key=b"labels", classes=10):
    data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
    labels = [int(x) for x in rng.integers(0, classes, count)]
    return {b"batch_label": b"test batch", label_key: labels, b"data": data, b"filenames": [b"x.png"] * count}


def write_cifar10_folder(root, per_batch=20, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batches[name] = _cifar_batch(rng, per_batch)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return folder, batches


def test_cifar10_python_format_from_folder(tmp_path):
    _, batches = write_cifar10_folder(tmp_path)
    dataset = load_cifar(tmp_path)
    assert dataset.name == "cifar10" and dataset.classes[0] == "airplane" and dataset.num_classes == 10
    assert dataset.train.images.shape == (100, 32, 32, 3) and dataset.test.images.shape == (20, 32, 32, 3)
    first = batches["data_batch_1"][b"data"][0]
    # The official layout is 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert np.array_equal(dataset.train.images[0, :, :, 0].ravel(), first[:1024])
    assert np.array_equal(dataset.train.images[0, :, :, 2].ravel(), first[2048:])
    assert dataset.train.labels[:20].tolist() == batches["data_batch_1"][b"labels"]


def test_cifar10_python_format_from_archive(tmp_path):
    folder, _ = write_cifar10_folder(tmp_path / "src")
    archive = tmp_path / "my-cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    dataset = load_dataset(archive)
    assert dataset.name == "cifar10" and len(dataset.train) == 100


def test_cifar100_python_format(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, count in (("train", 50), ("test", 10)):
        batch = _cifar_batch(rng, count, label_key=b"fine_labels", classes=100)
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [f"class{i}".encode() for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}, protocol=2))
    dataset = load_dataset(tmp_path)
    assert dataset.name == "cifar100" and dataset.num_classes == 100 and len(dataset.test) == 10


def test_named_cifar_from_the_data_location(tmp_path, monkeypatch):
    write_cifar10_folder(tmp_path / "data")
    monkeypatch.setenv("NASNET_DATA", str(tmp_path / "data"))
    assert len(load_dataset("cifar10").train) == 100
    # An explicit --data path wins over $NASNET_DATA.
    write_cifar10_folder(tmp_path / "other", per_batch=4)
    assert len(load_dataset("cifar10", data_dir=tmp_path / "other").train) == 20


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    folder, _ = write_cifar10_folder(tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Exploit()}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3: not a readable CIFAR batch .*refusing to load global"):
        load_cifar(tmp_path)
    assert not marker.exists()


def test_checksum_mismatch(tmp_path):
    folder, _ = write_cifar10_folder(tmp_path / "src")
    archive = tmp_path / CIFAR10.archive
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(
        DataError, match=rf"{archive}: checksum mismatch \(md5 [0-9a-f]{{32}}, expected {CIFAR10.md5}\)"
    ):
        load_cifar(archive)


def test_offline_download_fails_at_once_with_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("NASNET_DATA", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"Put cifar-10-python\.tar\.gz .* in .*data"):
        load_dataset("cifar10")
    monkeypatch.delenv("NASNET_OFFLINE")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"cannot download https://www\.cs\.toronto\.edu/\S+ \(offline\?"):
        load_dataset("cifar10")
    assert time.monotonic() - start < 1.0
    assert not any((tmp_path / "data").glob("*"))  # nothing half-written


# ---- ImageFolder -------------------------------------------------------------------------


def _write_image(path, size=(8, 8), color=(10, 20, 30), fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)


def make_image_folder(root, splits=("train", "test"), classes=("cat", "dog"), per_class=3, size=(8, 8)):
    for split in splits:
        for c, name in enumerate(classes):
            for i in range(per_class):
                fmt = "JPEG" if i % 2 else "PNG"
                suffix = ".jpg" if fmt == "JPEG" else ".png"
                prefix = root / split if split else root
                _write_image(prefix / name / f"{i}{suffix}", size, (c * 100, i * 50, 7), fmt)
    return root


def _tar(folder, archive, arcname):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=arcname)
    return archive


def test_image_folder_from_directory(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    dataset = load_image_folder(root)
    assert dataset.classes == ("cat", "dog")
    assert dataset.train.images.shape == (6, 8, 8, 3) and len(dataset.test) == 6
    assert sorted(dataset.train.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    png = dataset.train.images[dataset.train.labels == 1][0]
    assert tuple(png[0, 0]) == (100, 0, 7)  # PNG pixels survive exactly


def test_image_folder_single_split_and_wrapping_folder(tmp_path):
    root = make_image_folder(tmp_path / "wrap" / "inner", splits=("",), classes=("a", "b", "c"))
    dataset = load_image_folder(tmp_path / "wrap")
    assert dataset.classes == ("a", "b", "c") and len(dataset.train) == 9 and dataset.test is None
    assert root.exists()


def test_image_folder_from_tar_equals_directory(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    archive = _tar(root, tmp_path / "pets.tar.gz", "pets")
    from_dir = load_image_folder(root, use_cache=False)
    from_tar = load_image_folder(archive, use_cache=False)
    assert from_tar.classes == from_dir.classes
    assert np.array_equal(np.sort(from_tar.train.images, axis=0), np.sort(from_dir.train.images, axis=0))


def test_image_folder_resizes_when_asked(tmp_path):
    root = tmp_path / "mixed"
    _write_image(root / "a" / "0.png", (8, 8))
    _write_image(root / "a" / "1.png", (12, 10))
    _write_image(root / "b" / "0.png", (20, 8))
    dataset = load_image_folder(root, image_size=6)
    assert dataset.train.images.shape == (3, 6, 6, 3)


def test_cache_round_trip(tmp_path, monkeypatch):
    root = make_image_folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    first = load_image_folder(root, cache_dir=cache)
    assert len(list(cache.iterdir())) == 1

    def must_not_decode(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(imagefolder_module, "_decode_dataset", must_not_decode)
    second = load_image_folder(root, cache_dir=cache)
    assert second.classes == first.classes
    assert np.array_equal(second.train.images, first.train.images)
    assert np.array_equal(second.test.labels, first.test.labels)


def test_cache_key_follows_content(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    load_image_folder(root, cache_dir=cache)
    _write_image(root / "train" / "cat" / "new.png")
    assert len(load_image_folder(root, cache_dir=cache).train) == 7
    assert len(list(cache.iterdir())) == 2


# ---- bad input -------------------------------------------------------------------------


def test_truncated_archive(tmp_path):
    root = make_image_folder(tmp_path / "pets", per_class=40, size=(32, 32))
    archive = _tar(root, tmp_path / "pets.tar.gz", "pets")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{archive}: (truncated or corrupt archive|not a directory)"):
        load_image_folder(archive, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_unreadable_image_names_the_file(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    bad = root / "train" / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff this is not a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"train/dog/broken\.jpg: unreadable image"):
        load_image_folder(root, cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written


def test_mixed_sizes_name_the_file(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    _write_image(root / "train" / "dog" / "big.png", (16, 8))
    with pytest.raises(DataError, match=r"mixed image sizes: .*train/dog/big\.png is 16x8 but .* is 8x8"):
        load_image_folder(root)


def test_empty_class_folder(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    (root / "train" / "bird").mkdir()
    with pytest.raises(DataError, match=r"class folder 'train/bird' contains no images"):
        load_image_folder(root)
    archive = _tar(root, tmp_path / "pets.tar", "pets")
    with pytest.raises(DataError, match=r"pets\.tar: class folder 'pets/train/bird' contains no images"):
        load_image_folder(archive)


def test_not_an_image_folder(tmp_path):
    (tmp_path / "flat").mkdir()
    _write_image(tmp_path / "flat" / "0.png")
    with pytest.raises(DataError, match="not an ImageFolder layout"):
        load_image_folder(tmp_path / "flat")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "absent")


# ---- splits ----------------------------------------------------------------------------


def test_validation_split_is_deterministic_stratified_and_disjoint(tmp_path):
    from nasnet.data import Dataset, ImageArray

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1000, 4, 4, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(1000) % 256  # make images distinguishable
    images[:, 0, 0, 1] = np.arange(1000) // 256
    labels = np.repeat(np.arange(10), 100)
    dataset = Dataset("toy", ImageArray(images, labels), None, tuple("abcdefghij"))
    a, b = make_splits(dataset, val_size=100, seed=3), make_splits(dataset, val_size=100, seed=3)
    assert np.array_equal(a.val.images, b.val.images) and len(a.train) == 900
    assert np.bincount(a.val.labels).tolist() == [10] * 10
    key = lambda arr: set(map(tuple, arr.images[:, 0, 0, :2].tolist()))  # noqa: E731
    assert not key(a.train) & key(a.val)
    assert key(make_splits(dataset, val_size=100, seed=4).val) != key(a.val)
    with pytest.raises(DataError, match="leaves no training images"):
        make_splits(dataset, val_size=1000)


# ---- the shared CIFAR-10 copy ----------------------------------------------------------


@pytest.mark.data
def test_shared_cifar10_copy_loads(shared_cifar):
    assert shared_cifar.classes == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    assert shared_cifar.train.images.shape == (50_000, 32, 32, 3)
    assert shared_cifar.test.images.shape == (10_000, 32, 32, 3)
    assert np.bincount(shared_cifar.train.labels).tolist() == [5000] * 10
    assert np.bincount(shared_cifar.test.labels).tolist() == [1000] * 10
    splits = make_splits(shared_cifar)
    assert len(splits.train) == 45_000 and len(splits.val) == 5000
    assert np.bincount(splits.val.labels).tolist() == [500] * 10
    assert splits.mean[0] == pytest.approx(0.49, abs=0.01)


def test_archive_bytes_are_read_once_per_member(tmp_path):
    # A regression guard for the tar reader: members are streamed, never extracted to disk.
    root = make_image_folder(tmp_path / "pets")
    archive = _tar(root, tmp_path / "pets.tar", "pets")
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar if m.isfile()]
    data, _ = imagefolder_module._read_tar(archive)
    assert sorted(n for n, _ in data) == sorted(names)
    assert all(isinstance(b, bytes) and Image.open(io.BytesIO(b)) for _, b in data)


def test_data_location_folder(tmp_path):
    # --data may name a folder that holds the extracted official folder (or archive)
    write_cifar10_folder(tmp_path / "location")
    assert load_dataset(tmp_path / "location").name == "cifar10"
    with pytest.raises(DataError, match="checksum mismatch"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / CIFAR10.archive).write_bytes(b"not the real archive")
        load_dataset(tmp_path / "other")
