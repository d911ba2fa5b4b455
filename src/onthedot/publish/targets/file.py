"""``file:///var/www``: a local web root (or a mounted one); ``?staging=/srv/staging`` keeps the
staged copies in that folder instead, outside the web root.

The staged copy is written (mode 0644; hashed as it is copied, and refused unless it is the file the
release was loaded with), fsynced, and renamed into place with ``os.replace`` — atomic
because the hidden name is on the same file system: in the same directory, or in a staging folder
that must be on the web root's file system (checked at start and before every staging; a folder on
another one is refused, as the rename would become a copy). A staging folder the target makes
itself is made 0700, so no other user of the machine (the web server's neither) can list it or
read the copies in it before T; the copies keep their 0644 through the rename, for the web server
to read from T. One that was there already keeps its mode. Beside its final path, the copy needs
the final directory, made while staging; with a staging folder, a missing final directory is made
at the flip, just before the renames (whether it can be is checked while staging), so that before
T no folder of the web root names the release. The folders are fsynced after the renames so the
flip survives a crash (a folder made then, its parent too): a release is flipped in one worker
call, every file renamed, then each folder fsynced once. File I/O runs in worker threads, as
asyncio has no asynchronous file API: the target's own few (``FILE_THREADS``), not the loop's
default ones, so that 200 releases staged or flipped at once never queue the resolver's lookups
(``loop.getaddrinfo``) of the sweeps, which run there.

A rename over a file frees that file's blocks, in the rename itself: measured here, 100 µs for a
10 KB file, 12 µs when the file has a second name. So while staging, the file each copy will
replace is given a second, hidden name beside the copy (``_kept_name``: the old version, public
already); at T the renames only change names, and the old files are freed after the watch, by
``let_go`` (200 releases of 50 files due at once: their renames took until T + 2.7 s, the
purges and the sweeps waiting for them). A file system that refuses a second name costs only
that speed.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import hashlib
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, ParamSpec, TypeVar

from onthedot.adapters import AdapterURL
from onthedot.errors import AdapterURLError, ConfigError, TargetError, TargetUnreachable
from onthedot.publish.targets.base import (
    CHUNK,
    Staged,
    Target,
    Upload,
    all_or_first_failure,
    changed_since_loaded,
    check_path,
    later_than,
    unreadable,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

STAGING_THREADS = 4
"""A release's files are copied by at most this many worker threads at once, each taking a run
of them: 200 releases of 50 files staged at once were 20,000 hops between the event loop and the
threads (a hash, then a copy, of each file), now at most 800."""
FILE_THREADS = 4
"""The file target's own worker threads: its staging, flips and reads wait for one another,
never for (nor hold up) what runs in the loop's default threads."""
_P = ParamSpec("_P")
_R = TypeVar("_R")


class FileTarget(Target):
    """file:///var/www"""

    scheme: ClassVar[str] = "file"
    title: ClassVar[str] = "local web root"
    docs: ClassVar[str] = "https://docs.python.org/3/library/os.html#os.replace"
    required: ClassVar[tuple[str, ...]] = ("path",)
    stages_outside: ClassVar[bool] = True

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        if self.parsed.host not in (None, "", "localhost"):
            raise AdapterURLError(
                f"{self.url()} names another host: a file:// target must be local, like "
                "file:///var/www (use sftp:// or ftp:// for a remote server)."
            )
        self.root = Path(self.parsed.path)
        self._check_same_file_system()
        self._threads: ThreadPoolExecutor | None = None

    async def _in_thread(
        self, func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        """``func(*args)`` in one of the target's own worker threads (made at its first use, as
        ``asyncio`` is loaded: ``onthedot check`` waits for nothing), as ``asyncio.to_thread``."""
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        if self._threads is None:
            self._threads = ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="onthedot-file")
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def aclose(self) -> None:
        """End the worker threads, once what they were given is done (as ``asyncio.run`` waits
        for the default ones): no file I/O outlives the target. The next makes new ones."""
        import asyncio

        threads, self._threads = self._threads, None
        if threads is not None:
            await asyncio.to_thread(threads.shutdown)

    @property
    def served_root(self) -> str:
        return str(self.root)

    def _remote(self, path: str) -> str:
        return str(self.root / path.lstrip("/"))

    def _local(self, path: str) -> Path:
        return Path(self._remote(path))

    def _check_same_file_system(self) -> None:
        """A staging folder must be on the web root's file system, or the flip is no rename."""
        if self.staging is None:
            return
        if _device(Path(self.staging)) != _device(self.root):
            raise ConfigError(
                f"The staging folder {self.staging} is on another file system than the web root "
                f"{self.root}, so the flip at T could not be one atomic rename: set staging= on "
                "the target to a folder on the web root's file system."
            )

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise TargetUnreachable(
                f"The web root {self.root} does not exist or is not a directory: check [site] target "
                "or mount it; nothing was published."
            )

    async def stage(self, path: str, local_file: Path, sha256: str, token: str) -> Staged:
        """As ``Target.stage``; the file is hashed as it is copied (read once, in one thread)."""
        (staged,) = await self.stage_all([(path, local_file, sha256)], token)
        return staged

    async def stage_all(self, uploads: Sequence[Upload], token: str) -> list[Staged]:
        """As ``Target.stage_all``, in at most ``STAGING_THREADS`` runs of files, each copied in
        one worker thread: a few hops to a thread per release, not two per file. Cancelled (the
        lead lost), the runs are told to stop, between files and between a file's chunks, and
        waited for: no thread writes a copy once this has ended (a new leader may stage under
        the same token)."""
        import asyncio  # (as ``_in_thread``: loaded by the first file I/O, not by the import)

        size = max(1, -(-len(uploads) // STAGING_THREADS))  # (none: no run)
        runs = [uploads[i : i + size] for i in range(0, len(uploads), size)]
        stop = threading.Event()
        ended = asyncio.ensure_future(
            all_or_first_failure(self._in_thread(self._stage_run, run, token, stop) for run in runs)
        )
        try:
            done = await asyncio.shield(ended)
        except asyncio.CancelledError:
            stop.set()
            await asyncio.wait([ended])  # (which does not cancel what it waits for)
            if not ended.cancelled():
                ended.exception()  # (a failure of a run cancelled is nobody's to report)
            raise
        return [staged for run in done for staged in run]

    def _stage_run(
        self, uploads: Sequence[Upload], token: str, stop: threading.Event
    ) -> list[Staged]:
        locations = [self.staged_location(check_path(path), token) for path, _, _ in uploads]
        self._check_root()
        self._check_same_file_system()
        made: set[Path] = set()
        staged = []
        for (path, local_file, sha256), location in zip(uploads, locations, strict=True):
            if stop.is_set():
                break
            dest, final = Path(self._placed(location)), self._local(path)
            needed: tuple[tuple[Path, Callable[[Path], None]], ...]
            if self.staging is None:  # beside the final path, which is dest's folder too
                needed = ((final.parent, self._make_folder),)
            else:  # the final folder is made at the flip (``_make_final_folder``)
                needed = ((dest.parent, self._make_staging_folder), (final.parent, self._makeable))
            for folder, ready in needed:
                if folder not in made:
                    ready(folder)
                    made.add(folder)
            size = self._copy(local_file, dest, sha256, stop)
            if size is None:
                break
            _ready_to_replace(final, dest)
            staged.append(Staged(path, token, location, sha256, size))
        return staged

    def _make_folder(self, folder: Path) -> None:
        try:
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        except OSError as exc:
            raise self.os_error(exc, f"creating the folder {folder}") from exc

    def _make_staging_folder(self, folder: Path) -> None:
        """The staging folder, made 0700 (whatever the umask) if it is missing: only the service's
        user can list it or open the copies in it. One that is there keeps its mode."""
        if folder.is_dir():
            return
        try:
            folder.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
        except FileExistsError as exc:
            if not folder.is_dir():
                raise self.os_error(exc, f"creating the folder {folder}") from exc
            # (made by another run of this staging, which gives it its mode)
        except OSError as exc:
            raise self.os_error(exc, f"creating the folder {folder}") from exc

    def _makeable(self, folder: Path) -> None:
        """Raise now what making ``folder`` at the flip would: a file where a folder is wanted,
        or a folder the service's user cannot write in (``_make_final_folder``)."""
        for existing in (folder, *folder.parents):
            if existing.is_dir():
                break
            if os.path.lexists(existing):
                found = OSError(errno.EEXIST, os.strerror(errno.EEXIST))
                raise self.os_error(found, f"creating the folder {folder}")
        else:
            return
        if existing != folder and not os.access(existing, os.W_OK | os.X_OK):
            refused = OSError(errno.EACCES, os.strerror(errno.EACCES))
            raise self.os_error(refused, f"creating the folder {folder}")

    def _make_final_folder(self, folder: Path) -> list[Path]:
        """Make ``folder`` in the web root, and its missing parents, mode 0755 (as while staging
        beside the final path): the folders made, whose parents are then to be fsynced."""
        missing = []
        for candidate in (folder, *folder.parents):
            if candidate.is_dir():
                break
            missing.append(candidate)
        made = []
        for each in reversed(missing):
            try:
                each.mkdir(mode=0o755)
            except FileExistsError as exc:
                if not each.is_dir():
                    raise self.os_error(exc, f"creating the folder {each}") from exc
                continue
            except OSError as exc:
                raise self.os_error(exc, f"creating the folder {each}") from exc
            made.append(each)
        return made

    def _copy(self, source: Path, dest: Path, sha256: str, stop: threading.Event) -> int | None:
        """Copy ``source`` to ``dest`` (fsynced), hashing what is copied: its size, or a
        ConfigError when it is not the file the release was loaded with (``dest`` removed);
        None, ``dest`` removed, when ``stop`` is set before it is copied or between chunks."""
        try:
            src = source.open("rb")
        except OSError as exc:
            raise unreadable(source, exc) from exc
        with src:
            try:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            except OSError as exc:
                raise self.os_error(exc, f"creating {dest}") from exc
            digest, copied = hashlib.sha256(), 0
            try:
                with os.fdopen(fd, "wb") as out:
                    os.fchmod(out.fileno(), 0o644)
                    while not stop.is_set() and (chunk := src.read(CHUNK)):
                        digest.update(chunk)
                        out.write(chunk)
                        copied += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                written = dest.stat().st_size
            except OSError as exc:
                dest.unlink(missing_ok=True)
                raise self.os_error(exc, f"writing {dest}") from exc
        if stop.is_set():
            dest.unlink(missing_ok=True)
            return None
        if digest.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise changed_since_loaded(source, digest.hexdigest(), sha256)
        if written != copied:
            dest.unlink(missing_ok=True)
            raise self.size_mismatch(str(dest), copied, written)
        return copied

    async def flip(self, staged: Staged) -> None:
        """As ``Target.flip``, in one worker call (``flip_all`` of one)."""
        await self.flip_all([staged])

    async def flip_all(self, staged: Sequence[Staged]) -> None:
        """As ``Target.flip_all``, in one worker call: every copy renamed into place, in the order
        given, then each destination folder fsynced once (10,000 files due at T were 10,000
        worker calls and as many folder fsyncs, queued on the loop's shared threads)."""
        if staged:
            await self._in_thread(self._flip_run, staged)

    def _flip_run(self, staged: Sequence[Staged]) -> None:
        """Rename each copy (each tried, whatever the others do), its final folder made first if
        missing (with a staging folder, the release's folders appear only now), fsync the folders
        that changed; the first failure raised after. A copy already gone is fine when its bytes are in place
        (a flip done before a crash), as ``Target.flip`` says."""
        self._check_root()
        failures: list[TargetError] = []
        folders: dict[Path, None] = {}  # (in order, once each)
        ready: set[Path] = set()
        for item in staged:
            source, dest = Path(self._placed(item.location)), self._local(item.path)
            try:
                if dest.parent not in ready:
                    for made in self._make_final_folder(dest.parent):
                        folders[made.parent] = None
                    ready.add(dest.parent)
                if self._replace(source, dest):
                    folders[dest.parent] = None
                elif self._hash(dest) != item.sha256:
                    failures.append(self._not_staged(item))
            except TargetError as exc:
                failures.append(exc)
        for folder in folders:
            _fsync_dir(folder)
        if failures:
            raise failures[0]

    def _replace(self, source: Path, dest: Path) -> bool:
        """Rename ``source`` to ``dest``: True, or False when ``source`` is not there."""
        try:
            os.replace(source, dest)
        except FileNotFoundError as exc:
            if not source.exists():
                return False
            raise self.os_error(exc, f"moving {source} to {dest}") from exc
        except OSError as exc:
            raise self.os_error(exc, f"moving {source} to {dest}") from exc
        return True

    async def _remove(self, location: str) -> None:
        copy = Path(self._placed(location))
        await self._in_thread(self._unlink_all, [copy, _kept_name(copy)])

    async def let_go(self, staged: Sequence[Staged]) -> None:
        """As ``Target.let_go``: the second names given while staging removed (``_kept_name``),
        in one worker call; a failure only logged (the old files then stay until the next run
        lets go of them, or the copies are discarded)."""
        if staged:
            kept = [_kept_name(Path(self._placed(s.location))) for s in staged]
            try:
                await self._in_thread(self._unlink_all, kept)
            except TargetError as exc:
                from onthedot import logs  # (not loaded by ``onthedot check``, which asks this
                # class only where it stages)

                logs.get_logger("onthedot.targets.file").warning(
                    "replaced files not let go of", target=self.url(), error=str(exc)
                )

    def _unlink_all(self, files: Sequence[Path]) -> None:
        for file in files:
            self._unlink(file)

    def _unlink(self, file: Path) -> None:
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            if not os.path.lexists(file):  # (a read-only file system says so even for none)
                return
            raise self.os_error(exc, f"removing {file}") from exc

    async def read_staged(self, staged: Staged) -> AsyncIterator[bytes]:
        file = Path(self._placed(staged.location))
        try:
            handle = await self._in_thread(file.open, "rb")
        except FileNotFoundError as exc:
            raise TargetError(
                f"The staged copy of {staged.path} is no longer on {self.url()}: stage the "
                "release again."
            ) from exc
        except OSError as exc:
            raise self.os_error(exc, f"reading {file}") from exc
        with handle:
            while chunk := await self._in_thread(handle.read, CHUNK):
                yield chunk

    async def _read_sha256(self, path: str) -> str | None:
        return await self._in_thread(self._hash, self._local(path))

    def _hash(self, file: Path) -> str | None:
        self._check_root()
        digest = hashlib.sha256()
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self.os_error(exc, f"reading {file}") from exc
        return digest.hexdigest()


def _device(path: Path) -> int | None:
    """The file system (device) ``path`` is on, or would be on once made: its nearest existing
    ancestor's (None when nothing of it exists)."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_dev
        except OSError:
            continue
    return None


def _kept_name(copy: Path) -> Path:
    """The second name of the file the staged ``copy`` replaces at the flip: beside the copy
    (hidden, as the copy is), so on the same file system."""
    return copy.with_name(f"{copy.name}-replaced")


def _ready_to_replace(final: Path, copy: Path) -> None:
    """Ready ``copy`` to replace the file at ``final``, if a regular file is there: give the copy
    a modification time later than that file's (``later_than``), and that file the second name
    ``_kept_name(copy)`` in place of any it had. What cannot be done is left (a file system
    without second names only loses the speed; the file may just have gone)."""
    try:
        replaced = os.lstat(final)
    except OSError:
        return
    if not stat.S_ISREG(replaced.st_mode):
        return
    with contextlib.suppress(OSError):
        later = later_than(os.stat(copy).st_mtime, replaced.st_mtime)
        if later is not None:
            os.utime(copy, (later, later))
    kept = _kept_name(copy)
    with contextlib.suppress(OSError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(kept)
        os.link(final, kept, follow_symlinks=False)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
