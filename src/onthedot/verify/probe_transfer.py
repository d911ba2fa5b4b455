"""One transfer's state (streamed hash, text search, headers), its result, and libcurl's options.

``Transfer.writer()`` is libcurl's WRITEFUNCTION (once per chunk, so it stays small; the plain
variant only hashes) and ``Transfer.lines.append`` its HEADERFUNCTION (C, no Python frame per
line); the lines are parsed only when someone reads the headers (``HeaderLines``). The engine
takes a ``snapshot`` of a finished handle and queues it on the caller's ``Batch``;
``build_response`` turns it into a ``ProbeResponse`` when the caller takes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import overload
from urllib.parse import urlsplit

import pycurl

from onthedot.verify.probe import ProbeRequest, ProbeResponse, split_address
from onthedot.verify.probe_failures import Context, classify

_CONNECT_TIMEOUT_MS = 10_000
_HTTP_VERSIONS = {
    (False, False): pycurl.CURL_HTTP_VERSION_1_1,
    (True, False): pycurl.CURL_HTTP_VERSION_2TLS,
    (False, True): pycurl.CURL_HTTP_VERSION_3,
    (True, True): pycurl.CURL_HTTP_VERSION_3,
}
_VERSIONS = {
    pycurl.CURL_HTTP_VERSION_1_0: "1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "2",
    pycurl.CURL_HTTP_VERSION_3: "3",
}


class Batch:
    """The responses of one ``stream`` call, queued by the engine for the caller (same loop), and
    the hosts its redirects may go to (None: any)."""

    __slots__ = ("allowed_hosts", "cancelled", "error", "results", "waiter")

    def __init__(self, allowed_hosts: frozenset[str] | None) -> None:
        self.allowed_hosts = allowed_hosts
        self.results: deque[Finished] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.cancelled = False
        self.error: str | None = None

    async def wait(self) -> None:
        """Until the engine has queued more results (or failed)."""
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def fail(self, message: str) -> None:
        """Stop waiting with ``ProbeError(message)``."""
        self.error = message
        self.wake()


_sha256 = hashlib.sha256
_NOTHING = b""  # the kept bytes of every transfer that keeps none


class Transfer:
    """State of one request in flight: hash, size, text search, kept bytes, header lines, hops."""

    __slots__ = (
        "batch", "checked", "elapsed", "foreign", "found", "hasher", "keep", "kept", "limit",
        "lines", "needle", "redirects", "request", "size", "started_at", "tail", "too_large", "url",
    )  # fmt: skip

    def __init__(self, request: ProbeRequest, batch: Batch) -> None:
        self.request = request
        self.batch = batch
        self.url = request.url  # the URL of the hop in progress
        self.lines: list[bytes] = []  # HEADERFUNCTION is lines.append: no Python frame per line
        self.limit = limit = request.max_bytes
        expect_text = request.expect_text
        # (never raises: a transfer is made inside the engine, where an error would stop it)
        self.needle = needle = expect_text.encode("utf-8", "surrogatepass") if expect_text else None
        self.keep = keep = request.keep_body
        self.redirects = 0
        self.elapsed = 0.0  # seconds spent on earlier hops
        self.foreign: str | None = None
        self.started_at = 0.0
        self.hasher = _sha256()
        self.size = 0
        self.too_large = False
        self.kept: bytes | bytearray  # the first chunk as it came; a bytearray from the second
        if limit is None and needle is None and not keep:
            self.checked = False
            self.kept = _NOTHING
        else:
            self.checked = True
            self.tail = b""
            self.found = False
            self.kept = b""

    def _reset_body(self) -> None:
        self.hasher = _sha256()
        self.size = 0
        self.too_large = False
        if self.checked:
            self.tail = b""
            self.found = False
            self.kept = b""

    def next_hop(self, url: str, hop_seconds: float) -> None:
        """Start over for the redirect target ``url`` (the body of a 3xx is not the file)."""
        self.url = url
        self.redirects += 1
        self.elapsed += hop_seconds
        self.lines.clear()
        self._reset_body()

    def writer(self) -> Callable[[bytes], int | None]:
        """The WRITEFUNCTION for this transfer. (Not kept on ``self``: a bound method stored on
        its own object is a reference cycle, which only the cyclic collector would free.)"""
        return self._write_checked if self.checked else self._write_plain

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
        keep = self.keep
        if keep:
            kept = self.kept
            if not kept:  # the first chunk is kept as it is, not copied (a file's answer is
                self.kept = chunk if len(chunk) <= keep else chunk[:keep]  # often one chunk)
            elif len(kept) < keep:
                if isinstance(kept, bytes):
                    kept = self.kept = bytearray(kept)
                kept += chunk[: keep - len(kept)]
        return None

    def _search(self, chunk: bytes) -> None:
        assert self.needle is not None
        window = self.tail + chunk
        if self.needle in window:
            self.found = True
            self.tail = b""
        else:
            # (the text's length less one, or all of a window shorter than that)
            self.tail = window[1 - len(self.needle) :] if len(self.needle) > 1 else b""


class HeaderLines(Sequence[tuple[str, str]]):
    """A response's headers as ``(name, value)`` pairs, in order, names as sent: parsed from
    libcurl's raw lines when first read, so a caller that only wants the hash (an origin or a
    cache-busted fetch, a throughput run) never pays for it."""

    __slots__ = ("_lines", "_pairs")

    def __init__(self, lines: list[bytes]) -> None:
        self._lines: list[bytes] | None = lines
        self._pairs: tuple[tuple[str, str], ...] | None = None

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        pairs = self._pairs
        if pairs is None:
            pairs = self._pairs = _parse_lines(self._lines or [])
            self._lines = None
        return pairs

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[str, str], ...]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | tuple[tuple[str, str], ...]:
        return self.pairs[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HeaderLines):
            return self.pairs == other.pairs
        if isinstance(other, tuple):
            return self.pairs == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.pairs)

    def __repr__(self) -> str:
        return repr(self.pairs)


def _parse_lines(lines: list[bytes]) -> tuple[tuple[str, str], ...]:
    """The last response's headers (after any 1xx) from libcurl's header lines."""
    end = len(lines) - 1 if lines and lines[-1] == b"\r\n" else len(lines)
    start = 0
    if b"\r\n" in lines[:end]:  # an interim (1xx) response came first: skip to the last
        start = end - 1
        while start > 0 and lines[start][:5] != b"HTTP/":
            start -= 1
    pairs = list(map(_SEEN.get, lines[start + 1 : end]))
    if None in pairs:
        for index, pair in enumerate(pairs):
            if pair is None:
                pairs[index] = _parse_header(lines[start + 1 + index])
    if () in pairs:  # a line that is no header (parsed now or remembered as such): left out
        return tuple(p for p in pairs if p)
    return tuple(pairs)  # type: ignore[arg-type]  # (no empty tuples left)


_SEEN: dict[bytes, tuple[str, str] | tuple[()]] = {}
"""Header lines already parsed: most repeat from response to response (Server, Via, ...)."""
_SEEN_MAX = 4096


def _parse_header(line: bytes) -> tuple[str, str] | tuple[()]:
    """``(name, value)`` for a header line; ``()`` for anything else (obsolete folded lines)."""
    name, colon, value = line.decode("latin-1").partition(":")
    pair = (name, value.strip()) if colon else ()
    if len(_SEEN) >= _SEEN_MAX:
        _SEEN.clear()
    _SEEN[line] = pair
    return pair


Finished = tuple[Transfer, int, str, float, int, str, float, float, float, float, float, int]
"""What the engine reads off a finished handle before reusing it (``snapshot``)."""


def snapshot(handle: pycurl.Curl, t: Transfer, code: int, detail: str, status: int) -> Finished:
    """Everything libcurl knows of the transfer (``status`` already read), as cheaply as possible."""
    info = handle.getinfo
    return (
        t,
        code,
        detail,
        time.time(),
        status,
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
    """The ``ProbeResponse`` for a snapshot (built when the caller takes it)."""
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
    if before:
        dns += before
        connect += before
        tls = before + tls if tls else 0.0
        first_byte += before
        total += before
    # the last hop's phases, counted from the start of the first
    timings = {"dns": dns, "connect": connect, "tls": tls, "first_byte": first_byte, "total": total}
    return ProbeResponse(
        t.request,
        status or None,
        HeaderLines(t.lines),
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


# -- libcurl's options ---------------------------------------------------------------------------


def base_options(
    http2: bool, http3: bool, ca_file: str | None, verify_tls: bool, low_speed: tuple[int, int]
) -> list[tuple[int, object]]:
    """The options every easy handle keeps for its whole life."""
    options: list[tuple[int, object]] = [
        (pycurl.NOSIGNAL, 1),
        (pycurl.ACCEPT_ENCODING, ""),  # all libcurl can decode; the hash is of the decoded bytes
        (pycurl.FOLLOWLOCATION, 0),  # the engine follows redirects, vetting each host
        (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
        (pycurl.HTTP_VERSION, _HTTP_VERSIONS[http2, http3]),
        (pycurl.CONNECTTIMEOUT_MS, _CONNECT_TIMEOUT_MS),
        (pycurl.LOW_SPEED_LIMIT, low_speed[0]),
        (pycurl.LOW_SPEED_TIME, low_speed[1]),
        (pycurl.SSL_VERIFYPEER, 1 if verify_tls else 0),
        (pycurl.SSL_VERIFYHOST, 2 if verify_tls else 0),
    ]
    if ca_file is not None:
        options.append((pycurl.CAINFO, ca_file))
    return options


def configure(handle: pycurl.Curl, request: ProbeRequest, timeout: float) -> None:
    """The options that vary per request (the engine sets them only when they change)."""
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
