"""Alerts under the real ``onthedot run``: how soon after T the first e-mail reaches the SMTP
server, and whether every alert of a crowded morning is out within seconds, one per role and
incident.

What: one ``onthedot run`` service (a subprocess) publishes, into nginx's web root with Varnish in
front (``-t 3600``), first one release whose previous version Varnish keeps (it goes
live stale: it has no purger) at T1, then ``CROWD`` releases all due at T2, ``FAILING`` of them
stale the same way (the others are purged at T, as the "not found" the leak probes met before T
is in Varnish's cache too, and are live at once). ``[notify]`` sends e-mail to one aiosmtpd server
in the bench process, a different address per role; it notes when each message arrives.
**First alert** = the first message about the single release − T1; **crowd** = the last message
about a crowd release − T2, with the messages counted per (release, role): the statistician,
publishing and IT are alerted at once about a stale incident, so ``3 × FAILING`` messages, each
pair once, none about a release that went live. Baseline in the same run: the time for the same
aiosmtpd to receive 20 messages sent one after another with ``smtplib`` (one connection each, as
the service opens one per message).

Run: ``.venv/bin/python -m bench.run alerts`` (writes bench/results/alerts.json).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from email.message import EmailMessage
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "alerts.json"
ROOT = Path(__file__).resolve().parent.parent
CROWD = int(os.environ.get("ONTHEDOT_BENCH_ALERTS_CROWD", "200"))
FAILING = int(os.environ.get("ONTHEDOT_BENCH_ALERTS_FAILING", "20"))
FIRST_AFTER_S = 30.0  # T1 after the service starts (start-up, staging every release)
CROWD_AFTER_S = 20.0  # T2 after T1
WAIT_AFTER_S = 20.0  # how long after T2 messages are collected
BASELINE_MESSAGES = 20
ROLES = ("statistician", "publishing", "it")
FIRST_GOAL_S, CROWD_GOAL_S = 5.0, 10.0
RELEASE_ID = re.compile(r"\((alert-[a-z0-9-]+)\)")


def _baseline(host: str, port: int, box: Any) -> float:
    """Seconds for aiosmtpd to receive ``BASELINE_MESSAGES`` sent directly with smtplib."""
    already = len(box.messages)
    started = time.time()
    for number in range(BASELINE_MESSAGES):
        message = EmailMessage()
        message["From"], message["To"] = "bench@example.org", "baseline@example.org"
        message["Subject"] = f"baseline {number}"
        message.set_content("A message of the baseline.\n")
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    while len(box.messages) < already + BASELINE_MESSAGES and time.time() < started + 30:
        time.sleep(0.001)
    return float(box.messages[-1][0]) - started


def _config(work: Path, mailbox: str) -> None:
    from tests.e2e.helpers import write_config

    roles = "".join(
        f'{role} = ["{mailbox.replace("to=stats@", f"to={role}@")}"]\n' for role in ROLES
    )
    write_config(
        work,
        'releases = ["releases/*/*.toml"]\n[verify.caches]\nvarnish = {default_ttl = 3600}\n'
        f'[notify]\n{roles}dashboard = "http://127.0.0.1:8000"\n',
    )


def _release(site: Any, work: Path, rid: str, at: dt.datetime, stale: bool) -> None:
    from tests.e2e.helpers import write_site_release

    from bench.bench_publish import payload

    path = f"/statistics/{rid}.xlsx"
    if stale:
        site.cache_old(path, payload(f"old {rid}"))  # Varnish keeps it for an hour
    write_site_release(
        work / "releases" / rid,
        public=site.public,
        origin=site.origin,
        release_at=at,
        artefacts=[(path, payload(f"new {rid}"), None)],
        target=f"{site.target}?staging={work / 'staging'}",  # nothing exposed before T
        purge=() if stale else (site.purge,),  # (the leak probes leave a "not found" in Varnish)
        id=rid,
    )


def _service(work: Path) -> subprocess.Popen[str]:
    from tests.servers.ports import free_port

    return subprocess.Popen(
        [sys.executable, "-m", "onthedot.cli", "--config", str(work / "onthedot.toml"),
         "--database", f"sqlite:///{work / 'store.db'}", "run", "--port", str(free_port()),
         "--poll", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _stop(service: subprocess.Popen[str]) -> str:
    service.send_signal(signal.SIGINT)
    try:
        output, _ = service.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        service.kill()
        output, _ = service.communicate()
    return output


def _received(box: Any) -> list[dict[str, Any]]:
    """Each alert the server took: when, to which role, about which release."""
    alerts = []
    for at, message in box.messages:
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        found = RELEASE_ID.search(body)
        to = str(message["to"])
        alerts.append(
            {
                "at": at,
                "role": to.split("@", 1)[0],
                "release": found.group(1) if found else None,
                "subject": str(message["subject"]),
            }
        )
    return alerts


def _after(events: list[Any], at: dt.datetime | None, kind: str, status: str = "") -> float | None:
    """Seconds after T at which the first event of this kind (and check status) was recorded."""
    seen = [
        e.recorded_at or e.at
        for e in events
        if e.kind == kind and e.data.get("status", "") == status
    ]
    return (min(seen) - at).total_seconds() if seen and at else None


async def _recorded(database: str, ids: list[str]) -> dict[str, dict[str, float | None]]:
    """Per release, from its timeline: the flip's lateness, and when (s after T) the first stale
    check and the incident were recorded."""
    from onthedot.record import kinds
    from onthedot.record.timeline import Timeline
    from onthedot.store.db import open_store

    engine = await open_store(database)
    try:
        found: dict[str, dict[str, float | None]] = {}
        for rid in ids:
            events = await Timeline(engine).events(rid)
            flip = next((e for e in events if e.kind == kinds.PUBLISH_FLIPPED), None)
            at = dt.datetime.fromisoformat(flip.data["release_at"]) if flip else None
            found[rid] = {
                "flip_late_s": float(flip.data["late_s"]) if flip else None,
                "first_stale_s": _after(events, at, kinds.VERIFY_RESULT, "stale"),
                "incident_s": _after(events, at, kinds.INCIDENT_OPENED),
            }
        return found
    finally:
        await engine.dispose()


def run() -> dict[str, Any]:
    from tests.respond.receivers import smtp_server

    from bench.bench_publish import start_site

    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="onthedot-bench-alerts-") as tmp,
        ExitStack() as stack,
        smtp_server() as (mailbox, box),
    ):
        work = Path(tmp)
        (work / "staging").mkdir()
        port = int(re.search(r":(\d+)\?", mailbox).group(1))  # type: ignore[union-attr]
        baseline_before = _baseline("127.0.0.1", port, box)
        site = start_site("file", stack, work / "site")
        _config(work, mailbox)
        t1 = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=FIRST_AFTER_S)
        t2 = t1 + dt.timedelta(seconds=CROWD_AFTER_S)
        _release(site, work, "alert-single", t1, stale=True)
        crowd = [f"alert-crowd-{n:03d}" for n in range(CROWD)]
        failing = set(crowd[:: max(1, CROWD // FAILING)][:FAILING])
        for rid in crowd:
            _release(site, work, rid, t2, stale=rid in failing)
        box.messages.clear()
        service = _service(work)
        try:
            time.sleep(max(0.0, t2.timestamp() + WAIT_AFTER_S - time.time()))
        finally:
            output = _stop(service)
        alerts = _received(box)
        recorded = asyncio.run(
            _recorded(f"sqlite:///{work / 'store.db'}", ["alert-single", *sorted(failing)])
        )
        box.messages.clear()
        baseline_after = _baseline("127.0.0.1", port, box)
    return _summary(
        alerts,
        t1.timestamp(),
        t2.timestamp(),
        failing,
        (baseline_before, baseline_after),
        recorded,
        output,
        time.perf_counter() - started,
    )


def _summary(
    alerts: list[dict[str, Any]],
    t1: float,
    t2: float,
    failing: set[str],
    baselines: tuple[float, float],
    recorded: dict[str, dict[str, float | None]],
    output: str,
    seconds: float,
) -> dict[str, Any]:
    single = sorted(a["at"] - t1 for a in alerts if a["release"] == "alert-single")
    crowd = [a for a in alerts if a["release"] and a["release"].startswith("alert-crowd-")]
    pairs = [(a["release"], a["role"]) for a in crowd]
    expected = {(rid, role) for rid in failing for role in ROLES}
    last = max((a["at"] - t2 for a in crowd), default=None)
    result: dict[str, Any] = {
        "seconds": seconds,
        "crowd": CROWD,
        "failing": len(failing),
        "roles": list(ROLES),
        "first_alert_s": single[0] if single else None,
        "single_messages": len(single),
        "crowd_messages": len(crowd),
        "crowd_expected": len(expected),
        "crowd_first_s": min((a["at"] - t2 for a in crowd), default=None),
        "crowd_last_s": last,
        "crowd_missing": sorted(map(list, expected - set(pairs))),
        "crowd_duplicates": len(pairs) - len(set(pairs)),
        "crowd_about_live": sorted({rid for rid, _role in pairs if rid not in failing}),
        "unknown_messages": sum(a["release"] is None for a in alerts),
        "alerts": [
            [
                round(a["at"] - (t1 if a["release"] == "alert-single" else t2), 3),
                a["role"],
                a["release"],
                a["subject"],
            ]
            for a in alerts
        ],
        "baseline_20_s": min(baselines),
        "baseline_runs_s": list(baselines),
        "recorded": recorded,
        "first_goal_s": FIRST_GOAL_S,
        "crowd_goal_s": CROWD_GOAL_S,
        "service_traceback": output[output.find("Traceback") :][:3000]
        if "Traceback" in output
        else None,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
