"""The flip under a flood of requests: go-live lag at the edge with and without one.

What: the real ``onthedot run`` service (a subprocess, its dashboard and API on a loopback port)
publishes one release after another (file target into nginx's web root, Varnish in front with
``-t 3600`` and a ``varnish://`` purge), ``SPACING_S`` apart. For half of them, from T − 2 s to
T + 1 s, a separate process floods the service's web port: ``GETTERS`` connections asking for
pages and API answers without a token, ``POSTERS`` connections each sending 50 MB JSON bodies to
``/api/agent/results`` without a token, one after another, and ``TRICKLERS`` connections
trickling a body one byte every half second. An observer in its own process polls the edge every
5 ms over one keep-alive connection (``bench.bench_publish.Observer``). **Lag** = the moment it
received the new bytes − T; the recorded flip (``publish.flipped``'s ``late_s``) is read from the
store afterwards. Flooded and quiet releases alternate (the order swapped every pair), so both
see the same machine; the figure is the median of the flooded lags against the median of the
quiet ones.

Run: ``.venv/bin/python -m bench.run flood`` (or ``python -m bench.bench_flood``; writes
bench/results/flood.json).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "flood.json"
PAIRS = int(os.environ.get("ONTHEDOT_BENCH_FLOOD_PAIRS", "6"))  # flooded + quiet releases
SPACING_S = 9.0  # between two releases' T
FIRST_AFTER_S = 20.0  # the first T, after the service starts (start-up, staging)
FLOOD_FROM_S, FLOOD_UNTIL_S = 2.0, 1.0  # the flood runs from T − 2 s to T + 1 s
GETTERS, POSTERS, TRICKLERS = 64, 2, 100
BODY_MB = 50
GOAL_MS = 20.0
GET_PATHS = ("/api/agent/assignments", "/api/releases", "/api/health", "/", "/metrics")
ROOT = Path(__file__).resolve().parent.parent


# --- the flood (a process of its own) -------------------------------------------------------------


def _big_body() -> bytes:
    item = json.dumps(
        {
            "release": "bench",
            "url": "http://127.0.0.1/statistics/x.xlsx",
            "status": "live",
            "diagnosis": "d" * 100,
            "checked_at": "2026-01-01T00:00:00Z",
        }
    )
    count = BODY_MB * 1_000_000 // (len(item) + 1)
    return ('{"results": [' + ",".join([item] * count) + "]}").encode()


async def _exchange(port: int, request: bytes, body: bytes = b"") -> bool:
    """One request on its own connection; whether an answer came."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        if body:
            writer.write(body)
        await writer.drain()
        answer = await reader.read(64)
        writer.close()
        return answer.startswith(b"HTTP/1.1")
    except OSError:
        return False


async def _getter(port: int, until: float, done: list[int]) -> None:
    while time.time() < until:
        done[2] += 1
        path = random.choice(GET_PATHS)
        request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
        done[0] += await _exchange(port, request)


async def _poster(port: int, until: float, body: bytes, done: list[int]) -> None:
    head = (
        "POST /api/agent/results HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    while time.time() < until:
        done[3] += 1
        done[1] += await _exchange(port, head, body)


async def _trickler(port: int, until: float) -> None:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/agent/results HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        )
        while time.time() < until:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.5)
        writer.close()
    except OSError:
        pass


async def flood(port: int, start: float, until: float) -> dict[str, int]:
    """Flood ``port`` from ``start`` to ``until`` (epoch seconds); requests answered, by kind."""
    body = _big_body()
    await asyncio.sleep(max(0.0, start - time.time()))
    done = [0, 0, 0, 0]
    jobs = [_getter(port, until, done) for _ in range(GETTERS)]
    jobs += [_poster(port, until, body, done) for _ in range(POSTERS)]
    jobs += [_trickler(port, until) for _ in range(TRICKLERS)]
    tasks = [asyncio.create_task(job) for job in jobs]
    await asyncio.wait(tasks, timeout=until - time.time() + 5)
    for task in tasks:
        task.cancel()
    return {
        "gets_sent": done[2],
        "gets_answered": done[0],
        "posts_sent": done[3],
        "posts_answered": done[1],
    }


# --- the run --------------------------------------------------------------------------------------


def _service(work: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "onthedot.cli", "--config", str(work / "onthedot.toml"),
         "--database", f"sqlite:///{work / 'store.db'}", "run", "--port", str(port),
         "--poll", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )  # fmt: skip


def _releases(site: Any, work: Path, first: dt.datetime) -> list[tuple[str, str, bytes, float]]:
    """(id, path, new bytes, T) of each release, written and their old bytes cached at the edge."""
    from tests.e2e.helpers import write_config, write_site_release

    from bench.bench_publish import payload

    write_config(
        work, 'releases = ["releases/*/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
    )
    made = []
    for number in range(2 * PAIRS):
        path = f"/statistics/flood-{number:02d}.xlsx"
        at = first + dt.timedelta(seconds=number * SPACING_S)
        new = payload(f"new {number}")
        site.cache_old(path, payload(f"old {number}"))
        write_site_release(
            work / "releases" / f"{number:02d}",
            public=site.public,
            origin=site.origin,
            release_at=at,
            artefacts=[(path, new, None)],
            target=site.target,
            purge=(site.purge,),
            id=f"flood-{number:02d}",
        )
        made.append((f"flood-{number:02d}", path, new, at.timestamp()))
    return made


def _flooded(number: int) -> bool:
    """Flooded or quiet: alternating, the order swapped from pair to pair."""
    pair, second = divmod(number, 2)
    return bool(second) == bool(pair % 2)


def _flood_process(port: int, at: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bench_flood", "--flood", str(port),
         str(at - FLOOD_FROM_S), str(at + FLOOD_UNTIL_S)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip


async def _recorded(database: str) -> dict[str, float]:
    from onthedot.record import kinds
    from onthedot.record.timeline import Timeline
    from onthedot.store.db import open_store

    engine = await open_store(database)
    try:
        late: dict[str, float] = {}
        for number in range(2 * PAIRS):
            rid = f"flood-{number:02d}"
            for event in await Timeline(engine).events(rid, kinds.PUBLISH_FLIPPED):
                late[rid] = 1000 * float(event.data["late_s"])
        return late
    finally:
        await engine.dispose()


def _one_release(
    observer: Any, site: Any, port: int, release: tuple[str, str, bytes, float], flooded: bool
) -> dict[str, Any]:
    rid, path, new, at = release
    time.sleep(max(0.0, at - 3.0 - time.time()))
    flooding = _flood_process(port, at) if flooded else None
    time.sleep(max(0.0, at - 1.0 - time.time()))
    observer.start(site.edge_host, site.edge_port, path, new, at)
    seen = observer.result()
    figures: dict[str, Any] = {"id": rid, "flooded": flooded, "lag_ms": seen["lag_ms"]}
    figures["early"] = seen["early"]
    if flooding is not None:
        out, _ = flooding.communicate(timeout=120)
        figures["flood"] = json.loads(out.strip().splitlines()[-1])
    return figures


def run() -> dict[str, Any]:
    from tests.servers.ports import free_port

    from bench.bench_publish import Observer, start_site

    started = time.perf_counter()
    observer = Observer()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="onthedot-bench-flood-") as tmp,
            ExitStack() as stack,
        ):
            work = Path(tmp)
            site = start_site("file", stack, work / "site")
            first = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=FIRST_AFTER_S)
            releases = _releases(site, work, first)
            port = free_port()
            service = _service(work, port)
            try:
                rounds = [
                    _one_release(observer, site, port, release, _flooded(number))
                    for number, release in enumerate(releases)
                ]
                time.sleep(3.0)  # the last flip recorded, its watch done
            finally:
                service.send_signal(signal.SIGTERM)
                output, _ = service.communicate(timeout=30)
            late = asyncio.run(_recorded(f"sqlite:///{work / 'store.db'}"))
    finally:
        observer.close()
    for figures in rounds:
        figures["flip_ms"] = late.get(figures["id"])
    return _summary(rounds, output, time.perf_counter() - started)


def _summary(rounds: list[dict[str, Any]], output: str, seconds: float) -> dict[str, Any]:
    def lags(flooded: bool, key: str = "lag_ms") -> list[float]:
        return [r[key] for r in rounds if r["flooded"] is flooded and r.get(key) is not None]

    quiet, flooded = lags(False), lags(True)
    result: dict[str, Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "pairs": PAIRS,
        "quiet_lag_ms_median": median(quiet) if quiet else None,
        "flood_lag_ms_median": median(flooded) if flooded else None,
        "quiet_lag_ms_max": max(quiet, default=None),
        "flood_lag_ms_max": max(flooded, default=None),
        "quiet_flip_ms_max": max(lags(False, "flip_ms"), default=None),
        "flood_flip_ms_max": max(lags(True, "flip_ms"), default=None),
        "seen": f"{len(quiet) + len(flooded)}/{len(rounds)}",
        "early": sum(bool(r.get("early")) for r in rounds),
        "service_traceback": output[output.find("Traceback") :][:3000]
        if "Traceback" in output
        else None,
        "flood": {
            "getters": GETTERS,
            "posters": POSTERS,
            "body_mb": BODY_MB,
            "tricklers": TRICKLERS,
            "window_s": FLOOD_FROM_S + FLOOD_UNTIL_S,
        },
        "goal_ms": GOAL_MS,
        "machine_cpus": os.cpu_count(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
    }
    if quiet and flooded:
        result["difference_ms"] = median(flooded) - median(quiet)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--flood"]:
        port, start, until = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(flood(port, start, until))))
    else:
        print(json.dumps(run(), indent=2))
