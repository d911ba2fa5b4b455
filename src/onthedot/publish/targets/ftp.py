"""``ftp://`` and ``ftps://`` (explicit TLS, AUTH TLS): an FTP server, the seed incident's own path.

Upload to the hidden staged name (STOR), check its size (SIZE), then go live with RNFR/RNTO. If a
server refuses to rename over an existing file, the old file is deleted first (DELE) and the rename
repeated — vsftpd and ProFTPD overwrite, so this happens only on servers that would refuse anyway.
The URL path is the directory artefact paths are appended to, as the server shows it after login
(``ftp://publisher@host/`` for a chrooted web root). Options: ``?timeout=30`` (seconds per
network operation), for ftps ``?ca=/path/ca.pem`` (trust this CA) or ``?verify=no`` (don't check).
A cached connection is checked with NOOP before use, so a flip hours after staging reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import ssl
from pathlib import Path
from typing import ClassVar

import aioftp

from onthedot.adapters import AdapterURL, register
from onthedot.errors import (
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.targets.base import CHUNK, Staged, StagedMissing, Target

_SPACE = ("452", "552")
_PERMISSION = ("550", "553", "450", "532")


@register("target", "ftp")
class FTPTarget(Target):
    """ftp://publisher@origin.internal:21/"""

    scheme: ClassVar[str] = "ftp"
    title: ClassVar[str] = "FTP server"
    docs: ClassVar[str] = "https://www.rfc-editor.org/rfc/rfc959"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    tls: ClassVar[bool] = False
    default_port: ClassVar[int] = 21

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        self.root = self.parsed.path or "/"
        self.timeout = float(self.parsed.query.get("timeout", "30"))
        self._client: aioftp.Client | None = None

    def _where(self) -> str:
        return f"{self.parsed.host}:{self.parsed.port or self.default_port}"

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path.lstrip("/"))

    def _ssl_context(self) -> ssl.SSLContext:
        query = self.parsed.query
        context = ssl.create_default_context(cafile=query.get("ca") or None)
        if query.get("verify", "yes").lower() in ("no", "false", "0"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect(self) -> aioftp.Client:
        client = aioftp.Client(socket_timeout=self.timeout, connection_timeout=self.timeout)
        user = self.parsed.user or "anonymous"
        password = self.secret("password", required=self.parsed.user is not None) or "anon@"
        try:
            await client.connect(self.parsed.host or "", self.parsed.port or self.default_port)
            if self.tls:
                await client.upgrade_to_tls(self._ssl_context())
            await client.login(user, password)
            await client.command("TYPE I", "200")
        except BaseException as exc:
            client.close()
            raise self._convert(exc, "logging in") from exc
        return client

    async def _session(self) -> aioftp.Client:
        if self._client is not None:
            try:
                await self._client.command("NOOP", "2xx")
                return self._client
            except (TimeoutError, aioftp.StatusCodeError, OSError, ConnectionError):
                self._drop()
        self._client = await self._connect()
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await asyncio.wait_for(self._client.quit(), 2)
            except (TimeoutError, aioftp.StatusCodeError, OSError, ConnectionError):
                pass
            self._drop()

    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location, size = staged.location, staged.size
        client = await self._session()
        remote = self._remote(location)
        try:
            await self._make_dirs(client, posixpath.dirname(remote))
            async with client.upload_stream(remote) as stream:
                with local_file.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        await stream.write(chunk)
            found = await self._size(client, remote)
        except BaseException as exc:
            self._drop()
            await self._forget(remote)
            raise self._convert(exc, f"uploading {location}") from exc
        if found != size:
            await self._forget(remote)
            raise self.size_mismatch(location, size, found)

    async def _forget(self, remote: str) -> None:
        """Best effort removal of a partial upload (on a fresh connection if needed)."""
        try:
            client = await self._session()
            await client.command("DELE " + remote, "2xx")
        except (TimeoutError, TargetError, aioftp.StatusCodeError, OSError):
            pass

    async def _make_dirs(self, client: aioftp.Client, directory: str) -> None:
        current = ""
        for part in [p for p in directory.split("/") if p]:
            current = f"{current}/{part}" if current or directory.startswith("/") else part
            try:
                await client.command("MKD " + current, "257")
            except aioftp.StatusCodeError:
                pass  # exists already, or not allowed: STOR will tell

    async def _size(self, client: aioftp.Client, remote: str) -> int | None:
        _, info = await client.command("SIZE " + remote, "213")
        text = " ".join(info).split()
        return int(text[-1]) if text and text[-1].isdigit() else None

    async def _move(self, location: str, path: str) -> None:
        client = await self._session()
        source, dest = self._remote(location), self._remote(path)
        try:
            await client.command("RNFR " + source, "350")
        except aioftp.StatusCodeError as exc:
            if _codes(exc) & {"550", "450"}:
                raise StagedMissing(location) from exc
            raise self._convert(exc, f"renaming {location}") from exc
        except BaseException as exc:
            self._drop()
            raise self._convert(exc, f"renaming {location}") from exc
        try:
            await client.command("RNTO " + dest, "2xx")
        except aioftp.StatusCodeError as exc:
            await self._replace_refused(client, source, dest, exc)
        except BaseException as exc:
            self._drop()
            raise self._convert(exc, f"renaming {location} to {path}") from exc

    async def _replace_refused(
        self, client: aioftp.Client, source: str, dest: str, first: aioftp.StatusCodeError
    ) -> None:
        """The server would not rename over the old file: delete it, then rename again."""
        try:
            await client.command("DELE " + dest, "2xx")
            await client.rename(source, dest)
        except BaseException as exc:
            raise self._convert(first, f"renaming onto {dest}") from exc

    async def _remove(self, location: str) -> None:
        client = await self._session()
        try:
            await client.command("DELE " + self._remote(location), "2xx")
        except aioftp.StatusCodeError as exc:
            if not _codes(exc) & {"550", "450"}:
                raise self._convert(exc, f"removing {location}") from exc
        except BaseException as exc:
            self._drop()
            raise self._convert(exc, f"removing {location}") from exc

    async def _read_sha256(self, path: str) -> str | None:
        client = await self._session()
        digest = hashlib.sha256()
        try:
            # SIZE first: aioftp leaks the data connection when RETR answers 550
            await self._size(client, self._remote(path))
            async with client.download_stream(self._remote(path)) as stream:
                async for block in stream.iter_by_block(CHUNK):
                    digest.update(block)
        except aioftp.StatusCodeError as exc:
            self._drop()
            if _codes(exc) & {"550", "450"}:
                return None
            raise self._convert(exc, f"reading {path}") from exc
        except BaseException as exc:
            self._drop()
            raise self._convert(exc, f"reading {path}") from exc
        return digest.hexdigest()

    def _convert(self, exc: BaseException, doing: str) -> BaseException:
        """Turn an aioftp/socket error into our tree; anything else (cancel, ours) passes as is."""
        if isinstance(exc, TargetError | asyncio.CancelledError | KeyboardInterrupt):
            return exc
        if isinstance(exc, aioftp.StatusCodeError):
            return self._status_error(exc, doing)
        if isinstance(exc, ssl.SSLError):
            return TargetUnreachable(
                f"The TLS handshake with {self.url()} failed while {doing} ({exc.reason}): check "
                "the server certificate, or add ?ca=/path/to/ca.pem to the URL."
            )
        if isinstance(exc, OSError | asyncio.TimeoutError | asyncio.IncompleteReadError | EOFError):
            what = type(exc).__name__ if not str(exc) else self.scrub(str(exc))
            return TargetUnreachable(
                f"The FTP server {self._where()} could not be reached or broke off while {doing} "
                f"({what}): check it is running and reachable; nothing was published."
            )
        if isinstance(exc, Exception):
            return TargetError(f"{self.url()} failed while {doing}: {self.scrub(str(exc))}.")
        return exc

    def _status_error(self, exc: aioftp.StatusCodeError, doing: str) -> TargetError:
        codes = _codes(exc)
        reply = self.scrub(" ".join(str(line) for line in exc.info).strip())
        if "530" in codes:
            return TargetAuthError(
                f"The FTP server {self._where()} refused the login of '{self.parsed.user or 'anonymous'}'"
                f" ({reply}): check the user and password in [site] target or its secret."
            )
        if codes & set(_SPACE):
            return TargetSpaceError(
                f"The FTP server {self._where()} is out of space while {doing} ({reply}): free "
                "space there, then stage again; nothing was published."
            )
        if codes & set(_PERMISSION):
            return TargetPermissionError(
                f"The FTP server {self._where()} refused {doing} ({reply}): give "
                f"'{self.parsed.user or 'anonymous'}' write access to {self.root}."
            )
        return TargetError(f"The FTP server {self._where()} failed while {doing} ({reply}).")


@register("target", "ftps")
class FTPSTarget(FTPTarget):
    """ftps://publisher@origin.internal:21/?ca=/etc/ssl/origin-ca.pem"""

    scheme: ClassVar[str] = "ftps"
    title: ClassVar[str] = "FTPS server"
    docs: ClassVar[str] = "https://www.rfc-editor.org/rfc/rfc4217"
    tls: ClassVar[bool] = True


def _codes(exc: aioftp.StatusCodeError) -> set[str]:
    return {str(code) for code in exc.received_codes}
