"""Downloads with a checksum and a progress bar, that fail at once when offline."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from nasnet.data.arrays import DataError
from nasnet.fileio import atomic_write

CONNECT_TIMEOUT_S = 10


def offline_message(url: str, archive: str, folder: Path, reason: str) -> str:
    return (
        f"cannot download {url} ({reason}). Put {archive} (or its extracted folder) in {folder}, "
        f"or point --data PATH (or $NASNET_DATA) at the folder or file that holds it"
    )


def download(url: str, dest: Path, md5: str) -> Path:
    """Fetch ``url`` to ``dest`` atomically, verifying its MD5. ``$NASNET_OFFLINE=1`` skips the attempt."""
    if os.environ.get("NASNET_OFFLINE", "") not in ("", "0"):
        raise DataError(offline_message(url, dest.name, dest.parent, "NASNET_OFFLINE is set"))
    try:
        response = urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S)
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(offline_message(url, dest.name, dest.parent, f"offline? {reason}")) from None
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    digest = hashlib.md5(usedforsecurity=False)
    total = int(response.headers.get("Content-Length") or 0) or None

    def write(handle) -> None:
        with (
            response,
            Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn()
            ) as progress,
        ):
            task = progress.add_task(f"downloading {dest.name}", total=total)
            while block := response.read(1 << 20):
                handle.write(block)
                digest.update(block)
                progress.update(task, advance=len(block))
        if digest.hexdigest() != md5:
            raise DataError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5}); try again")

    try:
        return atomic_write(dest, write)
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        raise DataError(offline_message(url, dest.name, dest.parent, f"interrupted: {err}")) from None
