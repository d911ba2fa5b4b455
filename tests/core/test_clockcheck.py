"""The host clock's offset from a reference: an SNTP server on loopback, and a real nginx's Date."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator

import pytest

from onthedot.verify.clockcheck import NTP_EPOCH_OFFSET, http_date_offset, ntp_offset
from onthedot.verify.probe import Prober
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx


class SkewedNtp(asyncio.DatagramProtocol):
    """Answers SNTP requests with a clock ``skew`` seconds ahead of this host's."""

    def __init__(self, skew: float) -> None:
        self.skew = skew
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        now = time.time() + self.skew + NTP_EPOCH_OFFSET
        stamp = struct.pack("!II", int(now), int((now % 1) * 2**32))
        reply = b"\x24\x01" + b"\0" * 30 + stamp + stamp
        assert self.transport is not None
        self.transport.sendto(reply, addr)


@pytest.fixture
async def ntp_server() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: SkewedNtp(2.5), local_addr=("127.0.0.1", 0)
    )
    host, port = transport.get_extra_info("sockname")[:2]
    yield f"{host}:{port}"
    transport.close()


async def test_ntp_offset_is_host_minus_reference(ntp_server: str) -> None:
    found = await ntp_offset(ntp_server)
    assert found is not None
    assert found.offset_s == pytest.approx(-2.5, abs=0.05)
    assert 0 < found.uncertainty_s < 0.05
    assert ntp_server in found.reference


async def test_no_ntp_answer_is_none() -> None:
    assert await ntp_offset("127.0.0.1:9", timeout=0.2) is None


@pytest.mark.services
async def test_http_date_of_a_real_server(origin: Nginx) -> None:
    async with Prober(CurlTransport(), allowed_hosts={"127.0.0.1"}) as prober:
        found = await http_date_offset(prober, origin.url + "/")
    assert found is not None
    assert abs(found.offset_s) <= found.uncertainty_s  # same host: within the Date's resolution
    assert found.uncertainty_s >= 0.5
