"""Chaos around T: the store stopped for 5 s, the purge API failing, the origin frozen — two
``onthedot run``.

Run as ``.venv/bin/python -m bench.bench_chaos`` (writes ``bench/results/chaos.json``; with
``agent``, only the agent case is measured again and put into it); ``run()``
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
- ``agent-cut-off`` (``agent_cut_off``; root only): one instance, its web app and the Varnish
  edge listening on this side of a veth pair (``tests.servers.netns``, a private /30 of its own),
  two remote agents probing the edge through it: ``edinburgh`` inside the namespace, ``cardiff``
  here. Edinburgh is cut off (its end of the pair down) from T − 0.5 s for ``CUT_S``: how long
  until the *vantage* incident opened and its alert arrived, whether cardiff and the service's own
  sweeps went on meanwhile, how long until the incident was resolved once edinburgh was back.

Per case: how late the flip was, when (if ever) the edge served the new bytes, the events by kind
(one ``publish.flipped`` and one ``publish.done`` whatever happened), whether
``timeline --verify`` passes, how many instances said they led at the end (one), and every
incident the service opened for the release (its problem and state).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
from tests.servers.postgres import PostgresCluster, throwaway_database

from bench.bench_failover import (
    CONFIG,
    LEAD_S,
    START_S,
    Fleet,
    has_step,
    recorded,
    write_release,
)
from bench.bench_publish import Site, start_site

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "chaos.json"
OUTAGE_S = 5.0  # the store is stopped this long, centred on T
FROZEN_S = 4.0  # the origin stays frozen this long after T
CUT_AT_S = -0.5  # the agent is cut off this long from T ...
CUT_S = 8.0  # ... for this long
SILENT_S = 3.0  # [web] agent_silent_after_s of the agent case
AGENTS = ("edinburgh", "cardiff")  # the first inside the namespace (cut off), the second here
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


def _agent_config(agents: dict[str, str], hook: str) -> str:
    tokens = ", ".join(f'{name} = "{token}"' for name, token in agents.items())
    return (
        'releases = ["releases/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
        f"[site]\nagents = {json.dumps(list(agents))}\n"
        f"[web]\nagents = {{{tokens}}}\nagent_silent_after_s = {SILENT_S}\n"
        f'[notify]\nstatistician = ["{hook}"]\n[publish]\nwatch_until_live_s = 20\n'
    )


def _started(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A process of the case, its output to ``log`` (a pipe nobody reads would stop it)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )  # fmt: skip


def _ended(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _posts(database: str, release_id: str) -> list[tuple[str, float]]:
    """(vantage, checked_at) of every result recorded for the release, in order."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT vantage, checked_at FROM checks WHERE release_id = %s ORDER BY checked_at",
            (release_id,),
        ).fetchall()
    return [(vantage, at.timestamp()) for vantage, at in rows]


def _vantage_incident(database: str, release_id: str) -> tuple[str, float, list[str]] | None:
    """(state, opened_at, places) of the release's *vantage* incident, if it has one."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT state, opened_at, places FROM incidents "
            "WHERE release_id = %s AND problem = 'vantage'",
            (release_id,),
        ).fetchone()
    if row is None:
        return None
    places = row[2] if isinstance(row[2], list) else json.loads(row[2])
    return str(row[0]), row[1].timestamp(), list(places)


def _until(what: str, condition: Callable[[], Any], limit_s: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + limit_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            tails = "\n---\n".join(
                f"{p.name}: {p.read_text(errors='replace')[-2000:]}" for p in logs
            )
            raise AssertionError(f"{what}: not within {limit_s} s\n{tails}")
        time.sleep(0.05)
    return found


def _gap_s(times: list[float]) -> float | None:
    """The longest pause between two consecutive results (None: fewer than two)."""
    return max((b - a for a, b in pairwise(times)), default=None)


def agent_cut_off(work: Path, stack: ExitStack, database: str) -> dict[str, Any]:
    """The ``agent-cut-off`` case (see the module's docstring); root only."""
    import uuid

    from tests.e2e.helpers import get_json
    from tests.respond.receivers import webhook
    from tests.servers import Nginx, Varnish
    from tests.servers.netns import VethNamespace
    from tests.servers.ports import free_port

    from bench.bench_publish import _write_into

    work.mkdir(parents=True, exist_ok=True)
    (work / "releases").mkdir(exist_ok=True)
    ns = stack.enter_context(VethNamespace())
    root = work / "origin-root"
    root.mkdir()
    origin = stack.enter_context(Nginx(root))
    edge = Varnish(origin.host, origin.port, default_ttl=3600, storage="malloc,16m")
    edge.host = ns.host_address  # (reached from the namespace, over the pair)
    stack.enter_context(edge)
    site = Site(
        "file", f"file://{root}", edge.url, origin.url, edge.host, edge.port, "",
        _write_into(root), root,
    )  # fmt: skip
    hook, alerts = stack.enter_context(webhook())
    tokens = {name: f"{name}-{uuid.uuid4().hex}" for name in AGENTS}
    config = work / "onthedot.toml"
    config.write_text(_agent_config(tokens, hook), encoding="utf-8")
    port = free_port()
    server = f"http://{ns.host_address}:{port}"
    command = [sys.executable, "-m", "onthedot.cli", "--config", str(config), "--database"]
    logs = [work / "service.log", *(work / f"agent-{name}.log" for name in AGENTS)]
    service = _started(
        [*command, database, "run", "--host", ns.host_address, "--port", str(port), "--poll", "1"],
        logs[0],
    )
    stack.callback(_ended, service)
    _until("the service answers", partial(_answers, get_json, server), START_S, logs)
    for name, log in zip(AGENTS, logs[1:], strict=True):
        argv = [sys.executable, "-m", "onthedot.cli", "agent", "--server", server]
        argv += ["--interval", "0.5", "--timeout", "1"]
        where = ns.command(argv) if name == "edinburgh" else argv
        stack.callback(_ended, _started(where, log, {"ONTHEDOT_AGENT_TOKEN": tokens[name]}))
    release_id = "chaos-agent-cut-off"
    watched = write_release(work, site, release_id, lead_s=LEAD_S + 5)
    release_at = watched.release_at
    both = {f"agent:{name}" for name in AGENTS}
    _until(
        "both agents posted", lambda: both <= {v for v, _ in _posts(database, release_id)}, 20, logs
    )
    time.sleep(max(0.0, release_at + CUT_AT_S - time.time()))
    ns.cut()
    cut_at = time.time()
    opened = _until(
        "the vantage incident opened",
        partial(_vantage_incident, database, release_id), 20 + SILENT_S, logs,
    )  # fmt: skip
    _until(
        "its alert arrived",
        lambda: any("The checks from Edinburgh stopped" in a["message"] for a in alerts),
        20,
        logs,
    )
    alerted_at = time.time()
    time.sleep(max(0.0, cut_at + CUT_S - time.time()))
    ns.mend()
    mended_at = time.time()
    resolved = partial(_vantage_incident, database, release_id)
    back = lambda: (resolved() or ("",))[0] == "resolved"  # noqa: E731
    _until("resolved once it posts again", back, 20, logs)
    resolved_at = time.time()
    _until("the release verified", partial(has_step, database, release_id, "verified"), 40, logs)
    _ended(service)
    watched.thread.join(timeout=30)
    posts = _posts(database, release_id)
    during = [(v, at) for v, at in posts if cut_at + 1 <= at <= mended_at]  # (in flight: 1 s)
    cardiff = [at for v, at in posts if v == "agent:cardiff" and cut_at <= at <= mended_at]
    return {
        "release": release_id,
        "cut_vs_t_s": cut_at - release_at,
        "cut_for_s": mended_at - cut_at,
        "silent_after_s": SILENT_S,
        "opened_after_cut_s": opened[1] - cut_at,
        "alert_after_cut_s": alerted_at - cut_at,
        "places": opened[2],
        "resolved_after_mend_s": resolved_at - mended_at,
        "during_cut": {
            v: sum(1 for w, _ in during if w == v) for v in sorted({v for v, _ in during})
        },
        "cardiff_longest_gap_s": _gap_s(cardiff),
        "alerts": len(alerts),
        "edge_new_s": watched.new_after_t_s,
        "early": watched.early,
        "incidents": incidents(database, release_id),
        "tracebacks": any("Traceback" in p.read_text(errors="replace") for p in logs),
        **recorded(database, config, release_id),
    }


def _answers(get_json: Callable[[str], Any], server: str) -> bool:
    try:
        get_json(f"{server}/api/health/live")
    except OSError:
        return False
    return True


def run() -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-chaos-") as tmp, ExitStack() as stack:
        site = start_site("file", stack, Path(tmp) / "site")
        cases = [store_down(Path(tmp) / "store-down", site)]
        with throwaway_database() as database:
            cases.append(purge_fails(Path(tmp) / "purge-fails", site, database))
        with throwaway_database() as database:
            cases.append(origin_down(Path(tmp) / "origin-down", stack, database))
        agent = agent_run(Path(tmp) / "agent-cut-off")
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "setup": {"outage_s": OUTAGE_S, "watch_s": WATCH_S, "lead_s": LEAD_S + 3},
        "chaos": cases,
        "agent": agent,
    }
    _save(results)
    return results


def agent_run(work: Path) -> dict[str, Any]:
    """The ``agent-cut-off`` case on a database of its own, or why it cannot run here."""
    from tests.servers.netns import unavailable

    why = unavailable()
    if why is not None:
        return {"skipped": why}
    with throwaway_database() as database, ExitStack() as stack:
        case = agent_cut_off(work, stack, database)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return case | {"cut_at_s": CUT_AT_S, "cut_s": CUT_S, "when": when}


def _save(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def agent_only() -> dict[str, Any]:
    """Measure the ``agent-cut-off`` case again and put it into the saved figures (the other
    cases' are kept): ``python -m bench.bench_chaos agent``."""
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-chaos-") as tmp:
        agent = agent_run(Path(tmp) / "agent-cut-off")
    results = dict(json.loads(RESULTS.read_text())) | {"agent": agent}
    _save(results)
    return results


def main() -> None:
    if sys.argv[1:] == ["agent"]:
        print(json.dumps(agent_only()["agent"]))
        return
    results = run()
    for case in [*results["chaos"], results["agent"]]:
        print(json.dumps(case))


if __name__ == "__main__":
    main()
