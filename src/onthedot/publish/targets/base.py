"""The publish-target contract: stage hidden before T, flip into place at T, discard, look.

Staging never exposes content early, as long as the staged copy cannot be fetched: the bytes go to
an unguessable hidden name (``.onthedot-`` + 32 hex digits derived from the publisher's secret
token and the path), so that the go-live flip is a rename within one file system (or, for S3, one
server-side copy), never an upload. Where the hidden copy waits:

* by default, in the *same directory* as the final path, inside the served tree: a web server
  that serves dot-files serves it to anyone who learns the name, so the publisher probes each
  staged copy through the public site (``public_path``) and records an exposure;
* with ``?staging=/dir`` on the target URL (targets with ``stages_outside``), in that directory
  on the same server, outside the served tree: nothing to fetch, and still one rename at T.

Subclasses implement five small coroutines: ``_upload``, ``_move``, ``_remove``, ``_read_sha256``
and (optionally) ``aclose``, and where they can, ``read_staged`` (for pre-release links); ``_upload``, ``_move`` and ``_remove`` get a staged copy's
``location``, which ``_placed`` turns into the target's own address. A target that can do better
overrides ``stage`` and ``stage_all`` instead of ``_upload`` (the file target hashes each file as
it copies it, a release's files in a few worker threads), and ``flip`` and ``flip_all`` (the file
target renames a whole release in one worker call). ``flip`` is idempotent here,
once for all: when the staged copy is gone and the final path already holds the staged bytes, it
returns quietly.

A copy that will replace a file is given, while staging, a modification time a whole second
later than that file's, where it does not have one already (``later_than``; the file, FTP and
SFTP targets). Web servers derive a file's validators from it: nginx's ETag is its modification
time in seconds and its size, Last-Modified its modification time. A new version of the same
size written in the same second as the old (or earlier than it) would otherwise have the old
one's validators, and a cache or browser asking whether its old copy is still good would be told
"not modified": seen here, Varnish revalidating the copy it had just purged kept the old file
after the flip (about one publication in twenty of the benchmark's release of one file).
"""

from __future__ import annotations

import errno
import hashlib
import math
import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, ParamSpec, TypeVar, cast

from onthedot.adapters import Adapter, AdapterURL
from onthedot.errors import (
    AdapterURLError,
    ConfigError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.model import STAGED_PREFIX, path_fault

STAGE_PREFIX = STAGED_PREFIX
CHUNK = 256 * 1024
_P = ParamSpec("_P")
_R = TypeVar("_R")


async def in_thread(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``asyncio.to_thread``, with asyncio loaded by a target's first file I/O rather than by
    importing it: ``onthedot check`` only asks a target where it stages, and waits for nothing."""
    import asyncio

    return await asyncio.to_thread(func, *args, **kwargs)


Upload = tuple[str, Path, str]
"""One file to stage: its URL path, its local file, and its SHA-256 as the release was loaded."""


@dataclass(frozen=True)
class Staged:
    """A staged artefact: where its bytes wait, hidden, until the flip."""

    path: str  # URL path, e.g. /statistics/x.xlsx
    token: str
    location: str  # where the bytes wait: a URL path beside ``path``, or a path in ``?staging=``
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


def hidden_name(path: str, token: str) -> str:
    """The staged copy's file name: unguessable without the token."""
    if len(token) < 16:
        raise ConfigError(
            "The staging token must have at least 16 characters: use secrets.token_hex(16)."
        )
    return STAGE_PREFIX + hashlib.sha256(f"{token}\0{path}".encode()).hexdigest()[:32]


def staged_path(path: str, token: str) -> str:
    """The hidden staging path next to ``path`` (in the served tree)."""
    return posixpath.join(posixpath.dirname(path), hidden_name(path, token))


def _under(root: str | None, location: str) -> str | None:
    """``location`` as a URL path under the served ``root`` (both absolute), or None."""
    if root is None or not root.startswith("/"):
        return None
    root = posixpath.normpath(root)
    if posixpath.commonpath([root, location]) != root:
        return None
    relative = posixpath.relpath(location, root)
    return "/" if relative == "." else "/" + relative


def unreadable(local_file: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"The artefact file {local_file} cannot be read ({exc.strerror}): check the path."
    )


def changed_since_loaded(local_file: Path, found: str, sha256: str) -> ConfigError:
    return ConfigError(
        f"The artefact file {local_file} changed after the release was loaded (SHA-256 "
        f"{found[:12]}…, expected {sha256[:12]}…): load the release again."
    )


async def all_or_first_failure(jobs: Iterable[Awaitable[_R]]) -> list[_R]:
    """Every job's result, in order, once all have ended; or the first failure, raised then."""
    import asyncio

    done = await asyncio.gather(*jobs, return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            raise result
    return cast(list[_R], done)


def later_than(copy_mtime: float, replaced_mtime: float | None) -> int | None:
    """The modification time (whole seconds) to give a staged copy so that it is later than the
    file it replaces at the flip, or None when it is already (or nothing is replaced)."""
    if replaced_mtime is None:
        return None
    floor = math.floor(replaced_mtime) + 1
    return floor if math.floor(copy_mtime) < floor else None


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
    stages_outside: ClassVar[bool] = False
    """True when ``?staging=/dir`` can put staged copies outside the served tree."""

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        self.staging = self._staging_setting()

    def _staging_setting(self) -> str | None:
        value = self.parsed.query.get("staging")
        if value is None:
            return None
        if not self.stages_outside:
            raise AdapterURLError(
                f"{self.url()} does not take staging=: a {self.title} decides itself where staged "
                "copies wait; remove staging= from the target."
            )
        fault = path_fault(value.rstrip("/") or "/")
        if fault is not None:
            raise AdapterURLError(
                f"The staging folder {value!r} of {self.url()} {fault.replace('a file', 'a folder')}"
                ": set staging= on the target to a folder such as /srv/staging."
            )
        return value.rstrip("/")

    @property
    def served_root(self) -> str | None:
        """The served tree, as an absolute path in the namespace of ``?staging=`` (None: unknown)."""
        return None

    def staged_location(self, path: str, token: str) -> str:
        """Where the staged copy of ``path`` waits: beside it, or in the staging folder."""
        if self.staging is None:
            return staged_path(path, token)
        return posixpath.join(self.staging, hidden_name(path, token))

    def public_path(self, staged: Staged) -> str | None:
        """The URL path a staged copy has if the web server serves it (None: it is outside the
        served tree, or where it is cannot be told, so there is nothing to probe)."""
        if self.staging is None:
            return staged.location
        return _under(self.served_root, staged.location)

    @property
    def stages_in_served_tree(self) -> bool:
        """True when staged copies wait where the web server may serve them."""
        if not self.stages_outside:
            return False  # a CMS (or a test double) decides where its staged copies wait
        return self.staging is None or _under(self.served_root, self.staging) is not None

    def _remote(self, path: str) -> str:
        """The target's own address of a URL path (its root joined with it)."""
        return path

    def _placed(self, location: str) -> str:
        """The target's own address of a staged copy: under the root beside its final path, or
        in the staging folder, which ``location`` names in full."""
        return location if self.staging is not None else self._remote(location)

    async def stage(self, path: str, local_file: Path, sha256: str, token: str) -> Staged:
        """Upload ``local_file`` to a hidden name beside ``path``; verify its size. Nothing is live."""
        path = check_path(path)
        location = self.staged_location(path, token)
        try:
            found, size = await in_thread(file_sha256, local_file)
        except OSError as exc:
            raise unreadable(local_file, exc) from exc
        if found != sha256:
            raise changed_since_loaded(local_file, found, sha256)
        staged = Staged(path=path, token=token, location=location, sha256=sha256, size=size)
        await self._upload(staged, local_file)
        return staged

    async def stage_all(self, uploads: Sequence[Upload], token: str) -> list[Staged]:
        """Stage every file (as ``stage``) at once, in the order given; the first failure is
        raised once every upload has ended (what went up is the caller's to remove)."""
        return await all_or_first_failure(
            self.stage(path, local, sha256, token) for path, local, sha256 in uploads
        )

    async def flip(self, staged: Staged) -> None:
        """Move the staged copy into place atomically. Idempotent."""
        try:
            await self._move(staged.location, staged.path)
        except StagedMissing:
            if await self.fetch_sha256(staged.path) == staged.sha256:
                return
            raise self._not_staged(staged) from None

    def _not_staged(self, staged: Staged) -> TargetError:
        """The flip of a copy that is gone when the file in place is not the staged one."""
        return TargetError(
            f"The staged copy of {staged.path} is not on {self.url()} and the file there is "
            "not the staged one: stage the artefact again."
        )

    async def flip_all(self, staged: Sequence[Staged]) -> None:
        """Flip every staged copy (as ``flip``) at once; the first failure is raised once every
        flip has ended. A target that can do better flips a whole release in one go."""
        await all_or_first_failure(self.flip(item) for item in staged)

    async def discard(self, staged: Staged) -> None:
        """Remove a staged copy. Idempotent (a missing copy is fine)."""
        await self._remove(staged.location)

    async def let_go(self, staged: Sequence[Staged]) -> None:
        """Let go of what the target kept, while staging, of the files these copies replaced at
        the flip (a target that keeps nothing has nothing to do). Idempotent."""

    def read_staged(self, staged: Staged) -> AsyncIterator[bytes]:
        """The staged copy's bytes, in chunks, for a pre-release link; a TargetError (one
        sentence) from a target that cannot read its staged copies back."""
        raise TargetError(
            f"Pre-release links cannot read staged copies from a {self.title} ({self.url()}): "
            "send the files to the recipients another way, or publish through a file:// target."
        )

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
