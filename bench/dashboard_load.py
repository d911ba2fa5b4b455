"""The dashboard's readers during a burst, in a process of their own (never the service's).

``python -m bench.dashboard_load SPEC`` (SPEC: JSON, see ``Spec``) waits until ``start``, then
keeps ``connections`` requests in flight (pycurl multi, keep-alive) until ``stop``, going round
the pages in turn and round the instances' web ports, the release pages with a read token; then
prints one JSON list of ``[started, seconds, page, status, bytes]`` per request (``started`` as a
Unix time, ``seconds`` libcurl's total time, ``bytes`` the body's size). ``bench.bench_load`` runs it and sums it up.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pycurl

PAGES = ("/", "/calendar", "/releases/{id}", "/api/releases/{id}")
TIMEOUT_S = 30


@dataclass(frozen=True)
class Spec:
    ports: list[int]
    releases: list[str]
    token: str
    start: float
    stop: float
    connections: int = 8


def requests(spec: Spec) -> Iterator[tuple[str, str, list[str]]]:
    """(page, URL, headers) for ever: every page on every instance, the releases in turn."""
    ids = itertools.cycle(spec.releases)
    for port, page in itertools.cycle(itertools.product(spec.ports, PAGES)):
        signed_in = "{id}" in page
        headers = [f"Authorization: Bearer {spec.token}"] if signed_in else []
        yield page, f"http://127.0.0.1:{port}{page.format(id=next(ids))}", headers


def _handle() -> pycurl.Curl:
    handle = pycurl.Curl()
    handle.setopt(pycurl.TIMEOUT, TIMEOUT_S)
    handle.setopt(pycurl.NOSIGNAL, 1)
    handle.setopt(pycurl.WRITEFUNCTION, len)  # the body is read and dropped
    return handle


def run(spec: Spec) -> list[list[Any]]:
    """Every request made between ``start`` and ``stop`` (those in flight at ``stop`` finish)."""
    time.sleep(max(0.0, spec.start - time.time()))
    multi, todo, done = pycurl.CurlMulti(), requests(spec), []
    meta: dict[pycurl.Curl, tuple[str, float]] = {}

    def send(handle: pycurl.Curl) -> None:
        page, url, headers = next(todo)
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.HTTPHEADER, headers)
        meta[handle] = (page, time.time())
        multi.add_handle(handle)

    for _ in range(spec.connections):
        send(_handle())
    while meta:
        multi.perform()
        multi.select(0.05)
        _queued, ok, failed = multi.info_read()
        for handle in ok + [f[0] for f in failed]:
            multi.remove_handle(handle)
            page, started = meta.pop(handle)
            status = handle.getinfo(pycurl.RESPONSE_CODE) if handle in ok else 0
            took, size = handle.getinfo(pycurl.TOTAL_TIME), handle.getinfo(pycurl.SIZE_DOWNLOAD_T)
            done.append([started, took, page, status, size])
            if time.time() < spec.stop:
                send(handle)
    return done


def main(argv: list[str]) -> None:
    print(json.dumps(run(Spec(**json.loads(argv[0])))))


if __name__ == "__main__":
    main(sys.argv[1:])
