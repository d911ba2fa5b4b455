"""Every publish target through the same cases, against real servers (memory/webhook: fakes)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncssh
import httpx
import pytest

from onthedot.adapters import create
from onthedot.errors import (
    AdapterURLError,
    ConfigError,
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.targets import Staged, Target
from onthedot.publish.targets import file as file_target
from tests.publish.conftest import TARGET_KINDS, TargetEnv, artefact, mounted, read_only
from tests.servers import Nginx
from tests.servers.plugin import StartServer

PATH = "/statistics/fatalquarterly.xlsx"
pytestmark = [pytest.mark.services, pytest.mark.timeout(60)]
each_target = pytest.mark.parametrize("target_env", TARGET_KINDS, indirect=True)


def target_of(url: str) -> Target:
    target = create("target", url)
    assert isinstance(target, Target)
    return target


@each_target
async def test_stage_then_flip_puts_the_bytes_at_the_path(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    local, sha = artefact(tmp_path)
    async with target_of(target_env.url) as target:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert staged.location != PATH and "/.onthedot-" in staged.location
        assert staged.size == local.stat().st_size
        assert await target.fetch_sha256(PATH) is None  # nothing live before the flip
        await target.flip(staged)
        assert await target.fetch_sha256(PATH) == sha
    if target_env.disk is not None:
        assert (target_env.disk / PATH.lstrip("/")).read_bytes() == local.read_bytes()
        assert not (target_env.disk / staged.location.lstrip("/")).exists()


@each_target
async def test_stage_all_stages_every_file_in_order_and_refuses_a_changed_one(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    files = [artefact(tmp_path, 500 + n, f"t{n}.csv") for n in range(9)]
    paths = [f"/statistics/many/t{n}.csv" for n in range(9)]
    uploads = [(path, local, sha) for path, (local, sha) in zip(paths, files, strict=True)]
    async with target_of(target_env.url) as target:
        assert await target.stage_all([], secrets.token_hex(16)) == []  # (a release of pages)
        staged = await target.stage_all(uploads, secrets.token_hex(16))
        assert [s.path for s in staged] == paths
        assert [s.size for s in staged] == [500 + n for n in range(9)]
        await asyncio.gather(*(target.flip(s) for s in staged))
        assert [await target.fetch_sha256(p) for p in paths] == [sha for _, sha in files]
        changed = [*uploads[:4], (uploads[4][0], uploads[4][1], "0" * 64), *uploads[5:]]
        with pytest.raises(ConfigError, match=r"t4\.csv changed after the release was loaded"):
            await target.stage_all(changed, secrets.token_hex(16))


@each_target
async def test_flip_is_idempotent_and_replaces_an_older_file(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    old, old_sha = artefact(tmp_path, 1000, "old.xlsx")
    new, new_sha = artefact(tmp_path, 3000, "new.xlsx")
    async with target_of(target_env.url) as target:
        await target.flip(await target.stage(PATH, old, old_sha, secrets.token_hex(16)))
        staged = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        assert await target.fetch_sha256(PATH) == old_sha  # still the old one until the flip
        await target.flip(staged)
        await target.flip(staged)  # again: the staged copy is gone, the bytes are there: quiet
        assert await target.fetch_sha256(PATH) == new_sha


@pytest.mark.parametrize("target_env", ["file", "ftp", "sftp"], indirect=True)
@pytest.mark.parametrize("old_from_now_s", [0, 30, -3600], ids=["same-second", "later", "older"])
async def test_a_cache_revalidating_the_old_file_is_not_told_the_new_one_is_unchanged(
    target_env: TargetEnv,
    old_from_now_s: int,
    tmp_path: Path,
    start_server: StartServer,
) -> None:
    """nginx's validators are the file's modification time (in seconds) and size: a new version
    of the same size written in the same second as the old (or earlier than it) would keep the
    old one's, and a cache or browser asking whether its old copy is still good (If-None-Match,
    If-Modified-Since) would be told "not modified" (Varnish kept the old file so, after a
    purge). The staged copy is given a time later than the file it replaces, where it has not one
    already."""
    assert target_env.disk is not None
    origin = start_server(Nginx(target_env.disk))
    old, old_sha = artefact(tmp_path, 3000, "old.xlsx")
    new, new_sha = artefact(tmp_path, 3000, "new.xlsx")  # the same size
    on_disk = target_env.disk / PATH.lstrip("/")
    async with target_of(target_env.url) as target, httpx.AsyncClient() as http:
        await target.flip(await target.stage(PATH, old, old_sha, secrets.token_hex(16)))
        old_time = int(time.time()) + old_from_now_s
        os.utime(on_disk, (old_time, old_time))
        before = (await http.get(origin.url + PATH)).headers
        staged = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        await target.flip(staged)
        after = await http.get(
            origin.url + PATH,
            headers={
                "If-None-Match": before["etag"],
                "If-Modified-Since": before["last-modified"],
            },
        )
    assert after.status_code == 200 and after.content == new.read_bytes()
    assert after.headers["etag"] != before["etag"]
    new_time = on_disk.stat().st_mtime
    if old_from_now_s > 0:  # not later: moved to a second after the old file's
        assert new_time == old_time + 1
    elif old_from_now_s < 0:  # later already: left as it was written
        assert time.time() - 60 < new_time <= time.time()
    else:  # (the same second: a second later, or later still if staged in the next one)
        assert old_time + 1 <= new_time <= time.time() + 1


@each_target
async def test_discard_removes_the_staged_copy(target_env: TargetEnv, tmp_path: Path) -> None:
    local, sha = artefact(tmp_path)
    async with target_of(target_env.url) as target:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        await target.discard(staged)
        await target.discard(staged)  # idempotent
        with pytest.raises(TargetError, match="stage the artefact again"):
            await target.flip(staged)
        assert await target.fetch_sha256(PATH) is None


@each_target
async def test_wrong_credentials_are_a_clear_auth_error(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    if target_env.wrong_credentials is None:
        pytest.skip(f"{target_env.kind} has no credentials to get wrong here (moto accepts any)")
    local, sha = artefact(tmp_path)
    async with target_of(target_env.wrong_credentials) as target:
        with pytest.raises(TargetAuthError) as caught:
            await target.stage(PATH, local, sha, secrets.token_hex(16))
    message = str(caught.value)
    assert "check" in message
    assert all(secret not in message for secret in [*target_env.secrets, "wrong-password"])


@each_target
async def test_unreachable_target_is_a_clear_error(target_env: TargetEnv, tmp_path: Path) -> None:
    if target_env.kind == "memory":
        pytest.skip("an in-memory target is always reachable")
    local, sha = artefact(tmp_path)
    async with target_of(target_env.unreachable) as target:
        with pytest.raises(TargetUnreachable) as caught:
            await target.stage(PATH, local, sha, secrets.token_hex(16))
    assert "nothing was published" in str(caught.value)


@each_target
async def test_permission_denied_is_a_clear_error(target_env: TargetEnv, tmp_path: Path) -> None:
    if target_env.disk is None:
        pytest.skip(f"{target_env.kind}: no server-side file system to make read-only here")
    local, sha = artefact(tmp_path)
    (target_env.disk / "statistics").mkdir()
    with read_only(target_env.disk / "statistics"):
        async with target_of(target_env.url) as target:
            with pytest.raises(TargetPermissionError) as caught:
                await target.stage(PATH, local, sha, secrets.token_hex(16))
    assert "access" in str(caught.value) or "writable" in str(caught.value)
    assert not (target_env.disk / PATH.lstrip("/")).exists()


@pytest.mark.parametrize("target_env", ["ftp", "ftps", "sftp"], indirect=True)
async def test_server_killed_mid_upload_leaves_nothing_at_the_path(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    assert target_env.disk is not None and target_env.server is not None
    local, sha = artefact(tmp_path, 96 * 1024 * 1024, "big.xlsx")
    url = target_env.url + ("&timeout=5" if "?" in target_env.url else "?timeout=5")
    async with target_of(url) as target:
        upload = asyncio.create_task(target.stage(PATH, local, sha, secrets.token_hex(16)))
        statistics = target_env.disk / "statistics"
        for _ in range(4000):  # until the staged file is half-written
            partial = [p for p in statistics.glob(".onthedot-*")] if statistics.exists() else []
            if (partial and partial[0].stat().st_size > 1024 * 1024) or upload.done():
                break
            await asyncio.sleep(0.002)
        assert not upload.done(), "the upload finished before the server could be killed"
        await asyncio.to_thread(target_env.server.stop)
        with pytest.raises(TargetError) as caught:
            await upload
    assert "nothing was published" in str(caught.value)
    assert not (target_env.disk / PATH.lstrip("/")).exists()


async def test_disk_full_is_a_clear_error_and_leaves_no_partial_file(tmp_path: Path) -> None:
    local, sha = artefact(tmp_path, 2 * 1024 * 1024)
    root = tmp_path / "www"
    with mounted(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], root):
        async with target_of(f"file://{root}") as target:
            with pytest.raises(TargetSpaceError, match="free space"):
                await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert list((root / "statistics").iterdir()) == []


async def test_file_target_goes_live_on_nginx_only_at_the_flip(
    webroot: Path, origin: object, tmp_path: Path
) -> None:
    local, sha = artefact(tmp_path)
    base = origin.url  # type: ignore[attr-defined]
    async with target_of(f"file://{webroot}") as target, httpx.AsyncClient() as http:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert (await http.get(base + PATH)).status_code == 404
        await target.flip(staged)
        response = await http.get(base + PATH)
    assert response.status_code == 200 and response.content == local.read_bytes()


async def test_the_file_target_stages_a_release_in_a_few_hops_to_a_thread_reading_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 releases of 50 files staged at once were 20,000 hops between the event loop and the
    threads (each file hashed, then copied): now a few per release, each file hashed as copied."""
    hops: list[str] = []
    real = file_target.FileTarget._in_thread

    async def counting(
        self: file_target.FileTarget, func: Callable[..., Any], /, *args: Any
    ) -> Any:
        hops.append(func.__name__)
        return await real(self, func, *args)

    monkeypatch.setattr(file_target.FileTarget, "_in_thread", counting)
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(50)]
    uploads = [(f"/statistics/t{n}.csv", local, sha) for n, (local, sha) in enumerate(files)]
    (tmp_path / "www").mkdir()
    async with target_of(f"file://{tmp_path}/www") as target:
        staged = await target.stage_all(uploads, secrets.token_hex(16))
    assert len(hops) <= file_target.STAGING_THREADS
    assert [(tmp_path / "www" / s.location.lstrip("/")).read_bytes() for s in staged] == [
        local.read_bytes() for local, _ in files
    ]
    path, changed, sha = uploads[0]
    changed.write_bytes(b"x" * 100)  # other bytes, the same size, than it was loaded with
    async with target_of(f"file://{tmp_path}/www") as target:
        with pytest.raises(ConfigError, match=r"t0\.csv changed after the release was loaded"):
            await target.stage(path, changed, sha, "t" * 16)
        refused = tmp_path / "www" / target.staged_location(path, "t" * 16).lstrip("/")
    assert not refused.exists()  # (copied while hashed, then removed)


async def test_the_file_target_flips_a_release_in_one_worker_call_fsyncing_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 releases of 50 files due at T were 10,000 worker calls on the loop's threads, each
    fsyncing its folder: the last release was in place seconds late. Now one call a release,
    renaming in order, then one fsync of each folder the renames changed."""
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(50)]
    uploads = [
        (f"/statistics/{'a' if n < 30 else 'b'}/t{n}.csv", local, sha)
        for n, (local, sha) in enumerate(files)
    ]
    www = tmp_path / "www"
    www.mkdir()
    async with target_of(f"file://{www}") as target:
        staged = await target.stage_all(uploads, secrets.token_hex(16))
        hops: list[str] = []
        real_in_thread, real_fsync = file_target.FileTarget._in_thread, os.fsync
        synced: list[str] = []

        async def counting(
            self: file_target.FileTarget, func: Callable[..., Any], /, *args: Any
        ) -> Any:
            hops.append(func.__name__)
            return await real_in_thread(self, func, *args)

        def fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        monkeypatch.setattr(file_target.FileTarget, "_in_thread", counting)
        monkeypatch.setattr(os, "fsync", fsync)
        await target.flip_all(staged)
        assert len(hops) == 1
        assert sorted(synced) == [str(www / "statistics/a"), str(www / "statistics/b")]
        assert [(www / path.lstrip("/")).read_bytes() for path, _, _ in uploads] == [
            local.read_bytes() for local, _ in files
        ]
        assert not list(www.rglob(".onthedot-*"))
        await target.flip_all(staged)  # again (a crash after the flip): in place, quiet, no fsync
        assert len(hops) == 2 and len(synced) == 2


@pytest.mark.parametrize("outside", [False, True], ids=["beside", "staging-folder"])
async def test_the_file_target_keeps_each_file_a_copy_replaces_until_it_lets_go(
    tmp_path: Path, outside: bool
) -> None:
    """A rename over a file frees that file's blocks in the rename (eight times slower than one
    that only changes names, measured at T with 200 releases due): while staging, each file a
    copy will replace gets a second, hidden name, so the flip only renames; the old file is let
    go of after the watch (or with its copy, when the copy is discarded), leaving nothing."""
    www, stage_in = tmp_path / "www", tmp_path / "staging"
    (www / "statistics").mkdir(parents=True)
    final = www / PATH.lstrip("/")
    final.write_bytes(b"the old version")
    new, new_sha = artefact(tmp_path, 3000, "new.xlsx")
    url = f"file://{www}" + (f"?staging={stage_in}" if outside else "")
    hidden = (stage_in if outside else final.parent).glob
    async with target_of(url) as target:
        staged = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        (kept,) = [p for p in hidden(".onthedot-*") if p.name.endswith("-replaced")]
        assert final.stat().st_nlink == 2 and kept.samefile(final)
        await target.flip_all([staged])
        assert final.read_bytes() == new.read_bytes()
        assert kept.read_bytes() == b"the old version" and kept.stat().st_nlink == 1
        await target.let_go([staged])
        await target.let_go([staged])  # idempotent
        assert not list(tmp_path.rglob(".onthedot-*"))
        again = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        assert final.stat().st_nlink == 2  # (the new version, kept in turn)
        await target.discard(again)
        assert not list(tmp_path.rglob(".onthedot-*")) and final.stat().st_nlink == 1
        assert final.read_bytes() == new.read_bytes()


async def test_a_file_the_file_target_cannot_give_a_second_name_is_still_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file system refuses a second name (or the old file is not a plain file), the
    copy is staged and flipped all the same: only the rename at T is slower."""
    www = tmp_path / "www"
    (www / "statistics").mkdir(parents=True)
    final = www / PATH.lstrip("/")
    final.write_bytes(b"the old version")
    new, new_sha = artefact(tmp_path, 3000, "new.xlsx")

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    async with target_of(f"file://{www}") as target:
        staged = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        assert final.stat().st_nlink == 1
        await target.flip_all([staged])
        await target.let_go([staged])
        assert final.read_bytes() == new.read_bytes()
        assert not list(tmp_path.rglob(".onthedot-*"))


async def test_the_file_target_works_in_threads_of_its_own_not_the_resolvers(
    tmp_path: Path,
) -> None:
    """The loop's default threads also resolve the sweeps' host names: a release staged, flipped
    and read through the file target gives them nothing to do, and its threads end with it."""
    given: list[str] = []

    class Default(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            given.append(getattr(fn, "__name__", repr(fn)))
            return super().submit(fn, *args, **kwargs)

    asyncio.get_running_loop().set_default_executor(Default(2))
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(5)]
    uploads = [(f"/statistics/t{n}.csv", local, sha) for n, (local, sha) in enumerate(files)]
    (tmp_path / "www").mkdir()
    async with target_of(f"file://{tmp_path}/www") as target:
        staged = await target.stage_all(uploads, secrets.token_hex(16))
        await target.flip_all(staged)
        assert await target.fetch_sha256(uploads[0][0]) == uploads[0][2]
        assert given == []
        assert [t for t in threading.enumerate() if t.name.startswith("onthedot-file")]
    assert not [t for t in threading.enumerate() if t.name.startswith("onthedot-file")]


async def test_a_file_flip_tries_every_copy_and_then_names_the_first_it_could_not_place(
    tmp_path: Path,
) -> None:
    """A copy gone with other bytes in place fails the flip, but only once every other copy has
    been renamed (as when each file was flipped on its own) and the flip can be retried."""
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(5)]
    uploads = [(f"/statistics/t{n}.csv", local, sha) for n, (local, sha) in enumerate(files)]
    www = tmp_path / "www"
    www.mkdir()
    async with target_of(f"file://{www}") as target:
        staged = await target.stage_all(uploads, secrets.token_hex(16))
        (www / staged[1].location.lstrip("/")).unlink()
        with pytest.raises(TargetError, match=r"staged copy of /statistics/t1\.csv is not on"):
            await target.flip_all(staged)
        placed = [n for n in range(5) if (www / f"statistics/t{n}.csv").exists()]
    assert placed == [0, 2, 3, 4]


async def test_a_cancelled_file_staging_writes_nothing_once_it_has_ended(tmp_path: Path) -> None:
    """The lead lost while a release is staged: its worker threads stop between files, and the
    staging ends only once they have, so a new leader staging under the same token is not
    overwritten by an old thread. The first file of the first run is a pipe, fed only after the
    cancel, so that run is copying when it comes."""
    fed = b"fed after the cancel\n"
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(159)]
    uploads = [("/statistics/pipe.csv", pipe, hashlib.sha256(fed).hexdigest())]
    uploads += [(f"/statistics/t{n}.csv", local, sha) for n, (local, sha) in enumerate(files)]
    www = tmp_path / "www"
    www.mkdir()
    async with target_of(f"file://{www}") as target:
        staging = asyncio.create_task(target.stage_all(uploads, secrets.token_hex(16)))
        feeder = await asyncio.to_thread(pipe.open, "wb")  # (opened once the run has opened it)
        staging.cancel()
        with feeder:
            feeder.write(fed)
        await asyncio.gather(staging, return_exceptions=True)
        when_ended = sorted(www.rglob(".*"))
    assert not [t for t in threading.enumerate() if t.name.startswith("onthedot-file")]
    assert staging.cancelled()
    assert sorted(www.rglob(".*")) == when_ended
    assert len(when_ended) < len(uploads)


async def test_a_folder_the_file_target_cannot_make_is_named(tmp_path: Path) -> None:
    local, sha = artefact(tmp_path)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "statistics").write_bytes(b"a file where a folder is wanted")
    async with target_of(f"file://{tmp_path}/www") as target:
        with pytest.raises(TargetError, match=r"creating the folder \S*/www/statistics\b"):
            await target.stage(PATH, local, sha, secrets.token_hex(16))


@pytest.mark.parametrize("target_env", ["sftp"], indirect=True)
async def test_the_sftp_target_stages_many_files_at_once_over_one_connection(
    target_env: TargetEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[object] = []
    real = asyncssh.connect

    async def counting(*args: Any, **kwargs: Any) -> Any:
        connections.append(await real(*args, **kwargs))
        return connections[-1]

    monkeypatch.setattr(asyncssh, "connect", counting)
    files = [artefact(tmp_path, 100 + n, f"t{n}.csv") for n in range(9)]
    uploads = [(f"/statistics/t{n}.csv", local, sha) for n, (local, sha) in enumerate(files)]
    async with target_of(target_env.url) as target:
        await target.stage_all(uploads, secrets.token_hex(16))
    assert len(connections) == 1  # (was one per file, all but one left open)


class Relay:
    """A TCP relay to ``to``: ``hush`` makes the connections open now go silent (nothing passes
    either way, nothing is closed: a firewall that dropped an idle connection); later ones pass."""

    def __init__(self, to: tuple[str, int]) -> None:
        self._to = to
        self._open: list[asyncio.Event] = []
        self._passing: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._pass, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for passing in self._passing:
            passing.cancel()
        await asyncio.gather(*self._passing, return_exceptions=True)

    def hush(self) -> None:
        for going in self._open:
            going.clear()

    async def _pass(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        going = asyncio.Event()
        going.set()
        self._open.append(going)
        passing = asyncio.current_task()
        assert passing is not None
        self._passing.add(passing)
        up_reader, up_writer = await asyncio.open_connection(*self._to)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if not going.is_set():
                    await asyncio.Event().wait()  # (silent for good: the peer hears nothing)
                sink.write(data)
                await sink.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for each in (writer, up_writer):
                each.close()
                with contextlib.suppress(ConnectionError):
                    await each.wait_closed()


@pytest.mark.parametrize("target_env", ["sftp"], indirect=True)
async def test_the_sftp_flip_does_not_wait_for_a_connection_dropped_while_idle(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    from onthedot.publish.targets.sftp import CHECK_S

    local, sha = artefact(tmp_path)
    parts = urlsplit(target_env.url)
    assert parts.hostname is not None and parts.port is not None
    async with Relay((parts.hostname, parts.port)) as relay:
        query = dict(parse_qsl(parts.query))
        known = Path(query["known_hosts"]).read_text(encoding="utf-8")  # (keys are by port)
        (tmp_path / "known_hosts").write_text(
            known.replace(f":{parts.port} ", f":{relay.port} "), encoding="utf-8"
        )
        query["known_hosts"] = str(tmp_path / "known_hosts")
        relayed = urlunsplit(
            parts._replace(
                netloc=f"{parts.username}@127.0.0.1:{relay.port}", query=urlencode(query)
            )
        )
        async with target_of(relayed) as target:
            staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
            relay.hush()  # (staged an hour before T, the connection since dropped in silence)
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(CHECK_S + 10):  # (without the bound: until TCP gives up)
                await target.flip(staged)
            took = asyncio.get_running_loop().time() - started
    assert target_env.disk is not None
    assert (target_env.disk / PATH.lstrip("/")).read_bytes() == local.read_bytes()
    assert CHECK_S <= took  # (the silent session was given up, and a new one made)


async def test_stage_refuses_a_changed_local_file_and_bad_paths(tmp_path: Path) -> None:
    local, _ = artefact(tmp_path)
    target = target_of("memory://checks")
    with pytest.raises(ConfigError, match="changed after the release was loaded"):
        await target.stage(PATH, local, "0" * 64, secrets.token_hex(16))
    with pytest.raises(ConfigError, match="must start with /"):
        await target.fetch_sha256("../etc/passwd")
    with pytest.raises(ConfigError, match="token"):
        await target.stage(PATH, local, "0" * 64, "short")


@pytest.mark.parametrize(
    "url", ["file://otherhost/var/www", "ftp:///no-host", "s3:///", "sftp://host/x"]
)
def test_bad_target_urls_are_refused_with_an_example(url: str) -> None:
    with pytest.raises(AdapterURLError, match=r"write it like this|must be local"):
        create("target", url)


@pytest.mark.parametrize("login", ["anonymous@", "ftp@", ""])
async def test_anonymous_ftp_needs_no_password(
    anonymous_ftp_server: object, login: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ftp://anonymous@host/`` (or no user) logs in as every FTP client does, with no secret set."""
    for name in [n for n in os.environ if n.startswith("ONTHEDOT_SECRET")]:
        monkeypatch.delenv(name)
    server = anonymous_ftp_server
    local, sha = artefact(tmp_path)
    url = f"ftp://{login}{server.host}:{server.port}/"  # type: ignore[attr-defined]
    async with target_of(url) as target:
        await target.flip(await target.stage(PATH, local, sha, secrets.token_hex(16)))
        assert await target.fetch_sha256(PATH) == sha
    disk = server.root / PATH.lstrip("/")  # type: ignore[attr-defined]
    assert disk.read_bytes() == local.read_bytes()


async def test_a_named_ftp_user_still_needs_its_password(ftp_server: object) -> None:
    url = ftp_server.url_without_password  # type: ignore[attr-defined]
    async with target_of(url) as target:
        with pytest.raises(AdapterURLError, match="needs a password"):
            await target.fetch_sha256(PATH)


def _staging_outside(env: TargetEnv) -> str:
    """``env``'s target serving ``<its root>/www`` and staging in ``<its root>/staging``."""
    parts = urlsplit(env.url)
    base = parts.path.rstrip("/")
    query = [*parse_qsl(parts.query), ("staging", f"{base}/staging")]
    return urlunsplit(parts._replace(path=f"{base}/www/", query=urlencode(query)))


@pytest.mark.parametrize("target_env", ["file", "ftp", "ftps", "sftp", "s3"], indirect=True)
async def test_staging_outside_the_served_tree_still_flips_in_one_rename(
    target_env: TargetEnv, tmp_path: Path
) -> None:
    old, old_sha = artefact(tmp_path, 1000, "old.xlsx")
    new, new_sha = artefact(tmp_path, 3000, "new.xlsx")
    if target_env.disk is not None:
        (target_env.disk / "www").mkdir()
    async with target_of(_staging_outside(target_env)) as target:
        await target.flip(await target.stage(PATH, old, old_sha, secrets.token_hex(16)))
        staged = await target.stage(PATH, new, new_sha, secrets.token_hex(16))
        assert "/staging/.onthedot-" in staged.location
        assert target.public_path(staged) is None  # nothing the web server could hand out
        assert not target.stages_in_served_tree
        if target_env.disk is not None:
            served, staging = target_env.disk / "www", target_env.disk / "staging"
            copy = staged.location.rsplit("/", 1)[1]
            kept = [f"{copy}-replaced"] if target_env.kind == "file" else []  # (the old file)
            assert sorted(p.name for p in staging.iterdir()) == [copy, *kept]
            assert not list(served.rglob(".onthedot-*"))
        assert await target.fetch_sha256(PATH) == old_sha
        await target.flip(staged)
        await target.flip(staged)  # idempotent as ever
        assert await target.fetch_sha256(PATH) == new_sha
        await target.let_go([staged])
    if target_env.disk is not None:
        assert (target_env.disk / "www" / PATH.lstrip("/")).read_bytes() == new.read_bytes()
        assert list((target_env.disk / "staging").iterdir()) == []


def test_staging_inside_the_served_tree_is_known_and_has_a_public_path(tmp_path: Path) -> None:
    default = target_of(f"file://{tmp_path}/www")
    inside = target_of(f"file://{tmp_path}/www?staging={tmp_path}/www/.staging")
    staged = Staged(PATH, "t" * 16, inside.staged_location(PATH, "t" * 16), "0" * 64, 1)
    assert default.stages_in_served_tree and inside.stages_in_served_tree
    assert inside.public_path(staged) == "/.staging/" + staged.location.rsplit("/", 1)[1]


async def test_a_staging_folder_on_another_file_system_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "www").mkdir()
    with mounted(["-t", "tmpfs", "-o", "size=1m", "tmpfs"], tmp_path / "staging"):
        with pytest.raises(ConfigError, match=r"another file system.*set staging= on the target"):
            create("target", f"file://{tmp_path}/www?staging={tmp_path}/staging")


@pytest.mark.parametrize(
    "url", ["memory://x?staging=/s", "webhook+https://cms.example.org/hook?staging=/s"]
)
def test_targets_that_cannot_stage_elsewhere_refuse_staging(url: str) -> None:
    with pytest.raises(AdapterURLError, match="remove staging="):
        create("target", url)


@pytest.mark.parametrize("staging", ["relative/dir", "/srv/../www", "/srv/st%25aging"])
def test_a_staging_folder_must_be_a_plain_absolute_path(staging: str) -> None:
    with pytest.raises(AdapterURLError, match="set staging= on the target"):
        create("target", f"file:///srv/www?staging={staging}")
