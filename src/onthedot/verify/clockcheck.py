"""How far is this host's clock from a reference? Recorded at each release so that every time in a
report carries its uncertainty.

References: the HTTP ``Date`` of the site (origin first, else the public site) — one-second
resolution, so the uncertainty is half a second plus half the round trip — or an NTP server
(``[publish] ntp = "host:123"``), which is far finer. The offset is host minus reference.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from onthedot.model import Release
from onthedot.verify.probe import Prober, ProbeRequest

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


@dataclass(frozen=True, slots=True)
class ClockOffset:
    reference: str
    offset_s: float
    uncertainty_s: float

    def as_json(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "offset_s": round(self.offset_s, 6),
            "uncertainty_s": round(self.uncertainty_s, 6),
        }


async def http_date_offset(prober: Prober, url: str) -> ClockOffset | None:
    """Offset from the ``Date`` header of ``url`` (None when it cannot be read)."""
    sent = time.time()
    response = await prober.fetch(ProbeRequest(url, timeout=5.0))
    received = time.time()
    date = response.header("Date") if response.failure is None else None
    if not date:
        return None
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None
    midpoint = (sent + received) / 2
    # Date is truncated to the second: the server's true time lies in [server, server + 1)
    offset = midpoint - (server + 0.5)
    return ClockOffset(f"the HTTP Date of {url}", offset, 0.5 + (received - sent) / 2)


async def ntp_offset(server: str, timeout: float = 2.0) -> ClockOffset | None:
    """Offset from one SNTP (RFC 4330) exchange with ``host:port`` (None on failure)."""
    host, _, port = server.rpartition(":") if ":" in server else (server, "", "123")
    loop = asyncio.get_running_loop()
    packet = b"\x23" + 47 * b"\0"  # LI 0, version 4, mode 3 (client)
    with socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
    ) as sock:
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host.strip("[]"), int(port or 123)))
            t1 = time.time()
            await loop.sock_sendall(sock, packet)
            reply = await asyncio.wait_for(loop.sock_recv(sock, 512), timeout)
            t4 = time.time()
        except (OSError, TimeoutError, ValueError):
            return None
    if len(reply) < 48:
        return None
    t2 = _ntp_time(reply[32:40])
    t3 = _ntp_time(reply[40:48])
    offset = ((t2 - t1) + (t3 - t4)) / 2  # reference minus host
    delay = (t4 - t1) - (t3 - t2)
    return ClockOffset(f"the NTP server {server}", -offset, max(delay / 2, 0.0005))


def _ntp_time(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return float(seconds - NTP_EPOCH_OFFSET + fraction / 2**32)


async def measure(release: Release, prober: Prober, ntp: str | None = None) -> ClockOffset | None:
    """The best reference available: NTP when configured, else the site's HTTP Date."""
    if ntp:
        found = await ntp_offset(ntp)
        if found is not None:
            return found
    site = release.site
    if site is None:
        return None
    for base in filter(None, (site.origin, site.public)):
        found = await http_date_offset(prober, base.rstrip("/") + "/")
        if found is not None:
            return found
    return None
