"""Failover: several ``onthedot run`` on one PostgreSQL store, the leader SIGKILLed around T.

Run as ``.venv/bin/python -m bench.bench_failover`` (writes ``bench/results/failover.json``);
``run()`` returns the same figures for docs/benchmarks.md (``python -m bench.run failover``);
``tests/e2e/test_failover.py`` runs ``failover_run`` once in CI.

A file target under a real nginx origin and a Varnish edge (old bytes cached, ``-t 3600``,
``purge = ["varnish://…"]``), a throwaway PostgreSQL database, and a chain of instances (real
``onthedot run`` subprocesses): a leader and a standby. For each case a release is written, due
``LEAD_S`` later (the leader stages it at once); the leader is SIGKILLed at the case's offset from
T (``None``: not killed, the baseline), a new standby is started once the old one has taken
over. Per release: when the standby took the lead (its ``/api/health`` ``leader_since``) after the
kill, how late the flip was (the timeline's ``publish.flipped``), when the edge first served the
new bytes (a thread polling it every 10 ms; never before T), how many ``publish.staged``,
``publish.flipped`` and ``publish.done`` events, and whether ``onthedot timeline --verify`` passes.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from tests.servers.postgres import throwaway_database

from bench.bench_publish import Site, payload, start_site

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "failover.json"
KILLS: tuple[float | None, ...] = (None, -1.0, 0.0, 0.5)  # from T; None: the baseline, no kill
LEAD_S = 5.0  # each release is due this long after it is written (the leader stages it at once)
START_S = 40.0  # an instance starts (a busy machine is slow to start Python processes)
TAKE_OVER_S = 2.0
EDGE_BY_S = 2.0
CONFIG = 'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'


@dataclass
class Instance:
    """One ``onthedot run`` subprocess, its output kept (read as it comes: a full pipe stops it)."""

    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.reader = threading.Thread(
            target=lambda: self.output.extend(self.process.stdout or ()), daemon=True
        )
        self.reader.start()

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/api/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.loads(response.read()))
        except (OSError, ValueError):
            return None

    def leads(self) -> bool:
        health = self.health()
        return bool(health and health["leader"])

    def stands_by(self) -> bool:
        """A standby that has said so (its scheduler tries to take the lead)."""
        health = self.health()
        return health is not None and health["leader"] is False and health["instance"] is not None

    def kill(self) -> float:
        """SIGKILL; the instant it was sent."""
        at = time.time()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return at

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)  # (it reads to the end: closing under it would fail it)
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Edge:
    """Polls the edge for one release's file: when the new bytes were first seen."""

    site: Site
    path: str
    new: bytes
    release_at: float
    first_new: float | None = None
    early: bool = False
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while time.time() < self.release_at + 30:
            try:
                status, body = self.site.edge_request("GET", self.path)
            except OSError:  # (the edge is being restarted by a chaos case)
                status, body = 0, b""
            if status == 200 and body == self.new:
                self.first_new = time.time()
                self.early = self.first_new < self.release_at
                return
            time.sleep(0.01)

    @property
    def new_after_t_s(self) -> float | None:
        return None if self.first_new is None else self.first_new - self.release_at


@dataclass
class Fleet:
    """The instances of one run, all on one store and one configuration."""

    config: Path
    database: str
    instances: list[Instance] = field(default_factory=list)

    def start(self) -> Instance:
        from tests.e2e.helpers import start_service
        from tests.servers.ports import free_port

        port = free_port()
        instance = Instance(start_service(self.config, self.database, port), port)
        self.instances.append(instance)
        return instance

    def until(self, what: str, condition: Callable[[], bool], limit_s: float) -> float:
        """Wait for ``condition``; the seconds it took, or AssertionError with every output."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > limit_s:
                logs = "\n---\n".join("".join(i.output)[-3000:] for i in self.instances)
                raise AssertionError(f"{what}: not within {limit_s} s\n{logs}")
            time.sleep(0.05)
        return time.monotonic() - started

    def pair(self) -> tuple[Instance, Instance]:
        """A leader, then a standby."""
        leader = self.start()
        self.until("the first instance leads", leader.leads, START_S)
        standby = self.start()
        self.until("the second instance stands by", standby.stands_by, START_S)
        return leader, standby

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()

    def tracebacks(self) -> bool:
        return any("Traceback" in "".join(i.output) for i in self.instances)


def has_step(database: str, release_id: str, step: str) -> bool:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT 1 FROM publish_steps WHERE release_id = %s AND step = %s", (release_id, step)
        ).fetchone()
    return row is not None


def write_release(
    work: Path, site: Site, release_id: str, lead_s: float = LEAD_S, purge: str | None = None
) -> Edge:
    """A release due in ``lead_s`` (old bytes cached at the edge; staged outside the served
    tree; purged through ``purge``, by default the edge's own purger), and the thread that
    watches the edge for its new bytes (started)."""
    from tests.e2e.helpers import write_site_release

    path = f"/statistics/{release_id}.xlsx"
    staging = work / "staging"
    staging.mkdir(exist_ok=True)
    site.cache_old(path, payload(f"old {release_id}"))
    new, release_at = payload(f"new {release_id}"), time.time() + lead_s
    write_site_release(
        work / "releases", public=site.public, origin=site.origin,
        release_at=dt.datetime.fromtimestamp(release_at, dt.UTC),
        artefacts=[(path, new, None)], target=f"{site.target}?staging={staging}",
        purge=(purge or site.purge,), id=release_id,
    )  # fmt: skip
    edge = Edge(site, path, new, release_at)
    edge.thread.start()
    return edge


def recorded(database: str, config: Path, release_id: str) -> dict[str, Any]:
    """What the store holds of a release: its event counts, the flip, the chain's check, the
    breaches of the Code found in its record."""
    from tests.e2e.helpers import cli

    code, timeline = cli(database, "timeline", release_id, "--verify", config=config)
    kinds = [e["kind"] for e in timeline.get("events", [])]
    flipped = next((e for e in timeline.get("events", []) if e["kind"] == "publish.flipped"), None)
    _, found = cli(database, "breaches", release_id, config=config)
    return {
        "breaches": [b["kind"] for b in found.get("breaches", [])],
        "verify_ok": code == 0 and bool(timeline.get("ok")),
        "events": len(kinds),
        "kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
        "flip_late_s": flipped["data"]["late_s"] if flipped else None,
    }


def _since(instance: Instance) -> float | None:
    health = instance.health()
    if not health or not health.get("leader_since"):
        return None
    return dt.datetime.fromisoformat(health["leader_since"].replace("Z", "+00:00")).timestamp()


def failover_run(
    work: Path, database: str, site: Site, kills: Sequence[float | None] = KILLS
) -> list[dict[str, Any]]:
    """One release per entry of ``kills``, the leader SIGKILLed that long from its T."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "releases").mkdir(exist_ok=True)
    config = work / "onthedot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    fleet = Fleet(config, database)
    cases: list[dict[str, Any]] = []
    try:
        leader, standby = fleet.pair()
        for index, kill in enumerate(kills):
            rid = f"failover-{index}"
            edge = write_release(work, site, rid)
            case: dict[str, Any] = {"release": rid, "kill_s": kill, "edge": edge}
            fleet.until(f"{rid} staged", partial(has_step, database, rid, "staged"), LEAD_S)
            case["roles_before"] = leader.leads() and standby.stands_by()
            if kill is not None:
                time.sleep(max(0.0, edge.release_at + kill - time.time()))
                killed_at = leader.kill()
                case["killed_vs_t_s"] = killed_at - edge.release_at
                leader, standby = standby, fleet.start()
                fleet.until(f"a standby leads after the kill at T{kill:+}", leader.leads, 10)
                since = _since(leader)
                case["take_over_s"] = None if since is None else since - killed_at
                fleet.until("a new standby stands by", standby.stands_by, START_S)
            fleet.until(f"{rid} done", partial(has_step, database, rid, "verified"), 30)
            cases.append(case)
    finally:
        fleet.stop()
    for case in cases:
        edge = case.pop("edge")
        edge.thread.join(timeout=30)
        case.update(
            edge_new_s=edge.new_after_t_s,
            early=edge.early,
            **recorded(database, config, case["release"]),
        )
    if cases:
        cases[0]["tracebacks"] = fleet.tracebacks()
    return cases


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="onthedot-bench-failover-") as tmp,
        ExitStack() as stack,
    ):
        site = start_site("file", stack, Path(tmp) / "site")
        with throwaway_database() as database:
            cases = failover_run(Path(tmp) / "failover", database, site)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "setup": {
            "lead_s": LEAD_S,
            "instances": "onthedot run --poll 1 (subprocesses), a leader and a standby",
            "store": "PostgreSQL on 127.0.0.1:5432 (a database of its own)",
            "target": "file:// under nginx, Varnish -t 3600 in front, varnish:// purger",
        },
        "failover": cases,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    for case in run()["failover"]:
        print(json.dumps(case))


if __name__ == "__main__":
    main()
