"""What the store keeps of a release: its document, the document's digest, its field changes.

Plain data, no SQLAlchemy: ``check`` can compare a release with the store through ``sqlite3``
(:mod:`onthedot.store.glance`) as well as through the repository.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from onthedot.adapters import mask_secrets
from onthedot.model import Release

_SITE_URLS = ("public", "origin", "target")


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
    """The release as JSON-safe data (what the store keeps and hashes), its secrets masked."""
    return without_secrets(release.model_dump(mode="json", exclude={"lines"}))


def without_secrets(doc: dict[str, Any]) -> dict[str, Any]:
    """A release document whose site URLs (an FTP password in the target, a CDN token in a purge
    URL) are masked: the store never keeps a secret; publishing reads the release file."""
    site = doc.get("site")
    if not isinstance(site, dict):
        return doc
    masked = {k: mask_secrets(v) for k in _SITE_URLS if isinstance(v := site.get(k), str)}
    purge = [mask_secrets(u) if isinstance(u, str) else u for u in site.get("purge") or ()]
    return {**doc, "site": {**site, **masked, "purge": purge}}


def content_sha256(doc: dict[str, Any]) -> str:
    without_source = {k: v for k, v in doc.items() if k != "source"}
    return hashlib.sha256(json.dumps(without_source, sort_keys=True).encode()).hexdigest()
