"""Benchmark go-live lag at the Varnish edge: when does the public first get the new bytes after T?

Run as ``.venv/bin/python -m bench.bench_publish`` (writes ``bench/results/publish.json``); ``run()``
returns the same figures as a dict for docs/benchmarks.md.

For each publish target (file, ftp, sftp, s3) a real origin (nginx over the target's directory, or
moto's S3 server), Varnish in front of it (``-t 3600``: without a purge the edge would stay stale
for an hour) and ``purge = ["varnish://…"]``. Each run caches the old bytes at the edge (written at
the origin as published a minute before: ``_write_into``), schedules a
release ``LEAD_S`` ahead and publishes it **in-process** (``onthedot.runtime.publisher_for`` with the
system clock — the same code path as ``onthedot publish``, minus the CLI's start-up). An observer in
a separate process polls the edge every ``POLL_S`` over one keep-alive HTTP connection; the go-live
lag is the moment it *received* the new bytes minus T, and an early observation is new bytes
received before T. The flip lag is ``flipped_at − T`` as onthedot recorded it.

Baselines in the same run: the observer's own poll interval, and a plain ``mv`` of the staged file
into the web root at T followed by one ``PURGE`` (no onthedot at all) — how fast the edge can flip.
Variant: the file target again with a busy loop pinning one of the two cores (a loaded machine).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import http.client
import itertools
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "publish.json"
TARGETS = ("file", "ftp", "sftp", "s3")
RUNS = int(os.environ.get("ONTHEDOT_BENCH_RUNS", "20"))  # ≥ 20 for the figures
LEAD_S = 1.5  # each release is scheduled this far ahead
POLL_S = 0.005  # the observer's poll interval (goal: ≤ 10 ms)
WATCH_S = 2.0  # publish --watch
SIZE = 20 * 1024
PATH = "/statistics/fatalquarterly.xlsx"
BUCKET = "bench"
STORAGE = "malloc,256m"  # Varnish's cache: room for the kill bench's large files
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


# --- the observer: a separate process polling the edge over one keep-alive connection ------------


def _connect(host: str, port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, port, timeout=2)


def watch(
    host: str,
    port: int,
    path: str,
    new_sha: str,
    release_at: float,
    until: float,
    poll_s: float = POLL_S,
    head: bytes = b"",
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Poll ``path`` every ``poll_s`` until the new bytes arrive; when they were sent and received.

    New = SHA-256 ``new_sha``; or, with ``head``, a body starting with ``head`` (then only that
    many bytes are asked for, with a Range request: for large files)."""
    headers = {"Range": f"bytes=0-{len(head) - 1}"} if head else {}
    conn, starts = _connect(host, port), []
    found: tuple[float, float] | None = None
    while found is None and time.time() < until and not (stop and stop.is_set()):
        sent = time.time()
        try:
            conn.request("GET", path, headers=headers)
            body = conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn, body = _connect(host, port), b""
        received = time.time()
        starts.append(sent)
        if (body[: len(head)] == head) if head else hashlib.sha256(body).hexdigest() == new_sha:
            found = (sent, received)
        elif (pause := sent + poll_s - time.time()) > 0:
            time.sleep(pause)
    conn.close()
    gaps = sorted(b - a for a, b in itertools.pairwise(starts)) or [0.0]
    return {
        "polls": len(starts),
        "polls_before_t": sum(s < release_at for s in starts),
        "gap_p50_ms": 1000 * gaps[len(gaps) // 2],
        "gap_max_ms": 1000 * gaps[-1],
        "sent_ms": None if found is None else 1000 * (found[0] - release_at),
        "lag_ms": None if found is None else 1000 * (found[1] - release_at),
        "early": found is not None and found[1] < release_at,
    }


def _observer_main(conn: Connection) -> None:
    while (job := conn.recv()) is not None:
        conn.send(watch(**job))


class Observer:
    """One long-lived observer process; ``start(...)`` a watch, then ``result()``."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_observer_main, args=(child,), daemon=True)
        self._proc.start()

    def start(self, host: str, port: int, path: str, new: bytes, release_at: float) -> None:
        self._conn.send(
            {
                "host": host,
                "port": port,
                "path": path,
                "new_sha": hashlib.sha256(new).hexdigest(),
                "release_at": release_at,
                "until": release_at + 10,
            }
        )

    def result(self) -> dict[str, Any]:
        if not self._conn.poll(30):
            raise TimeoutError("the edge observer did not answer in 30 s")
        result: dict[str, Any] = self._conn.recv()
        return result

    def close(self) -> None:
        self._conn.send(None)
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


# --- sites: a target, the origin serving what it writes, Varnish in front --------------------------


@dataclass
class Site:
    kind: str
    target: str  # [site] target
    public: str  # [site] public (Varnish)
    origin: str  # [site] origin
    edge_host: str
    edge_port: int
    edge_prefix: str  # URL path prefix of the site on the edge ("" or "/bucket")
    put_old: Callable[[str, bytes], None]
    root: Path | None = None  # the served directory, for file-like targets

    @property
    def purge(self) -> str:
        return f"varnish://{self.edge_host}:{self.edge_port}"

    def edge_request(self, method: str, path: str) -> tuple[int, bytes]:
        conn = _connect(self.edge_host, self.edge_port)
        try:
            conn.request(method, self.edge_prefix + path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def cache_old(self, path: str, old: bytes) -> None:
        """Put the old bytes at the origin and in the edge's cache (as before release day)."""
        self.put_old(path, old)
        self.edge_request("PURGE", path)
        status, body = self.edge_request("GET", path)
        if (status, body) != (200, old):
            raise RuntimeError(f"the edge did not cache the old bytes of {path} (HTTP {status})")


def _write_into(root: Path) -> Callable[[str, bytes], None]:
    """Put a file at the origin as one published earlier: its modification time a minute ago.
    (Written now, in the same second as the run before gave its new file, of the same size, it
    would share that file's ETag at nginx, and Varnish, revalidating the copy a PURGE had just
    dropped, could keep that copy: see docs/publishing.md.)"""

    def put(path: str, data: bytes) -> None:
        file = root / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        earlier = time.time() - 60
        os.utime(file, (earlier, earlier))

    return put


def start_site(kind: str, stack: ExitStack, work: Path, varnish: tuple[str, ...] = ()) -> Site:
    """Start the servers for one target kind (stopped when ``stack`` closes); ``varnish``:
    parameters of the edge (``-p``), beyond the sandbox's."""
    from tests.servers import MotoS3, Nginx, Sshd, Varnish, Vsftpd

    root = work / f"{kind}-root"
    root.mkdir(parents=True, exist_ok=True)
    if kind == "s3":
        moto = stack.enter_context(MotoS3())
        moto.create_bucket(BUCKET)
        edge = stack.enter_context(
            Varnish(moto.host, moto.port, default_ttl=3600, storage=STORAGE, params=varnish)
        )
        return Site(
            kind,
            f"s3://{BUCKET}/?endpoint={moto.endpoint_url}&acl=public-read",
            f"{edge.url}/{BUCKET}",
            f"{moto.endpoint_url}/{BUCKET}",
            edge.host,
            edge.port,
            f"/{BUCKET}",
            _s3_put(moto),
        )
    if kind == "file":
        target = f"file://{root}"
    elif kind == "ftp":
        target = stack.enter_context(Vsftpd(root, "publisher", "bench-s3cret")).url
    elif kind == "sftp":
        sshd = stack.enter_context(Sshd(root))
        target = f"{sshd.url}?known_hosts={sshd.known_hosts}&key={sshd.client_key}"
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    origin = stack.enter_context(Nginx(root))
    edge = stack.enter_context(
        Varnish(origin.host, origin.port, default_ttl=3600, storage=STORAGE, params=varnish)
    )
    return Site(
        kind, target, edge.url, origin.url, edge.host, edge.port, "", _write_into(root), root
    )


def _s3_put(moto: Any) -> Callable[[str, bytes], None]:
    import botocore.session

    client = botocore.session.get_session().create_client("s3", **moto.client_kwargs())

    def put(path: str, data: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=path.lstrip("/"), Body=data, ACL="public-read")

    return put


# --- one publication ------------------------------------------------------------------------------


def payload(label: str) -> bytes:
    return label.encode() + os.urandom(SIZE)


async def publish_once(
    site: Site, run: int, observer: Observer, engine: Any, work: Path, label: str
) -> dict[str, Any]:
    """Cache the old bytes, schedule a release LEAD_S ahead, publish it in-process, observe."""
    from tests.e2e.helpers import write_config, write_site_release

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.config import load_config, load_release
    from onthedot.morning.watch import WatchPlan
    from onthedot.runtime import publisher_for
    from onthedot.store.releases import ReleaseRepository

    old, new = payload(f"old {label} {run}"), payload(f"new {label} {run}")
    site.cache_old(PATH, old)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD_S)
    # the target is the operator's, in onthedot.toml: a release file may not name an S3
    # endpoint (``?endpoint=``) or a secret
    caches = "[verify.caches]\nvarnish = {default_ttl = 3600}\n"
    config = load_config(
        write_config(work, f"[site]\ntarget = {json.dumps(site.target)}\n{caches}")
    )
    release = load_release(
        write_site_release(
            work / f"{label}-{run:02d}",
            public=site.public,
            origin=site.origin,
            release_at=release_at,
            artefacts=[(PATH, new, None)],
            purge=(site.purge,),
            id=f"bench-{label}-{run:02d}",
        ),
        config,
    )
    await ReleaseRepository(engine).sync(release, actor="bench")
    observer.start(
        site.edge_host, site.edge_port, site.edge_prefix + PATH, new, release.release_at.timestamp()
    )
    async with publisher_for(
        engine,
        release,
        SYSTEM_CLOCK,
        plan=WatchPlan.for_seconds(WATCH_S),
        settings=config.verify,
    ) as publisher:
        outcome = await publisher.publish(release)
    seen = observer.result()
    flipped = outcome.flipped_at or release.release_at
    return {
        **seen,
        "live": outcome.live,
        "flip_lag_ms": 1000 * (flipped - release.release_at).total_seconds(),
        "flip_early_s": outcome.early_s,
        "purge_ms": min(
            (
                1000 * (a.started_at - release.release_at).total_seconds()
                for a in outcome.purge_attempts
            ),
            default=None,
        ),
    }


def mv_once(site: Site, run: int, observer: Observer) -> dict[str, Any]:
    """The baseline: no onthedot. At T, ``os.replace`` the staged file into place, then PURGE."""
    assert site.root is not None
    old, new = payload(f"old mv {run}"), payload(f"new mv {run}")
    site.cache_old(PATH, old)
    final = site.root / PATH.lstrip("/")
    staged = final.with_name(".bench-staged")
    with staged.open("wb") as out:
        out.write(new)
        out.flush()
        os.fsync(out.fileno())
    release_at = time.time() + LEAD_S
    observer.start(site.edge_host, site.edge_port, PATH, new, release_at)
    while (left := release_at - time.time()) > 0:  # coarse sleep, then spin: never early
        time.sleep(left - 0.05 if left > 0.06 else 0.0002)
    fired = time.time()
    os.replace(staged, final)
    purged = time.time()
    status, _ = site.edge_request("PURGE", PATH)
    seen = observer.result()
    return {
        **seen,
        "live": status == 200,
        "flip_lag_ms": 1000 * (fired - release_at),
        "flip_early_s": 0.0,
        "purge_ms": 1000 * (purged - release_at),
    }


# --- series and figures ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p99 of 20 values is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    lags = [r["lag_ms"] for r in ok if r["lag_ms"] is not None]
    flips = [r["flip_lag_ms"] for r in ok]
    gaps = [r["gap_p50_ms"] for r in ok]

    def stats(values: list[float]) -> dict[str, float | None]:
        return {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "max": max(values, default=None),
            "min": min(values, default=None),
        }

    return {
        "runs": len(runs),
        "errors": [r["error"] for r in runs if "error" in r],
        "seen": len(lags),
        "live": sum(bool(r["live"]) for r in ok),
        "early": sum(bool(r["early"]) for r in ok) + sum(r["flip_early_s"] > 0 for r in ok),
        "lag_ms": stats(lags),
        "flip_lag_ms": stats(flips),
        "purge_ms": stats([r["purge_ms"] for r in ok if r.get("purge_ms") is not None]),
        "poll_gap_ms": {
            "p50": percentile(gaps, 50),
            "max": max((r["gap_max_ms"] for r in ok), default=None),
        },
        "runs_detail": runs,
    }


@contextmanager
def busy_core() -> Iterator[None]:
    """A busy loop pinning one core for the duration (the "loaded machine" variant)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


async def _series(site: Site, label: str, observer: Observer, work: Path) -> dict[str, Any]:
    from onthedot.store.db import open_store

    engine = await open_store(f"sqlite:///{work / f'{label}.db'}")
    runs: list[dict[str, Any]] = []
    try:
        for run in range(RUNS):
            try:
                runs.append(await publish_once(site, run, observer, engine, work, label))
            except Exception as exc:  # a failed run is a figure, not a crash
                runs.append({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        await engine.dispose()
    return summarise(runs)


def run() -> dict[str, Any]:
    """Every series; writes bench/results/publish.json and returns it."""
    os.environ.update(S3_ENV)
    observer = Observer()
    series: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="onthedot-bench-publish-") as tmp:
            work = Path(tmp)
            for kind in TARGETS:
                with ExitStack() as stack:
                    site = start_site(kind, stack, work / kind)
                    series[kind] = asyncio.run(_series(site, kind, observer, work / kind))
                    if kind == "file":
                        series["mv_baseline"] = summarise(
                            [mv_once(site, i, observer) for i in range(RUNS)]
                        )
                        with busy_core():
                            series["file_loaded"] = asyncio.run(
                                _series(site, "file-loaded", observer, work / kind)
                            )
    finally:
        observer.close()
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": time.perf_counter() - started,
        "setup": {
            "lead_s": LEAD_S,
            "poll_s": POLL_S,
            "runs": RUNS,
            "body_bytes": SIZE,
            "publisher": "in-process (onthedot.runtime.publisher_for, system clock)",
            "edge": "Varnish -t 3600 in front of nginx (moto for s3); purge varnish://",
            "cpus": os.cpu_count(),
        },
        "series": series,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def main() -> None:
    results = run()
    for name, figures in results["series"].items():
        lag, flip = figures["lag_ms"], figures["flip_lag_ms"]
        print(
            f"{name:12} lag p50 {lag['p50']} p99 {lag['p99']} max {lag['max']} ms; "
            f"early {figures['early']}; flip p99 {flip['p99']} ms; errors {len(figures['errors'])}"
        )


if __name__ == "__main__":
    main()
