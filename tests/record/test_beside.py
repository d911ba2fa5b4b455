"""A sweep's batches stored by a process of its own: all of them, in order, with the same
timeline; a store that fails stops the sweep with its error; a recorder that dies is reported;
a sweep that fails keeps what it handed over.

Each recorder is forked before the test opens the store (an SQLite connection must not cross a
fork); the test opens it after, to look."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.cli.common import run
from onthedot.errors import ProbeError, StoreError
from onthedot.model import CheckResult, Status
from onthedot.record import kinds
from onthedot.record.beside import Beside, Store
from onthedot.record.checks import CheckRecorder
from onthedot.record.timeline import Timeline
from onthedot.store.db import open_store
from onthedot.store.tables import checks

AT = dt.datetime(2026, 1, 7, 9, 30, 1, 250_000, tzinfo=dt.UTC)


def result(number: int, status: Status = Status.LIVE) -> CheckResult:
    return CheckResult(
        url=f"https://stats.example/f/{number}.csv",
        status=status,
        served_sha256="ab" * 32,
        expected_sha256="ab" * 32,
        diagnosis="The new version is live.",
        cache={"product": "varnish", "age": 12, "headers": {"age": "12", "x-cache": "HIT"}},
        checked_at=AT,
        http_status=200,
        timings={"first_byte": 0.0125, "total": 0.013},
    )


def opener(url: str, opened_by: Path | None = None) -> Store:
    """The store at ``url``; the process that opens it writes its id to ``opened_by``."""

    @asynccontextmanager
    async def store() -> AsyncIterator[AsyncEngine]:
        if opened_by is not None:  # (whole or not at all: the test reads it as it comes)
            writing = opened_by.with_suffix(".writing")
            writing.write_text(str(os.getpid()))
            writing.rename(opened_by)
        engine = await open_store(url)
        try:
            yield engine
        finally:
            await engine.dispose()

    return store


@asynccontextmanager
async def looking(url: str) -> AsyncIterator[AsyncEngine]:
    async with opener(url)() as engine:
        yield engine


async def stored(engine: AsyncEngine) -> list[CheckResult]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(checks.c.result).order_by(checks.c.id))
        return [CheckResult.model_validate(doc) for (doc,) in rows]


async def test_every_batch_is_stored_in_order_with_its_timeline_by_another_process(
    database_url: str, tmp_path: Path
) -> None:
    batches = [[result(n) for n in range(start, start + 700)] for start in (0, 700, 1400)]
    batches[1][5] = result(705, Status.STALE)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        for batch in batches:
            yield batch

    beside = Beside.start(opener(database_url, tmp_path / "pid"))
    await beside.record("r1", sweep())
    beside.close()  # (already ended: nothing left to do)
    assert int((tmp_path / "pid").read_text()) != os.getpid()
    async with looking(database_url) as engine:
        assert await stored(engine) == [r for batch in batches for r in batch]  # (as they were)
        events = await Timeline(engine).events("r1")
    assert [e.kind for e in events].count(kinds.VERIFY_RESULT) == 2100
    assert [e.kind for e in events].count(kinds.VERIFY_FIRST_LIVE) == 2099  # (one is stale)
    assert [e.seq for e in events] == list(range(1, 4200))
    assert events[0].data["timings"] == {"first_byte": 0.0125, "total": 0.013}
    with pytest.raises(ChildProcessError):
        os.waitpid(beside.pid, os.WNOHANG)  # the recorder has ended and been waited for


async def test_a_store_that_fails_stops_the_sweep_with_its_error(sqlite_url: str) -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[AsyncEngine]:
        raise StoreError("The store cannot be opened.")
        yield  # (never reached)

    ended_in, ended_out = os.pipe()  # the recorder holds a copy of ended_out until it ends
    beside = Beside.start(broken)
    os.close(ended_out)
    loop = asyncio.get_running_loop()
    recorder_ended = loop.create_future()

    def settle() -> None:
        if not recorder_ended.done():
            recorder_ended.set_result(None)

    loop.add_reader(ended_in, settle)
    pulled = 0

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        nonlocal pulled
        for number in range(100):
            pulled += 1
            yield [result(number)]
            await recorder_ended

    try:
        with pytest.raises(StoreError, match=r"^The store cannot be opened\.$"):
            await beside.record("r1", sweep())
    finally:
        loop.remove_reader(ended_in)
        os.close(ended_in)
    assert pulled < 5


async def test_a_recorder_that_dies_is_reported(sqlite_url: str) -> None:
    @asynccontextmanager
    async def dying() -> AsyncIterator[AsyncEngine]:
        os._exit(3)
        yield  # (never reached)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        for number in range(3):
            yield [result(number)]

    with pytest.raises(
        StoreError, match=r"stopped before it had stored them all \(what it had stored is kept\)"
    ):
        await Beside.start(dying).record("r1", sweep())


async def test_a_sweep_that_fails_keeps_what_it_handed_over(database_url: str) -> None:
    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0), result(1)]
        yield [result(2)]
        raise RuntimeError("the prober broke")

    with pytest.raises(RuntimeError, match="the prober broke"):
        await Beside.start(opener(database_url)).record("r1", sweep())
    async with looking(database_url) as engine:
        assert [r.url for r in await stored(engine)] == [result(n).url for n in range(3)]


async def test_the_recorder_opens_the_store_when_told_before_the_sweep_comes(
    database_url: str, tmp_path: Path
) -> None:
    async with looking(database_url):
        pass  # the command's own opening: made and migrated
    beside = Beside.start(opener(database_url, tmp_path / "pid"))
    beside.store_opened()
    for _ in range(500):  # (while the command reads its release)
        if (tmp_path / "pid").exists():
            break
        await asyncio.sleep(0.01)
    assert int((tmp_path / "pid").read_text()) == beside.pid  # opened before any sweep came

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(n) for n in range(3)]

    await beside.record("r1", sweep())
    async with looking(database_url) as engine:
        assert await stored(engine) == [result(n) for n in range(3)]
        assert len(await Timeline(engine).events("r1")) == 6


async def test_a_command_that_fails_after_opening_the_store_ends_its_recorder(
    sqlite_url: str,
) -> None:
    async with looking(sqlite_url):
        pass
    beside = Beside.start(opener(sqlite_url))
    beside.store_opened()
    beside.close()  # (the command failed reading its release: no sweep comes)
    with pytest.raises(ChildProcessError):
        os.waitpid(beside.pid, os.WNOHANG)
    async with looking(sqlite_url) as engine:
        assert await stored(engine) == []


async def test_a_command_that_fails_while_its_store_is_slow_to_open_does_not_wait_for_it() -> None:
    """Told the store is open, the recorder opens it too; should that take long (a store that does
    not answer), a command that then fails, or is interrupted, does not wait for the opening: the
    recorder has stored nothing and is stopped."""

    @asynccontextmanager
    async def never_open() -> AsyncIterator[AsyncEngine]:
        await asyncio.sleep(60)
        raise AssertionError("not reached")
        yield  # (an async generator)

    beside = Beside.start(never_open)
    beside.store_opened()
    started = asyncio.get_running_loop().time()
    beside.close()
    assert asyncio.get_running_loop().time() - started < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(beside.pid, os.WNOHANG)


async def test_a_command_that_fails_before_its_sweep_ends_its_recorder(
    sqlite_url: str, tmp_path: Path
) -> None:
    beside = Beside.start(opener(sqlite_url, tmp_path / "pid"))
    beside.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(beside.pid, os.WNOHANG)
    assert not (tmp_path / "pid").exists()  # (it never opened the store)


async def test_what_the_watch_recorded_is_taken_up_first(database_url: str) -> None:
    """A sweep after the watch's records every result, but on the timeline only the statuses that
    changed, and no URL's first sight of live again."""
    async with looking(database_url) as engine:
        await CheckRecorder(engine).record("r1", [result(0), result(1, Status.STALE), result(2)])
        before = await Timeline(engine).events("r1")

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0), result(1), result(2, Status.STALE)]

    await Beside.start(opener(database_url)).record("r1", sweep())
    async with looking(database_url) as engine:
        assert len(await stored(engine)) == 6
        added = (await Timeline(engine).events("r1"))[len(before) :]
    assert [(e.kind, e.data["url"]) for e in added] == [
        (kinds.VERIFY_RESULT, result(1).url),
        (kinds.VERIFY_FIRST_LIVE, result(1).url),
        (kinds.VERIFY_RESULT, result(2).url),
    ]


KILLED_MID_SWEEP = """
import asyncio, os, sys
from tests.record.test_beside import opener, result
from onthedot.record.beside import Beside

beside = Beside.start(opener(sys.argv[1]))

async def sweep():
    yield [result(0), result(1)]
    yield [result(2)]
    os.kill(os.getpid(), 9)  # the command is killed while the sweep goes on
    yield [result(3)]

asyncio.run(beside.record("r1", sweep()))
"""


async def test_a_command_killed_mid_sweep_keeps_what_reached_its_recorder(
    sqlite_url: str,
) -> None:
    ended_in, ended_out = os.pipe()  # the command and its recorder hold ended_out until they end
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_MID_SWEEP, sqlite_url, pass_fds=(ended_out,)
    )
    os.close(ended_out)
    with os.fdopen(ended_in, "rb") as ended:
        assert await asyncio.to_thread(ended.read) == b""  # (both have ended)
    assert await command.wait() == -9
    async with looking(sqlite_url) as engine:
        assert [r.url for r in await stored(engine)] == [result(n).url for n in range(3)]
        events = await Timeline(engine).events("r1")
    assert len(events) == 6  # (each result's status and first sight of live)


INTERRUPTED_MID_SWEEP = """
import asyncio, os, signal, sys
from tests.record.test_beside import opener, result
from onthedot.record.beside import Beside

signal.signal(signal.SIGINT, signal.default_int_handler)  # (as a terminal's command has it, even
# when this test runs where interrupts are ignored: in the background, under a CI runner)
beside = Beside.start(opener(sys.argv[1]))

async def sweep():
    yield [result(n) for n in range(0, 1500)]
    yield [result(n) for n in range(1500, 3000)]
    os.killpg(0, signal.SIGINT)  # Ctrl-C, which a terminal sends to every process of the command
    await asyncio.Event().wait()
    yield []

try:
    asyncio.run(beside.record("r1", sweep()))
except KeyboardInterrupt:
    sys.exit(130)
"""


async def test_a_command_interrupted_mid_sweep_still_stores_what_it_handed_over(
    sqlite_url: str,
) -> None:
    ended_in, ended_out = os.pipe()
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        INTERRUPTED_MID_SWEEP,
        sqlite_url,
        pass_fds=(ended_out,),
        start_new_session=True,  # (its own process group, as a terminal gives a command)
    )
    os.close(ended_out)
    with os.fdopen(ended_in, "rb") as ended:
        assert await asyncio.to_thread(ended.read) == b""
    assert await command.wait() == 130
    async with looking(sqlite_url) as engine:
        assert len(await stored(engine)) == 3000


async def ignoring(pid: int, signum: int) -> None:
    """Until the process ``pid`` ignores ``signum`` (its mask in /proc), for at most 5 s."""
    for _ in range(500):
        status = Path(f"/proc/{pid}/status").read_text()
        ignored = int(
            next(line for line in status.splitlines() if line.startswith("SigIgn:"))[7:], 16
        )
        if ignored & (1 << (signum - 1)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"process {pid} does not ignore signal {signum}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
async def test_a_recorder_sent_a_stop_still_stores_what_it_is_handed(
    sqlite_url: str, stop: signal.Signals
) -> None:
    """A service manager's stop (or a closed terminal) reaches every process of the command: the
    recorder leaves it to the command, which ends its sweep and closes the pipe."""
    beside = Beside.start(opener(sqlite_url))
    await ignoring(beside.pid, stop)  # (from its first instant, as the fork is the command's)
    os.kill(beside.pid, stop)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        for start in (0, 1000):
            yield [result(n) for n in range(start, start + 1000)]

    await beside.record("r1", sweep())
    async with looking(sqlite_url) as engine:
        assert len(await stored(engine)) == 2000


async def test_a_store_error_from_the_driver_is_one_sentence(sqlite_url: str) -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[AsyncEngine]:
        raise OperationalError(
            "INSERT INTO checks (release_id) VALUES (?)",
            ("r1",),
            Exception("no such table: checks"),
        )
        yield  # (never reached)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0)]

    with pytest.raises(StoreError) as raised:
        await Beside.start(broken).record("r1", sweep())
    assert str(raised.value) == (
        "The results of this check could not be stored (no such table: checks): check that the "
        "store can be written to, then check again."
    )


def test_a_recorder_that_cannot_be_started_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    def refused() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    open_before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", refused)
    with pytest.raises(
        StoreError,
        match=r"^This check cannot start the process that stores its "
        r"results \(Resource temporarily unavailable\): close other programs",
    ):
        Beside.start(opener(sqlite_url))
    assert len(os.listdir("/proc/self/fd")) == open_before  # (its pipes closed again)


async def test_a_sweep_that_fails_while_storing_failed_says_both(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    @asynccontextmanager
    async def broken() -> AsyncIterator[AsyncEngine]:
        raise StoreError("The store cannot be opened.")
        yield  # (never reached)

    async def sweep() -> AsyncIterator[list[CheckResult]]:
        yield [result(0)]
        raise ProbeError("The site could not be reached.")

    with pytest.raises(ProbeError) as raised:
        await Beside.start(broken).record("r1", sweep())
    assert raised.value.__notes__ == ["The store cannot be opened."]

    def command() -> int:
        raise raised.value

    with pytest.raises(typer.Exit):
        run(command)
    said = " ".join(capsys.readouterr().err.split())  # the command says both
    assert said == "Error: The site could not be reached. The store cannot be opened."
