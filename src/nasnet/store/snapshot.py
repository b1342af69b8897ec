"""Strategy snapshots: a strategy's saved state with the event it was saved at, and its checksum."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def snapshot_checksum(strategy: str, event_seq: int, state: bytes) -> str:
    """SHA-256 over everything a restore relies on: a flipped event number misleads it as much as a flipped byte."""
    digest = hashlib.sha256(f"{strategy}\n{event_seq}\n".encode())
    digest.update(state)
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    strategy: str
    event_seq: int
    state: bytes
    checksum: str | None = None  # None: saved by schema 1, which kept no checksum
    slot: int = 1
    saved_at: float = 0.0

    @property
    def verified(self) -> bool:
        return self.checksum is not None and self.checksum == snapshot_checksum(
            self.strategy, self.event_seq, self.state
        )

    @property
    def damaged(self) -> bool:
        """Its bytes differ from those saved (a snapshot without a checksum cannot be judged here)."""
        return self.checksum is not None and not self.verified
