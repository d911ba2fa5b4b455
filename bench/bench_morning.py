"""Benchmark a 10,000-URL release morning the way ``onthedot run`` does it.

One release with 10,000 artefacts (10 KB files at the nginx origin, Varnish in front). As on a real
morning, the edge has been serving last month's version of every file (all 10,000 cached, warm),
the new versions are written to the origin before T and the edge is purged (one BAN, as a
``varnish`` purger does right after the flip), so every request at T is a miss that goes to the
origin and brings the new file. The watch of the service (``Watcher.after_t``: the sweep of every
URL from T, each result judged — SHA-256, diagnosis — stored in the ``checks`` table and, for
changes of status, on the timeline) is timed from T:

* ``first_requests_ms``: from T until the sweep hands its requests to the probe engine (which
  starts the first 64 at once); the sweep's requests are built before T (``Watcher.prepare``, as
  the publisher does), so this is the scheduler's own lateness;
* ``classified_s``: from T until every URL has its status (the sweep itself);
* ``recorded_s``: from T until the results are stored and the timeline written;
* ``peak_rss_mb``: the peak RSS of the process doing it (a child process, so nothing else counts).

Baselines in the same run, each from a purged edge again: the bare probe engine fetching and
hashing the same 10,000 URLs, with no judging or recording (``probe_only_s``), so the cost of what
onthedot adds is visible; and ``wrk -t1 -c64`` fetching the same 10,000 URLs once each, timed by a
clock inside wrk from its first request to its answer for the last URL, after which it idles
(``wrk.all_answered_s``):
how fast this edge and origin hand out 10,000 new files to the fastest client there is. For each,
the CPU seconds used by onthedot's process (or wrk), by Varnish and by nginx (``sweep_cpu_s``,
``probe_only_cpu_s``, ``wrk.cpu_s_in_run``) show who had the machine's cores. ``ROUNDS`` mornings run,
each on fresh servers; the median one (by ``classified_s``) is reported, with every round.

The edge runs with Varnish's shipped thread-pool settings (2 pools of 100–5,000 threads; the test
suite's servers use a smaller pool to save memory on CI) and nginx with ``worker_processes`` equal to
the number of CPUs (Debian's ``auto``), as a production edge and origin would.

Run: ``.venv/bin/python -m bench.bench_morning`` (writes bench/results/morning.json).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

URLS = 10_000
SIZE = 10_000
ROUNDS = 5  # mornings, each on fresh servers; the median is the figure
WRK_SECONDS = 4  # wrk's run: long enough to fetch the 10,000 URLs once from a purged edge
RESULTS = Path(__file__).resolve().parent / "results"


VARNISH_DEFAULT_POOLS = ("thread_pools=2", "thread_pool_min=100", "thread_pool_max=5000")


def make_origin(root: Path, edition: str = "new") -> list[tuple[str, str]]:
    """10,000 distinct files of one ``edition``; returns (path, sha256) for each."""
    (root / "stats").mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(URLS):
        data = (f"{edition} release {i};".encode() * (SIZE // 10 + 1))[:SIZE]
        path = f"/stats/t{i:05d}.csv"
        (root / path.lstrip("/")).write_bytes(data)
        made.append((path, hashlib.sha256(data).hexdigest()))
    return made


def _cpu_of(root: int) -> float:
    """CPU seconds (user + system, every thread) used so far by process ``root`` and every
    process below it (nginx's workers, Varnish's child)."""
    parents: dict[int, int] = {}
    used: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            used[int(entry)] = int(fields[11]) + int(fields[12])
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return sum(used.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def _cpu_now(servers: dict[str, int]) -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"onthedot": usage.ru_utime + usage.ru_stime} | {
        name: _cpu_of(pid) for name, pid in servers.items()
    }


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before[name], 3) for name in before}


async def _child(
    public: str, origin: str, webroot: Path, db: str, servers: dict[str, int]
) -> dict[str, Any]:
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.model import Artefact, Release, Site
    from onthedot.publish.timer import wait_until
    from onthedot.runtime import VerifySettings, make_verifier, prober_for, tune_gc
    from onthedot.store.db import open_store
    from onthedot.verify.probe import ProbeRequest
    from onthedot.verify.recorder import CheckRecorder
    from onthedot.verify.schedule import Watcher, WatchPlan

    tune_gc()  # as the ``onthedot`` command does at start-up

    old_files = make_origin(webroot, "old")
    async with prober_for_site(public) as warm:  # last month: the edge serves the old files
        responses = await warm.fetch_many(ProbeRequest(public + p) for p, _ in old_files)
        assert all(r.sha256 == s for r, (_, s) in zip(responses, old_files, strict=True))
    files = make_origin(webroot, "new")  # the upload, before T
    artefacts = tuple(Artefact(path=p, sha256=s, size=SIZE) for p, s in files)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    release = Release(
        id="morning",
        title="A big morning",
        producer="Bench",
        release_at=release_at,
        site=Site(public=public, origin=origin),
        artefact=artefacts,
    )
    engine = await open_store(db)
    settings = VerifySettings()
    timings: dict[str, Any] = {}
    async with prober_for(release, settings) as prober:
        started = time.perf_counter()
        await prober.fetch_many(ProbeRequest(public + p) for p, _ in files[:200])  # connections up
        sweeps: list[float] = []
        swept: list[dict[str, float]] = []

        def on_sweep(_id: str, seconds: float) -> None:
            sweeps.append(seconds)
            swept.append(_cpu_now(servers))

        watcher = Watcher(
            make_verifier(prober, SYSTEM_CLOCK, settings),
            CheckRecorder(engine),
            SYSTEM_CLOCK,
            WatchPlan(dense=((0.05, 30.0),)),
            on_sweep=on_sweep,
        )
        await watcher.prepare(release)  # as the publisher does before it waits for T
        await wait_until(SYSTEM_CLOCK, release_at - dt.timedelta(seconds=0.3))
        _ban_everything(public)  # the purge at T
        handed = _watch_hand_over(prober)
        await wait_until(SYSTEM_CLOCK, release_at)
        at_t = _cpu_now(servers)
        t = time.perf_counter()
        outcome = await watcher.after_t(release)
        timings["first_requests_ms"] = (handed[0] - release_at.timestamp()) * 1000
        timings["recorded_s"] = time.perf_counter() - t
        timings["classified_s"] = sweeps[0]
        timings["sweep_cpu_s"] = _spent(at_t, swept[0])
        timings["sweeps"] = len(sweeps)
        timings["live"] = outcome.live
        timings["results"] = len(outcome.last.results)
        _ban_everything(public)  # the baseline starts from an empty cache too
        before, t = _cpu_now(servers), time.perf_counter()
        responses = await prober.fetch_many(ProbeRequest(public + p) for p, _ in files)
        timings["probe_only_s"] = time.perf_counter() - t
        timings["probe_only_cpu_s"] = _spent(before, _cpu_now(servers))
        timings["probe_only_ok"] = sum(
            r.sha256 == s for r, (_, s) in zip(responses, files, strict=True)
        )
        timings["setup_s"] = t - started
    _ban_everything(public)  # wrk, too, starts from an empty cache
    timings["wrk"] = _wrk_once(public, [p for p, _ in files], servers)
    await engine.dispose()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            timings["peak_rss_mb"] = int(line.split()[1]) / 1024
    return timings


def _watch_hand_over(prober: Any) -> list[float]:
    """Note the moment (``time.time()``) the sweep hands its requests to the probe engine (the
    engine starts the first 64 at once): one call per sweep, nothing added per URL."""
    handed: list[float] = []
    stream = prober.transport.stream

    def noted(requests: Any) -> Any:
        handed.append(time.time())
        return stream(requests)

    prober.transport.stream = noted
    return handed


_WRK_ONCE = """\
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } onthedot_timespec;
int clock_gettime(int clock, onthedot_timespec *now);
]]
local now_ts = ffi.new("onthedot_timespec")
local function now()
  ffi.C.clock_gettime(1, now_ts)  -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) / 1e9
end
local paths = {%(paths)s}
local sent, answered, first = 0, 0, nil
request = function()
  if first == nil then first = now() end
  sent = sent + 1
  return wrk.format("GET", paths[(sent - 1) %% #paths + 1])
end
response = function(status, headers, body)
  answered = answered + 1
  if status == 200 and answered == #paths then
    io.write(string.format("onthedot-all-answered %%.6f\\n", now() - first))
    wrk.thread:stop()  -- idle until -d ends, so the CPU figures are those of the 10,000
  end
end
"""


def _wrk_once(public: str, paths: list[str], servers: dict[str, int]) -> dict[str, Any]:
    """Baseline: ``wrk -t1 -c64`` fetching the same URLs once each from the purged edge, timed
    from its first request to its answer for the last URL (a Lua clock inside wrk; its thread
    then stops and wrk idles until its ``-d``), with the CPU wrk, the edge and the origin used."""
    with tempfile.TemporaryDirectory(prefix="onthedot-wrk-") as tmp:
        script = Path(tmp) / "once.lua"
        listed = ",".join(f'"{path}"' for path in paths)
        script.write_text(_WRK_ONCE % {"paths": listed})
        before = _cpu_now(servers)
        wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            ["wrk", "-t1", "-c64", f"-d{WRK_SECONDS}s", "-s", str(script), public],
            capture_output=True,
            text=True,
            timeout=WRK_SECONDS + 30,
            check=True,
        ).stdout
        spent = _spent(before, _cpu_now(servers))
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    del spent["onthedot"]  # not involved: wrk is its own process
    spent["wrk"] = round(
        wrk_after.ru_utime + wrk_after.ru_stime - wrk_before.ru_utime - wrk_before.ru_stime, 3
    )
    for line in out.splitlines():
        if line.startswith("onthedot-all-answered "):
            return {"all_answered_s": float(line.split()[1]), "cpu_s_in_run": spent}
    raise RuntimeError(f"wrk did not answer all {len(paths)} URLs in {WRK_SECONDS} s:\n{out}")


def prober_for_site(public: str) -> Any:
    from onthedot.verify.probe import Prober

    return Prober(allowed_hosts=[urlsplit(public).hostname or ""])


def _ban_everything(public: str) -> None:
    request = urllib.request.Request(public + "/", method="BAN", headers={"X-Ban-Prefix": "/"})
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback: the test Varnish
        response.read()


def one_morning() -> dict[str, Any]:
    """Fresh origin and edge, one release morning in a child process; its figures."""
    from tests.servers.nginx import Nginx
    from tests.servers.varnish import Varnish

    with tempfile.TemporaryDirectory(prefix="onthedot-morning-") as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        origin = Nginx(work / "www", workers=os.cpu_count() or 1).start()
        edge = Varnish(
            origin.host, origin.port, storage="malloc,256m", params=VARNISH_DEFAULT_POOLS
        ).start()
        try:
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_morning",
                    "--child",
                    edge.url,
                    origin.url,
                    str(work / "www"),
                    f"sqlite:///{work / 'store.db'}",
                    str(origin.pid),
                    str(edge.pid),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
        finally:
            edge.stop()
            origin.stop()
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def run() -> dict[str, Any]:
    """``ROUNDS`` mornings; the median one's figures (by T → classified), and every round's."""
    rounds = [one_morning() for _ in range(ROUNDS)]
    result = dict(sorted(rounds, key=lambda r: r["classified_s"])[len(rounds) // 2])
    result.update(
        rounds=rounds,
        peak_rss_mb=max(r["peak_rss_mb"] for r in rounds),
        urls=URLS,
        file_bytes=SIZE,
        goal_s=1.5,
        goal_rss_mb=200,
        machine_cpus=os.cpu_count(),
        edge=f"Varnish, {' '.join(VARNISH_DEFAULT_POOLS)}; nginx, {os.cpu_count()} workers",
    )
    result["ratio_to_probe_only"] = result["probe_only_s"] / result["classified_s"]
    result["ratio_to_wrk"] = result["wrk"]["all_answered_s"] / result["classified_s"]
    result["first_requests_ms_max"] = max(r["first_requests_ms"] for r in rounds)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "morning.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        public, origin, webroot, db, origin_pid, edge_pid = sys.argv[2:8]
        servers = {"nginx": int(origin_pid), "varnish": int(edge_pid)}
        print(json.dumps(asyncio.run(_child(public, origin, Path(webroot), db, servers))))
    else:
        print(json.dumps(run(), indent=2))
