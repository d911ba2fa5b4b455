"""Benchmark the command a user runs: ``onthedot verify RELEASE --json`` of a 6,000-file release
against ``wrk -t1 -c64`` fetching the same URLs through the same edge (issue 10, item 5).

Run as ``.venv/bin/python -m bench.bench_verify_cli`` (writes ``bench/results/verify_cli.json``);
``run()`` returns the same figures as a dict for docs/benchmarks.md.

Setup: 6,000 distinct 10 KB files in a release folder (written an hour "ago", as a release's files
are prepared ahead) and the same bytes at nginx (the origin),
Varnish in front (the edge), cache warm; the release lists all 6,000 (``file`` + ``path``) and its
time has passed, so every URL should be live. The store is SQLite in the work folder, created by
a first run that is not timed. Then, in each round, side by side:

* ``onthedot --version`` — the command's start-up (the interpreter, Typer, our command modules);
* ``onthedot verify RELEASE --json`` — the whole command: read the release (each file's SHA-256 from the store),
  open the store, fetch and judge every URL, record the results and the timeline, write the JSON;
  each round a release of its own (the same files under another id), so this is its first
  verify: 6,000 status events and 6,000 first sights of live;
* the same ``verify`` again on the same store (``repeat``): nothing changed, so it stores the
  6,000 results but adds no timeline events (it takes up what the first recorded);
* ``wrk -t1 -c64`` cycling through the same 6,000 URLs for a few seconds: requests per second.

"Start-up excluded", two ways, both reported: (a) ``verify − --version`` of the same round, what
the command spends beyond starting (its own imports, reading the release and opening the store
included); (b) from its first request to its exit, timed by a trace (``TRACE``: the command run
by ``python -c`` with ``Prober.stream`` wrapped to note the moment it is first called, and the
sweep's batches and the recording to note when each ends, printed at exit), which leaves out
everything before the sweep. The ratio is wrk's time for 6,000 requests (6,000 ÷ its rate) over
each. The commands run with bytecode compiled once (``PYTHONPYCACHEPREFIX``), as an installed
package has it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_verify import SIZE, wrk

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "verify_cli.json"
COMMAND = Path(sys.executable).parent / "onthedot"
FILES = 6_000
ROUNDS = 5
GOAL = 0.3  # the command at ≥ 0.3 × wrk
TRACE = """\
import atexit, json, resource, runpy, sys, time
from onthedot.verify.probe import Prober
from onthedot.record.beside import Beside
from onthedot.verify.verifier import Sweep
marks = {}
def cpu():  # every thread of the command, and its recorder process once it has ended
    used = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in used)
def noting(name, plain):
    async def noted(*args, **kwargs):
        try:
            return await plain(*args, **kwargs)
        finally:
            marks.setdefault(name, time.time())
    return noted
plain_stream = Prober.stream
def stream(self, requests):
    marks.setdefault("first_request", time.time())
    marks.setdefault("cpu_at_first_request", cpu())
    return plain_stream(self, requests)
plain_batches = Sweep.batches
async def batches(self):
    async for batch in plain_batches(self):
        marks.setdefault("first_batch", time.time())
        yield batch
    marks.setdefault("swept", time.time())
Prober.stream = stream
Sweep.batches = batches
Beside.record = noting("recorded", Beside.record)
atexit.register(lambda: sys.stderr.write(
    "\\nonthedot-trace " + json.dumps(marks | {"cpu_at_exit": cpu()}) + "\\n"
))
sys.argv = ["onthedot", *sys.argv[1:]]
runpy.run_module("onthedot.cli", run_name="__main__", alter_sys=True)
"""


def write_release(folder: Path, webroot: Path, public: str, origin: str) -> Path:
    """FILES random files beside a release file listing them all, the same bytes at the origin."""
    (folder / "f").mkdir(parents=True)
    (webroot / "f").mkdir(parents=True)
    listed = []
    for i in range(FILES):
        body = os.urandom(SIZE)
        (folder / "f" / f"{i}.bin").write_bytes(body)
        (webroot / "f" / f"{i}.bin").write_bytes(body)
        listed.append(f'[[artefact]]\nfile = "f/{i}.bin"\npath = "/f/{i}.bin"\n')
    an_hour_ago = time.time_ns() - 3600 * 10**9  # prepared ahead, as a release's files are
    for data in (folder / "f").iterdir():
        os.utime(data, ns=(an_hour_ago, an_hour_ago))
    (folder / "onthedot.toml").write_text(
        f'[site]\npublic = "{public}"\norigin = "{origin}"\n', encoding="utf-8"
    )
    release = folder / "bench-6000.toml"
    release.write_text(
        'id = "bench-6000"\ntitle = "Six thousand files"\nproducer = "Bench"\n'
        "release_at = 2026-01-07T09:30:00\nannounced_at = 2025-12-01T09:30:00\n\n"
        + "\n".join(listed),
        encoding="utf-8",
    )
    return release


def another(release: Path, number: int) -> Path:
    """The same release's files under another id: a release no verify has seen yet."""
    text = release.read_text(encoding="utf-8")
    copy = release.with_name(f"{release.stem}-{number}.toml")
    copy.write_text(text.replace('id = "bench-6000"', f'id = "bench-6000-{number}"', 1))
    return copy


def events_stored(database: str) -> int:
    """Timeline events in the store (all releases; none before the store is made)."""
    if not Path(database.removeprefix("sqlite:///")).exists():
        return 0
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(count)


def command_env(pycache: Path) -> dict[str, str]:
    """As an installed package runs: bytecode written once and reused."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(pycache), "COLUMNS": "100"}


def timed(
    args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of the command, and what it wrote, decoded once the clock has stopped (the
    harness's own decoding of a 6,000-URL report, 11 MB, is not the command's time)."""
    started = time.perf_counter()
    raw = subprocess.run(args, cwd=cwd, env=env, capture_output=True, timeout=300)
    elapsed = time.perf_counter() - started
    out, err = raw.stdout.decode("utf-8"), raw.stderr.decode("utf-8", "replace")
    return elapsed, subprocess.CompletedProcess(args, raw.returncode, out, err)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def verify_once(release: Path, database: str, env: dict[str, str]) -> dict[str, Any]:
    folder = release.parent
    options = ["--config", str(folder / "onthedot.toml"), "--database", database]
    events_before = events_stored(database)
    version_s, _ = timed([str(COMMAND), *options, "--version"], folder, env)
    started, cpu_before = time.time(), _children_cpu()
    verify_s, done = timed(
        [sys.executable, "-c", TRACE, *options, "verify", str(release), "--json"], folder, env
    )
    cpu_s = _children_cpu() - cpu_before
    events_after = events_stored(database)
    ended = started + verify_s
    if done.returncode not in (0, 1):
        raise RuntimeError(f"onthedot verify failed: {done.stderr[-2000:]}")
    marks = json.loads(done.stderr.rsplit("onthedot-trace ", 1)[1].splitlines()[0])
    first = marks["first_request"]
    report = json.loads(done.stdout)
    statuses = [r["status"] for r in report["results"]]
    return {
        "version_s": version_s,
        "verify_s": verify_s,
        "beyond_start_s": verify_s - version_s,
        "to_first_request_s": first - started,
        "from_first_request_s": ended - first,
        # CPU seconds of the command (every thread): the machine's other work lengthens these far
        # less than the wall times
        "cpu_s": cpu_s,
        "cpu_from_first_request_s": marks["cpu_at_exit"] - marks["cpu_at_first_request"],
        "phases_s": {  # first request → sweep judged → results recorded → JSON written, exit
            "sweep": marks["swept"] - first,  # (its batches stored meanwhile, from the first)
            "first_batch": marks["first_batch"] - first,
            "record": marks["recorded"] - marks["swept"],  # what is left to store after the sweep
            "output_and_exit": ended - marks["recorded"],
        },
        "results": len(statuses),
        "live": statuses.count("live"),
        "events_added": events_after - events_before,  # (the release's own sync included)
        "exit": done.returncode,
    }


def timeline_intact(releases: list[Path], database: str, env: dict[str, str]) -> bool:
    """Every release's hash chain checks out (``onthedot timeline --verify``)."""
    for release in releases:
        folder = release.parent
        args = [str(COMMAND), "--config", str(folder / "onthedot.toml"), "--database", database]
        _, done = timed([*args, "timeline", str(release), "--verify", "--json"], folder, env)
        if done.returncode != 0 or not json.loads(done.stdout)["chain"]["ok"]:
            return False
    return True


def run() -> dict[str, Any]:
    """Start nginx + Varnish, measure, write bench/results/verify_cli.json, return it."""
    from tests.servers.nginx import Nginx
    from tests.servers.varnish import Varnish

    with tempfile.TemporaryDirectory(prefix="onthedot-bench-cli-") as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        origin = Nginx(work / "www").start()
        edge = Varnish("127.0.0.1", origin.port, storage="malloc,256m").start()
        try:
            release = write_release(work / "release", work / "www", edge.url, origin.url)
            return _measure(release, edge.url, work)
        finally:
            edge.stop()
            origin.stop()


def _measure(release: Path, edge: str, work: Path) -> dict[str, Any]:
    env = command_env(work / "pycache")
    database = f"sqlite:///{work / 'onthedot.db'}"
    paths = [f"/f/{i}.bin" for i in range(FILES)]
    load_before = os.getloadavg()
    warm = verify_once(release, database, env)  # creates the store, warms the edge and bytecode
    rounds, releases = [], [release]
    for number in range(ROUNDS):  # alternating which goes first, so both see the same machine
        first_wrk = number % 2 == 0
        baseline = wrk(edge, paths, work) if first_wrk else None
        fresh = another(release, number + 1)
        releases.append(fresh)
        ours = verify_once(fresh, database, env)
        again = verify_once(fresh, database, env)
        baseline = baseline or wrk(edge, paths, work)
        wrk_s = FILES / baseline["requests_per_s"]
        rounds.append(
            ours
            | {
                "wrk": baseline,
                "wrk_s": wrk_s,
                "ratio": wrk_s / ours["beyond_start_s"],
                "ratio_from_first_request": wrk_s / ours["from_first_request_s"],
                "repeat": again
                | {
                    "ratio": wrk_s / again["beyond_start_s"],
                    "ratio_from_first_request": wrk_s / again["from_first_request_s"],
                },
            }
        )
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before_after": [load_before, os.getloadavg()],
        },
        "setup": {
            "files": FILES,
            "body_bytes": SIZE,
            "edge": "Varnish (malloc 256 MB) in front of nginx, cache warm",
            "store": "SQLite (WAL, synchronous=FULL)",
        },
        "warm_up": warm,
        "rounds": rounds,
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "ratio_from_first_request_median": statistics.median(
            r["ratio_from_first_request"] for r in rounds
        ),
        "to_first_request_s_median": statistics.median(r["to_first_request_s"] for r in rounds),
        "from_first_request_s_median": statistics.median(r["from_first_request_s"] for r in rounds),
        "phases_s_median": {
            phase: statistics.median(r["phases_s"][phase] for r in rounds)
            for phase in rounds[0]["phases_s"]
        },
        "verify_s_median": statistics.median(r["verify_s"] for r in rounds),
        "cpu_s_median": statistics.median(r["cpu_s"] for r in rounds),
        "cpu_from_first_request_s_median": statistics.median(
            r["cpu_from_first_request_s"] for r in rounds
        ),
        "version_s_median": statistics.median(r["version_s"] for r in rounds),
        "beyond_start_s_median": statistics.median(r["beyond_start_s"] for r in rounds),
        "wrk_s_median": statistics.median(r["wrk_s"] for r in rounds),
        "repeat_median": {
            figure: statistics.median(r["repeat"][figure] for r in rounds)
            for figure in (
                "verify_s",
                "from_first_request_s",
                "cpu_s",
                "cpu_from_first_request_s",
                "ratio",
                "ratio_from_first_request",
                "events_added",
            )
        },
        "events_added_median": statistics.median(r["events_added"] for r in rounds),
        "timeline_intact": timeline_intact(releases, database, env),
        "goal": GOAL,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
