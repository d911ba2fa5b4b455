"""Signed pre-release links: each one its own credential, checked before anything is read.

A link names the release, the grant and when it expires, signed with HMAC-SHA-256 under a key
kept outside the database, beside the timeline's signing key (``[evidence] key``'s folder, file
``prerelease.key``, made on first use, mode 0600):

    /pre-release/<release id>/<grant id>.<expiry, Unix seconds>.<signature>

Changing any part of it (another release, grant or expiry), or a link signed by another key,
fails the signature, with no need to read the store.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from onthedot.errors import AccessError
from onthedot.record.checkpoint import default_folder, write_private

if TYPE_CHECKING:
    from onthedot.settings import EvidenceSettings

LINK_KEY_FILE = "prerelease.key"
PREFIX = "/pre-release"
_MESSAGE = "onthedot pre-release link v1\n{release}\n{grant}\n{expires}"
_TOKEN = re.compile(r"(?P<grant>[0-9a-f]{16})\.(?P<expires>[0-9]{1,12})\.(?P<signature>[\w-]{43})")
FORGED = (
    "This pre-release link is not one onthedot gave for this release (it was changed, or made "
    "for another release): ask the release's statistician for a new link."
)


@dataclass(frozen=True, slots=True)
class Link:
    """What a link, once its signature holds, says: whose grant, until when."""

    release_id: str
    grant_id: str
    expires_at: dt.datetime


def key_path(settings: EvidenceSettings, root: Path) -> Path:
    """The link key: in the folder of the timeline's key (``[evidence] key``), else the default."""
    timeline_key = root / Path(settings.key).expanduser() if settings.key else None
    folder = timeline_key.parent if timeline_key else default_folder()
    return folder / LINK_KEY_FILE


class LinkKey:
    """The secret that signs links; made on first use (``make``) by whoever grants access."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _secret(self, make: bool) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            if not make:
                raise
        write_private(self.path, secrets.token_bytes(32))  # (or another process made it first)
        return self.path.read_bytes()

    def sign(self, link: Link) -> str:
        """The link's token (its last part), for the path ``PREFIX/<release id>/<token>``."""
        expires = int(link.expires_at.timestamp())
        signature = self._signature(
            self._secret(make=True), link.release_id, link.grant_id, expires
        )
        return f"{link.grant_id}.{expires}.{signature}"

    def check(self, release_id: str, token: str) -> Link:
        """What the link ``token`` says, when it is for ``release_id`` and signed by this key;
        AccessError (one sentence) otherwise. Whether it has expired is the caller's to say."""
        found = _TOKEN.fullmatch(token)
        try:
            secret = self._secret(make=False)
        except OSError:
            raise AccessError(FORGED) from None
        if found is None:
            raise AccessError(FORGED)
        grant, expires = found["grant"], int(found["expires"])
        wanted = self._signature(secret, release_id, grant, expires)
        if not hmac.compare_digest(wanted.encode(), found["signature"].encode()):
            raise AccessError(FORGED)
        return Link(release_id, grant, dt.datetime.fromtimestamp(expires, dt.UTC))

    @staticmethod
    def _signature(secret: bytes, release_id: str, grant_id: str, expires: int) -> str:
        message = _MESSAGE.format(release=release_id, grant=grant_id, expires=expires)
        digest = hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def link_url(server: str, link: Link, token: str) -> str:
    return f"{server.rstrip('/')}{PREFIX}/{link.release_id}/{token}"
