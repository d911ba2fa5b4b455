"""Chaos benchmark: SIGKILL ``onthedot publish`` at random moments, start it again, count publications.

Run as ``.venv/bin/python -m bench.bench_kill [SEED]`` (writes ``bench/results/kill.json``); ``run()``
returns the same figures for docs/benchmarks.md; ``tests/e2e/test_kill.py`` runs ``kill_run`` a
few times in CI.

Each run: a release with a small spreadsheet (old bytes cached at the Varnish edge, ``-t 3600``)
and a large table file, scheduled ``lead_s`` ahead; ``onthedot publish RELEASE --watch 1 --json``
(the venv's command, a real subprocess) is SIGKILLed at a random moment within one phase —
before staging, mid-staging of the large file, waiting for T, right after the flip, during
purge/verify — then started again and run to completion. Then: the published bytes are the new
ones (target and edge), exactly one ``publish.flipped`` and one ``publish.done`` event, one
``publish.staged`` event whose manifest matches the release files, ``timeline --verify`` passes,
no ``.onthedot-*`` staged copies are left at the target, and an observer polling the edge every
5 ms never saw the new bytes before T. Each series starts with a control: the same publication,
not killed.

The killed publisher's lease (15 s) is expired by hand before the restart (``fast_forward``), as
if the restart came 15 s later; one bench run restarts without that, to show the real wait.
FTP kill runs publish the large file only: a two-file release fails over FTP even without a kill
(the control run shows it), which would hide what the kill does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_publish import Site, payload, start_site, watch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kill.json"
PHASES = ("before-staging", "mid-staging", "waiting-for-T", "right-after-flip", "purge-verify")
STAGE_PREFIX = ".onthedot-"
BIG_BYTES = 16 * 2**20  # the large artefact, so that a kill can land mid-staging
LEAD_S = 3.5  # T = start + LEAD_S: the command needs ≈1.5 s to start
HEAD = 64  # the edge observer asks for the first HEAD bytes only (a Range request)
ONTHEDOT = str(Path(sys.executable).with_name("onthedot"))


@dataclass
class KillCase:
    """One publication to kill: its files, its store, its release file."""

    site: Site
    run: int
    big_bytes: int
    release_id: str
    watched: str  # the artefact path the edge observer and the flip detector watch
    new_head: bytes  # the first HEAD bytes of its new version
    expected: dict[str, tuple[str, int]]  # path -> (sha256, size) of every artefact
    release_at: float = 0.0
    old_inode: int = 0
    db: Path = field(default_factory=Path)
    release_file: Path = field(default_factory=Path)
    config: Path = field(default_factory=Path)

    def local(self, path: str) -> Path:
        assert self.site.root is not None
        return self.site.root / path.lstrip("/")

    def command(self) -> list[str]:
        return [ONTHEDOT, "--config", str(self.config), "--database", f"sqlite:///{self.db}",
                "publish", str(self.release_file), "--watch", "1", "--json"]  # fmt: skip

    def steps(self) -> list[str]:
        return [row[0] for row in self._query("SELECT step FROM publish_steps WHERE release_id=?")]

    def hidden(self) -> dict[str, int]:
        """Staged copies (``.onthedot-*``) beside the artefacts, with their sizes."""
        try:
            return {
                p.name: p.stat().st_size
                for p in self.local(self.watched).parent.iterdir()
                if p.name.startswith(STAGE_PREFIX)
            }
        except FileNotFoundError:
            return {}

    def flipped(self) -> bool:
        """The watched artefact's file was replaced (renamed over) since the old one was cached."""
        try:
            return self.local(self.watched).stat().st_ino != self.old_inode
        except FileNotFoundError:
            return False

    def expire_lease(self) -> None:
        """As if the lease's 15 s had passed: the killed holder no longer renews it."""
        if not self.db.exists():
            return
        with sqlite3.connect(self.db, timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='leases'").fetchall():
                return  # killed before the store was even created: no lease was taken
            conn.execute(
                "UPDATE leases SET expires_at='2000-01-01 00:00:00.000000' WHERE release_id=?",
                (self.release_id,),
            )

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
                return conn.execute(sql, (self.release_id,)).fetchall()
        except sqlite3.OperationalError:  # schema not there yet
            return []


def prepare(
    site: Site, work: Path, run: int, *, big_bytes: int, lead_s: float, with_small: bool = True
) -> KillCase:
    """Old bytes at the edge, a release with a small and a large artefact, T = now + lead_s."""
    from tests.e2e.helpers import write_config, write_site_release

    folder = f"/statistics/run-{run:02d}"
    files = [
        (f"{folder}/tables.csv", payload(f"new big {site.kind} {run}") + os.urandom(big_bytes))
    ]
    if with_small:
        files.insert(0, (f"{folder}/fatalquarterly.xlsx", payload(f"new {site.kind} {run}")))
    watched, new = files[0]
    case = KillCase(
        site, run, big_bytes, f"kill-{site.kind}-{run:02d}", watched, new[:HEAD],
        {path: (hashlib.sha256(data).hexdigest(), len(data)) for path, data in files},
    )  # fmt: skip
    site.cache_old(watched, payload(f"old {site.kind} {run}"))
    case.old_inode = case.local(watched).stat().st_ino
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead_s)
    case.release_at = release_at.timestamp()
    case.release_file = write_site_release(
        work / f"release-{run:02d}", public=site.public, origin=site.origin,
        release_at=release_at, artefacts=[(path, data, None) for path, data in files],
        target=site.target, purge=(site.purge,), id=case.release_id,
    )  # fmt: skip
    case.config = write_config(work)
    case.db = work / f"store-{run:02d}.db"
    return case


# --- when to kill -----------------------------------------------------------------------------


def _until(cond: Callable[[], bool], proc: subprocess.Popen[bytes], limit_s: float = 30) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if cond():
            return True
        time.sleep(0.0005)
    return False


def wait_for_phase(
    case: KillCase, phase: str, proc: subprocess.Popen[bytes], rng: random.Random
) -> None:
    """Block until a random moment inside ``phase`` (or until the publisher has got past it)."""
    if phase == "before-staging":
        time.sleep(rng.uniform(0.0, 0.8))  # the command is still starting (≈1.3 s to import)
    elif phase == "mid-staging":
        fraction = rng.uniform(0.05, 0.9) * case.big_bytes
        _until(lambda: any(s >= fraction for s in case.hidden().values()), proc)
    elif phase == "waiting-for-T":
        if _until(lambda: "staged" in case.steps(), proc):
            time.sleep(max(0.0, rng.uniform(0.0, case.release_at - time.time() - 0.1)))
    elif phase == "right-after-flip":
        _until(case.flipped, proc)
    elif phase == "purge-verify":
        if _until(lambda: "flipped" in case.steps(), proc):
            time.sleep(rng.uniform(0.0, 0.15))  # purge takes ms, the verify sweep ≈ 0.2 s
    else:
        raise ValueError(f"unknown phase {phase!r}")


def observed_phase(at_kill: dict[str, Any], before_t: bool) -> str:
    """Which phase the publisher was really in when it died, from what it left behind."""
    steps = at_kill["steps"]
    if "verified" in steps:
        return "after-completion"
    if "flipped" in steps:
        return "purge-verify"
    if at_kill["flipped"]:
        return "right-after-flip"
    if "staged" in steps:
        return "waiting-for-T" if before_t else "at-T"
    return "mid-staging" if at_kill["hidden"] else "before-staging"


# --- one run ----------------------------------------------------------------------------------


def _observe(case: KillCase, seen: dict[str, Any], stop: threading.Event) -> threading.Thread:
    site = case.site
    thread = threading.Thread(
        target=lambda: seen.update(
            watch(
                site.edge_host,
                site.edge_port,
                site.edge_prefix + case.watched,
                "",
                case.release_at,
                case.release_at + 60,
                head=case.new_head,
                stop=stop,
            )
        )
    )
    thread.start()
    return thread


def kill_run(
    site: Site,
    work: Path,
    run: int,
    phase: str,
    rng: random.Random,
    *,
    big_bytes: int = BIG_BYTES,
    lead_s: float = LEAD_S,
    fast_forward: bool = True,
    with_small: bool = True,
) -> dict[str, Any]:
    """Kill ``onthedot publish`` once inside ``phase`` (``"no-kill"``: don't), run it again to
    the end, check everything."""
    case = prepare(site, work, run, big_bytes=big_bytes, lead_s=lead_s, with_small=with_small)
    seen: dict[str, Any] = {}
    stop = threading.Event()
    observer = _observe(case, seen, stop)
    spawned = time.time()
    with subprocess.Popen(case.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as first:
        if phase != "no-kill":
            wait_for_phase(case, phase, first, rng)
        killed = time.time()
        alive = first.poll() is None
        if phase != "no-kill":
            first.send_signal(signal.SIGKILL)
        first_out, first_err = first.communicate(timeout=120)
    at_kill = {"steps": case.steps(), "hidden": case.hidden(), "flipped": case.flipped()}
    observed = observed_phase(at_kill, killed < case.release_at) if alive else "after-exit"
    if phase == "no-kill":
        second = subprocess.CompletedProcess(case.command(), first.returncode, first_out, first_err)
    else:
        if fast_forward:
            case.expire_lease()
        second = subprocess.run(case.command(), capture_output=True, timeout=120)
    restart_s = time.time() - killed
    observer.join(3)  # the edge has had 3 s to show the new bytes after the restart finished
    stop.set()
    observer.join()
    result = {
        "run": run, "kind": site.kind, "phase": phase,
        "observed": "no-kill" if phase == "no-kill" else observed,
        "phase_hit": phase == "no-kill" or observed == phase,
        "artefacts": len(case.expected), "fast_forward_lease": fast_forward,
        "killed_after_s": round(killed - spawned, 4),
        "killed_vs_t_ms": round(1000 * (killed - case.release_at), 1),
        "at_kill": at_kill, "restart_s": round(restart_s, 3),
        "first_stderr": first_err.decode()[-300:],
    }  # fmt: skip
    result.update(check(case, second, seen))
    return result


def check(
    case: KillCase, second: subprocess.CompletedProcess[bytes], seen: dict[str, Any]
) -> dict[str, Any]:
    """Everything that must hold once the restarted publisher has finished."""
    try:
        outcome = json.loads(second.stdout)
    except ValueError:
        outcome = {"stderr": second.stderr.decode()[-600:] or second.stdout.decode()[-600:]}
    status, edge_body = case.site.edge_request("GET", case.watched)
    timeline = timeline_json(case)
    events = timeline.get("events", [])
    kinds = [e["kind"] for e in events]
    staged = [e for e in events if e["kind"] == "publish.staged"]
    leftovers = sorted(case.hidden())
    checks = {
        "exit_ok": second.returncode == 0 and outcome.get("live") is True,
        "final_new": all(_sha256(case.local(p)) == sha for p, (sha, _) in case.expected.items()),
        "edge_new": status == 200
        and hashlib.sha256(edge_body).hexdigest() == case.expected[case.watched][0],
        "one_flip": kinds.count("publish.flipped") == 1,
        "one_done": kinds.count("publish.done") == 1,
        "manifest_intact": len(staged) == 1 and manifest_matches(case, staged[0]["data"]),
        "chain_ok": timeline.get("exit") == 0 and timeline.get("ok") is True,
        "never_early": bool(seen) and not seen.get("early") and seen.get("lag_ms") is not None,
        "no_leftovers": not leftovers,
    }
    flipped: dict[str, Any] = next(
        (e["data"] for e in events if e["kind"] == "publish.flipped"), {}
    )
    return {
        "checks": checks,
        "ok": all(checks.values()),
        "leftovers": leftovers,
        "late_s": flipped.get("late_s"),
        "resumed_after": outcome.get("resumed_after"),
        "edge_lag_ms": seen.get("lag_ms"),
        "staged_events": len(staged),
        "outcome_error": outcome.get("error") or outcome.get("stderr"),
    }


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def manifest_matches(case: KillCase, data: dict[str, Any]) -> bool:
    entries = {m["path"]: (m["sha256"], m["size"]) for m in data.get("manifest", [])}
    return entries == case.expected


def timeline_json(case: KillCase) -> dict[str, Any]:
    """``onthedot timeline RELEASE --verify --json``, in-process (the same command code)."""
    from typer.testing import CliRunner

    from onthedot.cli import app

    args = ["--config", str(case.config), "--database", f"sqlite:///{case.db}",
            "timeline", case.release_id, "--verify", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        data = {"unparsed": result.stdout[-500:]}
    data["exit"] = result.exit_code
    return data


# --- the series -------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    kills = [r for r in runs if r.get("phase") != "no-kill"]
    failed: dict[str, int] = {}
    for r in kills:
        for name, good in r.get("checks", {}).items():
            failed[name] = failed.get(name, 0) + (not good)
    return {
        "runs": len(kills),
        "ok": sum(bool(r.get("ok")) for r in kills),
        "phase_hit": sum(bool(r.get("phase_hit")) for r in kills),
        "by_phase": {p: sum(r["phase"] == p for r in kills) for p in PHASES},
        "failed_checks": failed,
        "errors": [r["error"] for r in runs if "error" in r],
        "control": next((r for r in runs if r.get("phase") == "no-kill"), None),
        "runs_detail": kills,
    }


def series(
    kind: str, runs: int, work: Path, rng: random.Random, slow_lease_run: bool = False
) -> dict[str, Any]:
    """A control (not killed, two artefacts), then ``runs`` kills cycling through PHASES."""
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        site = start_site(kind, stack, work / kind)
        plan = [("no-kill", True)] + [(PHASES[i % len(PHASES)], True) for i in range(runs)]
        if slow_lease_run:  # killed while waiting for T; the restart waits out the real lease
            plan.append(("waiting-for-T", False))
        for run, (phase, fast_forward) in enumerate(plan):
            try:
                results.append(
                    kill_run(
                        site,
                        work / kind,
                        run,
                        phase,
                        rng,
                        fast_forward=fast_forward,
                        with_small=kind != "ftp" or phase == "no-kill",
                    )
                )
            except Exception as exc:  # a broken run is a figure, not a crash
                error = f"{type(exc).__name__}: {exc}"
                results.append({"run": run, "kind": kind, "phase": phase, "error": error})
    return summarise(results)


def run(seed: int | None = None) -> dict[str, Any]:
    """15 kills over the file target and 15 over FTP (plus one real lease wait); writes kill.json."""
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    runs = int(os.environ.get("ONTHEDOT_BENCH_KILLS", "15"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-kill-") as tmp:
        found = {
            kind: series(kind, runs, Path(tmp), rng, slow_lease_run=kind == "file")
            for kind in ("file", "ftp")
        }
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": seed,
        "seconds": time.perf_counter() - started,
        "setup": {
            "big_bytes": BIG_BYTES,
            "lead_s": LEAD_S,
            "watch_s": 1,
            "command": "onthedot publish RELEASE --watch 1 --json (subprocess)",
        },
        "series": found,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    results = run(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    for kind, figures in results["series"].items():
        print(
            f"{kind}: {figures['ok']}/{figures['runs']} runs fully correct; phases hit "
            f"{figures['phase_hit']}; failed checks {figures['failed_checks']}"
        )
        for r in [figures["control"], *figures["runs_detail"]]:
            if r is None:
                continue
            bad = [k for k, v in r.get("checks", {}).items() if not v]
            print(
                f"  {r['run']:2} {r['phase']:17} {r.get('observed', '?'):17} "
                f"t{r.get('killed_vs_t_ms', 0):+.0f}ms bad={bad} {r.get('error', '')}"
            )


if __name__ == "__main__":
    main()
