"""What the store keeps of a release: its document, the document's digest, its field changes.

Plain data, no SQLAlchemy: ``check`` can compare a release with the store through ``sqlite3``
(:mod:`onthedot.store.glance`) as well as through the repository.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from onthedot.model import Release


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    release_id: str
    changed_at: Any
    actor: str
    reason: str
    field: str
    old: Any
    new: Any


def document(release: Release) -> dict[str, Any]:
    """The release as JSON-safe data (what the store keeps and hashes)."""
    return release.model_dump(mode="json", exclude={"lines"})


def content_sha256(doc: dict[str, Any]) -> str:
    without_source = {k: v for k, v in doc.items() if k != "source"}
    return hashlib.sha256(json.dumps(without_source, sort_keys=True).encode()).hexdigest()
