"""Failover: two ``onthedot run`` on one PostgreSQL store; the leader SIGKILLed around T.

A file target under a real nginx origin and a Varnish edge (old bytes cached, ``-t 3600``,
``purge = ["varnish://…"]``), three releases one after the other, and a chain of instances (real
subprocesses, ``tests.e2e.helpers.start_service``): the leader is SIGKILLed at T − 1 s of the
first release, at T of the second, at T + 0.5 s of the third; each time a standby is running
(it must lead within 2 s), and a new standby is started once it has taken over. For every release: the edge has the new
bytes by T + 2 s and never before T, exactly one ``publish.staged``, ``publish.flipped`` and
``publish.done``, and ``onthedot timeline --verify`` passes (no event lost or changed).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.bench_publish import Site, payload, start_site

from tests.conftest import _postgres_url
from tests.e2e.helpers import cli, start_service, write_config, write_site_release
from tests.servers.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.slow]

KILLS = (-1.0, 0.0, 0.5)  # when each leader dies, from its release's T
LEAD_S = 5.0  # each release is due this long after it is written (the leader stages it at once)
START_S = 40.0  # an instance starts (a busy CI machine is slow to start Python processes)
TAKE_OVER_S = 2.0
EDGE_BY_S = 2.0


@dataclass
class Instance:
    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)

    def health(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/api/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.loads(response.read()))
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def drain(self) -> None:
        """Keep reading its output (a full pipe would stop it), for the failure message."""
        assert self.process.stdout is not None
        threading.Thread(
            target=lambda: self.output.extend(self.process.stdout or ()), daemon=True
        ).start()


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
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        while time.time() < self.release_at + 15:
            status, body = self.site.edge_request("GET", self.path)
            if status == 200 and body == self.new:
                seen = time.time()
                self.early = seen < self.release_at
                self.first_new = seen
                return
            time.sleep(0.01)


@pytest.fixture
def database() -> Iterator[str]:
    yield from _postgres_url()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with ExitStack() as stack:
        yield start_site("file", stack, tmp_path / "site")


def _start(config: Path, database: str, stack: list[Instance]) -> Instance:
    port = free_port()
    instance = Instance(start_service(config, database, port), port)
    instance.drain()
    stack.append(instance)
    return instance


def _until(what: str, condition: Any, limit_s: float, instances: list[Instance]) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n---\n".join("".join(i.output)[-3000:] for i in instances)
            raise AssertionError(f"{what}: not within {limit_s} s (at {time.time():.3f})\n{logs}")
        time.sleep(0.05)


def _leads(instance: Instance) -> bool:
    health = instance.health()
    return bool(health and health["leader"])


def _stands_by(instance: Instance) -> bool:
    health = instance.health()  # (and it has said so: it tries to take the lead)
    return health is not None and health["leader"] is False and health["instance"] is not None


def _has_step(database: str, release_id: str, step: str) -> bool:
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT 1 FROM publish_steps WHERE release_id = %s AND step = %s", (release_id, step)
        ).fetchone()
    return row is not None


def _release(tmp_path: Path, site: Site, index: int) -> Edge:
    """Release ``failover-INDEX``, due in ``LEAD_S`` (old bytes cached at the edge), and the
    thread that watches the edge for its new bytes."""
    path = f"/statistics/failover-{index}.xlsx"
    staging = tmp_path / "staging"  # outside the served tree (the leak probes find nothing)
    staging.mkdir(exist_ok=True)
    site.cache_old(path, payload(f"old {index}"))
    new, release_at = payload(f"new {index}"), time.time() + LEAD_S
    write_site_release(
        tmp_path / "releases", public=site.public, origin=site.origin,
        release_at=dt.datetime.fromtimestamp(release_at, dt.UTC),
        artefacts=[(path, new, None)], target=f"{site.target}?staging={staging}", purge=(site.purge,),
        id=f"failover-{index}",
    )  # fmt: skip
    edge = Edge(site, path, new, release_at)
    edge.thread.start()
    return edge


def test_a_standby_publishes_when_the_leader_is_killed_around_t(
    tmp_path: Path, database: str, site: Site
) -> None:
    config = write_config(
        tmp_path,
        'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n',
    )
    (tmp_path / "releases").mkdir()
    instances: list[Instance] = []
    edges: list[Edge] = []
    try:
        leader = _start(config, database, instances)
        _until("the first instance leads", partial(_leads, leader), START_S, instances)
        standby = _start(config, database, instances)
        _until("the second instance stands by", partial(_stands_by, standby), START_S, instances)
        for index, kill in enumerate(KILLS):
            edges.append(edge := _release(tmp_path, site, index))
            staged = partial(_has_step, database, f"failover-{index}", "staged")
            _until(f"failover-{index} staged", staged, LEAD_S, instances)
            assert _leads(leader) and _stands_by(standby)
            time.sleep(max(0.0, edge.release_at + kill - time.time()))
            leader.process.send_signal(signal.SIGKILL)
            leader.process.wait()
            print(f"killed {leader.process.pid} at {time.time():.3f}")
            leader, standby = standby, _start(config, database, instances)
            took = partial(_leads, leader)
            _until(f"a standby leads after the kill at T{kill:+} s", took, TAKE_OVER_S, instances)
            _until("a new standby stands by", partial(_stands_by, standby), START_S, instances)
        for index in range(len(KILLS)):
            done = partial(_has_step, database, f"failover-{index}", "verified")
            _until(f"failover-{index} done", done, 30, instances)
    finally:
        for instance in instances:
            instance.stop()
    for index, (edge, kill) in enumerate(zip(edges, KILLS, strict=True)):
        rid = f"failover-{index}"
        edge.thread.join(timeout=20)
        assert edge.first_new is not None, f"{rid}: the edge never had the new bytes"
        assert not edge.early, f"{rid}: the new bytes were at the edge before T"
        by = edge.first_new - edge.release_at
        assert by <= EDGE_BY_S, (
            f"{rid} (leader killed at T{kill:+} s): new at the edge T+{by:.2f} s"
        )
        code, timeline = cli(database, "timeline", rid, "--verify", config=config)
        assert code == 0 and timeline["ok"], timeline["chain"]
        kinds = [e["kind"] for e in timeline["events"]]
        for kind in ("publish.staged", "publish.flipped", "publish.done"):
            assert kinds.count(kind) == 1, (rid, kind, kinds)
    assert not any("Traceback" in "".join(i.output) for i in instances)
