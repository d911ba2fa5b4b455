"""Signed, expiring acknowledgement links: whoever holds one may acknowledge that incident, until
it expires, and nothing else.

The signature is an HMAC-SHA-256, over the incident's id, the role the link was sent to and the
expiry, with a 32-byte key kept in a file apart from the database (made on first use, readable by
its owner only; by default beside the timeline's signing key, ``[notify] key`` to move it), so a
copy of the database cannot mint links. ``onthedot run`` signs, the dashboard's process checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from onthedot.errors import AccessError
from onthedot.record.checkpoint import default_folder, write_private
from onthedot.settings import NOTIFY_ROLES, NotifySettings

KEY_FILE = "ack-links.key"
KEY_BYTES = 32
_PREFIX = b"onthedot acknowledgement link v1"


@dataclass(frozen=True, slots=True)
class Link:
    """What a link grants: acknowledging ``incident`` as ``role``, until ``expires``."""

    incident: int
    role: str
    expires: int  # Unix seconds

    def message(self) -> bytes:
        return b"\n".join(
            [_PREFIX, str(self.incident).encode(), self.role.encode(), str(self.expires).encode()]
        )


class LinkKey:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def _secret(self) -> bytes:
        if self._key is None:
            self._key = _load_or_make(self.path)
        return self._key

    def sign(self, link: Link) -> str:
        return hmac.new(self._secret(), link.message(), hashlib.sha256).hexdigest()

    def url(self, dashboard: str, link: Link) -> str:
        """The address to put in a message."""
        query = urlencode({"role": link.role, "expires": link.expires, "sig": self.sign(link)})
        return f"{dashboard.rstrip('/')}/incidents/{link.incident}/ack-link?{query}"

    def check(self, incident: int, role: str, expires: str, sig: str, now: dt.datetime) -> Link:
        """The link's grant, or AccessError (one sentence) for a forged or expired one."""
        try:
            link = Link(incident, role, int(expires))
        except ValueError:
            raise AccessError(_FORGED) from None
        good = role in NOTIFY_ROLES and hmac.compare_digest(self.sign(link).encode(), sig.encode())
        if not good:
            raise AccessError(_FORGED)
        if now.timestamp() >= link.expires:
            raise AccessError(
                "This acknowledgement link has expired: acknowledge the incident on the "
                "dashboard or with `onthedot ack` instead."
            )
        return link


_FORGED = (
    "This acknowledgement link is not one onthedot sent: acknowledge the incident on the "
    "dashboard or with `onthedot ack` instead."
)


def link_key(settings: NotifySettings, root: Path) -> LinkKey:
    """The key ``[notify] key`` names (relative to onthedot.toml's folder), else the default."""
    if settings.key:
        return LinkKey(root / Path(settings.key).expanduser())
    return LinkKey(default_folder() / KEY_FILE)


def expiry(now: dt.datetime, settings: NotifySettings) -> int:
    return int(now.timestamp() + settings.link_hours * 3600)


def _load_or_make(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_BYTES)
        if not write_private(path, key):  # another process made it first: use theirs
            return _load_or_make(path)
        return key
    if len(key) < KEY_BYTES:
        raise AccessError(
            f"The acknowledgement links' key {path} is too short to be one onthedot made: "
            "remove it (a new one is made, and links already sent stop working)."
        )
    return key
