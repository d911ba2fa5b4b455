"""``onthedot run``: the service — the scheduler in this process, the dashboard and API in their own.

The scheduler (staging, the flip, purges, the sweeps) has this process and its event loop to
itself; requests are handled in a child process (``onthedot.web.server``), so no request, however
large or slow, can hold up a flip. Ctrl-C or SIGTERM stops both.

Several instances may share one PostgreSQL store: all serve the dashboard and API, one publishes
(``morning.leadership``), and a standby takes over within two seconds of the leader dying.
Every instance takes its part in the sweeps after T (``morning.spread``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.common import EXIT_OK, State, out, run, state

if TYPE_CHECKING:
    import asyncio
    import socket

    from sqlalchemy.ext.asyncio import AsyncEngine

    from onthedot.model import Release
    from onthedot.morning.files import FileProblem
    from onthedot.morning.leadership import Leadership
    from onthedot.morning.spread import Spread
    from onthedot.runtime import SharedProbes
    from onthedot.web.server import WebProcess, WebSpec


def register(app: typer.Typer) -> None:
    app.command("run")(run_service)


def run_service(
    host: Annotated[
        str, typer.Option(help="Address the dashboard and API listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the dashboard and API.")] = 8000,
    poll: Annotated[
        float, typer.Option(help="Seconds between re-reading the release files.")
    ] = 30.0,
    no_web: Annotated[bool, typer.Option("--no-web", help="Run the scheduler only.")] = False,
) -> None:
    """Run the service: publish every release on the dot, watch it, serve the dashboard and API."""
    import asyncio
    import os
    import signal

    from onthedot.collector import tune_gc
    from onthedot.runtime import plain_tracebacks
    from onthedot.web.agents import agent_tokens
    from onthedot.web.server import WebSpec, listen

    async def body() -> int:
        web = None
        if not no_web:
            tokens = agent_tokens(state.config.web, os.environ)
            web = WebSpec(state.database_url, state.config.path, tokens), listen(host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(state, poll=poll, web=web, stop=stop, started=_say_running(host, port))
        out.print("onthedot stopped.")
        return EXIT_OK

    tune_gc()
    plain_tracebacks()
    run(body)


def _say_running(host: str, port: int) -> str:
    return f"onthedot is running: dashboard at http://{host}:{port}/ (Ctrl-C to stop)"


async def serve(
    st: State,
    *,
    poll: float,
    web: tuple[WebSpec, socket.socket] | None,
    stop: asyncio.Event,
    started: str = "",
) -> None:
    """The service until ``stop`` is set: the scheduler here, the dashboard (``web``: what it
    serves and its listening socket) in its own process."""
    import asyncio

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.errors import ReleaseFileError
    from onthedot.morning.leadership import Leadership
    from onthedot.morning.scheduler import SchedulePolicy, Scheduler
    from onthedot.morning.watch import WatchPlan
    from onthedot.respond.addresses import config_problems
    from onthedot.respond.responder import Responder
    from onthedot.runtime import SharedProbes, publisher_for, warm_up
    from onthedot.web.server import WebProcess

    refused = config_problems(st.config)  # an alert or held-step address no service can use
    if refused:
        raise ReleaseFileError(refused)
    policy = SchedulePolicy(
        stage_ahead_s=st.config.publish.stage_ahead_s,
        catch_up_s=st.config.publish.catch_up_s,
        poll_s=poll,
    )
    try:
        async with st.store() as engine, st.store() as own:
            # its own connections: the alerts never wait for one the sweeps hold at T
            responder = Responder.for_config(own, st.config, SYSTEM_CLOCK)  # bad address: stop
            dashboard = None
            if web is not None:
                dashboard = WebProcess(*web)
                dashboard.start()
            on_sweep = dashboard.observe_sweep if dashboard else None
            leadership = Leadership(engine, on_change=dashboard.standing if dashboard else None)
            responder.leads = lambda: leadership.leader  # (a standby's responder only waits)
            replies = asyncio.create_task(responder.run_forever())
            warm_up(st.release_files_from_config().releases)  # (a standby takes over warm)
            leading = asyncio.create_task(leadership.run_forever())
            probes = SharedProbes(st.config.verify)  # (one probe engine for every release)
            spread, helping = _sweeps_shared(engine, st, leadership, probes)

            def on_problems(problems: tuple[FileProblem, ...]) -> None:
                responder.file_problems(problems)
                if dashboard is not None:
                    dashboard.file_problems(problems)

            async def publish(release: Release) -> object:
                async with publisher_for(
                    engine,
                    release,
                    SYSTEM_CLOCK,
                    plan=WatchPlan(until_live_s=st.config.publish.watch_until_live_s),
                    settings=st.config.verify,
                    on_sweep=on_sweep,
                    remediate=st.config.remediate,
                    spread=spread,
                    shared=probes,
                ) as publisher:
                    return await publisher.publish(release)

            scheduler = Scheduler(
                engine,
                load=st.release_files_from_config,
                publish=publish,
                clock=SYSTEM_CLOCK,
                policy=policy,
                on_problems=on_problems,
                leadership=leadership,
            )
            job = asyncio.create_task(scheduler.run_forever())
            if started and dashboard:
                out.print(started)
            try:
                await _until(stop, job, dashboard)
            finally:
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
                await scheduler.aclose()
                for task in (*helping, leading):
                    task.cancel()
                await asyncio.gather(*helping, leading, return_exceptions=True)
                await leadership.aclose()
                replies.cancel()
                await asyncio.gather(replies, return_exceptions=True)
                await responder.catch_up()  # (what the last look's gap held back)
                await responder.aclose()
                if dashboard is not None:
                    await asyncio.to_thread(dashboard.stop)
    finally:
        if web is not None:
            web[1].close()  # (when the dashboard never started; closing twice is harmless)


def _sweeps_shared(
    engine: AsyncEngine, st: State, leadership: Leadership, probes: SharedProbes
) -> tuple[Spread | None, tuple[asyncio.Task[None], ...]]:
    """On PostgreSQL: the leader's sweeps after T spread across the instances, and this
    instance's part in the others' (its helper, and the notices that wake it); on SQLite, none."""
    import asyncio

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.morning.spread import Helper, Spread, at_once
    from onthedot.runtime import verifier_for
    from onthedot.store.advisory import shared
    from onthedot.store.sweeps import SweepBoard, SweepNotices

    if not shared(engine):
        return None, ()
    board = SweepBoard(engine, leadership.standing.instance)
    notices = SweepNotices(engine)
    chunk_urls = st.config.publish.spread_chunk_urls
    chunks = at_once(st.config.verify.concurrency, chunk_urls)
    helper = Helper(
        board,
        notices,
        engine,
        open_verifier=lambda release: verifier_for(release, SYSTEM_CLOCK, st.config.verify, probes),
        clock=SYSTEM_CLOCK,
        leads=lambda: leadership.leader,
        at_once=chunks,
    )
    tasks = (
        asyncio.create_task(notices.run_forever()),
        asyncio.create_task(helper.run_forever()),
    )
    return Spread(board, notices, chunk_urls, chunks), tasks


async def _until(
    stop: asyncio.Event, job: asyncio.Task[None], dashboard: WebProcess | None
) -> None:
    """Wait for ``stop``; say once if the dashboard's process ends on its own (publishing goes on)."""
    import asyncio

    from onthedot import logs

    said = False
    while not stop.is_set() and not job.done():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass
        if dashboard is not None and dashboard.exitcode is not None and not said:
            said = True
            logs.get_logger("onthedot.service").error(
                "the dashboard stopped; releases are still published",
                exit_code=dashboard.exitcode,
            )
