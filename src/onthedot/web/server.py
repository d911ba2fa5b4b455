"""The dashboard and API of ``onthedot run`` in a process of their own.

The scheduler's flip, purges and sweep at T must never wait for a request. A thread is not
enough: parsing a request's body (a 50 MB JSON document, say) holds Python's global interpreter
lock for as long as it takes, about a second here, and every other thread of the process waits
(measured with ``bench/bench_flood.py``). So the web side runs in a child process with its own
event loop and its own engine on the same database (SQLite in WAL mode, or PostgreSQL).

The service opens the listening socket itself (a port already in use is a plain error at once)
and hands it to the child. What the scheduler knows and the dashboard shows (each sweep's
duration for ``/metrics``, the release files it cannot read for ``/api/health``) crosses over a
queue that never blocks the sender. The child stops on SIGTERM, when the service ends, or when the
service's process is gone (never outliving it); it never sees SIGINT, so a Ctrl-C stops the
service, which then stops the child.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import uvicorn

from onthedot.errors import ConfigError
from onthedot.morning.files import FileProblem, FileProblems
from onthedot.morning.leadership import Standing, Standings

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from pathlib import Path

    from fastapi import FastAPI

AppFactory = Callable[..., "FastAPI"]
STOP_TIMEOUT_S = 5.0


def listen(host: str, port: int) -> socket.socket:
    """The dashboard's listening socket, or a ConfigError naming the option to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ConfigError(
            f"The dashboard cannot listen on {host}:{port} ({exc.strerror}): choose another "
            "--port or --host, or stop what uses it."
        ) from None


@dataclass(frozen=True)
class WebSpec:
    """What the child needs to serve the dashboard (all of it pickled across)."""

    database_url: str
    config_path: Path | None  # read again in the child (settings tables do not pickle)
    agent_tokens: Mapping[str, str]
    make_app: AppFactory | None = (
        None  # default ``onthedot.web.app.create_app``; tests pass a slow one
    )


class WebProcess:
    """The dashboard's process: ``start``, then ``observe_sweep`` / ``file_problems`` from the
    scheduler's side (never blocking), ``stop`` at the end."""

    def __init__(self, spec: WebSpec, sock: socket.socket) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads, loops or engines
        self._updates: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
        self._updates.cancel_join_thread()  # the service's exit never waits for a stuck child
        self._process: BaseProcess = context.Process(
            target=_serve, args=(spec, sock, self._updates), name="onthedot-web", daemon=True
        )
        self._sock = sock

    def start(self) -> None:
        # started with SIGINT blocked, which the child keeps: a Ctrl-C reaches the service alone
        # (even while the child is still importing), and the service stops the child
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._sock.close()  # the child has its own copy

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def observe_sweep(self, release_id: str, seconds: float) -> None:
        self._updates.put(("sweep", (release_id, seconds)))

    def file_problems(self, problems: tuple[FileProblem, ...]) -> None:
        self._updates.put(("files", problems))

    def standing(self, standing: Standing) -> None:
        """This instance became the leader or a standby (``/api/health``, ``/metrics``)."""
        self._updates.put(("standing", standing))

    def stop(self) -> None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL if it will not go."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._updates.close()


WEB_NICENESS = 10
"""How much lower the web child's CPU priority is than the scheduler's: when both want the CPU
(fifty dashboards following a 10,000-URL sweep live), the sweep gets it first. Measured with
``bench.bench_load`` (200 x 50 at one T, one instance, eight readers; three runs each on a
shared 2-CPU machine): at +10 the flips were 5-8 ms late (median), at +5 23-26 ms, at 0 90-115
ms in two runs of three; the dashboard's p95 was no better for it (3.8-8.2 s at +10, 5.6-9.6 at
+5, 5.3-6.0 at 0). What a client asks must not delay the flip: it stays at +10."""


def yield_cpu() -> None:
    """Lower this process's CPU priority by ``WEB_NICENESS`` (where the system lets it)."""
    try:
        os.nice(WEB_NICENESS)
    except OSError:
        pass


def _serve(
    spec: WebSpec, sock: socket.socket, updates: multiprocessing.Queue[tuple[str, Any]]
) -> None:
    """The child's body."""
    yield_cpu()
    asyncio.run(_serve_async(spec, sock, updates))


async def _serve_async(
    spec: WebSpec, sock: socket.socket, updates: multiprocessing.Queue[tuple[str, Any]]
) -> None:
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.collector import tune_gc
    from onthedot.config import load_config
    from onthedot.record.checkpoint import anchor_for, bind
    from onthedot.store.db import WEB_POOL_WAIT_S, open_store
    from onthedot.web.app import create_app, server_config

    engine = await open_store(spec.database_url, pool_wait_s=WEB_POOL_WAIT_S)
    config = load_config(spec.config_path)
    # what agents post is recorded here: its timeline heads are signed as the scheduler's are
    bind(engine, anchor_for(config.evidence, config.root, spec.database_url))
    problems = FileProblems()
    standing = Standings()
    app = (spec.make_app or create_app)(
        engine,
        config=config,
        clock=SYSTEM_CLOCK,
        agent_tokens=spec.agent_tokens,
        file_problems=problems,
        standing=standing,
    )
    tune_gc()  # what is loaded by now is frozen; a page's objects are collected less often
    server = _QuietServer(server_config(app, config.web))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, server.stop)
    metrics = app.state.onthedot.metrics
    threading.Thread(
        target=_apply, args=(updates, metrics.observe_sweep, problems, standing), daemon=True
    ).start()
    threading.Thread(target=_watch_parent, args=(loop, server), daemon=True).start()
    try:
        await server.serve(sockets=[sock])
    finally:
        await engine.dispose()


def _apply(
    updates: multiprocessing.Queue[tuple[str, Any]],
    observe_sweep: Callable[[str, float], None],
    problems: FileProblems,
    standing: Standings,
) -> None:
    """Apply what the scheduler sends (a thread of the child: the queue's reads block)."""
    while True:
        try:
            kind, data = updates.get()
        except (EOFError, OSError):
            return
        if kind == "sweep":
            observe_sweep(*data)
        elif kind == "files":
            problems.replace(data)
        elif kind == "standing":
            standing.replace(data)


def _watch_parent(loop: asyncio.AbstractEventLoop, server: _QuietServer) -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        loop.call_soon_threadsafe(server.stop)


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its own signal handling: the service's process handles the
    signals, this one obeys ``stop``."""

    def capture_signals(self) -> Any:
        return nullcontext()

    def stop(self) -> None:
        self.should_exit = True
