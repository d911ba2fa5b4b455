"""Signed checkpoints: the timeline's head anchored outside the database.

The hash chain (``record.timeline``) shows that no stored event was changed on its own; it cannot
show that the last events were deleted, or that every event after a change was hashed again with
the same public function. So after each write the timeline's head — its last ``seq`` and that
event's hash — is signed with an Ed25519 key kept apart from the database and appended, as one
JSON line, to a checkpoint file beside the key (``[evidence]`` in onthedot.toml):

    {"store": "sqlite:////srv/onthedot/onthedot.db", "release": "...", "seq": 42,
     "head": "<sha-256 hex>", "at": "2019-12-18T09:30:01.2Z", "signature": "<base64>"}

``check`` compares the store with the newest checkpoint of a release: fewer events than it signed
means events were removed; another hash at its ``seq`` means the chain up to it was rewritten
(changed, removed or re-ordered events, hashes recomputed). Someone who holds both the database
and the key can still rewrite both; events after the newest checkpoint are protected by the
chain only.

An ``Anchor`` is bound to the store's engine (``bind``) by whoever opens the store for a command;
every ``Timeline`` on that engine then signs its head after each write.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import logs
from onthedot.adapters import mask_secrets
from onthedot.model import iso_utc, utcnow
from onthedot.store.db import main_of
from onthedot.store.location import sqlite_file
from onthedot.store.tables import events

log = logging.getLogger("onthedot.checkpoint")

if TYPE_CHECKING:  # cryptography is loaded when a checkpoint is signed or read, not before
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from onthedot.settings import EvidenceSettings

KEY_FILE = "timeline.key"
CHECKPOINT_FILE = "timeline-checkpoints.jsonl"
_PREFIX = b"onthedot timeline checkpoint v1"
_BOUND: weakref.WeakKeyDictionary[AsyncEngine, Anchor] = weakref.WeakKeyDictionary()


def default_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/onthedot``, else ``~/.config/onthedot``."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "onthedot"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    store: str
    release: str
    seq: int
    head: str
    at: str
    signature: str = ""

    def message(self) -> bytes:
        parts = (self.store, self.release, str(self.seq), self.head, self.at)
        return b"\n".join([_PREFIX, *(p.encode("utf-8") for p in parts)])


_FIELDS = tuple(field.name for field in fields(Checkpoint))
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """What the newest checkpoint says of a timeline: ``ok`` False with ``problem`` (one
    sentence) when the store holds less, or other events, than was signed."""

    ok: bool
    checkpoint: Checkpoint | None = None
    problem: str = ""


class Anchor:
    """The signing key (made on first use, mode 0600) and the append-only checkpoint file."""

    def __init__(self, key: Path, checkpoints: Path, store: str) -> None:
        self.key_path, self.path, self.store = key, checkpoints, store
        self._key: Ed25519PrivateKey | None = None
        self._kept: _Read | None = None

    def private_key(self, *, make: bool = True) -> Ed25519PrivateKey:
        """The key, made on first use when ``make`` (an OSError when it is gone otherwise)."""
        if self._key is None:
            self._key = _load_or_make(self.key_path) if make else _load(self.key_path)
        return self._key

    def public_key(self) -> str:
        """The public key, base64 of its 32 raw bytes: give it to whoever checks the record."""
        from cryptography.hazmat.primitives import serialization

        raw = (
            self.private_key()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return base64.b64encode(raw).decode("ascii")

    def sign(self, release_id: str, seq: int, head: str) -> Checkpoint:
        """Sign the head of a release's timeline and append the checkpoint (one write; the
        folder is made only when the file cannot be opened for want of it: at T the leader
        signs thousands of heads)."""
        unsigned = Checkpoint(self.store, release_id, seq, head, iso_utc(utcnow()))
        signature = base64.b64encode(self.private_key().sign(unsigned.message())).decode()
        signed = Checkpoint(self.store, release_id, seq, head, unsigned.at, signature)
        written = {name: getattr(signed, name) for name in _FIELDS}  # (as ``asdict``, faster)
        line = (json.dumps(written, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, _APPEND, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, _APPEND, 0o600)
        try:
            written_bytes = 0
            while written_bytes < len(line):  # (a write may take less than all: a full disk)
                written_bytes += os.write(fd, line[written_bytes:])
        finally:
            os.close(fd)
        return signed

    def latest(self, release_id: str) -> Checkpoint | None:
        """The newest checkpoint of this store's release; a ``CheckpointForged`` when a line of it
        is not signed by this key.

        The file only grows (a line a head signed: at T thousands), and every line is checked
        against the key: read whole at each call, a release page of the dashboard spent nine
        tenths of its time on it once a morning had been signed. So what was read is kept, and
        only the lines added since are read: the whole file is read again when it is another
        file or shorter than what was read, and at least every ``FULL_READ_S`` (a line changed
        in place, not appended, is found by then). A line still being written is left for the
        next call."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            self._kept = None
            return None
        kept, now = self._kept, time.monotonic()
        if (
            kept is None
            or kept.file != (found.st_dev, found.st_ino)
            or found.st_size < kept.offset
            or now - kept.read_at >= FULL_READ_S
        ):
            kept = self._kept = _Read((found.st_dev, found.st_ino), now)
        if found.st_size > kept.offset and kept.forged is None:
            self._read_on(kept)
        if kept.forged is not None:
            raise kept.forged
        return kept.newest.get(release_id)

    def _read_on(self, kept: _Read) -> None:
        """The whole lines added since ``kept.offset``, checked and kept."""
        with open(self.path, "rb") as file:
            file.seek(kept.offset)
            data = file.read()
        whole = data[: data.rfind(b"\n") + 1]
        public = self.private_key(make=False).public_key()
        for line in whole.decode("utf-8", "replace").splitlines():
            kept.lines += 1
            try:
                checkpoint = self._read(line, kept.lines, public)
            except CheckpointForged as forged:
                kept.forged = forged
                return
            if checkpoint is None:
                continue
            newest = kept.newest.get(checkpoint.release)
            if newest is None or checkpoint.seq >= newest.seq:
                kept.newest[checkpoint.release] = checkpoint
        kept.offset += len(whole)

    def _read(self, line: str, number: int, public: Ed25519PublicKey) -> Checkpoint | None:
        from cryptography.exceptions import InvalidSignature

        try:
            written = json.loads(line)
        except ValueError:  # a line cut short by a crash or a full disk, the next one glued on
            log.warning("checkpoint line %s of %s is not whole: left out", number, self.path)
            return None
        try:
            checkpoint = Checkpoint(**written)
            if checkpoint.store != self.store:
                return None
            public.verify(base64.b64decode(checkpoint.signature), checkpoint.message())
        except (ValueError, TypeError, InvalidSignature, binascii.Error):
            raise CheckpointForged(self.path, number) from None
        return checkpoint


FULL_READ_S = 60.0
"""``Anchor.latest`` reads the whole checkpoint file again at least this often."""


@dataclass
class _Read:
    """What ``Anchor.latest`` has read of the checkpoint file: which file, how far, how many
    lines, each release's newest checkpoint, the first line not signed by the key."""

    file: tuple[int, int]
    read_at: float
    offset: int = 0
    lines: int = 0
    newest: dict[str, Checkpoint] = field(default_factory=dict)
    forged: CheckpointForged | None = None


class CheckpointForged(Exception):
    """A line of the checkpoint file is not one this key signed (turned into an AnchorCheck)."""

    def __init__(self, path: Path, line: int) -> None:
        super().__init__(f"{path}:{line}")
        self.path, self.line = path, line


def _load_or_make(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        return _load(path)
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if not write_private(path, pem):  # another process made it first: use theirs
            return _load_or_make(path)
        return key


def write_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file readable by its owner only, in a folder made for its owner
    only; False, writing nothing, when the file exists (another process made it first)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.exists():
        return False
    # written whole under a name of its own, then linked in (which fails if the file exists):
    # a crash never leaves the file empty or cut short
    part = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(part, path)
        except FileExistsError:
            return False
    finally:
        part.unlink(missing_ok=True)
    return True


def _load(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def anchor_for(settings: EvidenceSettings, root: Path, database_url: str) -> Anchor:
    """The anchor ``[evidence]`` configures (paths relative to onthedot.toml's folder) for the
    store at ``database_url``, named by its absolute file (SQLite) or its masked URL."""
    key = _path(settings.key, root) if settings.key else default_folder() / KEY_FILE
    checkpoints = _path(settings.checkpoints, root) if settings.checkpoints else None
    sqlite = sqlite_file(database_url)
    store = f"sqlite:///{sqlite.resolve()}" if sqlite else mask_secrets(database_url)
    return Anchor(key, checkpoints or key.parent / CHECKPOINT_FILE, store)


def _path(text: str, root: Path) -> Path:
    return root / Path(text).expanduser()


def bind(engine: AsyncEngine, anchor: Anchor) -> None:
    """Every timeline written through ``engine`` signs its head with ``anchor``."""
    _BOUND[engine] = anchor


def bound(engine: AsyncEngine) -> Anchor | None:
    """The anchor of ``engine``, or of the engine it was made for (the publish path's own pool,
    ``store.db.publishing``, signs with the service's key)."""
    return _BOUND.get(engine) or _BOUND.get(main_of(engine))


def sign_head(engine: AsyncEngine, release_id: str, seq: int, head: str) -> None:
    """Sign a new head if the engine has an anchor; a checkpoint that cannot be written is logged,
    never a reason to stop recording (the chain still holds; ``timeline --verify`` then finds an
    older checkpoint)."""
    anchor = bound(engine)
    if anchor is None:
        return
    try:
        anchor.sign(release_id, seq, head)
    except (OSError, ValueError) as exc:
        logs.get_logger("onthedot.checkpoint").warning(
            "checkpoint.not_written", release=release_id, seq=seq, error=str(exc)
        )


async def check(engine: AsyncEngine, release_id: str, count: int) -> AnchorCheck:
    """The store's timeline of ``release_id`` (``count`` events, its chain intact) against the
    newest checkpoint signed for it."""
    anchor = bound(engine)
    if anchor is None:
        return AnchorCheck(True)
    try:
        newest = anchor.latest(release_id)
    except CheckpointForged as exc:
        said = PROBLEMS["forged"].format(line=exc.line, path=exc.path, release=release_id)
        return AnchorCheck(False, None, said)
    except (OSError, ValueError) as exc:
        return AnchorCheck(
            False, None, PROBLEMS["unreadable"].format(path=anchor.key_path, error=exc)
        )
    if newest is None:
        return AnchorCheck(True)
    if count < newest.seq:
        said = PROBLEMS["removed"].format(
            release=release_id, count=count, seq=newest.seq, at=newest.at, next=count + 1
        )
        return AnchorCheck(False, newest, said)
    query = select(events.c.hash).where(
        events.c.release_id == release_id, events.c.seq == newest.seq
    )
    async with engine.connect() as conn:
        stored = await conn.scalar(query)
    if stored != newest.head:
        said = PROBLEMS["rewritten"].format(seq=newest.seq, release=release_id, at=newest.at)
        return AnchorCheck(False, newest, said)
    return AnchorCheck(True, newest)


_FIX = "restore the store from a backup and report the change."
PROBLEMS = {
    "removed": "The timeline of {release} holds {count} events, but {seq} were signed at {at}: "
    "events {next} to {seq} were removed; " + _FIX,
    "rewritten": "Event {seq} of {release} is not the one signed at {at}: the timeline was "
    "rewritten up to it (events changed, removed or re-ordered and hashed again); " + _FIX,
    "forged": "Line {line} of the checkpoint file {path} is not signed by this installation's "
    "key, so the record of {release} cannot be trusted: the checkpoints were altered; " + _FIX,
    "unreadable": "The timeline's signing key {path} cannot be read ({error}): restore it from "
    "its backup; without it the checkpoints cannot be checked.",
}
"""What ``check`` says, one sentence each with the fix."""
