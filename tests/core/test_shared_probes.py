"""One probe engine for every release a service publishes (``runtime.SharedProbes``): the
releases' fetches share its connections and its bound, against a real server on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt

import pycurl
import pytest

from onthedot.errors import ProbeError
from onthedot.model import Release
from onthedot.runtime import SharedProbes, prober_for
from onthedot.settings import VerifySettings
from onthedot.verify import probe_curl, probe_transfer
from onthedot.verify.probe import ProbeRequest
from tests.verify.test_probe import RawServer, Request, send

SETTINGS = VerifySettings(concurrency=4)


def release(name: str, server: RawServer) -> Release:
    return Release(
        id=name,
        title=name,
        producer="P",
        release_at=dt.datetime.now(dt.UTC),
        site={"public": server.url("")},
        artefact=[{"path": f"/{name}/{n}.csv", "sha256": "0" * 64} for n in range(20)],
    )


async def _slow(_request: Request, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.01)
    await send(writer, body=b"figures")


async def test_releases_fetching_at_once_share_one_engine_its_bound_and_connections() -> None:
    async with RawServer(_slow) as server:
        shared = SharedProbes(SETTINGS)
        probers = [prober_for(release(name, server), SETTINGS, shared) for name in ("a", "b")]
        asks = [[ProbeRequest(server.url(f"/{name}/{n}.csv")) for n in range(20)] for name in "ab"]
        answers = await asyncio.gather(
            *(p.fetch_many(a) for p, a in zip(probers, asks, strict=True))
        )
        assert [len(a) for a in answers] == [20, 20]
        assert all(r.http_status == 200 for a in answers for r in a)
        assert server.max_in_flight <= 4 and server.connections <= 4  # (alone: 4 each)
        await probers[0].aclose()
        again = await probers[1].fetch(ProbeRequest(server.url("/b/0.csv")))  # (still lent)
        assert again.http_status == 200 and server.connections <= 4
        await probers[1].aclose()
        with pytest.raises(ProbeError):
            await probers[1].fetch(ProbeRequest(server.url("/b/0.csv")))
        later = prober_for(release("c", server), SETTINGS, shared)  # (a new engine is made)
        async with later:
            assert (await later.fetch(ProbeRequest(server.url("/c/0.csv")))).http_status == 200
        assert server.connections > 4  # (the first engine was closed with its connections)


async def test_an_engine_stopped_by_one_releases_fault_is_not_kept_for_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = probe_transfer.configure

    def configure(handle: pycurl.Curl, request: ProbeRequest, timeout: float) -> None:
        if "/bad/" in request.url:  # (a fault of the engine met by one release's request only)
            raise RuntimeError("simulated engine fault")
        real(handle, request, timeout)

    monkeypatch.setattr(probe_curl, "configure", configure)
    async with RawServer(_slow) as server:
        shared = SharedProbes(SETTINGS)
        watching = prober_for(release("a", server), SETTINGS, shared)  # (lent before the fault)
        faulty = prober_for(release("b", server), SETTINGS, shared)
        assert (await watching.fetch(ProbeRequest(server.url("/a/0.csv")))).http_status == 200
        with pytest.raises(ProbeError, match="stopped unexpectedly"):
            await faulty.fetch(ProbeRequest(server.url("/bad/0.csv"), headers=(("X", "1"),)))
        later = prober_for(release("c", server), SETTINGS, shared)  # (lent after it)
        assert (await later.fetch(ProbeRequest(server.url("/c/0.csv")))).http_status == 200
        assert (await watching.fetch(ProbeRequest(server.url("/a/1.csv")))).http_status == 200
        for prober in (watching, faulty, later):
            await prober.aclose()
