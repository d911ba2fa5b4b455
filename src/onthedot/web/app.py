"""The web app: ``create_app(engine, config=..., clock=..., agent_tokens=...)``.

``onthedot run`` serves it with uvicorn in a process of its own (``web.server``). Routes:

- ``/api/releases``, ``/api/releases/{id}``, ``/api/releases/{id}/timeline``,
  ``/api/releases/{id}/go-live``, ``/api/releases/{id}/artefacts``, ``/api/calendar``,
  ``/api/register``, ``/api/incidents``, ``/api/settings``, ``/api/health`` (JSON; OpenAPI at
  ``/api/openapi.json``), ``/metrics`` (Prometheus);
- ``/api/agent/assignments``, ``/api/agent/results`` (remote probe agents, bearer token);
- ``/`` (the release-morning board), ``/releases/{id}`` (a release: ``web.release``, with its
  live updates at ``/releases/{id}/live``),
  ``/calendar`` (and ``/calendar.ics``), ``/register`` (and ``/register.csv``), ``/settings``,
  ``/sign-in``, ``/sign-out``, ``/static/...``;
- ``/releases/{id}/report`` (the breach report's editor and its downloads at
  ``/releases/{id}/report.FMT``: ``web.reports``);
- ``/pre-release/{id}/{link}[/{path}]`` (a signed pre-release link: the staged files);
- ``/incidents`` and acknowledging one, signed in or by an alert's signed link (``web.incidents``).

Who may see what is ``web.access`` (every route is declared in ``access.ROUTES``); request bodies
are bounded, and agents' tokens checked before a body is read, by ``web.bodies``; no answer but
the static files may be kept by a cache or a browser (``web.private``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import jinja2
import uvicorn
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot import __version__
from onthedot.clock import SYSTEM_CLOCK, Clock
from onthedot.config import Config
from onthedot.morning.files import FileProblems
from onthedot.morning.leadership import Standings
from onthedot.record.checks import CheckRecorder
from onthedot.settings import WebSettings
from onthedot.web import (
    access,
    agents,
    api,
    board,
    calendar_page,
    errors,
    incidents,
    oidc,
    pages,
    prerelease,
    register,
    release,
    release_api,
    reports,
    settings_page,
    signin,
)
from onthedot.web.assets import STATIC_URL, VENDOR, installed_version
from onthedot.web.bodies import Bodies
from onthedot.web.context import AgentLimiter, WebContext
from onthedot.web.live import Feed
from onthedot.web.metrics import ServiceMetrics
from onthedot.web.private import Private

log = logging.getLogger("onthedot.web")
HERE = Path(__file__).parent


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(HERE / "templates"),
                jinja2.PrefixLoader(
                    {"govuk_frontend_jinja": jinja2.PackageLoader("govuk_frontend_jinja")}
                ),
            ]
        ),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        # the templates are the installed package's: never looked at again on disk once loaded
        # (Jinja's default stats each file at every use, every include of every card of a page)
        auto_reload=False,
    )
    return Jinja2Templates(env=env)


def create_app(
    engine: AsyncEngine,
    *,
    config: Config | None = None,
    clock: Clock = SYSTEM_CLOCK,
    agent_tokens: Mapping[str, str] | None = None,
    vendor: Path = VENDOR,
    file_problems: FileProblems | None = None,
    standing: Standings | None = None,
) -> FastAPI:
    """The app over an open, migrated store. ``agent_tokens`` maps each agent's token to its name.

    The service's verifier may report sweep durations through ``app.state.onthedot.metrics``
    (``observe_sweep(release_id, seconds)``), and the release files it cannot read through
    ``file_problems`` (shown by ``/api/health``), and whether it publishes (several instances on
    one store: ``morning.leadership``) through ``standing``.
    """
    config = config or Config()
    assets = installed_version(vendor)
    if assets is None:
        log.warning(
            "GOV.UK Frontend assets are not built, so the dashboard is unstyled: run "
            "`python -m onthedot.web.assets build`."
        )
    app = FastAPI(
        title="onthedot",
        version=__version__,
        description="Orderly release for official statistics: what the public sees, and why.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(access.guard)],
    )
    app.state.onthedot = WebContext(
        engine=engine,
        config=config,
        clock=clock,
        agent_tokens=dict(agent_tokens or {}),
        settings=config.web,
        recorder=CheckRecorder(engine),
        metrics=ServiceMetrics(),
        templates=templates(),
        assets_version=assets,
        agent_limiter=AgentLimiter(config.web.agent_min_interval_s),
        file_problems=file_problems or FileProblems(),
        feed=Feed(engine, config.web.live_s),
        standing=standing or Standings(),
    )
    errors.install(app, pages.render_error)
    app.include_router(api.router)
    app.include_router(api.metrics_router)
    app.include_router(agents.router)
    app.include_router(board.router)
    app.include_router(release.router)
    app.include_router(release_api.router)
    app.include_router(calendar_page.router)
    app.include_router(calendar_page.page_router)
    app.include_router(register.router)
    app.include_router(register.page_router)
    app.include_router(settings_page.router)
    app.include_router(settings_page.page_router)
    app.include_router(signin.router)
    app.include_router(oidc.router)
    app.include_router(prerelease.router)
    app.include_router(incidents.router)
    app.include_router(reports.router)
    app.mount(STATIC_URL, StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(
        Bodies,
        max_bytes=config.web.max_body_bytes,
        timeout_s=config.web.body_timeout_s,
        check_agent=functools.partial(agents.agent_for, app.state.onthedot.agent_tokens),
    )
    app.add_middleware(Private)  # (the outermost: Bodies' refusals too)
    return app


def server_config(app: FastAPI, web: WebSettings) -> uvicorn.Config:
    """How ``onthedot run`` serves the app on the socket it was handed: idle connections closed
    after ``keep_alive_s`` (request bodies are timed by ``web.bodies``)."""
    return uvicorn.Config(
        app, log_level="warning", timeout_keep_alive=web.keep_alive_s, timeout_graceful_shutdown=2
    )
