"""Chaos around T: the store stopped for 5 s, the purge API failing, the origin frozen — two
``onthedot run``.

Run as ``.venv/bin/python -m bench.bench_chaos`` (writes ``bench/results/chaos.json``); ``run()``
returns the same figures for docs/benchmarks.md (``python -m bench.run chaos``);
``tests/e2e/test_chaos.py`` runs each case once in CI.

The same site as ``bench_failover`` (a file target under nginx, Varnish in front), a leader and a
standby (``onthedot run`` subprocesses), and per case one release:

- ``store-down``: the store is a private PostgreSQL cluster (``tests.servers.postgres``, never
  the machine's shared server), stopped from T − 2.5 s to T + 2.5 s. Nothing can be recorded
  meanwhile, so nothing is flipped: the leader loses its lock with its connection, and whichever
  instance takes it when the store is back publishes at once, recorded as late.
- ``origin-down``: the origin (nginx) frozen from T − 1 s to T + 4 s: the edge cannot fetch the
  new file and every look times out, until the origin answers again.
- ``purge-fails``: the release's purger is a Varnish address where nothing answers, so the purge
  at T fails; the edge keeps serving the old file and the watch (limited to ``WATCH_S``) sees it
  stale.

Per case: how late the flip was, when (if ever) the edge served the new bytes, the events by kind
(one ``publish.flipped`` and one ``publish.done`` whatever happened), whether
``timeline --verify`` passes, how many instances said they led at the end (one), and every
incident the service opened for the release (its problem and state).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from tests.servers.postgres import PostgresCluster, throwaway_database

from bench.bench_failover import CONFIG, LEAD_S, Fleet, has_step, recorded, write_release
from bench.bench_publish import Site, start_site

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "chaos.json"
OUTAGE_S = 5.0  # the store is stopped this long, centred on T
FROZEN_S = 4.0  # the origin stays frozen this long after T
WATCH_S = 5  # [publish] watch_until_live_s for the purge case (the edge never goes live)


def incidents(database: str, release_id: str) -> list[dict[str, str]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT problem, state FROM incidents WHERE release_id = %s ORDER BY id", (release_id,)
        ).fetchall()
    return [{"problem": problem, "state": state} for problem, state in rows]


def _case(
    work: Path,
    site: Site,
    database: str,
    release_id: str,
    during: Callable[[float], None],
    *,
    config: str = CONFIG,
    purge: str | None = None,
) -> dict[str, Any]:
    """A leader and a standby; one release; ``during(T)`` does the damage; then the figures."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "releases").mkdir(exist_ok=True)
    config_file = work / "onthedot.toml"
    config_file.write_text(config, encoding="utf-8")
    fleet = Fleet(config_file, database)
    try:
        fleet.pair()
        edge = write_release(work, site, release_id, lead_s=LEAD_S + 3, purge=purge)
        fleet.until(f"{release_id} staged", partial(has_step, database, release_id, "staged"), 10)
        during(edge.release_at)
        done = partial(has_step, database, release_id, "verified")
        fleet.until(f"{release_id} done", done, 40)
        leaders = sum(1 for i in fleet.instances if i.leads())
    finally:
        fleet.stop()
    edge.thread.join(timeout=30)
    return {
        "release": release_id,
        "edge_new_s": edge.new_after_t_s,
        "early": edge.early,
        "leaders_at_end": leaders,
        "incidents": incidents(database, release_id),
        "tracebacks": fleet.tracebacks(),
        **recorded(database, config_file, release_id),
    }


def store_down(work: Path, site: Site) -> dict[str, Any]:
    with PostgresCluster() as store:

        def outage(release_at: float) -> None:
            time.sleep(max(0.0, release_at - OUTAGE_S / 2 - time.time()))
            store.halt()
            time.sleep(max(0.0, release_at + OUTAGE_S / 2 - time.time()))
            store.resume()

        return _case(work, site, store.url, "chaos-store-down", outage) | {"outage_s": OUTAGE_S}


def purge_fails(work: Path, site: Site, database: str) -> dict[str, Any]:
    from tests.servers.ports import free_port, release_port

    nowhere = free_port()  # held, never listened on: every purge request is refused
    try:
        config = CONFIG + f"[publish]\nwatch_until_live_s = {WATCH_S}\n"
        return _case(
            work, site, database, "chaos-purge-fails", lambda _t: None, config=config,
            purge=f"varnish://127.0.0.1:{nowhere}",
        )  # fmt: skip
    finally:
        release_port(nowhere)


def origin_down(work: Path, stack: ExitStack, database: str) -> dict[str, Any]:
    """The origin (nginx) frozen (SIGSTOP) from T − 1 s to T + ``FROZEN_S``: the edge cannot
    fetch the new file, the sweeps time out (``[verify] timeout = 2``)."""
    from tests.servers import Nginx, Varnish

    from bench.bench_publish import STORAGE, _write_into

    root = work / "origin-root"
    root.mkdir(parents=True)
    origin = stack.enter_context(Nginx(root))
    edge = stack.enter_context(Varnish(origin.host, origin.port, default_ttl=3600, storage=STORAGE))
    site = Site(
        "file", f"file://{root}", edge.url, origin.url, edge.host, edge.port, "",
        _write_into(root), root,
    )  # fmt: skip

    def freeze(release_at: float) -> None:
        group = os.getpgid(origin.pid)
        time.sleep(max(0.0, release_at - 1 - time.time()))
        os.killpg(group, signal.SIGSTOP)
        try:
            time.sleep(max(0.0, release_at + FROZEN_S - time.time()))
        finally:
            os.killpg(group, signal.SIGCONT)

    config = CONFIG + "[verify]\ntimeout = 2\n"
    case = _case(work, site, database, "chaos-origin-down", freeze, config=config)
    return case | {"frozen_s": FROZEN_S + 1}


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-chaos-") as tmp, ExitStack() as stack:
        site = start_site("file", stack, Path(tmp) / "site")
        cases = [store_down(Path(tmp) / "store-down", site)]
        with throwaway_database() as database:
            cases.append(purge_fails(Path(tmp) / "purge-fails", site, database))
        with throwaway_database() as database:
            cases.append(origin_down(Path(tmp) / "origin-down", stack, database))
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "setup": {"outage_s": OUTAGE_S, "watch_s": WATCH_S, "lead_s": LEAD_S + 3},
        "chaos": cases,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    for case in run()["chaos"]:
        print(json.dumps(case))


if __name__ == "__main__":
    main()
