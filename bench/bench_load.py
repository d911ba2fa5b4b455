"""Load: 200 releases × 50 URLs due at the same T, three ``onthedot run`` on one PostgreSQL store.

Run as ``.venv/bin/python -m bench.run load`` (writes ``bench/results/load.json``).

A file target into nginx's web root with a Varnish edge in front (``-t 3600``, Varnish's own default
thread pools as a site's edge runs them, not the sandbox's small one: at T every request is a miss
and 64 at a time waited for threads to be made; purged at T through ``varnish://``), the old version of every file at the origin (the leak probes before T put it in
the edge's cache). Per scenario a throwaway PostgreSQL database on 127.0.0.1:5432 and that many
real ``onthedot run`` subprocesses (``bench.bench_failover.Fleet``); once one leads and the others
stand by, ``RELEASES`` release files of ``URLS`` small files each are written (each in a folder of
its own, moved into the watched folder whole), all due ``LEAD_S`` later. Measured:

- **classified**: when every URL of a release has a result checked at or after T in ``checks``
  (a thread asks the store every ``POLL_S``: the figure is when the answer came back, so it is
  late by up to that much), per release and for all of them;
- **flips**: ``publish.flipped`` per release (exactly one each, or it published twice) and its
  ``late_s``; how long before T every release was staged;
- **dashboard**: from T − ``LOAD_BEFORE_S`` to T + ``LOAD_AFTER_S`` a separate process
  (``bench.dashboard_load``) keeps ``CONNECTIONS`` requests in flight over ``/``, ``/calendar``,
  ``/releases/{id}`` and ``/api/releases/{id}`` (the last two with a read token) on every
  instance's web port: p50 / p95 / max.

Baseline in the same run: the same releases, servers and readers with one instance.

With ``ONTHEDOT_PROFILE=folder`` every instance samples its event loop's stack into that folder
(``bench/loop_sampling``; summed up by ``python -m bench.loop_profile``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from tests.servers.postgres import throwaway_database

from bench.bench_failover import Fleet
from bench.bench_morning import VARNISH_DEFAULT_POOLS
from bench.bench_publish import Site, start_site
from bench.dashboard_load import Spec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "load.json"
RELEASES = int(os.environ.get("ONTHEDOT_BENCH_LOAD_RELEASES", "200"))
URLS = int(os.environ.get("ONTHEDOT_BENCH_LOAD_URLS", "50"))
SCENARIOS = tuple(int(n) for n in os.environ.get("ONTHEDOT_BENCH_LOAD_SCENARIOS", "3,1").split(","))
"""How many instances in each scenario, in turn; the one instance is the baseline."""
LEAD_S = float(os.environ.get("ONTHEDOT_BENCH_LOAD_LEAD_S", "60"))
START_S = 60.0  # every instance up (a busy machine is slow to start Python processes)
WAIT_S = 30.0  # how long after T the bench waits for every URL to be classified
POLL_S = 0.25  # (each ask scans the results so far: more often would load the store itself)
LOAD_BEFORE_S, LOAD_AFTER_S, CONNECTIONS = 5.0, 10.0, 8
CLASSIFIED_GOAL_S, DASHBOARD_GOAL_MS = 5.0, 500.0
CONFIG = 'releases = ["releases/*/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'


@dataclass(frozen=True)
class Shape:
    """How big a morning: releases, URLs each, T after the files are written, the wait after T."""

    releases: int = RELEASES
    urls: int = URLS
    lead_s: float = LEAD_S
    wait_s: float = WAIT_S


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its children alive now have used."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_s(int(child)) for child in children)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent not idle (every process, other work included)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _children() -> list[int]:
    """This process's children (every thread's)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        try:
            found += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def cpu_now(conn: psycopg.Connection[Any], instances: list[int], reader: int) -> dict[str, Any]:
    """CPU seconds used so far: each instance (its dashboard included), nginx and Varnish (this
    process's other children), the store's server processes for this database, the readers, this
    process, the whole machine (other work included)."""
    backends = [pid for (pid,) in conn.execute(BACKENDS).fetchall()]
    servers = [pid for pid in _children() if pid not in (*instances, reader)]
    own = os.times()
    return {
        "at": time.time(),
        "instances": [cpu_s(pid) for pid in instances],
        "servers": sum(map(cpu_s, servers)),
        "store": sum(map(cpu_s, backends)),
        "readers": cpu_s(reader),
        "bench": own.user + own.system,
        "machine": machine_busy_s(),
    }


BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


@dataclass
class Morning:
    """One scenario's releases: their ids, T, and what the store said as they went."""

    ids: list[str]
    urls: int  # each
    release_at: float
    pids: list[int]  # the instances'
    reader: int = 0  # the readers' process
    staged_at: float | None = None  # when every release had its ``staged`` step
    classified: dict[str, float] = field(default_factory=dict)  # release → s after T
    polls: int = 0
    cpu: list[dict[str, Any]] = field(default_factory=list)  # at T − 5 s and T + 10 s

    def note_cpu(self, conn: psycopg.Connection[Any]) -> None:
        """At the start and the end of the burst: who used the CPU."""
        due = self.release_at + (LOAD_AFTER_S if self.cpu else -LOAD_BEFORE_S)
        if len(self.cpu) < 2 and time.time() >= due:
            self.cpu.append(cpu_now(conn, self.pids, self.reader))

    def burst_cpu(self) -> dict[str, Any]:
        """CPU seconds per second of the burst, by whom; ``other``: the machine's other work."""
        if len(self.cpu) < 2:
            return {}
        before, after = self.cpu
        took = after["at"] - before["at"]
        rate = {k: (after[k] - before[k]) / took for k in before if k not in ("at", "instances")}
        each = [
            (b - a) / took for a, b in zip(before["instances"], after["instances"], strict=True)
        ]
        ours = sum(each) + sum(v for k, v in rate.items() if k != "machine")
        return {"instances": each, **rate, "other": rate["machine"] - ours, "cpus": os.cpu_count()}


def write_releases(
    work: Path, site: Site, scenario: str, release_at: float, shape: Shape
) -> list[str]:
    """The shape's release files due at ``release_at``, each moved into ``releases/`` whole."""
    import datetime as dt

    from tests.e2e.helpers import write_site_release

    assert site.root is not None
    ids = [f"load-{n:03d}" for n in range(shape.releases)]
    at = dt.datetime.fromtimestamp(release_at, dt.UTC)
    for rid in ids:
        artefacts: list[tuple[str, bytes | None, str | None]] = []
        for n in range(shape.urls):
            path = f"/statistics/{scenario}/{rid}/table-{n:02d}.csv"
            site.put_old(path, f"old {rid} {n}\n".encode())
            artefacts.append((path, f"new {rid} {n} {os.urandom(8).hex()}\n".encode(), None))
        write_site_release(
            work / "incoming" / rid, public=site.public, origin=site.origin, release_at=at,
            artefacts=artefacts, target=f"{site.target}?staging={work / 'staging'}",
            purge=(site.purge,), id=rid,
        )  # fmt: skip
        (work / "incoming" / rid).rename(work / "releases" / rid)
    return ids


def watch_store(database: str, morning: Morning, until: float) -> None:
    """Ask the store every ``POLL_S`` until every release is classified (or ``until``)."""
    with psycopg.connect(database, autocommit=True) as conn:
        while time.time() < until and (
            len(morning.classified) < len(morning.ids) or len(morning.cpu) < 2
        ):
            morning.note_cpu(conn)
            if morning.staged_at is None:
                (staged,) = conn.execute(
                    "SELECT count(*) FROM publish_steps WHERE step = 'staged'"
                ).fetchone() or (0,)
                if staged >= len(morning.ids):
                    morning.staged_at = time.time()
            if time.time() >= morning.release_at and len(morning.classified) < len(morning.ids):
                _classified(conn, morning)
            time.sleep(POLL_S)


def _classified(conn: psycopg.Connection[Any], morning: Morning) -> None:
    rows = conn.execute(
        "SELECT release_id, count(DISTINCT url) FROM checks WHERE checked_at >= to_timestamp(%s)"
        " AND NOT release_id = ANY(%s) GROUP BY release_id",
        (morning.release_at, list(morning.classified)),
    ).fetchall()
    answered, morning.polls = time.time(), morning.polls + 1
    for rid, urls in rows:
        if urls >= morning.urls and rid not in morning.classified:
            morning.classified[rid] = answered - morning.release_at


def flips(database: str, release_at: float) -> dict[str, Any]:
    """``publish.flipped`` per release: how many, and how late; the results stored from T on,
    by status (a URL swept again while it is not live adds one each time) and by the instance
    that looked (most first: the leader's share, then the others' of the spread sweeps); and
    when each of ``STEPS`` was on the timeline after T (its median and its last)."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT release_id, data FROM events WHERE kind = 'publish.flipped'"
        ).fetchall()
        statuses = conn.execute(
            "SELECT status, count(*) FROM checks WHERE checked_at >= to_timestamp(%s)"
            " GROUP BY status ORDER BY status",
            (release_at,),
        ).fetchall()
        looked = conn.execute(
            "SELECT count(*) FROM checks WHERE checked_at >= to_timestamp(%s)"
            " GROUP BY checked_by ORDER BY count(*) DESC",
            (release_at,),
        ).fetchall()
        steps = conn.execute(
            "SELECT kind, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
            " recorded_at)), max(extract(epoch FROM recorded_at)) FROM events"
            " WHERE at >= to_timestamp(%s) - interval '1 second' AND kind = ANY(%s)"
            " GROUP BY kind",
            (release_at, list(STEPS)),
        ).fetchall()
    count: dict[str, int] = {}
    late: list[float] = []
    for rid, data in rows:
        count[rid] = count.get(rid, 0) + 1
        late.append(float(json.loads(data)["late_s"]))
    by = [int(n) for (n,) in looked]
    recorded = {  # when each step was on the timeline, after T: its median and its last
        kind: [float(median) - release_at, float(last) - release_at] for kind, median, last in steps
    }
    return {
        "counts": count,
        "late_s": late,
        "results": dict(statuses),
        "by_instance": by,
        "recorded_s": recorded,
    }


STEPS = ("publish.flipped", "purge.attempt", "verify.result")
"""The steps after T whose record times the results give: the flips, the purges' answers, the
sweep's results (a guide to where the wait for classification goes)."""


def read_token(database: str, config: Path) -> str:
    from tests.e2e.helpers import cli

    code, made = cli(database, "token", "add", "bench-reader", "--role", "read", config=config)
    if code != 0:
        raise RuntimeError(f"onthedot token add failed: {made}")
    return str(made["token"])


def readers(spec: Spec) -> subprocess.Popen[str]:
    """The dashboard's readers (``bench.dashboard_load``), in a process of their own."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench.dashboard_load", json.dumps(asdict(spec))],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def dashboard(samples: list[list[Any]], release_at: float) -> dict[str, Any]:
    """p50 / p95 / max in ms: all requests, per page, before and after T; failures counted."""

    def ms(rows: list[list[Any]]) -> dict[str, Any]:
        figures = percentiles([r[1] * 1000 for r in rows])
        sizes = [r[4] for r in rows if r[3] == 200]
        return {"requests": len(rows), **figures, "bytes_max": max(sizes, default=None)}

    return {
        "all": ms(samples),
        "before_t": ms([s for s in samples if s[0] < release_at]),
        "after_t": ms([s for s in samples if s[0] >= release_at]),
        "pages": {
            p: ms([s for s in samples if s[2] == p]) for p in sorted({s[2] for s in samples})
        },
        "failed": sum(s[3] != 200 for s in samples),
        "statuses": sorted({s[3] for s in samples}),
    }


def up(fleet: Fleet, instances: int) -> float:
    """Start the instances; the seconds until one leads and the others stand by."""
    started = time.time()
    for _ in range(instances):
        fleet.start()
    fleet.until("one instance leads", lambda: any(i.leads() for i in fleet.instances), START_S)
    fleet.until(
        "the others stand by",
        lambda: sum(i.stands_by() for i in fleet.instances) == instances - 1,
        START_S,
    )
    return time.time() - started


def scenario(work: Path, site: Site, instances: int, shape: Shape | None = None) -> dict[str, Any]:
    """One morning with ``instances`` instances on a fresh database."""
    shape, name = shape or Shape(), f"x{instances}"
    for folder in ("releases", "incoming", "staging"):
        (work / folder).mkdir(parents=True)
    config = work / "onthedot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with throwaway_database() as database:
        fleet = Fleet(config, database)
        try:
            up_s = up(fleet, instances)
            token = read_token(database, config)
            release_at = time.time() + shape.lead_s
            ids = write_releases(work, site, name, release_at, shape)
            pids = [i.process.pid for i in fleet.instances]
            morning = Morning(ids, shape.urls, release_at, pids)
            written_s = time.time() - (release_at - shape.lead_s)
            spec = Spec(
                [i.port for i in fleet.instances], morning.ids, token,
                release_at - LOAD_BEFORE_S, release_at + LOAD_AFTER_S, CONNECTIONS,
            )  # fmt: skip
            reading = readers(spec)
            morning.reader = reading.pid
            watch_store(database, morning, release_at + shape.wait_s)
            out, _ = reading.communicate(timeout=LOAD_AFTER_S + 60)
            flipped = flips(database, release_at)
            said = ["".join(i.output) for i in fleet.instances]  # (before stopping: no hand-overs)
        finally:
            fleet.stop()
            _keep_logs(name, fleet)
    found = summary(morning, flipped, json.loads(out), (up_s, written_s), said)
    return {"scenario": name, "instances": instances, "wait_s": shape.wait_s, **found}


def summary(
    morning: Morning,
    flipped: dict[str, Any],
    samples: list[list[Any]],
    setup_s: tuple[float, float],
    said: list[str],
) -> dict[str, Any]:
    per_release = list(morning.classified.values())
    counts = flipped["counts"]
    up_s, written_s = setup_s
    return {
        "releases": len(morning.ids),
        "urls": len(morning.ids) * morning.urls,
        "instances_up_s": up_s,
        "releases_written_s": written_s,
        "staged_before_t_s": None
        if morning.staged_at is None
        else morning.release_at - morning.staged_at,
        "classified_releases": len(per_release),
        "classified_s": percentiles(per_release),
        "all_classified_s": max(per_release) if len(per_release) == len(morning.ids) else None,
        "store_polls": morning.polls,
        "burst_cpu_per_s": morning.burst_cpu(),
        "flipped_releases": len(counts),
        "double_publishes": sum(c > 1 for c in counts.values()),
        "flip_late_s": percentiles(flipped["late_s"]),
        "results_after_t": flipped["results"],
        "results_by_instance": flipped["by_instance"],
        "recorded_s": flipped["recorded_s"],
        "dashboard_ms": dashboard(samples, morning.release_at),
        "leaderships_taken": sum(o.count("this instance is now the leader") for o in said),
        "leaderships_lost": sum(o.count("this instance is now a standby") for o in said),
        "holds_lost": sum(o.count("lost its hold on") for o in said),
        "publish_crashed": sum(o.count("publish crashed") for o in said),
        "responder_failed": sum(o.count("incidents not brought up to date") for o in said),
        "tracebacks": [_traceback(o) for o in said],
    }


def _keep_logs(name: str, fleet: Fleet) -> None:
    """Every instance's output into ``$ONTHEDOT_BENCH_LOAD_LOGS`` (if set), to read afterwards."""
    folder = os.environ.get("ONTHEDOT_BENCH_LOAD_LOGS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for n, instance in enumerate(fleet.instances):
            (Path(folder) / f"{name}-{n}.log").write_text("".join(instance.output))


def _traceback(output: str) -> str | None:
    """The first traceback an instance printed (and what it logged just before), if any."""
    at = output.find("Traceback")
    return None if at < 0 else output[max(0, at - 600) : at + 4000]


def _sampling() -> None:
    """With ``ONTHEDOT_PROFILE`` set, the instances start ``bench/loop_sampling`` (their
    ``PYTHONPATH`` is this process's)."""
    if os.environ.get("ONTHEDOT_PROFILE"):
        Path(os.environ["ONTHEDOT_PROFILE"]).mkdir(parents=True, exist_ok=True)
        paths = [str(HERE / "loop_sampling"), os.environ.get("PYTHONPATH", "")]
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def run() -> dict[str, Any]:
    _sampling()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-load-") as tmp, ExitStack() as stack:
        site = start_site("file", stack, Path(tmp) / "site", VARNISH_DEFAULT_POOLS)
        scenarios = [scenario(Path(tmp) / f"x{n}", site, n) for n in SCENARIOS]
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "setup": {
            "releases": RELEASES,
            "urls_per_release": URLS,
            "lead_s": LEAD_S,
            "poll_s": POLL_S,
            "load_from_s": -LOAD_BEFORE_S,
            "load_until_s": LOAD_AFTER_S,
            "connections": CONNECTIONS,
            "classified_goal_s": CLASSIFIED_GOAL_S,
            "dashboard_goal_ms": DASHBOARD_GOAL_MS,
            "machine_cpus": os.cpu_count(),
        },
        "scenarios": scenarios,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    for found in run()["scenarios"]:
        print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
