"""Benchmark a 10,000-URL release morning the way ``onthedot run`` does it.

One release with 10,000 artefacts (10 KB files at the nginx origin, Varnish in front). As on a real
morning, the edge has been serving last month's version of every file (all 10,000 cached, warm),
the new versions are written to the origin before T and the edge is purged (one BAN, as a
``varnish`` purger does right after the flip), so every request at T is a miss that goes to the
origin and brings the new file. The watch of the service (``Watcher.after_t``: the sweep of every
URL from T, each result judged — SHA-256, diagnosis — stored in the ``checks`` table and, for
changes of status, on the timeline) is timed from T:

* ``first_requests_ms``: from T until the sweep hands its requests to the probe engine (which
  starts the first 64 at once); the site's addresses are resolved and the sweep's requests built
  ``PREPARE_BEFORE_S`` before T (``Watcher.prepare``, as the publisher does), so this is the
  lateness of the timer and the watch;
* ``classified_s``: from T until every URL has its status;
* ``recorded_s``: from T until the results are stored and the timeline written (and its head
  signed: each write's checkpoint, as ``onthedot run`` does);
* ``peak_rss_mb``: the peak RSS of the process doing it (a child process, so nothing else counts:
  the edge is warmed with last month's files by the parent).

Baselines in the same run, each from a purged edge again: the bare probe engine fetching and
hashing the same 10,000 URLs, with no judging or recording (``probe_only_s``), so the cost of what
onthedot adds is visible; and ``wrk -t1 -c64`` fetching the same URLs until it has received the
new version of every one, timed by a clock inside wrk from its first request to the last new file
(``wrk.all_answered_s``): how fast this edge and origin hand out 10,000 new files to a client
written in C. The two run in an order that alternates from morning to morning. For each, the CPU
seconds used by onthedot's process (or wrk), by Varnish and by nginx (``sweep_cpu_s``,
``probe_only_cpu_s``, ``wrk.cpu_s_in_run``) show who had the machine's cores. ``ROUNDS``
mornings run, each on fresh servers; the median one (by ``classified_s``) is reported, with every
round.

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
    public: str, origin: str, webroot: Path, db: str, servers: dict[str, int], round_number: int
) -> dict[str, Any]:
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.collector import tune_gc
    from onthedot.model import Artefact, Release, Site
    from onthedot.morning.publisher import PREPARE_BEFORE_S
    from onthedot.morning.timer import wait_until
    from onthedot.morning.watch import Watcher, WatchPlan
    from onthedot.record.checkpoint import Anchor, bind
    from onthedot.record.checks import CheckRecorder
    from onthedot.runtime import make_verifier, prober_for
    from onthedot.settings import VerifySettings
    from onthedot.store.db import open_store
    from onthedot.verify.probe import ProbeRequest

    tune_gc()  # as the ``onthedot`` command does at start-up

    files = make_origin(webroot, "new")  # the upload, before T
    artefacts = tuple(Artefact(path=p, sha256=s, size=SIZE) for p, s in files)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PREPARE_BEFORE_S + 2)
    release = Release(
        id="morning",
        title="A big morning",
        producer="Bench",
        release_at=release_at,
        site=Site(public=public, origin=origin),
        artefact=artefacts,
    )
    engine = await open_store(db)
    evidence = Path(tempfile.mkdtemp(prefix="onthedot-evidence-"))
    bind(engine, Anchor(evidence / "timeline.key", evidence / "checkpoints.jsonl", db))  # as run
    settings = VerifySettings()
    timings: dict[str, Any] = {}
    at_t = release_at.timestamp()
    async with prober_for(release, settings) as prober:
        await prober.fetch_many(ProbeRequest(public + p) for p, _ in files[:200])  # connections up
        swept: list[tuple[float, dict[str, float]]] = []

        def on_sweep(_id: str, _seconds: float) -> None:
            swept.append((time.time(), _cpu_now(servers)))

        watcher = Watcher(
            make_verifier(prober, SYSTEM_CLOCK, settings),
            CheckRecorder(engine),
            SYSTEM_CLOCK,
            WatchPlan(dense=((0.05, 30.0),)),
            on_sweep=on_sweep,
        )
        # as the publisher does: the sweep is got ready a few seconds before T
        await wait_until(SYSTEM_CLOCK, release_at - dt.timedelta(seconds=PREPARE_BEFORE_S))
        await watcher.prepare(release)
        await wait_until(SYSTEM_CLOCK, release_at - dt.timedelta(seconds=0.3))
        _ban_everything(public)  # the purge at T
        handed = _watch_hand_over(prober)
        before = _cpu_now(servers)
        await wait_until(SYSTEM_CLOCK, release_at)
        outcome = await watcher.after_t(release).to_end()
        timings["recorded_s"] = time.time() - at_t
        timings["first_requests_ms"] = (handed[0] - at_t) * 1000
        timings["classified_s"] = swept[0][0] - at_t
        timings["sweep_cpu_s"] = _spent(before, swept[0][1])
        timings["sweeps"] = len(swept)
        timings["live"] = outcome.live
        timings["results"] = len(outcome.last.results)
        baselines = [_probe_only, _wrk_once]
        for baseline in baselines if round_number % 2 else baselines[::-1]:
            _ban_everything(public)  # each baseline starts from an empty cache too
            timings.update(await baseline(prober, public, files, servers))
    await engine.dispose()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            timings["peak_rss_mb"] = int(line.split()[1]) / 1024
    return timings


async def _probe_only(
    prober: Any, public: str, files: list[tuple[str, str]], servers: dict[str, int]
) -> dict[str, Any]:
    """Baseline: the probe engine alone fetching and hashing every URL, nothing judged."""
    from onthedot.verify.probe import ProbeRequest

    before, t = _cpu_now(servers), time.perf_counter()
    responses = await prober.fetch_many(ProbeRequest(public + p) for p, _ in files)
    return {
        "probe_only_s": time.perf_counter() - t,
        "probe_only_cpu_s": _spent(before, _cpu_now(servers)),
        "probe_only_ok": sum(r.sha256 == s for r, (_, s) in zip(responses, files, strict=True)),
    }


def _watch_hand_over(prober: Any) -> list[float]:
    """Note the moment (``time.time()``) the sweep hands its requests to the probe engine (the
    engine starts the first 64 at once): one call per sweep, nothing added per URL."""
    handed: list[float] = []
    stream = prober.transport.stream

    def noted(requests: Any, allowed_hosts: Any) -> Any:
        handed.append(time.time())
        return stream(requests, allowed_hosts)

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
local calls, first, seen, distinct, done = 0, nil, {}, 0, false
request = function()
  calls = calls + 1
  if calls == 1 then  -- wrk's own look at the script before it connects: not a request
    return wrk.format("GET", paths[1])
  end
  if first == nil then first = now() end
  return wrk.format("GET", paths[(calls - 2) %% #paths + 1])
end
response = function(status, headers, body)
  if done or status ~= 200 then return end
  local file = body:match("^%(edition)s release (%%d+);")
  if file and not seen[file] then
    seen[file] = true
    distinct = distinct + 1
    if distinct == #paths then  -- the new version of every file has arrived
      done = true
      io.write(string.format("onthedot-all-answered %%.6f\\n", now() - first))
      io.flush()
      wrk.thread:stop()
    end
  end
end
"""


async def _wrk_once(
    _prober: Any, public: str, files: list[tuple[str, str]], servers: dict[str, int]
) -> dict[str, Any]:
    """Baseline: ``wrk -t1 -c64`` fetching the same URLs from the purged edge until it has the
    new version of every one, timed by a clock inside wrk from its first request (its 64
    connections open as it starts: a few ms on loopback) to the last new file; the CPU that wrk,
    Varnish and nginx used from wrk's start to that moment."""
    with tempfile.TemporaryDirectory(prefix="onthedot-wrk-") as tmp:
        script = Path(tmp) / "once.lua"
        listed = ",".join(json.dumps(path) for path, _ in files)
        script.write_text(_WRK_ONCE % {"paths": listed, "edition": "new"})
        before = _cpu_now(servers)
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c64", f"-d{WRK_SECONDS}s", "-s", str(script), public],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert wrk.stdout is not None
        took, out = None, []
        for line in wrk.stdout:  # wrk prints its own lines first, ours when every file is in
            out.append(line)
            if line.startswith("onthedot-all-answered "):
                took = float(line.split()[1])
                spent = _spent(before, _cpu_now(servers))
                spent["wrk"] = round(_cpu_of(wrk.pid), 3)  # all of wrk's own
                break
        out += wrk.stdout.readlines()
        wrk.wait(timeout=WRK_SECONDS + 30)
    if took is None:
        raise RuntimeError(f"wrk did not get every file in {WRK_SECONDS} s:\n{''.join(out)}")
    del spent["onthedot"]  # not involved: wrk is its own process
    return {"wrk": {"all_answered_s": took, "cpu_s_in_run": spent}}


async def _last_month(public: str, webroot: Path) -> None:
    """The edge serving last month's version of every file, all cached (done in the parent, so
    the child's peak RSS is the morning's own)."""
    from onthedot.verify.probe import Prober, ProbeRequest
    from onthedot.verify.probe_curl import CurlTransport

    old_files = make_origin(webroot, "old")
    async with Prober(CurlTransport(), allowed_hosts=[urlsplit(public).hostname or ""]) as warm:
        responses = await warm.fetch_many(ProbeRequest(public + p) for p, _ in old_files)
    assert all(r.sha256 == s for r, (_, s) in zip(responses, old_files, strict=True))


def _ban_everything(public: str) -> None:
    request = urllib.request.Request(public + "/", method="BAN", headers={"X-Ban-Prefix": "/"})
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback: the test Varnish
        response.read()


def one_morning(round_number: int = 0) -> dict[str, Any]:
    """Fresh origin and edge, one release morning in a child process; its figures. The two
    baselines run after the sweep, in an order that alternates with ``round_number``."""
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
            asyncio.run(_last_month(edge.url, work / "www"))
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
                    str(round_number),
                ],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=Path(__file__).resolve().parent.parent,
            )
        finally:
            edge.stop()
            origin.stop()
    if child.returncode != 0:  # say why the morning failed, not only that it did
        raise RuntimeError(
            f"morning {round_number} failed (exit {child.returncode}): {child.stderr[-4000:]}"
        )
    figures: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def run() -> dict[str, Any]:
    """``ROUNDS`` mornings; the median one's figures (by T → classified), and every round's."""
    rounds = [one_morning(number) for number in range(ROUNDS)]
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
        public, origin, webroot, db, origin_pid, edge_pid, number = sys.argv[2:9]
        servers = {"nginx": int(origin_pid), "varnish": int(edge_pid)}
        figures = _child(public, origin, Path(webroot), db, servers, int(number))
        print(json.dumps(asyncio.run(figures)))
    else:
        print(json.dumps(run(), indent=2))
