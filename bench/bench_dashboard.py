"""Benchmark the dashboard (issue 15): the release calendar with 1,000 releases, and live updates
to 50 open release pages during a 10,000-URL sweep.

Run as ``.venv/bin/python -m bench.bench_dashboard`` (writes ``bench/results/dashboard.json``);
``run()`` returns the same figures for docs/benchmarks.md.

* ``calendar``: a store (SQLite) of 1,000 releases of 12 producers over four years; ``GET
  /calendar`` answered in process (the store read, the page rendered), timed 30 times after one
  warm-up; the same for ``/calendar.ics`` and ``/api/calendar``.
* ``live``: nginx serving 10,000 files of 1 KB; one release naming them all. The web app runs in a
  process of its own (as under ``onthedot run``) over the same store; 50 Server-Sent Event
  streams of the release page are held open by a third process. Each sweep — the verifier
  fetching and judging the 10,000 URLs, then the recorder storing them in chunks as the watcher
  does — is timed with no page open (the baseline) and with the 50 open, in each round (which
  goes first alternates, round by round, so a machine that grows busier or quieter favours
  neither); the CPU time the web process and the pages' process spent on it, against the
  sweep's own, and the machine's load average (it is shared). Every stored result differs from
  the one before it (its diagnosis names the sweep), so the pages get every row of every sweep,
  as at T when every row changes: the worst case, not the steady one (where only changes go).
  The web process runs at the lower priority ``onthedot run`` gives it
  (``web.server.yield_cpu``), the pages' process at the same. The latency of a stored result is
  from the moment its chunk was stored (the recorder returned) to the moment a page received the
  message holding it; each message is timed by its first result, the one stored longest before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from onthedot.clock import ShiftedClock
from onthedot.collector import tune_gc
from onthedot.config import Config
from onthedot.model import Artefact, Release, Site
from onthedot.record.checks import CHUNK, CheckRecorder
from onthedot.store.db import open_store
from onthedot.store.releases import ReleaseRepository
from onthedot.verify.probe import Prober
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.verifier import Verifier
from onthedot.web.app import create_app

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "dashboard.json"
RELEASES = 1_000
PRODUCERS = 12
PAGE_TIMES = 30
URLS = 10_000
PAGES = 50
ROUNDS = 11
T = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)
MARK = b'"rows": [['  # then [status, text, at, [key, …]]: the first key follows the next '["'
KEYS = b'["'


# -- the calendar -------------------------------------------------------------------------------


def calendar_release(i: int) -> Release:
    at = T + dt.timedelta(days=(i * 37) % 1460 - 730)
    return Release(
        id=f"release-{i:04d}",
        title=f"Statistical bulletin number {i}: figures for the quarter",
        producer=f"Producer {i % PRODUCERS:02d} of official statistics",
        release_at=at,
        announced_at=at - dt.timedelta(days=40),
        site=Site(public="https://stats.example.gov.uk"),
        artefact=(Artefact(path=f"/statistics/{i}.xlsx", sha256=f"{i:064x}"),),
    )


async def calendar(work: Path) -> dict[str, Any]:
    engine = await open_store(f"sqlite:///{work / 'calendar.db'}")
    try:
        repo = ReleaseRepository(engine)
        for i in range(RELEASES):
            await repo.sync(calendar_release(i), actor="bench")
        app = create_app(engine, config=Config(), clock=ShiftedClock(T))
        transport = httpx.ASGITransport(app=app)
        out: dict[str, Any] = {"releases": RELEASES, "producers": PRODUCERS}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for url in ("/calendar", "/calendar.ics", "/api/calendar"):
                out[url] = await _timed(client, url)
        return out
    finally:
        await engine.dispose()


async def _timed(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    first = await client.get(url)
    assert first.status_code == 200, first.text[:200]
    times = []
    for _ in range(PAGE_TIMES):
        started = time.perf_counter()
        answer = await client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "max_ms": times[-1],
        "bytes": len(first.content),
    }


# -- live updates during a sweep ----------------------------------------------------------------


def make_webroot(root: Path) -> list[Artefact]:
    (root / "s").mkdir(parents=True)
    artefacts = []
    for i in range(URLS):
        body = os.urandom(1024)
        (root / "s" / f"{i}.csv").write_bytes(body)
        artefacts.append(Artefact(path=f"/s/{i}.csv", sha256=hashlib.sha256(body).hexdigest()))
    return artefacts


def _python() -> list[str]:
    return [sys.executable, "-m", "bench.bench_dashboard"]


def _env() -> dict[str, str]:
    root = HERE.parent
    return {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}


async def _sweep(
    verifier: Verifier, recorder: CheckRecorder, release: Release, n: int
) -> tuple[float, dict[str, float]]:
    """One sweep (fetch, judge, store in chunks); its seconds, and when each URL was stored.
    Every result differs from the one stored before it (its diagnosis names sweep ``n``, made
    outside the timing), so every row goes to the open pages: each message carries a whole
    chunk of rows, as at T when every row changes."""
    started = time.perf_counter()
    judged = (await verifier.check(release)).results
    took = time.perf_counter() - started
    results = [r.model_copy(update={"diagnosis": f"{r.diagnosis} (sweep {n})"}) for r in judged]
    started = time.perf_counter()
    stored: dict[str, float] = {}
    for start in range(0, len(results), CHUNK):
        chunk = results[start : start + CHUNK]
        await recorder.record(release.id, chunk)
        at = time.time()
        stored.update((f"{r.url}|{r.vantage}", at) for r in chunk)
    return took + time.perf_counter() - started, stored


def _listen(base: str, release_id: str, out: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*_python(), "listen", base, release_id, str(PAGES), str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "ready" once every stream is open
    if line.strip() != b"ready":
        raise RuntimeError(f"the listening pages did not open: {line!r}")
    return proc


def _heard(out: Path, stored: dict[str, float], base: str) -> tuple[list[float], int]:
    """Each message's latency, and the bytes a page got (the mean of the pages)."""
    latencies, got = [], []
    for line in out.read_text().splitlines():
        page = json.loads(line)
        for at, key in page["heard"]:
            key = base + key if key.startswith("/") else key
            if key in stored:
                latencies.append(at - stored[key])
        got.append(page["bytes"])
    return latencies, int(statistics.mean(got)) if got else 0


async def live(work: Path) -> dict[str, Any]:
    from tests.servers.nginx import Nginx

    artefacts = make_webroot(work / "www")
    origin = Nginx(work / "www", workers=1).start()
    db = f"sqlite:///{work / 'live.db'}"
    engine = await open_store(db)
    release = Release(
        id="sweep",
        title="A release of 10,000 files",
        producer="Bench",
        release_at=T,
        site=Site(public=origin.url),
        artefact=tuple(artefacts),
    )
    await ReleaseRepository(engine).sync(release, actor="bench")
    port = _free_port()
    server = subprocess.Popen([*_python(), "serve", db, str(port)], env=_env())
    base = f"http://127.0.0.1:{port}"
    rounds: list[dict[str, Any]] = []
    try:
        _wait_for(base)
        clock = ShiftedClock(T + dt.timedelta(seconds=1))
        recorder = CheckRecorder(engine)
        async with Prober(CurlTransport(concurrency=64), allowed_hosts=["127.0.0.1"]) as prober:
            verifier = Verifier(prober, clock=clock)
            await _sweep(verifier, recorder, release, 0)  # warm-up: nginx's cache, the store
            for n in range(ROUNDS):
                alone, watched = 2 * n + 1, 2 * n + 2  # the order alternates, round by round
                first = await _sweep(verifier, recorder, release, alone) if n % 2 == 0 else None
                load = os.getloadavg()[0]
                out = work / f"heard-{n}.jsonl"
                pages = _listen(base, release.id, out)
                await asyncio.sleep(1.0)  # the feed has taken its first look
                cpu, own, theirs = _cpu_of(server.pid), _cpu_self(), _cpu_of(pages.pid)
                watched_s, stored = await _sweep(verifier, recorder, release, watched)
                sweep_cpu = _cpu_self() - own
                await asyncio.sleep(5.0)  # the last chunk's message is out
                web_cpu = _cpu_of(server.pid) - cpu
                pages_cpu = _cpu_of(pages.pid) - theirs
                assert pages.stdin is not None
                pages.stdin.close()
                pages.wait(30)
                alone_s = (first or await _sweep(verifier, recorder, release, alone))[0]
                latencies, page_bytes = _heard(out, stored, origin.url.rstrip("/"))
                heard = sorted(latencies)
                rounds.append(
                    {
                        "alone_s": alone_s,
                        "watched_s": watched_s,
                        "delay_pct": (watched_s / alone_s - 1) * 100,
                        "web_cpu_s": web_cpu,
                        "pages_cpu_s": pages_cpu,
                        "sweep_cpu_s": sweep_cpu,
                        "load_1min": load,
                        "messages": len(heard),
                        "page_bytes": page_bytes,
                        "latency_median_s": statistics.median(heard) if heard else None,
                        "latency_max_s": heard[-1] if heard else None,
                    }
                )
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        origin.stop()
        await engine.dispose()
    delays = [r["delay_pct"] for r in rounds]
    worst = [r["latency_max_s"] for r in rounds if r["latency_max_s"] is not None]
    return {
        "urls": URLS,
        "pages": PAGES,
        "chunk": CHUNK,
        "rounds": rounds,
        "delay_pct_median": statistics.median(delays),
        "delay_pct_best": (
            min(r["watched_s"] for r in rounds) / min(r["alone_s"] for r in rounds) - 1
        )
        * 100,
        "alone_s_median": statistics.median(r["alone_s"] for r in rounds),
        "watched_s_median": statistics.median(r["watched_s"] for r in rounds),
        "latency_max_s": max(worst) if worst else None,
        "web_cpu_s_median": statistics.median(r["web_cpu_s"] for r in rounds),
        "sweep_cpu_s_median": statistics.median(r["sweep_cpu_s"] for r in rounds),
        "pages_cpu_s_median": statistics.median(r["pages_cpu_s"] for r in rounds),
        "load_1min_median": statistics.median(r["load_1min"] for r in rounds),
        "messages_heard": sum(r["messages"] for r in rounds),
        "messages_expected_per_round": PAGES * -(-URLS // CHUNK),
    }


def _cpu_self() -> float:
    """CPU seconds this process has used, every thread (the sweep's fetches included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(base: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the web process did not start")


# -- the two helper processes --------------------------------------------------------------------


async def serve(db: str, port: int) -> None:
    """The web app alone in its process, as ``onthedot run`` serves it (at its priority)."""
    import uvicorn

    from onthedot.web.server import yield_cpu

    yield_cpu()
    engine = await open_store(db)
    app = create_app(engine, config=Config(), clock=ShiftedClock(T + dt.timedelta(seconds=1)))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    await uvicorn.Server(config).serve()


async def listen(base: str, release_id: str, pages: int, out: Path) -> None:
    """Hold ``pages`` streams open until stdin closes; write when each heard what. At the
    web child's lower priority: the browsers would be on other machines, not on the service's
    CPUs."""
    os.nice(10)
    limits = httpx.Limits(max_connections=pages + 5)
    heard: list[list[tuple[float, str]]] = [[] for _ in range(pages)]
    got = [0] * pages
    opened = asyncio.Event()
    ready = [0]

    async def page(n: int, client: httpx.AsyncClient) -> None:
        """Read the stream as bytes (as cheaply as can be: a browser would be on another
        machine); a results message is heard when its last byte has come."""
        async with client.stream("GET", f"/releases/{release_id}/live") as response:
            ready[0] += 1
            if ready[0] == pages:
                opened.set()
            buffer, key = b"", None
            async for chunk in response.aiter_raw():
                got[n] += len(chunk)
                buffer += chunk
                while True:
                    if key is None:
                        found = buffer.find(MARK)
                        if found < 0:
                            buffer = buffer[-len(MARK) :]
                            break
                        keys = buffer.find(KEYS, found + len(MARK))
                        end = buffer.find(b'"', keys + len(KEYS)) if keys >= 0 else -1
                        if end < 0:
                            buffer = buffer[found:]
                            break
                        key = buffer[keys + len(KEYS) : end].decode()
                        buffer = buffer[end:]
                    done = buffer.find(b"\n\n")
                    if done < 0:
                        buffer = buffer[-1:]
                        break
                    heard[n].append((time.time(), key))
                    key, buffer = None, buffer[done + 2 :]

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=None) as client:
        tasks = [asyncio.create_task(page(n, client)) for n in range(pages)]
        await asyncio.wait_for(opened.wait(), 30)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    pages_heard = (json.dumps({"heard": h, "bytes": b}) for h, b in zip(heard, got, strict=True))
    out.write_text("\n".join(pages_heard) + "\n")


def run() -> dict[str, Any]:
    tune_gc()  # as the ``onthedot`` command does at start-up
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-") as tmp:
        work = Path(tmp)
        figures = {
            "calendar": asyncio.run(calendar(work)),
            "live": asyncio.run(live(work)),
        }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        asyncio.run(serve(args[1], int(args[2])))
    elif args[:1] == ["listen"]:
        asyncio.run(listen(args[1], args[2], int(args[3]), Path(args[4])))
    else:
        print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
