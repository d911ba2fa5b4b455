"""``CurlTransport``: libcurl's multi interface (pycurl), driven by one thread, handing to asyncio.

One ``CurlMulti`` and a pool of ``concurrency`` easy handles live in a dedicated thread that loops
``perform`` / ``info_read`` / ``select`` (libcurl does the I/O and TLS outside the GIL; measured
faster than asyncio socket callbacks). Connections and easy handles are reused across requests.
Requests wait in a FIFO shared by every caller, so ``concurrency`` bounds the whole process's
``Prober``, and finished responses go back to each caller's event loop in batches through
``call_soon_threadsafe``. Bodies are hashed chunk by chunk (``probe_transfer``), never kept whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Collection, Sequence
from urllib.parse import urlsplit

import pycurl

from onthedot.errors import ProbeError
from onthedot.verify.probe import (
    ProbeRequest,
    ProbeResponse,
    ProbeTransport,
    host_of,
    split_address,
)
from onthedot.verify.probe_transfer import (
    Batch,
    Finished,
    Transfer,
    build_response,
    never_started,
    snapshot,
)

_TICK = 0.01  # longest wait in select: bounds how late a new request or a libcurl timer is seen
_HOLD, _HOLD_SECONDS = 32, 0.002  # hand finished responses over in batches: fewer GIL handoffs
_CONNECT_TIMEOUT_MS = 10_000
_TOO_MANY_REDIRECTS: int = pycurl.E_TOO_MANY_REDIRECTS
_TIMED_OUT: int = pycurl.E_OPERATION_TIMEDOUT
_MALFORMED: int = pycurl.E_URL_MALFORMAT
_HTTP_VERSIONS = {
    (False, False): pycurl.CURL_HTTP_VERSION_1_1,
    (True, False): pycurl.CURL_HTTP_VERSION_2TLS,
    (False, True): pycurl.CURL_HTTP_VERSION_3,
    (True, True): pycurl.CURL_HTTP_VERSION_3,
}


class CurlTransport(ProbeTransport):
    """Fetch with libcurl: at most ``concurrency`` at once, redirects kept to ``allowed_hosts``."""

    def __init__(
        self,
        *,
        concurrency: int = 64,
        allowed_hosts: Collection[str] | None = None,
        http2: bool = True,
        http3: bool = False,
        ca_file: str | None = None,
        verify_tls: bool = True,
        low_speed: tuple[int, int] = (1000, 5),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.allowed_hosts = (
            None
            if allowed_hosts is None
            else frozenset(h.lower().strip("[]") for h in allowed_hosts)
        )
        self.low_speed = low_speed
        self._options = _base_options(_HTTP_VERSIONS[http2, http3], ca_file, verify_tls, low_speed)
        self._pending: deque[Transfer] = deque()
        self._cancelled = 0  # bumped when a caller gives up; drivers then drop its transfers
        self._live: set[Batch] = set()
        self._wakeup = threading.Condition()
        self._closing = False
        self._broken: str | None = None
        self._driver: threading.Thread | None = None

    async def stream(self, requests: Sequence[ProbeRequest]) -> AsyncGenerator[ProbeResponse, None]:
        if self._closing:
            raise ProbeError("The prober was already closed; open a new one to fetch again.")
        if self._broken:
            raise ProbeError(self._broken)
        if not requests:
            return
        batch = Batch(asyncio.get_running_loop())
        self._live.add(batch)
        self._pending.extend(Transfer(request, batch) for request in requests)
        self._start_thread()
        self._wake()
        remaining = len(requests)
        try:
            while remaining:
                await batch.ready.wait()
                batch.ready.clear()
                if batch.error is not None:
                    raise ProbeError(batch.error)
                results, low_speed = batch.results, self.low_speed
                while results:
                    remaining -= 1
                    yield build_response(results.popleft(), low_speed)
        finally:
            self._live.discard(batch)
            if remaining:
                batch.cancelled = True
                self._cancelled += 1
                self._wake()

    async def aclose(self) -> None:
        self._closing = True
        self._wake()
        if self._driver is not None:
            await asyncio.to_thread(self._driver.join)
        for batch in list(self._live):
            batch.fail(
                "The prober was closed before every URL was fetched; keep it open until done."
            )

    def _start_thread(self) -> None:
        if self._driver is None:
            self._driver = threading.Thread(target=self._run, name="onthedot-probe", daemon=True)
            self._driver.start()

    def _wake(self) -> None:
        with self._wakeup:
            self._wakeup.notify()

    # -- the driver thread --------------------------------------------------------------------

    def _run(self) -> None:
        driver = _Driver(self)
        try:
            driver.loop()
        except Exception as exc:  # a bug, not a bad server: fail every waiting caller loudly
            self._broken = (
                f"The probe engine stopped unexpectedly ({exc!r}); please report this bug."
            )
            for batch in list(self._live):
                with contextlib.suppress(RuntimeError):  # that caller's loop is already closed
                    batch.loop.call_soon_threadsafe(batch.fail, self._broken)
        finally:
            driver.close()


class _Driver:
    """What runs in the driver thread: the multi handle, the handle pool, the active transfers."""

    def __init__(self, transport: CurlTransport) -> None:
        self.transport = transport
        self.cancelled = 0
        self.multi = pycurl.CurlMulti()
        self.free = [_new_handle(transport._options) for _ in range(transport.concurrency)]
        self.handles = list(self.free)
        self.active: dict[pycurl.Curl, Transfer] = {}
        self.configs: dict[pycurl.Curl, tuple[object, ...]] = {}
        self.out: dict[Batch, list[Finished]] = {}  # finished, not yet handed over
        self.held = 0
        self.flush_at = 0.0

    def loop(self) -> None:
        t = self.transport
        multi = self.multi
        while self._wait_for_work():
            if t._cancelled != self.cancelled:
                self._drop_cancelled()
            self._start_pending()
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            self._collect()
            if self.out and (
                self.held >= _HOLD or not self.active or time.monotonic() >= self.flush_at
            ):
                self._flush()
            if self.active:
                multi.select(_TICK)

    def _wait_for_work(self) -> bool:
        t = self.transport
        if not self.active and not t._pending:
            with t._wakeup:
                while not t._pending and not t._closing:
                    t._wakeup.wait()
        return not t._closing

    def _start_pending(self) -> None:
        pending, free = self.transport._pending, self.free
        while free and pending:
            transfer = pending.popleft()
            if not transfer.batch.cancelled:
                self._start(free.pop(), transfer)

    def _start(self, handle: pycurl.Curl, transfer: Transfer) -> None:
        try:
            self._add(handle, transfer)
        except (pycurl.error, ValueError) as exc:  # libcurl refused the URL or an option
            self.active.pop(handle, None)
            self.configs.pop(handle, None)
            self.free.append(handle)
            code = exc.args[0] if isinstance(exc, pycurl.error) else _MALFORMED
            transfer.batch.hand_over([never_started(transfer, code, str(exc.args[-1]))])

    def _add(self, handle: pycurl.Curl, transfer: Transfer) -> None:
        request = transfer.request
        handle.setopt(pycurl.URL, request.url)
        handle.setopt(pycurl.WRITEFUNCTION, transfer.write)
        handle.setopt(pycurl.HEADERFUNCTION, transfer.lines.append)
        config = (request.headers, request.timeout, request.max_bytes, request.connect_to)
        if request.connect_to or self.configs.get(handle) != config:
            _configure(handle, request, request.timeout)
            self.configs[handle] = config
        transfer.started_at = time.time()
        self.active[handle] = transfer
        self.multi.add_handle(handle)

    def _collect(self) -> None:
        multi = self.multi
        while True:
            queued, succeeded, failed = multi.info_read()
            for handle in succeeded:
                self._finish(handle, 0, "")
            for handle, code, detail in failed:
                self._finish(handle, code, detail)
            if not queued:
                return

    def _finish(self, handle: pycurl.Curl, code: int, detail: str) -> None:
        transfer = self.active.pop(handle)
        self.multi.remove_handle(handle)
        if not code and 300 <= handle.getinfo(pycurl.RESPONSE_CODE) < 400:
            target = handle.getinfo(pycurl.REDIRECT_URL)
            if target:
                code = self._redirect(handle, transfer, target)
                if not code:
                    return
        done = snapshot(handle, transfer, code, detail)
        self.free.append(handle)
        if not self.held:
            self.flush_at = time.monotonic() + _HOLD_SECONDS
        self.held += 1
        self.out.setdefault(transfer.batch, []).append(done)
        self._start_pending()

    def _redirect(self, handle: pycurl.Curl, transfer: Transfer, target: str) -> int:
        """Follow a redirect on the same handle: 0, or the libcurl code to fail with instead."""
        request, allowed = transfer.request, self.transport.allowed_hosts
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
        _configure(handle, request, remaining)
        self.configs.pop(handle, None)
        self.active[handle] = transfer
        self.multi.add_handle(handle)
        return 0

    def _flush(self) -> None:
        for batch, responses in self.out.items():
            batch.hand_over(responses)
        self.out = {}
        self.held = 0

    def _drop_cancelled(self) -> None:
        self.cancelled = self.transport._cancelled
        for handle, transfer in list(self.active.items()):
            if transfer.batch.cancelled:
                del self.active[handle]
                self.multi.remove_handle(handle)
                self.free.append(handle)

    def close(self) -> None:
        for handle in list(self.active):
            self.multi.remove_handle(handle)
        self.active.clear()
        for handle in self.handles:
            handle.close()
        self.multi.close()


def _base_options(
    http_version: int, ca_file: str | None, verify_tls: bool, low_speed: tuple[int, int]
) -> list[tuple[int, object]]:
    options: list[tuple[int, object]] = [
        (pycurl.NOSIGNAL, 1),
        (pycurl.ACCEPT_ENCODING, ""),  # all libcurl can decode; the hash is of the decoded bytes
        (pycurl.FOLLOWLOCATION, 0),  # the driver follows redirects, vetting each host
        (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
        (pycurl.HTTP_VERSION, http_version),
        (pycurl.CONNECTTIMEOUT_MS, _CONNECT_TIMEOUT_MS),
        (pycurl.LOW_SPEED_LIMIT, low_speed[0]),
        (pycurl.LOW_SPEED_TIME, low_speed[1]),
        (pycurl.SSL_VERIFYPEER, 1 if verify_tls else 0),
        (pycurl.SSL_VERIFYHOST, 2 if verify_tls else 0),
    ]
    if ca_file is not None:
        options.append((pycurl.CAINFO, ca_file))
    return options


def _new_handle(options: list[tuple[int, object]]) -> pycurl.Curl:
    handle = pycurl.Curl()
    for option, value in options:
        handle.setopt(option, value)
    return handle


def _configure(handle: pycurl.Curl, request: ProbeRequest, timeout: float) -> None:
    """The options that vary per request (set only when they differ from the handle's last)."""
    handle.setopt(pycurl.HTTPHEADER, [f"{name}: {value}" for name, value in request.headers])
    handle.setopt(pycurl.CONNECT_TO, [_connect_to(request)] if request.connect_to else [])
    handle.setopt(pycurl.TIMEOUT_MS, max(1, round(timeout * 1000)))
    handle.setopt(pycurl.MAXFILESIZE_LARGE, request.max_bytes or 0)


def _connect_to(request: ProbeRequest) -> str:
    """``HOST:PORT:ADDRESS:PORT`` for libcurl: the URL's host and port, sent to ``connect_to``."""
    parts = urlsplit(request.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    address, to_port = split_address(request.connect_to or "")
    return f"{f'[{host}]' if ':' in host else host}:{port}:{address}:{to_port}"
