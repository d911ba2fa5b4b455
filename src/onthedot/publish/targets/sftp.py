"""``sftp://publisher@origin.internal:22/var/www``: an SSH server's SFTP subsystem (asyncssh).

Upload to the hidden staged name, fsync it (``fsync@openssh.com``), check its size, then go live
with ``posix-rename@openssh.com`` (atomic, overwrites). Servers without that extension get a plain
SFTP rename, deleting the old file first because SFTP v3 rename refuses to overwrite.
Authentication: the password secret (optional) and/or ``?key=/path/to/private_key``; the server's
host key is checked against ``?known_hosts=/path`` (default: ``~/.ssh/known_hosts``).
Options: ``?staging=/srv/staging`` (stage in that folder, outside the web root, on the same file
system so the rename stays atomic), ``?timeout=30`` seconds to connect.

The connection made to stage (up to an hour before T) is kept for the flip. A firewall or load
balancer may drop it silently while it is idle, and nothing would then answer on it: the
session is kept alive (an SSH keepalive every ``KEEPALIVE_S``, the connection given up after
``KEEPALIVE_MISSED`` unanswered), and the look that checks it before each use waits
``CHECK_S`` at most, then opens a new one, so the flip does not wait for the kernel to give up.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
from pathlib import Path
from typing import ClassVar

import asyncssh

from onthedot.adapters import AdapterURL
from onthedot.errors import (
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.targets.base import CHUNK, Staged, StagedMissing, Target, later_than

_ST_RDONLY = 1
KEEPALIVE_S = 15.0
KEEPALIVE_MISSED = 3
CHECK_S = 3.0
"""How long the look at a kept session may take (a round trip, milliseconds when it is alive)."""


class SFTPTarget(Target):
    """sftp://publisher@origin.internal:22/var/www?known_hosts=/etc/onthedot/known_hosts"""

    scheme: ClassVar[str] = "sftp"
    title: ClassVar[str] = "SFTP server"
    docs: ClassVar[str] = "https://datatracker.ietf.org/doc/html/draft-ietf-secsh-filexfer-02"
    required: ClassVar[tuple[str, ...]] = ("host", "user")
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    stages_outside: ClassVar[bool] = True

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        self.root = self.parsed.path or "."
        self.timeout = self.seconds("timeout", 30.0)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._opening = asyncio.Lock()  # files staged at once share one connection

    def _where(self) -> str:
        return f"{self.parsed.host}:{self.parsed.port or 22}"

    @property
    def served_root(self) -> str:
        return self.root

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path.lstrip("/"))

    async def _session(self) -> asyncssh.SFTPClient:
        """The SFTP session, opened (or opened again, once lost) by one caller at a time: the
        files of a release, staged at once, each opened one of their own and all but the last
        were left open."""
        async with self._opening:
            return await self._open()

    async def _open(self) -> asyncssh.SFTPClient:
        if self._sftp is not None and self._conn is not None:
            try:
                async with asyncio.timeout(min(CHECK_S, self.timeout)):
                    await self._sftp.stat(self.root)
                return self._sftp
            except (asyncssh.Error, OSError, TimeoutError):
                self._abandon()  # (a session that does not answer is not waited for to close)
        query = self.parsed.query
        known = query.get("known_hosts") or os.path.expanduser("~/.ssh/known_hosts")
        options: dict[str, object] = {
            "username": self.parsed.user,
            "known_hosts": known,
            "connect_timeout": self.timeout,
            "login_timeout": self.timeout,
            "keepalive_interval": KEEPALIVE_S,
            "keepalive_count_max": KEEPALIVE_MISSED,
            "password": self.secret("password", required="key" not in query),
        }
        if "key" in query:
            options["client_keys"] = [query["key"]]
        try:
            self._conn = await asyncssh.connect(
                self.parsed.host or "", self.parsed.port or 22, **options
            )
            self._sftp = await self._conn.start_sftp_client()
        except BaseException as exc:
            await self.aclose()
            raise self._convert(exc, "logging in") from exc
        return self._sftp

    def _abandon(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None
        if self._conn is not None:
            self._conn.abort()
            self._conn = None

    async def aclose(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
            self._sftp = None
        if self._conn is not None:
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), 2)
            except (TimeoutError, OSError, asyncssh.Error):
                pass
            self._conn = None

    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location, size = staged.location, staged.size
        sftp = await self._session()
        remote = self._placed(location)
        try:
            await sftp.makedirs(posixpath.dirname(self._remote(staged.path)), exist_ok=True)
            await sftp.makedirs(posixpath.dirname(remote), exist_ok=True)
            async with sftp.open(
                remote, "wb", asyncssh.SFTPAttrs(permissions=0o644), encoding=None
            ) as out:
                with local_file.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        await out.write(chunk)
                await self._fsync(out)
            attrs = await sftp.stat(remote)
        except BaseException as exc:
            error = await self._explain(exc, f"uploading {location}", remote, size)
            await self._forget(remote)
            raise error from exc
        if attrs.size != size:
            await self._forget(remote)
            raise self.size_mismatch(location, size, attrs.size)
        await self._later_than_replaced(sftp, remote, self._remote(staged.path), attrs.mtime)

    async def _later_than_replaced(
        self, sftp: asyncssh.SFTPClient, copy: str, final: str, copy_mtime: float | None
    ) -> None:
        """Give the copy a modification time later than the file at ``final`` it will replace
        (``later_than``), where it has not one already; left as it is when the server will not
        say or set it."""
        try:
            replaced = (await sftp.stat(final)).mtime
            later = later_than(copy_mtime or 0, replaced)
            if later is not None:
                await sftp.utime(copy, (later, later))
        except (asyncssh.Error, OSError):
            pass  # (nothing there to replace, a server that will not tell, or a connection
            # lost: the copy is whole, and the flip reconnects)

    async def _fsync(self, out: asyncssh.SFTPClientFile) -> None:
        try:
            await out.fsync()
        except asyncssh.SFTPOpUnsupported:
            pass

    async def _explain(
        self, exc: BaseException, doing: str, remote: str, size: int
    ) -> BaseException:
        """SFTP v3 reports a full or read-only disk as a bare 'Failure': ask statvfs why."""
        if isinstance(exc, asyncssh.SFTPFailure) and self._sftp is not None:
            try:
                vfs = await self._sftp.statvfs(posixpath.dirname(remote))
            except (asyncssh.Error, OSError):
                return self._convert(exc, doing)
            if vfs.flags & _ST_RDONLY:
                return TargetPermissionError(
                    f"{self.url()} refused {doing}: {posixpath.dirname(remote)} is on a read-only "
                    "file system; make it writable for the publishing user."
                )
            if vfs.bavail * vfs.frsize < size:
                return TargetSpaceError(
                    f"{self.url()} is full while {doing} ({vfs.bavail * vfs.frsize} bytes free, "
                    f"{size} needed): free space there, then stage again."
                )
        return self._convert(exc, doing)

    async def _forget(self, remote: str) -> None:
        try:
            sftp = await self._session()
            await sftp.remove(remote)
        except (asyncssh.Error, OSError, TargetError):
            pass

    async def _move(self, location: str, path: str) -> None:
        sftp = await self._session()
        source, dest = self._placed(location), self._remote(path)
        try:
            try:
                await sftp.posix_rename(source, dest)
            except asyncssh.SFTPOpUnsupported:
                if await sftp.exists(dest) and await sftp.exists(source):
                    await sftp.remove(dest)
                await sftp.rename(source, dest)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath) as exc:
            raise StagedMissing(location) from exc
        except BaseException as exc:
            raise self._convert(exc, f"renaming {location} to {path}") from exc

    async def _remove(self, location: str) -> None:
        sftp = await self._session()
        try:
            await sftp.remove(self._placed(location))
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            pass
        except BaseException as exc:
            raise self._convert(exc, f"removing {location}") from exc

    async def _read_sha256(self, path: str) -> str | None:
        sftp = await self._session()
        digest = hashlib.sha256()
        try:
            async with sftp.open(self._remote(path), "rb", encoding=None) as handle:
                while chunk := await handle.read(CHUNK):
                    digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            return None
        except BaseException as exc:
            raise self._convert(exc, f"reading {path}") from exc
        return digest.hexdigest()

    def _convert(self, exc: BaseException, doing: str) -> BaseException:
        if not isinstance(exc, Exception) or isinstance(exc, TargetError):
            return exc
        reason = self.scrub(getattr(exc, "reason", "") or str(exc) or type(exc).__name__)
        if isinstance(exc, asyncssh.PermissionDenied):
            return TargetAuthError(
                f"The SFTP server {self._where()} refused the login of '{self.parsed.user}' "
                f"({reason}): check the password or ?key= in [site] target."
            )
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return TargetAuthError(
                f"The SFTP server {self._where()} has a host key onthedot does not know ({reason}): "
                "add it to the known_hosts file (?known_hosts=/path) after checking it with IT."
            )
        if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPWriteProtect):
            return TargetPermissionError(
                f"The SFTP server {self._where()} refused {doing} ({reason}): give "
                f"'{self.parsed.user}' write access to {self.root}."
            )
        if isinstance(exc, asyncssh.SFTPNoSpaceOnFilesystem | asyncssh.SFTPQuotaExceeded):
            return TargetSpaceError(
                f"The SFTP server {self._where()} is full while {doing} ({reason}): free space there."
            )
        if isinstance(
            exc,
            OSError
            | asyncssh.DisconnectError
            | asyncssh.ConnectionLost
            | asyncssh.SFTPConnectionLost
            | asyncssh.SFTPNoConnection  # the next write after the server died
            | TimeoutError,
        ):
            return TargetUnreachable(
                f"The SFTP server {self._where()} could not be reached or broke off while {doing} "
                f"({reason}): check it is running and reachable; nothing was published."
            )
        return TargetError(f"The SFTP server {self._where()} failed while {doing} ({reason}).")
