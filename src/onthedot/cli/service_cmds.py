"""``onthedot run``: the service — scheduler, verifier, web dashboard and API, in one process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.common import EXIT_OK, out, run, state

if TYPE_CHECKING:
    from onthedot.model import Release


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

    import uvicorn

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.morning.scheduler import SchedulePolicy, Scheduler
    from onthedot.runtime import publisher_for, tune_gc
    from onthedot.web.agents import agent_tokens
    from onthedot.web.app import create_app, server_config

    tune_gc()

    async def body() -> int:
        settings = state.config.verify
        publish_settings = state.config.publish
        policy = SchedulePolicy(
            stage_ahead_s=publish_settings.stage_ahead_s,
            catch_up_s=publish_settings.catch_up_s,
            poll_s=poll,
        )
        async with state.store() as engine:
            web = None
            if not no_web:
                web = create_app(
                    engine,
                    config=state.config,
                    clock=SYSTEM_CLOCK,
                    agent_tokens=agent_tokens(state.config.web, os.environ),
                )
            on_sweep = web.state.onthedot.metrics.observe_sweep if web is not None else None

            async def publish(release: Release) -> object:
                async with publisher_for(
                    engine, release, SYSTEM_CLOCK, settings=settings, on_sweep=on_sweep
                ) as publisher:
                    return await publisher.publish(release)

            scheduler = Scheduler(
                engine,
                load=state.releases_from_config,
                publish=publish,
                clock=SYSTEM_CLOCK,
                policy=policy,
            )
            jobs = [asyncio.create_task(scheduler.run_forever())]
            if web is not None:
                server = uvicorn.Server(server_config(web, state.config.web, host, port))
                jobs.append(asyncio.create_task(server.serve()))
                out.print(
                    f"onthedot is running: dashboard at http://{host}:{port}/ (Ctrl-C to stop)"
                )
            try:
                await asyncio.gather(*jobs)
            finally:
                for job in jobs:
                    job.cancel()
                await scheduler.aclose()
        return EXIT_OK

    run(body)
