"""The publish-target contract: stage hidden before T, flip into place at T, discard, look.

Staging never exposes content early: the bytes go to an unguessable hidden name in the *same
directory* as the final path (``.onthedot-`` + 32 hex digits derived from the publisher's secret
token and the path), so that the go-live flip is a rename within one file system (or, for S3, one
server-side copy), never an upload.

Subclasses implement five small coroutines: ``_upload``, ``_move``, ``_remove``, ``_read_sha256``
and (optionally) ``aclose``. ``flip`` is idempotent here, once for all: when the staged copy is
gone and the final path already holds the staged bytes, it returns quietly.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from onthedot.adapters import Adapter
from onthedot.errors import (
    ConfigError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.model import STAGED_PREFIX, path_fault

STAGE_PREFIX = STAGED_PREFIX
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Staged:
    """A staged artefact: where its bytes wait, hidden, until the flip."""

    path: str  # URL path, e.g. /statistics/x.xlsx
    token: str
    location: str  # where the bytes sit hidden on the target (target-relative path or key)
    sha256: str
    size: int


class StagedMissing(Exception):
    """Raised by ``_move`` when the staged copy is not there (internal to targets)."""


def check_path(path: str) -> str:
    """An artefact path must pass the one path rule (``model.path_fault``): returns it."""
    fault = path_fault(path)
    if fault is not None:
        raise ConfigError(f"The artefact path {path!r} {fault}: correct it in the release file.")
    return path


def staged_path(path: str, token: str) -> str:
    """The hidden staging path next to ``path``: unguessable without the token."""
    if len(token) < 16:
        raise ConfigError(
            "The staging token must have at least 16 characters: use secrets.token_hex(16)."
        )
    digest = hashlib.sha256(f"{token}\0{path}".encode()).hexdigest()[:32]
    return posixpath.join(posixpath.dirname(path), STAGE_PREFIX + digest)


def file_sha256(local_file: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with local_file.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Target(Adapter):
    """A place artefacts are published to (web root, FTP/SFTP server, bucket, CMS)."""

    kind: ClassVar[str] = "target"

    async def stage(self, path: str, local_file: Path, sha256: str, token: str) -> Staged:
        """Upload ``local_file`` to a hidden name beside ``path``; verify its size. Nothing is live."""
        path = check_path(path)
        location = staged_path(path, token)
        try:
            found, size = await asyncio.to_thread(file_sha256, local_file)
        except OSError as exc:
            raise ConfigError(
                f"The artefact file {local_file} cannot be read ({exc.strerror}): check the path."
            ) from exc
        if found != sha256:
            raise ConfigError(
                f"The artefact file {local_file} changed after the release was loaded (SHA-256 "
                f"{found[:12]}…, expected {sha256[:12]}…): load the release again."
            )
        staged = Staged(path=path, token=token, location=location, sha256=sha256, size=size)
        await self._upload(staged, local_file)
        return staged

    async def flip(self, staged: Staged) -> None:
        """Move the staged copy into place atomically. Idempotent."""
        try:
            await self._move(staged.location, staged.path)
        except StagedMissing:
            if await self.fetch_sha256(staged.path) == staged.sha256:
                return
            raise TargetError(
                f"The staged copy of {staged.path} is not on {self.url()} and the file there is "
                "not the staged one: stage the artefact again."
            ) from None

    async def discard(self, staged: Staged) -> None:
        """Remove a staged copy. Idempotent (a missing copy is fine)."""
        await self._remove(staged.location)

    async def fetch_sha256(self, path: str) -> str | None:
        """The SHA-256 of what the target holds at ``path`` now, or None when nothing is there."""
        return await self._read_sha256(check_path(path))

    # -- what each target implements -------------------------------------------------------
    async def _upload(self, staged: Staged, local_file: Path) -> None:
        raise NotImplementedError

    async def _move(self, location: str, path: str) -> None:
        raise NotImplementedError

    async def _remove(self, location: str) -> None:
        raise NotImplementedError

    async def _read_sha256(self, path: str) -> str | None:
        raise NotImplementedError

    # -- shared helpers --------------------------------------------------------------------
    def size_mismatch(self, location: str, expected: int, found: int | None) -> TargetError:
        return TargetError(
            f"The upload to {self.url()} is incomplete ({found} of {expected} bytes at {location}): "
            "nothing was published; stage the artefact again."
        )

    def os_error(self, exc: OSError, doing: str) -> TargetError:
        """Classify a local/remote OSError (errno) into the target error tree, secrets masked."""
        what = self.scrub(exc.strerror or str(exc))
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return TargetSpaceError(
                f"{self.url()} is full ({what}) while {doing}: free space there, then stage again."
            )
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return TargetPermissionError(
                f"{self.url()} refused {doing} ({what}): give the publishing user write access there."
            )
        if exc.errno in (
            errno.ENOENT,
            errno.ENOTDIR,
            errno.ECONNREFUSED,
            errno.EHOSTUNREACH,
            errno.ENETUNREACH,
            errno.ETIMEDOUT,
            errno.ECONNRESET,
            errno.EPIPE,
        ):
            return TargetUnreachable(
                f"{self.url()} could not be reached while {doing} ({what}): check the address in "
                "[site] target and that the server is up; nothing was published."
            )
        return TargetError(f"{self.url()} failed while {doing} ({what}): nothing was published.")
