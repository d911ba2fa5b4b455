"""The staging manifest: every artefact file of a release with its path, size and SHA-256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onthedot.errors import InputError
from onthedot.model import Release


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    sha256: str
    size: int
    local: Path


@dataclass(frozen=True, slots=True)
class Manifest:
    release_id: str
    entries: tuple[Entry, ...]

    @classmethod
    def of(cls, release: Release) -> Manifest:
        entries = []
        for art in release.artefact:
            if art.file is None or art.path is None or release.published_by is not None:
                continue  # a CMS page, or another system publishes: nothing to upload
            if art.local_path is None or art.sha256 is None or art.size is None:
                raise InputError(
                    f"The artefact {art.path} of {release.id} has no local file: publish from the "
                    "release file, not from the store."
                )
            entries.append(Entry(art.path, art.sha256, art.size, art.local_path))
        return cls(release.id, tuple(entries))

    @property
    def digest(self) -> str:
        listing = [[e.path, e.sha256, e.size] for e in self.entries]
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()

    def as_json(self) -> list[dict[str, Any]]:
        return [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.entries]
