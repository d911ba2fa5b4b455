"""A sweep's results stored beside the sweep, by a process of its own: ``CheckRecorder``'s
``record_json`` run in a child forked before the command's event loop, threads and store
connections exist (``Beside.start``), with its own connection to the store, opened as soon as the command says the store is made
(``store_opened``), while the command reads the release.

Storing a 6,000-URL sweep (its rows, its timeline events and their hashes, and the database's own
work) costs about as much CPU as fetching and judging it. On a thread of its own it held the GIL
the fetch loop needed whenever libcurl handed back control, so the two took turns instead of
overlapping (``bench/bench_verify_cli.py``); a process shares no GIL. The sweep's process only
writes each batch down the pipe as JSON (``result_json``, what is stored anyway), which the child
stores exactly as the thread did: the same recorder, the same batches in the same order, one
transaction per chunk, having first taken up what earlier runs and the watch recorded
(``CheckRecorder.take_up``), so a run records on the timeline only the statuses that changed and
no second first-live.

If storing fails, the next hand-over raises the store's error (the sweep stops there). A sweep that
fails still has every batch it handed over stored before its error is raised. A command killed
mid-sweep has every batch that reached the recorder stored: the recorder stores what it read
before the pipe ended (a batch cut short by the kill, or still in the command's own buffer, is
not stored at all), then ends. The recorder ignores the signals a terminal or a service manager
sends to every process of the command (interrupt, terminate, hang-up): the pipe's end is its
signal to finish. A sweep that fails while storing failed too says both.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import errors
from onthedot.model import CheckResult
from onthedot.record.checks import CheckRecorder
from onthedot.store.db import first_line
from onthedot.verify.verifier import result_json

Batch = Sequence[CheckResult]
Store = Callable[[], AbstractAsyncContextManager[AsyncEngine]]
_LENGTH = struct.Struct(">I")  # each message down the pipe: its length, then its JSON


class Beside:
    """The recorder process, and the pipes to it: the batches one way, how storing ended the
    other (nothing: all stored; else the error's class and message, as JSON)."""

    def __init__(self, pid: int, batches: int, ended: int) -> None:
        self._pid = pid
        self._batches: int | None = batches
        self._ended: int | None = ended

    @property
    def pid(self) -> int:
        """The recorder process's id."""
        return self._pid

    @classmethod
    def start(cls, store: Store) -> Beside:
        """Fork the recorder, which waits for a sweep, then opens the store (``store()``, once).
        Call it before any event loop, thread or store connection of this process exists: a
        child gets a copy of them, and an SQLite connection must never cross a fork."""
        fds: list[int] = []
        try:
            fds += os.pipe()
            fds += os.pipe()
            pid = os.fork()
        except OSError as exc:  # (out of processes or file descriptors)
            for fd in fds:
                os.close(fd)
            raise errors.StoreError(
                "This check cannot start the process that stores its results "
                f"({exc.strerror or exc}): close other programs on this machine, then check again."
            ) from exc
        batches_in, batches_out, ended_in, ended_out = fds
        if pid == 0:  # pragma: no cover - the child (its work is asserted through the store)
            status = 1
            try:  # Ctrl-C (or a stop) is the command's: it ends the sweep, then this stores
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # what it read
                    signal.signal(signum, signal.SIG_IGN)
                os.close(batches_out)
                os.close(ended_in)
                os.write(ended_out, _recorder(store, batches_in))
                status = 0
            finally:
                os._exit(status)  # nothing of the parent's (atexit, buffered output) runs here
        os.close(batches_in)
        os.close(ended_out)
        return cls(pid, batches_out, ended_in)

    def store_opened(self) -> None:
        """Say the store is made and migrated: the recorder opens it now, while this process
        reads the release, instead of when the sweep's first batch comes (measured: opening it
        took the recorder about 0.15 s of CPU after the sweep's first request, which it then
        trailed the sweep by). Call it at most once, before ``record``."""
        if self._batches is None:
            raise RuntimeError("A recorder process stores one sweep.")
        try:
            os.write(self._batches, _message({"store": "opened"}))  # (a few bytes: no wait)
        except BrokenPipeError:
            pass  # the recorder has ended already: ``record`` says why

    async def record(self, release_id: str, batches: AsyncIterable[Batch]) -> None:
        """Hand each of ``batches`` to the recorder as it comes, then wait until it has stored
        them; raise its error if storing failed (from the next hand-over on, the sweep stops)."""
        if self._batches is None or self._ended is None:
            raise RuntimeError("A recorder process stores one sweep.")
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(self._batches, "wb", buffering=0)
        self._batches = None  # (the transport closes it)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        ended = loop.create_future()
        loop.add_reader(self._ended, _settle, ended)
        failure: errors.OnthedotError | None = None
        try:
            writer.write(_message({"release": release_id}))
            async for batch in batches:
                if ended.done():
                    break  # storing failed: its error is raised below
                writer.write(_message([result_json(r) for r in batch]))
                try:
                    await writer.drain()
                except ConnectionError:
                    break  # the recorder ended: how is raised below
        except errors.OnthedotError as exc:  # the sweep failed: if storing did too, say both
            failure = await self._end(writer, ended)
            if failure is not None:
                exc.add_note(str(failure))
            raise
        finally:
            if self._ended is not None:
                failure = await self._end(writer, ended)
        if failure is not None:
            raise failure

    async def _end(
        self, writer: asyncio.StreamWriter, ended: asyncio.Future[None]
    ) -> errors.OnthedotError | None:
        """Close the pipe; once the recorder has stored what it read and ended, its error."""
        writer.close()  # the recorder stores what it read, then ends
        await ended  # what was handed over is stored (or not) first
        assert self._ended is not None
        asyncio.get_running_loop().remove_reader(self._ended)
        return self._reap()

    def close(self) -> None:
        """End the recorder if no sweep was handed to it (the command failed before), and wait
        for it to end. It is stopped outright: it has stored nothing, and a store slow to open
        (told to by ``store_opened``) would keep a command that failed, or a person's Ctrl-C,
        waiting for it."""
        if self._batches is not None:
            os.close(self._batches)
            self._batches = None
            if self._ended is not None:
                os.kill(self._pid, signal.SIGKILL)
        if self._ended is not None:
            self._reap()

    def _reap(self) -> errors.OnthedotError | None:
        """Wait for the recorder to end; its error, if storing failed."""
        assert self._ended is not None
        said = b""
        while chunk := os.read(self._ended, 65536):
            said += chunk
        os.close(self._ended)
        self._ended = None
        code = os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])
        if said:
            return _error(orjson.loads(said))
        if code != 0:
            return errors.StoreError(
                "The process storing this check's results stopped before it had stored them "
                "all (what it had stored is kept): check again."
            )
        return None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _message(data: Any) -> bytes:
    body = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)  # (as the store does)
    return _LENGTH.pack(len(body)) + body


def _error(said: dict[str, str]) -> errors.OnthedotError:
    """The recorder's error, as the class it was when it is one of ours (else a StoreError)."""
    kind = getattr(errors, said["kind"], None)
    if isinstance(kind, type) and issubclass(kind, errors.OnthedotError):
        try:
            return kind(said["message"])
        except TypeError:  # (a class whose constructor takes more than the message)
            pass
    return errors.StoreError(
        f"The results of this check could not be stored ({said['message']}): check that the "
        "store can be written to, then check again."
    )


def _recorder(store: Store, fd: int) -> bytes:
    """The child's work: what it says back (empty when every batch it read was stored)."""
    try:
        asyncio.run(_record(store, fd))
    except errors.OnthedotError as exc:  # (ours: a sentence for people, whole)
        return orjson.dumps({"kind": type(exc).__name__, "message": str(exc)})
    except Exception as exc:  # (the driver's: its first line, without the statement it ran)
        return orjson.dumps({"kind": type(exc).__name__, "message": first_line(exc)})
    return b""


async def _record(store: Store, fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    messages = _messages(reader)
    _load_signing()  # while the command starts (the first message comes with its sweep)
    first = await anext(messages, None)
    if first is None:
        return  # no sweep came (the command failed before it)
    async with store() as engine:  # (once the command has opened it: made and migrated)
        if "release" not in first:  # (``store_opened``: opened while the command reads the
            first = await anext(messages, None)  # release; its sweep comes next)
            if first is None:
                return
        release_id = str(first["release"])
        recorder = CheckRecorder(engine)
        await recorder.take_up(release_id)  # (read before this sweep stores anything)
        await recorder.record_json(release_id, messages)


def _load_signing() -> None:
    """Load the modules the timeline's signing key takes, which ``record.checkpoint`` loads on
    first use (a tenth of a second, else spent after the sweep's first batch)."""
    import cryptography.hazmat.primitives.asymmetric.ed25519
    import cryptography.hazmat.primitives.serialization  # noqa: F401


async def _messages(reader: asyncio.StreamReader) -> AsyncIterator[Any]:
    """Each whole message until the pipe ends (one cut short by a kill is left out)."""
    while True:
        try:
            (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return
        yield orjson.loads(body)
