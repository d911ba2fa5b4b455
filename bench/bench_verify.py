"""Benchmark the probe engine: URLs classified per second against ``wrk -t1 -c64`` on the same edge.

Run as ``.venv/bin/python -m bench.bench_verify`` (writes ``bench/results/verify.json``); ``run()``
returns the same figures as a dict for docs/benchmarks.md.

Setup: nginx (origin) serving 10,000 distinct 10 KB files and a 1 GB sparse file, Varnish in front
of it (the edge), cache warmed. Then, in one run:

* ``wrk``: ``wrk -t1 -c64 -d5s`` cycling through 2,000 paths on Varnish (requests per second);
* ``prober``: a ``Prober`` over ``CurlTransport(concurrency=64)`` fetching N ≥ 20,000 of the same
  URLs, hashing every body;
* ``raw_pycurl``: a bare CurlMulti loop over the same URLs (the floor any pycurl engine pays);
* ``classify_10k``: 10,000 distinct URLs fetched and classified (served SHA-256 vs expected), warm;
* ``rss``: peak RSS of a fresh process verifying 10,000 URLs, and one hashing the 1 GB file.

The machine is shared (2 CPUs here), so each ratio compares runs seconds apart and the medians
over the rounds are the figures to quote; CPU µs per URL (all threads) is the steadier measure of
the engine's own cost, next to the bare pycurl loop's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import pycurl

from onthedot.collector import tune_gc
from onthedot.verify.probe import Prober, ProbeRequest
from onthedot.verify.probe_curl import CurlTransport

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "verify.json"
FILES = 10_000
HOT = 2_000  # distinct paths in the throughput runs (wrk and prober)
SIZE = 10 * 1024
REQUESTS = 30_000
BIG = 1024**3
WRK_SECONDS = 5
ROUNDS = 7


def _cpu() -> float:
    """CPU seconds used by this process so far, every thread (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_webroot(root: Path) -> dict[str, str]:
    """Write FILES random 10 KB files and a 1 GB sparse one; return path -> SHA-256."""
    expected: dict[str, str] = {}
    (root / "f").mkdir(parents=True)
    for i in range(FILES):
        body = os.urandom(SIZE)
        path = f"/f/{i}.bin"
        (root / path[1:]).write_bytes(body)
        expected[path] = hashlib.sha256(body).hexdigest()
    with (root / "big.bin").open("wb") as big:
        big.truncate(BIG)
    return expected


def wrk(base: str, paths: list[str], workdir: Path) -> dict[str, Any]:
    """``wrk -t1 -c64`` cycling through ``paths``; requests per second and its own output."""
    script = workdir / "paths.lua"
    listing = ",".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{listing}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\nend\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{WRK_SECONDS}s", "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert match, out
    return {
        "requests_per_s": float(match.group(1)),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


async def prober_rate(base: str, paths: list[str], expected: dict[str, str]) -> dict[str, Any]:
    """Fetch REQUESTS URLs cycling through ``paths`` with concurrency 64, hashing every body."""
    requests = [ProbeRequest(base + paths[i % len(paths)]) for i in range(REQUESTS)]
    async with Prober(CurlTransport(concurrency=64), allowed_hosts=["127.0.0.1"]) as prober:
        await prober.fetch_many(requests[:1000])  # open the 64 connections
        started, cpu = time.perf_counter(), _cpu()
        live = 0
        async for response in prober.stream(requests):
            live += response.sha256 == expected[response.request.url[len(base) :]]
        elapsed, used = time.perf_counter() - started, _cpu() - cpu
    return {
        "requests": REQUESTS,
        "seconds": elapsed,
        "urls_per_s": REQUESTS / elapsed,
        "cpu_us_per_url": used / REQUESTS * 1e6,
        "live": live,
    }


async def classify(base: str, expected: dict[str, str]) -> dict[str, Any]:
    """Fetch every one of the 10,000 distinct URLs once and classify it live / stale / error."""
    requests = [ProbeRequest(base + path) for path in expected]
    counts = {"live": 0, "stale": 0, "error": 0}
    started = time.perf_counter()
    async with Prober(CurlTransport(concurrency=64), allowed_hosts=["127.0.0.1"]) as prober:
        for response in await prober.fetch_many(requests):
            if response.failure or response.http_status != 200:
                counts["error"] += 1
            elif response.sha256 == expected[response.request.url[len(base) :]]:
                counts["live"] += 1
            else:
                counts["stale"] += 1
    elapsed = time.perf_counter() - started
    return {
        "urls": len(requests),
        "seconds": elapsed,
        "urls_per_s": len(requests) / elapsed,
        **counts,
    }


def raw_pycurl_rate(base: str, paths: list[str]) -> dict[str, Any]:
    """The floor: a bare CurlMulti loop (64 handles, SHA-256 of each body), no classification."""
    multi = pycurl.CurlMulti()
    free = []
    for _ in range(64):
        handle = pycurl.Curl()
        handle.setopt(pycurl.NOSIGNAL, 1)
        free.append(handle)
    queue = deque(base + paths[i % len(paths)] for i in range(REQUESTS))
    done = 0
    started, cpu = time.perf_counter(), _cpu()
    while done < REQUESTS:
        while free and queue:
            handle = free.pop()
            handle.setopt(pycurl.URL, queue.popleft())
            handle.setopt(pycurl.WRITEFUNCTION, hashlib.sha256().update)
            multi.add_handle(handle)
        multi.perform()
        while True:
            queued, succeeded, failed = multi.info_read()
            for handle in [*succeeded, *(f[0] for f in failed)]:
                multi.remove_handle(handle)
                free.append(handle)
                done += 1
            if not queued:
                break
        multi.select(0.01)
    elapsed, used = time.perf_counter() - started, _cpu() - cpu
    for handle in free:
        handle.close()
    multi.close()
    return {
        "requests": REQUESTS,
        "seconds": elapsed,
        "urls_per_s": REQUESTS / elapsed,
        "cpu_us_per_url": used / REQUESTS * 1e6,
    }


def peak_rss(args: list[str]) -> dict[str, Any]:
    """Run ``python -m bench.bench_verify --rss ...`` in a fresh process; its own report."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_verify", "--rss", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
    ).stdout
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


async def _rss_child(kind: str, base: str) -> dict[str, Any]:
    """In the child: verify 10,000 URLs, or the 1 GB file, and report peak RSS (VmHWM)."""
    before = _vm("VmRSS")
    started = time.perf_counter()
    async with Prober(CurlTransport(concurrency=64), allowed_hosts=["127.0.0.1"]) as prober:
        if kind == "10k":
            responses = await prober.fetch_many(
                ProbeRequest(f"{base}/f/{i}.bin") for i in range(FILES)
            )
            ok = sum(r.http_status == 200 for r in responses)
        else:
            response = await prober.fetch(ProbeRequest(f"{base}/big.bin", timeout=300))
            ok = int(response.size == BIG and response.failure is None)
    return {
        "kind": kind,
        "ok": ok,
        "seconds": time.perf_counter() - started,
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": _vm("VmHWM") / 2**20,
    }


def run() -> dict[str, Any]:
    """Start nginx + Varnish, measure everything, write bench/results/verify.json, return it."""
    from tests.servers.nginx import Nginx
    from tests.servers.varnish import Varnish

    tune_gc()  # as the ``onthedot`` command does at start-up
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-") as tmp:
        work = Path(tmp)
        expected = make_webroot(work / "www")
        origin = Nginx(work / "www").start()
        edge = Varnish("127.0.0.1", origin.port, storage="malloc,256m").start()
        try:
            return _measure(origin.url, edge.url, expected, work)
        finally:
            edge.stop()
            origin.stop()


def _measure(origin: str, edge: str, expected: dict[str, str], work: Path) -> dict[str, Any]:
    hot = list(expected)[:HOT]
    load_before = os.getloadavg()
    asyncio.run(classify(edge, expected))  # warm the cache with every file (misses, not timed)
    classified = asyncio.run(classify(edge, expected))
    rounds = []
    for _ in range(ROUNDS):  # interleaved, so each ratio compares runs a few seconds apart
        wrk_figures = wrk(edge, hot, work)
        ours = asyncio.run(prober_rate(edge, hot, expected))
        raw = raw_pycurl_rate(edge, hot)
        rate = wrk_figures["requests_per_s"]
        rounds.append(
            {
                "wrk": wrk_figures,
                "prober": ours,
                "raw_pycurl": raw,
                "ratio": ours["urls_per_s"] / rate,
                "raw_ratio": raw["urls_per_s"] / rate,
            }
        )
    ratios = sorted(r["ratio"] for r in rounds)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pycurl": pycurl.version,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "setup": {
            "edge": "Varnish (malloc 256 MB) in front of nginx, cache warm",
            "body_bytes": SIZE,
            "distinct_paths": HOT,
            "connections": 64,
            "wrk": f"wrk -t1 -c64 -d{WRK_SECONDS}s, Lua script cycling through the paths",
        },
        "rounds": rounds,
        "ratio_median": ratios[len(ratios) // 2],
        "ratio_best": ratios[-1],
        "raw_ratio_median": sorted(r["raw_ratio"] for r in rounds)[len(rounds) // 2],
        "cpu_us_per_url_median": {
            name: sorted(r[name]["cpu_us_per_url"] for r in rounds)[len(rounds) // 2]
            for name in ("prober", "raw_pycurl")
        },
        "classify_10k": classified,
        "rss_10k": peak_rss(["10k", edge]),
        "rss_1gb": peak_rss(["1gb", origin]),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--rss":
        tune_gc()  # as the ``onthedot`` command does at start-up
        print(json.dumps(asyncio.run(_rss_child(sys.argv[2], sys.argv[3]))))
        return
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
