"""Damaged data and earlier runs are never accepted in silence.

A truncated or damaged archive is refused (never read as a shorter dataset)
and nothing is cached; the dataset checks run whether the arrays come from the
cache or a fresh decode; a one-class ImageFolder is refused; and `nasnet train`
does not overwrite an earlier run's files unless told to.
"""

import bz2
import gzip
import io
import json
import lzma
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasnet.cli import main
from nasnet.data import DataError, Dataset, ImageArray, load_dataset, load_image_folder
from nasnet.data import imagefolder as imagefolder_module
from test_data import make_image_folder, write_cifar10_folder

COMPRESSORS = {
    "tar": lambda raw: raw,
    "tar.gz": lambda raw: gzip.compress(raw, mtime=0),
    "tar.bz2": bz2.compress,
    "tar.xz": lzma.compress,
}


def _noise_png(rng: np.random.Generator, size: int = 16) -> bytes:
    """An image that does not compress, so the members fill the archive evenly."""
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def pets_members(classes=("cat", "dog"), splits=("train", "test"), per_class=10, seed=0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    return {
        f"pets/{split}/{name}/{i}.png": _noise_png(rng)
        for split in splits
        for name in classes
        for i in range(per_class)
    }


def tar_bytes(members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A plain tar with fixed metadata: folder entries, then ``members``, then ``links`` (name: (type, target))."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folders = sorted({str(Path(name).parents[i]) for name in members for i in range(len(Path(name).parts) - 1)})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def write_archive(path: Path, members: dict[str, bytes], kind: str = "tar.gz", **kwargs) -> Path:
    path.write_bytes(COMPRESSORS[kind](tar_bytes(members, **kwargs)))
    return path


def member_offsets(raw_tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(raw_tar)) as tar:
        return {member.name: member for member in tar}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def cache(tmp_path) -> Path:
    """A cache folder that already holds an entry, to check that a refused archive leaves it as it was."""
    folder = tmp_path / "cache"
    load_image_folder(make_image_folder(tmp_path / "other"), cache_dir=folder)
    assert snapshot(folder)
    return folder


def assert_refused(archive: Path, cache: Path, pattern: str) -> str:
    before = snapshot(cache)
    with pytest.raises(DataError, match=pattern) as caught:
        load_image_folder(archive, cache_dir=cache)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{archive}:")
    assert snapshot(cache) == before, "a refused archive changed the cache"
    return message


WHERE_IT_BROKE = r"(in member 'pets/[^']+'|unexpected end of archive at byte \d+|at byte \d+ of the tar data)"


# ---- 1. damaged archives -----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_an_intact_archive_loads_whole(tmp_path, kind):
    members = pets_members()
    dataset = load_image_folder(write_archive(tmp_path / f"pets.{kind}", members, kind), cache_dir=tmp_path / "c")
    assert len(dataset.train) == 20 and len(dataset.test) == 20 and dataset.classes == ("cat", "dog")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99, "all but the gzip trailer"])
def test_a_truncated_tar_gz_is_refused(tmp_path, cache, keep):
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    data = archive.read_bytes()
    archive.write_bytes(data[:-8] if isinstance(keep, str) else data[: int(len(data) * keep)])
    assert_refused(archive, cache, rf"truncated or corrupt archive: .*{WHERE_IT_BROKE}")


def test_a_missing_gzip_trailer_is_found_by_reading_to_the_end(tmp_path, cache):
    # Every member is intact; only the CRC and length after the last one are gone.
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    archive.write_bytes(archive.read_bytes()[:-8])
    message = assert_refused(archive, cache, "truncated or corrupt archive")
    assert "after member 'pets/test/dog/9.png'" in message and "EOFError" in message


def test_a_wrong_gzip_crc_is_refused(tmp_path, cache):
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    data = bytearray(archive.read_bytes())
    data[-8] ^= 0xFF  # the CRC's first byte
    archive.write_bytes(bytes(data))
    assert_refused(archive, cache, r"truncated or corrupt archive: .*BadGzipFile: CRC check failed")


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_flipped_bytes_in_a_tar_gz_are_refused(tmp_path, cache, where):
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    data = bytearray(archive.read_bytes())
    start = int(len(data) * where)
    data[start : start + 64] = bytes(b ^ 0x5A for b in data[start : start + 64])
    archive.write_bytes(bytes(data))
    assert_refused(archive, cache, "truncated or corrupt archive: ")


@pytest.mark.parametrize("kind", ["tar.bz2", "tar.xz"])
def test_other_compressions_truncated_are_refused(tmp_path, cache, kind):
    archive = write_archive(tmp_path / f"pets.{kind}", pets_members(), kind)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 20])
    assert_refused(archive, cache, "truncated or corrupt archive: ")


def test_a_plain_tar_cut_mid_member_names_the_member(tmp_path, cache):
    raw = tar_bytes(pets_members())
    member = member_offsets(raw)["pets/train/dog/3.png"]
    archive = tmp_path / "pets.tar"
    archive.write_bytes(raw[: member.offset_data + member.size // 2])
    assert_refused(archive, cache, r"truncated or corrupt archive: broke in member 'pets/train/dog/3\.png' \(ReadError")


def test_a_plain_tar_cut_between_members_is_an_unexpected_end(tmp_path, cache):
    # tarfile alone reads this as a complete, shorter archive.
    raw = tar_bytes(pets_members())
    member = member_offsets(raw)["pets/train/dog/3.png"]
    archive = tmp_path / "pets.tar"
    archive.write_bytes(raw[: member.offset])
    assert_refused(
        archive,
        cache,
        rf"unexpected end of archive at byte {member.offset} of the tar data, after member 'pets/train/dog/2\.png'",
    )


def test_a_damaged_header_in_a_plain_tar_is_refused(tmp_path, cache):
    raw = bytearray(tar_bytes(pets_members()))
    member = member_offsets(bytes(raw))["pets/train/dog/3.png"]
    raw[member.offset + 5] ^= 0x41  # inside the name: the header checksum no longer matches
    archive = tmp_path / "pets.tar"
    archive.write_bytes(bytes(raw))
    assert_refused(archive, cache, rf"damaged header \(.*\) at byte {member.offset} of the tar data")


def test_data_after_the_end_marker_is_refused(tmp_path, cache):
    # A zeroed header, or two archives joined with cat: tarfile stops at the first end marker.
    first = tar_bytes(pets_members(splits=("train",)))
    second = tar_bytes({"pets/test/cat/0.png": _noise_png(np.random.default_rng(1))})
    archive = tmp_path / "pets.tar"
    archive.write_bytes(first + second)
    assert_refused(archive, cache, "data after the end-of-archive marker")


def test_a_member_that_is_not_an_image_is_refused_by_name(tmp_path, cache):
    members = pets_members()
    members["pets/train/dog/broken.jpg"] = b"\xff\xd8\xff this is not a jpeg"
    archive = write_archive(tmp_path / "pets.tar.gz", members)
    assert_refused(archive, cache, r"pets\.tar\.gz:pets/train/dog/broken\.jpg: unreadable image")


def test_a_cut_short_image_member_is_refused_by_name(tmp_path, cache):
    members = pets_members()
    members["pets/train/cat/0.png"] = members["pets/train/cat/0.png"][:100]
    archive = write_archive(tmp_path / "pets.tar.gz", members)
    assert_refused(archive, cache, r"pets\.tar\.gz:pets/train/cat/0\.png: unreadable image")


def test_links_to_images_are_read_not_dropped(tmp_path):
    members = pets_members()
    links = {
        "pets/train/cat/hard.png": (tarfile.LNKTYPE, "pets/train/cat/0.png"),
        "pets/train/dog/soft.png": (tarfile.SYMTYPE, "../cat/1.png"),
    }
    dataset = load_image_folder(write_archive(tmp_path / "pets.tar.gz", members, links=links), use_cache=False)
    assert len(dataset.train) == 22
    dangling = write_archive(
        tmp_path / "dangling.tar.gz", members, links={"pets/train/cat/x.png": (tarfile.SYMTYPE, "/etc/x.png")}
    )
    with pytest.raises(DataError, match=r"member 'pets/train/cat/x\.png' links to '/etc/x\.png'"):
        load_image_folder(dangling, use_cache=False)


def test_a_damaged_archive_via_load_dataset(tmp_path):
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    archive.write_bytes(archive.read_bytes()[:-8])
    with pytest.raises(DataError, match=r"pets\.tar\.gz: truncated or corrupt archive"):
        load_dataset(archive)


def test_a_truncated_cifar_archive_is_refused(tmp_path):
    # Not the official file name, so no MD5 check: the archive itself must be read to its end.
    folder, _ = write_cifar10_folder(tmp_path / "src")
    archive = tmp_path / "my-cifar.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    assert len(load_dataset(archive).train) == 100
    archive.write_bytes(archive.read_bytes()[:-8])
    with pytest.raises(DataError, match=r"my-cifar\.tar\.gz: truncated or corrupt archive: .*EOFError"):
        load_dataset(archive)


# ---- 2. the same checks from the cache ----------------------------------------------------


def test_an_empty_class_folder_is_refused_after_caching(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    load_image_folder(root, cache_dir=cache)
    (root / "train" / "bird").mkdir()  # changes no file, so the cache key stays the same
    with pytest.raises(DataError, match=r"pets: class folder 'train/bird' contains no images"):
        load_image_folder(root, cache_dir=cache)


def _only_cache_entry(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    return entry


def _dataset(labels: list[int], classes: tuple[str, ...]) -> Dataset:
    images = np.zeros((len(labels), 8, 8, 3), dtype=np.uint8)
    return Dataset("pets", ImageArray(images, np.array(labels, dtype=np.int64)), None, classes, "pets")


@pytest.mark.parametrize(
    ("cached", "pattern"),
    [
        (_dataset([0, 0], ("cat",)), r"only 1 class \('cat'\)"),
        (_dataset([0, 0, 0], ("cat", "dog")), r"class 'dog' has no training images"),
        (_dataset([0, 5], ("cat", "dog")), r"train labels fall outside the 2 classes"),
    ],
)
def test_a_cached_archive_passes_the_same_checks(tmp_path, cached, pattern):
    archive = write_archive(tmp_path / "pets.tar.gz", pets_members())
    cache = tmp_path / "cache"
    load_image_folder(archive, cache_dir=cache)
    entry = _only_cache_entry(cache)
    imagefolder_module.shutil.rmtree(entry)
    imagefolder_module._save_cache(entry, cached)  # as an older nasnet, or a hand-edited cache, left it
    with pytest.raises(DataError, match=rf"{archive}: {pattern}"):
        load_image_folder(archive, cache_dir=cache)


def test_a_stale_cache_entry_of_a_directory_is_decoded_again(tmp_path):
    root = make_image_folder(tmp_path / "pets")
    cache = tmp_path / "cache"
    first = load_image_folder(root, cache_dir=cache)
    entry = _only_cache_entry(cache)
    imagefolder_module.shutil.rmtree(entry)
    imagefolder_module._save_cache(entry, _dataset([0, 1, 2], ("a", "b", "c")))
    again = load_image_folder(root, cache_dir=cache)
    assert again.classes == first.classes and np.array_equal(again.train.images, first.train.images)
    assert load_image_folder(root, cache_dir=cache).classes == ("cat", "dog")  # and the entry was replaced


# ---- 3. one class -------------------------------------------------------------------------


@pytest.mark.parametrize("splits", [("train", "test"), ("",)])
def test_a_one_class_image_folder_is_refused(tmp_path, splits):
    root = make_image_folder(tmp_path / "cats", splits=splits, classes=("cat",))
    with pytest.raises(DataError, match=rf"{root}: only 1 class \('cat'\); a classifier needs at least 2"):
        load_image_folder(root)
    archive = write_archive(tmp_path / "cats.tar.gz", pets_members(classes=("cat",)))
    with pytest.raises(DataError, match=r"cats\.tar\.gz: only 1 class \('cat'\)"):
        load_image_folder(archive)


# ---- 4. nasnet train --out does not overwrite an earlier run ------------------------------


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--arch",
        "nasnet_a",
        "--data",
        str(data),
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--val-size",
        "8",
        "--set",
        "train_subset=null",
        "--set",
        "val_subset=null",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def _earlier_run(out: Path, *names: str) -> dict[str, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    files = {name: f"earlier {name}\n".encode() for name in names}
    for name, content in files.items():
        (out / name).write_bytes(content)
    return files


def _refusal(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    return error


@pytest.mark.parametrize("earlier", [("model.pt", "result.json", "metrics.jsonl"), ("result.json",)])
def test_train_refuses_to_overwrite_a_finished_run(tmp_path, capsys, earlier):
    out = tmp_path / "run"
    files = _earlier_run(out, *earlier)
    # The check comes before the data load, so a missing dataset is never reached.
    error = _refusal(capsys, _train_args(tmp_path / "no-data", out))
    assert f"{out / earlier[0]} exists" in error and "--overwrite" in error and "new --out" in error
    assert "--resume" not in error  # no checkpoint to continue
    assert {name: (out / name).read_bytes() for name in files} == files


def test_train_suggests_resume_when_a_checkpoint_is_there(tmp_path, capsys):
    out = tmp_path / "run"
    _earlier_run(out, "model.pt", "checkpoint.pt")
    error = _refusal(capsys, _train_args(tmp_path / "no-data", out))
    assert f"{out / 'model.pt'} exists" in error and "continue it with --resume" in error
    error = _refusal(capsys, _train_args(tmp_path / "no-data", tmp_path / "interrupted"))
    assert "exists" not in error  # an empty --out is fine; only the data is missing
    _earlier_run(tmp_path / "interrupted", "checkpoint.pt")
    error = _refusal(capsys, _train_args(tmp_path / "no-data", tmp_path / "interrupted"))
    assert "checkpoint.pt exists" in error and "--resume" in error


def test_resume_without_a_checkpoint_does_not_overwrite_a_model(tmp_path, capsys):
    out = tmp_path / "run"
    _earlier_run(out, "model.pt")
    error = _refusal(capsys, _train_args(tmp_path / "no-data", out, "--resume"))
    assert f"{out / 'model.pt'} exists" in error and "--overwrite" in error and "continue it" not in error


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(_train_args(tmp_path / "no-data", tmp_path / "run", "--resume", "--overwrite"))
    assert caught.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_overwrite_keeps_the_earlier_run_when_the_data_fails_to_load(tmp_path, capsys):
    out = tmp_path / "run"
    files = _earlier_run(out, "model.pt", "result.json")
    _refusal(capsys, _train_args(tmp_path / "no-data", out, "--overwrite"))
    assert {name: (out / name).read_bytes() for name in files} == files


def test_overwrite_replaces_the_earlier_run(tmp_path, capsys):
    data = make_image_folder(tmp_path / "pets", per_class=12, size=(16, 16))
    out = tmp_path / "run"
    _earlier_run(out, "model.pt", "result.json", "checkpoint.pt")
    (out / "metrics.jsonl").write_text('{"epoch": 1}\n' * 5)
    assert main(_train_args(data, out, "--overwrite")) == 0
    assert json.loads((out / "result.json").read_text())["state"] == "complete"
    assert (out / "model.pt").read_bytes() != b"earlier model.pt\n" and not (out / "checkpoint.pt").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    capsys.readouterr()
    error = _refusal(capsys, _train_args(data, out))  # and now it is the earlier run
    assert f"{out / 'model.pt'} exists" in error
