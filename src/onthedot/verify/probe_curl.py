"""``CurlTransport``: libcurl's multi interface (pycurl), driven from the caller's event loop.

One ``CurlMulti`` and a pool of ``concurrency`` easy handles run in the event loop's own thread.
After each ``perform`` the engine asks libcurl which sockets it now waits on (``fdset``) and keeps
one private epoll set in step with them; only that set's descriptor is watched by the loop, and
libcurl's next timeout becomes one ``call_at``. (libcurl's socket-callback mode was measured to
cost about 3 µs more CPU per URL — its per-transfer event bookkeeping plus two Python callbacks —
out of some 45.) All Python work (callbacks, hashing, parsing) happens in one thread — measured
about twice as fast as a driver thread handing results over, which spent its time trading the
GIL. libcurl does the I/O and TLS itself; connections and easy handles are reused.

A socket number can be closed and given to a new socket between two looks, and the kernel drops
a closed socket from the epoll set: libcurl opens its sockets through ``_open_socket``, and after
any new socket the set is rebuilt from scratch. ``fdset`` cannot name sockets numbered 1024 or
more (a process with a thousand files open): while transfers run the engine also wakes every
``_MAX_WAIT_S`` and lets libcurl look at every transfer, so such a transfer is slowed, not stuck.

Requests wait in one FIFO shared by every caller, so ``concurrency`` bounds the whole ``Prober``.
Bodies are hashed chunk by chunk (``probe_transfer``), never kept whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from itertools import repeat

import pycurl

from onthedot.errors import ProbeError
from onthedot.verify.probe import ProbeRequest, ProbeResponse, ProbeTransport, host_of
from onthedot.verify.probe_transfer import (
    Batch,
    Finished,
    Transfer,
    base_options,
    build_response,
    configure,
    never_started,
    snapshot,
)

_ROUNDS = 16  # timer rounds in a row before other tasks get a turn (a fast big body never hogs)
_MAX_WAIT_S = 0.05  # the longest the engine sleeps while transfers run (see the module doc)
_TOO_MANY_REDIRECTS: int = pycurl.E_TOO_MANY_REDIRECTS
_TIMED_OUT: int = pycurl.E_OPERATION_TIMEDOUT
_MALFORMED: int = pycurl.E_URL_MALFORMAT
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT


class CurlTransport(ProbeTransport):
    """Fetch with libcurl: at most ``concurrency`` at once, redirects kept to the allowed hosts
    each ``stream`` call is given (the ``Prober``'s)."""

    def __init__(
        self,
        *,
        concurrency: int = 64,
        http2: bool = True,
        http3: bool = False,
        ca_file: str | None = None,
        verify_tls: bool = True,
        low_speed: tuple[int, int] = (1000, 5),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.low_speed = low_speed
        self._options = base_options(http2, http3, ca_file, verify_tls, low_speed)
        self._engine: _Engine | None = None
        self._closing = False
        self._broken: str | None = None

    @property
    def usable(self) -> bool:
        """False once the engine was closed or stopped by a fault (it fetches no more)."""
        return not (self._closing or self._broken)

    async def stream(
        self, requests: Sequence[ProbeRequest], allowed_hosts: frozenset[str] | None
    ) -> AsyncGenerator[ProbeResponse, None]:
        if self._closing:
            raise ProbeError("The prober was already closed; open a new one to fetch again.")
        if self._broken:
            raise ProbeError(self._broken)
        if not requests:
            return
        engine = self._engine_for(asyncio.get_running_loop())
        batch = Batch(allowed_hosts)
        engine.submit(batch, requests)
        remaining, results, low_speed = len(requests), batch.results, self.low_speed
        try:
            while remaining:
                while not results:
                    if batch.error is not None:
                        raise ProbeError(batch.error)
                    await batch.wait()
                remaining -= 1
                yield build_response(results.popleft(), low_speed)
        finally:
            engine.forget(batch, cancel=remaining > 0)

    async def aclose(self) -> None:
        self._closing = True
        engine, self._engine = self._engine, None
        if engine is not None:
            for batch in list(engine.batches):
                batch.fail(
                    "The prober was closed before every URL was fetched; keep it open until done."
                )
            engine.close()

    def _engine_for(self, loop: asyncio.AbstractEventLoop) -> _Engine:
        """The engine on ``loop``; a new one when the prober moves to a new (idle) event loop."""
        engine = self._engine
        if engine is not None and engine.loop is not loop:
            if engine.batches:
                raise ProbeError(
                    "This prober is still fetching in another event loop; use one prober per "
                    "event loop."
                )
            engine.close()
            engine = None
        if engine is None:
            engine = self._engine = _Engine(self, loop)
        return engine


class _Engine:
    """The multi handle, the handle pool, the queue and the transfers in flight, on one loop."""

    def __init__(self, transport: CurlTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.closed = False
        self.pending: deque[tuple[ProbeRequest, Batch]] = deque()  # a Transfer only once started
        self.batches: set[Batch] = set()  # every caller still waiting
        self.woken: set[Batch] = set()  # callers with new results since the last wake-up
        self.free = [pycurl.Curl() for _ in range(transport.concurrency)]
        for handle in self.free:
            for option, value in transport._options:
                handle.setopt(option, value)
            handle.setopt(pycurl.OPENSOCKETFUNCTION, self._open_socket)
        self.handles = list(self.free)
        self.active: dict[pycurl.Curl, Transfer] = {}
        self.configs: dict[pycurl.Curl, tuple[object, ...]] = {}
        self.alarm: asyncio.TimerHandle | None = None
        self.alarm_at = 0.0
        self.poller = select.epoll()
        self.watched: dict[int, int] = {}  # socket -> epoll events, as in the kernel's set
        self.seen: tuple[list[int], list[int]] = ([], [])  # libcurl's last fdset (read, write)
        self.handed: list[socket.socket] = []  # sockets opened for libcurl since the last look
        self.multi = pycurl.CurlMulti()
        self.fdset: Callable[[], tuple[list[int], list[int], list[int]]] = self.multi.fdset
        loop.add_reader(self.poller.fileno(), self._on_ready)

    # -- called by CurlTransport ------------------------------------------------------------

    def submit(self, batch: Batch, requests: Sequence[ProbeRequest]) -> None:
        self.batches.add(batch)
        self.pending.extend(zip(requests, repeat(batch)))
        self._guarded(self._settle)

    def forget(self, batch: Batch, *, cancel: bool) -> None:
        """The caller is done with ``batch``; when it gave up early, drop its transfers."""
        self.batches.discard(batch)
        if cancel and not self.closed:
            batch.cancelled = True
            self._guarded(self._drop, batch)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.poller.fileno())
        if self.alarm is not None:
            self.alarm.cancel()
        with contextlib.suppress(pycurl.error):
            for handle in list(self.active):
                self.multi.remove_handle(handle)
        self.active.clear()
        for handle in self.handles:
            handle.close()
        self.multi.close()
        self._close_handed()
        self.poller.close()

    # -- libcurl's callbacks and the loop's --------------------------------------------------

    def _open_socket(self, purpose: int, address: tuple[int, int, int, object]) -> socket.socket:
        """OPENSOCKETFUNCTION: a new socket for libcurl. pycurl keeps a duplicate of it; this one
        is closed at the next look, which also rebuilds the epoll set (see the module doc)."""
        family, kind, protocol, _ = address
        made = socket.socket(family, kind, protocol)
        self.handed.append(made)
        return made

    def _close_handed(self) -> None:
        for made in self.handed:
            made.close()
        self.handed.clear()

    def _on_ready(self) -> None:
        """A socket libcurl waits on is ready: let libcurl work, then settle."""
        self._guarded(self._run)

    def _on_alarm(self) -> None:
        self.alarm = None
        self._guarded(self._run)

    def _run(self) -> None:
        self.multi.perform()
        self._settle()

    def _guarded(self, step: Callable[..., None], *args: object) -> None:
        """Run ``step``; a bug in the engine fails every waiting caller instead of hanging them."""
        if self.closed:
            return
        try:
            step(*args)
        except Exception as exc:
            message = f"The probe engine stopped unexpectedly ({exc!r}); please report this bug."
            self.transport._broken = message
            for batch in self.batches:
                batch.fail(message)
            with contextlib.suppress(Exception):
                self.close()

    # -- the work ------------------------------------------------------------------------------

    def _settle(self) -> None:
        """Collect finished transfers, start waiting ones, run libcurl's due timers, watch the
        sockets libcurl waits on; wake callers."""
        multi = self.multi
        for _ in range(_ROUNDS):
            self._collect()
            self._start_pending()
            timeout = multi.timeout()
            if timeout != 0:
                break
            multi.perform()
        else:
            timeout = 0
        self._look()
        if self.active and not 0 <= timeout <= _MAX_WAIT_S * 1000:
            timeout = round(_MAX_WAIT_S * 1000)
        self._arm(timeout)
        woken = self.woken
        if woken:
            for batch in woken:
                batch.wake()
            woken.clear()

    def _look(self) -> None:
        """Make the epoll set hold exactly the sockets libcurl now waits on."""
        read, write, _ = self.fdset()
        renumbered = bool(self.handed)
        if renumbered:
            self._close_handed()
        elif (read, write) == self.seen:
            return
        self.seen = (read, write)
        wanted = dict.fromkeys(read, _IN)
        for fd in write:
            wanted[fd] = wanted.get(fd, 0) | _OUT
        poller, watched = self.poller, self.watched
        gone = list(watched) if renumbered else [fd for fd in watched if fd not in wanted]
        for fd in gone:
            del watched[fd]
            with contextlib.suppress(OSError):  # closed already: the kernel dropped it
                poller.unregister(fd)
        for fd, events in wanted.items():
            now = watched.get(fd)
            if now == events:
                continue
            try:
                if now is None:
                    poller.register(fd, events)
                else:
                    poller.modify(fd, events)
            except FileNotFoundError:  # closed and the number reused: the kernel forgot it
                poller.register(fd, events)
            except FileExistsError:
                poller.modify(fd, events)
            watched[fd] = events

    def _arm(self, timeout_ms: int) -> None:
        """Make sure the loop calls back by libcurl's next deadline."""
        if timeout_ms < 0:
            return
        when = self.loop.time() + timeout_ms / 1000
        alarm = self.alarm
        if alarm is None or when < self.alarm_at:
            if alarm is not None:
                alarm.cancel()
            self.alarm = self.loop.call_at(when, self._on_alarm)
            self.alarm_at = when

    def _start_pending(self) -> None:
        pending, free = self.pending, self.free
        while free and pending:
            request, batch = pending.popleft()
            if not batch.cancelled:
                self._start(free.pop(), Transfer(request, batch))

    def _start(self, handle: pycurl.Curl, transfer: Transfer) -> None:
        try:
            self._add(handle, transfer)
        except (pycurl.error, ValueError) as exc:  # libcurl refused the URL or an option
            self.active.pop(handle, None)
            self.configs.pop(handle, None)
            self.free.append(handle)
            code = exc.args[0] if isinstance(exc, pycurl.error) else _MALFORMED
            self._deliver(transfer, never_started(transfer, code, str(exc.args[-1])))

    def _add(self, handle: pycurl.Curl, transfer: Transfer) -> None:
        request = transfer.request
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.WRITEFUNCTION, transfer.writer())
        handle.setopt(pycurl.HEADERFUNCTION, transfer.lines.append)
        config = (request.headers, request.timeout, request.max_bytes, request.connect_to)
        if request.connect_to or self.configs.get(handle) != config:
            configure(handle, request, request.timeout)
            self.configs[handle] = config
        transfer.started_at = time.time()
        self.active[handle] = transfer
        self.multi.add_handle(handle)

    def _collect(self) -> None:
        info_read = self.multi.info_read
        while True:
            queued, succeeded, failed = info_read()
            for handle in succeeded:
                self._finish(handle, 0, "")
            for handle, code, detail in failed:
                self._finish(handle, code, detail)
            if not queued:
                return

    def _finish(self, handle: pycurl.Curl, code: int, detail: str) -> None:
        transfer = self.active.pop(handle)
        self.multi.remove_handle(handle)
        status = handle.getinfo(pycurl.RESPONSE_CODE)
        if not code and 300 <= status < 400:
            target = handle.getinfo(pycurl.REDIRECT_URL)
            if target:
                code = self._redirect(handle, transfer, target)
                if not code:
                    return
        done = snapshot(handle, transfer, code, detail, status)
        self.free.append(handle)
        self._deliver(transfer, done)

    def _deliver(self, transfer: Transfer, done: Finished) -> None:
        batch = transfer.batch
        batch.results.append(done)
        self.woken.add(batch)

    def _redirect(self, handle: pycurl.Curl, transfer: Transfer, target: str) -> int:
        """Follow a redirect on the same handle: 0, or the libcurl code to fail with instead."""
        request, allowed = transfer.request, transfer.batch.allowed_hosts
        if transfer.redirects >= request.max_redirects:
            return _TOO_MANY_REDIRECTS
        if allowed is not None and host_of(target) not in allowed:
            transfer.foreign = target
            return _TOO_MANY_REDIRECTS
        transfer.next_hop(target, handle.getinfo(pycurl.TOTAL_TIME))
        remaining = request.timeout - transfer.elapsed
        if remaining <= 0:
            return _TIMED_OUT
        handle.setopt(pycurl.URL, target)
        configure(handle, request, remaining)
        self.configs.pop(handle, None)
        self.active[handle] = transfer
        self.multi.add_handle(handle)
        return 0

    def _drop(self, batch: Batch) -> None:
        for handle, transfer in list(self.active.items()):
            if transfer.batch is batch:
                del self.active[handle]
                self.multi.remove_handle(handle)
                self.free.append(handle)
        self._settle()
