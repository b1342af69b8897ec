"""Reading .tar, .tar.gz, .tar.bz2 and .tar.xz archives to their very end, so damage is an error.

Python's tarfile is lenient in ways that turn a damaged archive into a shorter
dataset: iteration stops without a word at a header it cannot parse or that is
cut short, and the gzip trailer (CRC and length) is never checked. Here the
file is decompressed by gzip/bz2/lzma, which verify their checksums once read
to the end; every header problem is an error; and the stream is drained past
the end-of-archive marker, which must be followed by nothing but zeros.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from nasnet.data.arrays import DataError

# (magic bytes, reader) for the compressions tarfile itself understands; each verifies its checksum at the end
_COMPRESSIONS: tuple[tuple[bytes, type[gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile]], ...] = (
    (b"\x1f\x8b", gzip.GzipFile),
    (b"BZh", bz2.BZ2File),
    (b"\xfd7zXZ\x00", lzma.LZMAFile),
)
# What decompressing or parsing a damaged archive raises (gzip.BadGzipFile is an OSError).
_DAMAGE_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError, UnicodeDecodeError)
_DRAIN_CHUNK = 1 << 20


class _DamagedHeader(Exception):
    """A header that tarfile would take, without a word, for the end of the archive."""


class _StrictTarInfo(tarfile.TarInfo):
    """Raises for every unreadable header; only an all-zero block (the end marker) ends the archive."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(archive)
        except tarfile.EOFHeaderError:
            raise
        except (tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError):
            raise _DamagedHeader("unexpected end of archive") from None
        except tarfile.InvalidHeaderError as err:
            reason = "not a tar archive" if archive.offset == 0 else "damaged header"
            raise _DamagedHeader(f"{reason} ({err})") from None


@dataclass
class TarContents:
    """The wanted files (in archive order, as ``(name, bytes)``) and every folder named in the archive."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    directories: set[str] = field(default_factory=set)


@dataclass
class _Progress:
    """Where the reader is, so that an error can say where the archive broke."""

    offset: int = 0  # of the current header in the uncompressed tar data
    member: str | None = None  # being read
    previous: str | None = None  # the last member read whole

    def where(self) -> str:
        if self.member is not None:
            return f"in member {self.member!r}"
        after = f", after member {self.previous!r}" if self.previous else ""
        return f"at byte {self.offset} of the tar data{after}"


def _decompressor(path: Path) -> type[gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile] | None:
    """The reader for ``path``'s compression, from its magic bytes; ``None`` if uncompressed."""
    with open(path, "rb") as handle:
        head = handle.read(6)
    return next((reader for magic, reader in _COMPRESSIONS if head.startswith(magic)), None)


def _open_tar_data(path: Path) -> BinaryIO:
    """The archive's uncompressed tar data, as a stream the caller closes."""
    reader = _decompressor(path)
    return reader(path) if reader is not None else open(path, "rb")


def looks_like_tar(path: Path) -> bool:
    """Whether ``path`` is a tar archive or compressed data (a damaged archive is read, and refused, later)."""
    return _decompressor(path) is not None or tarfile.is_tarfile(path)


def read_tar(path: Path, wanted: Callable[[str], bool]) -> TarContents:
    """Every regular file whose name ``wanted`` accepts, reading (and checking) the archive to its end.

    Hard and symbolic links to such files are resolved to the bytes of their
    target. A truncated or damaged archive raises `DataError` naming the member
    or byte offset where it broke.
    """
    contents = TarContents()
    progress = _Progress()
    try:
        with _open_tar_data(path) as stream:
            links = _read_members(stream, wanted, contents, progress)
            _check_end(stream, progress)
    except _DamagedHeader as err:
        raise DataError(f"{path}: truncated or corrupt archive: {err} {progress.where()}") from None
    except _DAMAGE_ERRORS as err:
        detail = str(err).splitlines()[0] if str(err) else ""
        raise DataError(
            f"{path}: truncated or corrupt archive: broke {progress.where()} ({type(err).__name__}: {detail})"
        ) from None
    _resolve_links(path, links, contents)
    return contents


def _read_members(
    stream: BinaryIO, wanted: Callable[[str], bool], contents: TarContents, progress: _Progress
) -> list[tarfile.TarInfo]:
    """Read the members up to the end-of-archive marker; returns the links to resolve afterwards."""
    links: list[tarfile.TarInfo] = []
    # "r:" on an already decompressing stream: tarfile only ever seeks forward here, which every stream supports.
    with tarfile.open(fileobj=stream, mode="r:", tarinfo=_StrictTarInfo) as archive:
        while True:
            progress.offset = archive.offset
            member = archive.next()
            if member is None:
                break
            if member.isdir():
                contents.directories.add(member.name.rstrip("/"))
            elif (member.issym() or member.islnk()) and wanted(member.name):
                links.append(member)
            elif member.isfile() and wanted(member.name):
                progress.member = member.name
                handle = archive.extractfile(member)
                contents.files.append((member.name, handle.read() if handle is not None else b""))
            progress.member, progress.previous = None, member.name
        progress.offset = archive.offset
    return links


def _check_end(stream: BinaryIO, progress: _Progress) -> None:
    """Drain the stream past the end-of-archive marker, so decompressors verify their trailer (gzip's CRC)."""
    while chunk := stream.read(_DRAIN_CHUNK):
        if chunk.count(0) != len(chunk):
            raise _DamagedHeader("data after the end-of-archive marker (a damaged header, or two archives joined)")


def _resolve_links(path: Path, links: list[tarfile.TarInfo], contents: TarContents) -> None:
    by_name = {posixpath.normpath(name): data for name, data in contents.files}
    for link in links:
        if link.islnk():
            target = posixpath.normpath(link.linkname)
        else:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(link.name), link.linkname))
        if target not in by_name:
            raise DataError(f"{path}: member {link.name!r} links to {link.linkname!r}, which is not an image in it")
        contents.files.append((link.name, by_name[target]))
