"""``ftp://`` and ``ftps://`` (explicit TLS, AUTH TLS): an FTP server, the seed incident's own path.

Upload to the hidden staged name (STOR), check its size (SIZE), then go live with RNFR/RNTO. If a
server refuses to rename over an existing file, the old file is deleted first (DELE) and the rename
repeated — vsftpd and ProFTPD overwrite, so this happens only on servers that would refuse anyway.
The URL path is the directory artefact paths are appended to, as the server shows it after login
(``ftp://publisher@host/`` for a chrooted web root). Options: ``?staging=/upload/.staging`` (stage
in that folder, outside the web root, on the same file system so RNFR/RNTO stays a rename),
``?timeout=30`` (seconds per network operation), for ftps ``?ca=/path/ca.pem`` (trust this CA) or ``?verify=no`` (don't check).
A cached connection is checked with NOOP before use, so a flip hours after staging reconnects.

Data connections are opened here, not by aioftp: connect to the passive port in the clear, send
STOR/RETR, and only after the server's 150 start TLS on it (ftps). aioftp handshakes first and
vsftpd waits for the command first, so each would wait for the other (aio-libs/aioftp#186).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import posixpath
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import aioftp

from onthedot.adapters import AdapterURL
from onthedot.errors import (
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.targets.base import CHUNK, Staged, StagedMissing, Target, later_than

_SPACE = ("452", "552")
_PERMISSION = ("550", "553", "450", "532")


P = ParamSpec("P")
R = TypeVar("R")


def _one_at_a_time(
    method: Callable[Concatenate[FTPTarget, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[FTPTarget, P], Coroutine[Any, Any, R]]:
    """FTP has one control connection per target: the publisher stages and flips every file at
    once, so their command sequences (PASV, STOR, RNFR/RNTO ...) must take turns."""

    async def serialised(self: FTPTarget, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async with self._lock:
            return await method(self, *args, **kwargs)

    return serialised


ANONYMOUS_USERS = frozenset({"anonymous", "ftp"})
"""Logins that need no password (RFC 1635): ``ftp://anonymous@host/`` or no user at all."""
ANONYMOUS_PASSWORD = "anonymous@"
"""What an anonymous login sends as its password when none is configured (by convention an
e-mail address; servers accept any)."""


class FTPTarget(Target):
    """ftp://publisher@origin.internal:21/"""

    scheme: ClassVar[str] = "ftp"
    title: ClassVar[str] = "FTP server"
    docs: ClassVar[str] = "https://www.rfc-editor.org/rfc/rfc959"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    tls: ClassVar[bool] = False
    default_port: ClassVar[int] = 21
    stages_outside: ClassVar[bool] = True

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        self.root = self.parsed.path or "/"
        self.timeout = self.seconds("timeout", 30.0)
        self._client: aioftp.Client | None = None
        self._lock = asyncio.Lock()  # one control connection: one command sequence at a time

    def _where(self) -> str:
        return f"{self.parsed.host}:{self.parsed.port or self.default_port}"

    @property
    def served_root(self) -> str:
        return self.root

    def _remote(self, path: str) -> str:
        return posixpath.join(self.root, path.lstrip("/"))

    def _ssl_context(self) -> ssl.SSLContext:
        query = self.parsed.query
        context = ssl.create_default_context(cafile=query.get("ca") or None)
        if query.get("verify", "yes").lower() in ("no", "false", "0"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @property
    def _user(self) -> str:
        return self.parsed.user or "anonymous"

    @property
    def _anonymous(self) -> bool:
        return self._user.lower() in ANONYMOUS_USERS

    async def _connect(self) -> aioftp.Client:
        client = aioftp.Client(socket_timeout=self.timeout, connection_timeout=self.timeout)
        user = self._user
        password = self.secret("password", required=not self._anonymous) or ANONYMOUS_PASSWORD
        try:
            await client.connect(self.parsed.host or "", self.parsed.port or self.default_port)
            if self.tls:
                await client.upgrade_to_tls(self._ssl_context())
            await client.login(user, password)
            await client.command("TYPE I", "200")
        except BaseException as exc:
            await _hang_up(client)
            raise self._convert(exc, "logging in") from exc
        return client

    async def _session(self) -> aioftp.Client:
        if self._client is not None:
            try:
                await self._client.command("NOOP", "2xx")
                return self._client
            except (TimeoutError, aioftp.StatusCodeError, OSError, ConnectionError):
                await self._drop()
        self._client = await self._connect()
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _hang_up(client)

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await asyncio.wait_for(self._client.quit(), 2)
            except (TimeoutError, aioftp.StatusCodeError, OSError, ConnectionError):
                pass
            await self._drop()

    @_one_at_a_time
    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location, size = staged.location, staged.size
        client = await self._session()
        remote = self._placed(location)
        try:
            await self._make_dirs(client, posixpath.dirname(self._remote(staged.path)))
            await self._make_dirs(client, posixpath.dirname(remote))
            async with self._data(client, "STOR " + remote) as stream:
                with local_file.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        await stream.write(chunk)
            found = await self._size(client, remote)
        except BaseException as exc:
            await self._drop()
            await self._forget(remote)
            raise self._convert(exc, f"uploading {location}") from exc
        if found != size:
            await self._forget(remote)
            raise self.size_mismatch(location, size, found)
        await self._later_than_replaced(client, remote, self._remote(staged.path))

    async def _later_than_replaced(self, client: aioftp.Client, copy: str, final: str) -> None:
        """Give the copy a modification time later than the file at ``final`` it will replace
        (``later_than``), where it has not one already: MDTM reads the times; MDTM with a time
        sets one (vsftpd), MFMT where that is refused (ProFTPD, Pure-FTPd). Left as it is when
        the server will not say or set it."""
        try:
            replaced = await self._mdtm(client, final)
            later = later_than(await self._mdtm(client, copy) or 0, replaced)
            if later is None:
                return
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(later))
            try:
                await client.command(f"MDTM {stamp} {copy}", "213")
            except aioftp.StatusCodeError:
                await client.command(f"MFMT {stamp} {copy}", "213")
        except aioftp.StatusCodeError:
            pass  # (a server that will not tell or set the time)
        except OSError:  # (the connection lost: the copy is whole; the flip reconnects)
            await self._drop()

    async def _mdtm(self, client: aioftp.Client, remote: str) -> float | None:
        """The modification time of ``remote`` (UTC, as MDTM gives it), None when it is not
        there."""
        try:
            _, info = await client.command("MDTM " + remote, "213")
        except aioftp.StatusCodeError as exc:
            if any(code.matches("550") for code in exc.received_codes):
                return None
            raise
        text = " ".join(info).split()
        try:  # (YYYYMMDDHHMMSS, perhaps with a fraction, which is not needed)
            when = dt.datetime.strptime(text[-1][:14], "%Y%m%d%H%M%S")
        except (IndexError, ValueError):
            return None
        return when.replace(tzinfo=dt.UTC).timestamp()

    @contextlib.asynccontextmanager
    async def _data(self, client: aioftp.Client, command: str) -> AsyncIterator[aioftp.StreamIO]:
        """A data connection for ``command`` (STOR/RETR): plain connect, command, 150, then TLS.

        On a clean exit the connection is closed and the server's final reply (226) awaited;
        on an error it is aborted (the caller drops the control connection if needed).
        """
        host = self.parsed.host or ""
        port = await self._passive_port(client)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
        try:
            await client.command(command, "1xx")
            if self.tls:  # only now: vsftpd starts its TLS side after the command
                await writer.start_tls(
                    self._ssl_context(), server_hostname=host, ssl_handshake_timeout=self.timeout
                )
            yield aioftp.StreamIO(reader, writer, timeout=self.timeout)
        except BaseException:
            writer.transport.abort()
            await _closed(writer, 1)
            raise
        await _closed(writer, self.timeout)  # TLS: close_notify both ways, then the 226
        await client.command(None, "2xx", "1xx")

    async def _passive_port(self, client: aioftp.Client) -> int:
        """The server's passive data port: EPSV, or PASV where EPSV is not understood."""
        try:
            _, info = await client.command("EPSV", "229")
            return client.parse_epsv_response(info[-1])[1]
        except aioftp.StatusCodeError as exc:
            if not any(code.matches("50x") for code in exc.received_codes):
                raise
        _, info = await client.command("PASV", "227")
        return client.parse_pasv_response(info[-1])[1]

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

    @_one_at_a_time
    async def _move(self, location: str, path: str) -> None:
        client = await self._session()
        source, dest = self._placed(location), self._remote(path)
        try:
            await client.command("RNFR " + source, "350")
        except aioftp.StatusCodeError as exc:
            if _codes(exc) & {"550", "450"}:
                raise StagedMissing(location) from exc
            raise self._convert(exc, f"renaming {location}") from exc
        except BaseException as exc:
            await self._drop()
            raise self._convert(exc, f"renaming {location}") from exc
        try:
            await client.command("RNTO " + dest, "2xx")
        except aioftp.StatusCodeError as exc:
            await self._replace_refused(client, source, dest, exc)
        except BaseException as exc:
            await self._drop()
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

    @_one_at_a_time
    async def _remove(self, location: str) -> None:
        client = await self._session()
        try:
            await client.command("DELE " + self._placed(location), "2xx")
        except aioftp.StatusCodeError as exc:
            if not _codes(exc) & {"550", "450"}:
                raise self._convert(exc, f"removing {location}") from exc
        except BaseException as exc:
            await self._drop()
            raise self._convert(exc, f"removing {location}") from exc

    @_one_at_a_time
    async def _read_sha256(self, path: str) -> str | None:
        client = await self._session()
        digest = hashlib.sha256()
        try:
            async with self._data(client, "RETR " + self._remote(path)) as stream:
                while block := await stream.read(CHUNK):
                    digest.update(block)
        except aioftp.StatusCodeError as exc:
            if _codes(exc) & {"550", "450"}:
                return None  # no such file; the data connection is closed, the session fine
            await self._drop()
            raise self._convert(exc, f"reading {path}") from exc
        except BaseException as exc:
            await self._drop()
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
                f"The FTP server {self._where()} refused the login of '{self._user}'"
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
                f"'{self._user}' write access to {self.root}."
            )
        return TargetError(f"The FTP server {self._where()} failed while {doing} ({reply}).")


class FTPSTarget(FTPTarget):
    """ftps://publisher@origin.internal:21/?ca=/etc/ssl/origin-ca.pem"""

    scheme: ClassVar[str] = "ftps"
    title: ClassVar[str] = "FTPS server"
    docs: ClassVar[str] = "https://www.rfc-editor.org/rfc/rfc4217"
    tls: ClassVar[bool] = True


def _codes(exc: aioftp.StatusCodeError) -> set[str]:
    return {str(code) for code in exc.received_codes}


async def _hang_up(client: aioftp.Client) -> None:
    """Close the control connection (TLS politely, briefly) so no socket outlives the loop."""
    try:
        writer = client.stream.writer
    except ConnectionError:
        return  # it never connected
    await _closed(writer, 2)


async def _closed(writer: asyncio.StreamWriter, grace: float) -> None:
    """Close ``writer`` and wait up to ``grace`` s for it; past that (or on an error), abort it."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), grace)
    except (OSError, TimeoutError):  # a peer that skips TLS close_notify, or is gone
        writer.transport.abort()
        await asyncio.sleep(0)  # let the transport run its connection_lost
