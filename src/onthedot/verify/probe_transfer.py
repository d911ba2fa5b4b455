"""One transfer's state in the driver thread (streamed hash, text search, headers) and its result.

``Transfer.write`` is libcurl's WRITEFUNCTION (once per chunk, so it stays small; the plain
variant only hashes) and ``Transfer.lines.append`` its HEADERFUNCTION (C, no Python frame per
line). The driver thread takes a ``snapshot`` of a finished handle; ``build_response`` turns it into
a ``ProbeResponse`` in the caller's thread; ``Batch`` carries snapshots to the caller's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque

import pycurl

from onthedot.verify.probe import ProbeRequest, ProbeResponse
from onthedot.verify.probe_failures import Context, classify

_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "2",
    pycurl.CURL_HTTP_VERSION_3: "3",
}


class Batch:
    """The responses of one ``stream`` call, delivered on its event loop."""

    __slots__ = ("cancelled", "error", "loop", "ready", "results")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.results: deque[Finished] = deque()
        self.ready = asyncio.Event()
        self.cancelled = False
        self.error: str | None = None

    def hand_over(self, finished: list[Finished]) -> None:
        """From the driver thread: queue ``finished`` transfers for the caller."""
        try:
            self.loop.call_soon_threadsafe(self._deliver, finished)
        except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
            self.cancelled = True

    def _deliver(self, finished: list[Finished]) -> None:
        self.results.extend(finished)
        self.ready.set()

    def fail(self, message: str) -> None:
        """On the caller's loop: stop waiting with ``ProbeError(message)``."""
        self.error = message
        self.ready.set()


class Transfer:
    """State of one request in flight: hash, size, text search, kept bytes, header lines, hops."""

    __slots__ = (
        "batch", "elapsed", "foreign", "found", "hasher", "keep", "kept", "limit", "lines",
        "needle", "redirects", "request", "size", "started_at", "tail", "too_large", "url", "write",
    )  # fmt: skip

    def __init__(self, request: ProbeRequest, batch: Batch) -> None:
        self.request = request
        self.batch = batch
        self.url = request.url  # the URL of the hop in progress
        self.lines: list[bytes] = []  # HEADERFUNCTION is lines.append: no Python frame per line
        self.limit = limit = request.max_bytes
        self.needle = needle = request.expect_text.encode() if request.expect_text else None
        self.keep = keep = request.keep_body
        if limit is None and needle is None and not keep:
            self.write = self._write_plain
        else:
            self.write = self._write_checked
        self.redirects = 0
        self.elapsed = 0.0  # seconds spent on earlier hops
        self.foreign: str | None = None
        self.started_at = 0.0
        self.hasher = hashlib.sha256()
        self.size = 0
        self.tail = b""
        self.found = False
        self.kept = bytearray()
        self.too_large = False

    def _reset_body(self) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        self.tail = b""
        self.found = False
        self.kept = bytearray()
        self.too_large = False

    def next_hop(self, url: str, hop_seconds: float) -> None:
        """Start over for the redirect target ``url`` (the body of a 3xx is not the file)."""
        self.url = url
        self.redirects += 1
        self.elapsed += hop_seconds
        self.lines.clear()
        self._reset_body()

    def _write_plain(self, chunk: bytes) -> int | None:
        """WRITEFUNCTION when only the hash is wanted (the hot path)."""
        self.size += len(chunk)
        self.hasher.update(chunk)
        return None

    def _write_checked(self, chunk: bytes) -> int | None:
        """WRITEFUNCTION with a cap, a text to find or bytes to keep; returning 0 aborts."""
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            self.too_large = True
            return 0
        self.hasher.update(chunk)
        if self.needle is not None and not self.found:
            self._search(chunk)
        if self.keep and len(self.kept) < self.keep:
            self.kept += chunk[: self.keep - len(self.kept)]
        return None

    def _search(self, chunk: bytes) -> None:
        assert self.needle is not None
        window = self.tail + chunk
        if self.needle in window:
            self.found = True
            self.tail = b""
        else:
            self.tail = (
                window[len(window) - len(self.needle) + 1 :] if len(self.needle) > 1 else b""
            )

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The last response's headers (after any 1xx), in order, names as sent."""
        lines = self.lines
        start = len(lines) - 1
        while start > 0 and lines[start][:5] != b"HTTP/":
            start -= 1
        out = []
        for line in b"".join(lines[start + 1 :]).decode("latin-1").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:  # (obsolete folded lines, which start with a space, are not headers)
                out.append((name, value.strip()))
        return tuple(out)


Finished = tuple[Transfer, int, str, float, int, str, float, float, float, float, float, int]
"""What the driver thread reads off a finished handle before reusing it (``snapshot``)."""


def snapshot(handle: pycurl.Curl, t: Transfer, code: int, detail: str) -> Finished:
    """In the driver thread: everything libcurl knows of the transfer, as cheaply as possible."""
    info = handle.getinfo
    return (
        t,
        code,
        detail,
        time.time(),
        info(pycurl.RESPONSE_CODE),
        info(pycurl.PRIMARY_IP),
        info(pycurl.NAMELOOKUP_TIME),
        info(pycurl.CONNECT_TIME),
        info(pycurl.APPCONNECT_TIME),
        info(pycurl.STARTTRANSFER_TIME),
        info(pycurl.TOTAL_TIME),
        info(pycurl.INFO_HTTP_VERSION),
    )


def never_started(t: Transfer, code: int, detail: str) -> Finished:
    """The snapshot of a transfer libcurl refused before it began (nothing measured)."""
    return (t, code, detail, time.time(), 0, "", 0.0, 0.0, 0.0, 0.0, 0.0, 0)


def build_response(done: Finished, low_speed: tuple[int, int]) -> ProbeResponse:
    """In the caller's thread: the ``ProbeResponse`` for a snapshot (parsing runs here, in
    parallel with libcurl's I/O in the driver thread)."""
    t, code, detail, finished, status, ip, dns, connect, tls, first_byte, total, version = done
    remote_ip = ip or None
    failure = None
    message = ""
    sha256 = None
    if code:
        ctx = Context(t.request, t.url, remote_ip, t.too_large, t.foreign, low_speed)
        failure, message = classify(code, detail, ctx)
        if failure in ("dns", "connect", "tls"):
            status = 0
    else:
        sha256 = t.hasher.hexdigest()
    before = t.elapsed
    timings = {  # the last hop's phases, counted from the start of the first
        "dns": before + dns,
        "connect": before + connect,
        "tls": before + tls if tls else 0.0,
        "first_byte": before + first_byte,
        "total": before + total,
    }
    return ProbeResponse(
        t.request,
        status or None,
        t.headers(),
        sha256,
        t.size,
        None if t.needle is None or failure else t.found,
        bytes(t.kept) if t.kept else b"",
        failure,
        message,
        t.url,
        t.redirects,
        remote_ip,
        timings,
        t.started_at,
        finished,
        _VERSIONS.get(version, ""),
    )
