"""``onthedot demo``: the 2019 incident replayed on this machine, then prevented (onthedot.demo).

Unattended when standard input is not a terminal (it runs both acts and exits: 0 when both
behaved as described, 1 otherwise); on a terminal, or with ``--keep``, the dashboard then stays
up with both acts loaded until Ctrl-C.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.common import EXIT_FINDINGS, EXIT_OK, State, run

if TYPE_CHECKING:
    from onthedot.demo.session import Session
    from onthedot.demo.show import RichStage
    from onthedot.demo.stage import ActResult


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    keep: Annotated[
        bool | None,
        typer.Option(
            "--keep/--no-keep",
            help="Leave the dashboard running with both acts loaded (default: when standard "
            "input is a terminal).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the dashboard (with --keep).")] = 8000,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--folder",
            help="Where to write the demo's settings, store, timeline and reports "
            "(default: a new temporary folder).",
        ),
    ] = None,
) -> None:
    """Replay the 2019 incident on local servers, then show onthedot preventing it (about a minute)."""
    import tempfile

    from onthedot.demo.session import demo_session
    from onthedot.demo.show import RichStage

    staying = sys.stdin.isatty() if keep is None else keep
    into = folder or Path(tempfile.mkdtemp(prefix="onthedot-demo-"))

    async def body() -> int:
        stage = RichStage()
        with demo_session(into.resolve()) as session:
            results = await session.run(stage)
            _summary(stage, results, session, staying)
            if staying:
                await _dashboard(session, port)
        return EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS

    run(body)


def _summary(stage: RichStage, results: list[ActResult], session: Session, staying: bool) -> None:
    stage.heading("What the demo showed")
    for result in results:
        for claim, held in result.claims.items():
            stage.say(f"{'✓' if held else '✗'} {result.name}: {claim}", "green" if held else "red")
    for result in results:
        for name, path in result.files.items():
            stage.say(f"The {name}: {path}")
    stage.say(f"Everything the demo wrote is in {session.demo.folder}.")
    if not staying:
        stage.say("With --keep the dashboard and act 2's website stay up (README, the tour).")
        return
    site = session.sites[1]
    where = f"{site.cache.url} (web server {site.origin.url}, FTP port {site.ftp.port})"
    if site.on_tour_ports:
        stage.say(f"While the dashboard runs, act 2's website stays up at {where}: examples/ "
                  "publishes to it (README, \"A five-minute tour\").")  # fmt: skip
    else:
        stage.say(f"Act 2's website is at {where}, not on ports 8080, 8081 and 2121 (taken), so "
                  "examples/onthedot.toml does not point at it.")  # fmt: skip


async def _dashboard(session: Session, port: int) -> None:
    """The service over the demo's folder (both acts in its store) until Ctrl-C."""
    import asyncio
    import os
    import signal

    from onthedot.cli.service_cmds import serve
    from onthedot.demo.prevented import PREVENTED_ID
    from onthedot.demo.seed import RELEASE_ID
    from onthedot.web.agents import agent_tokens
    from onthedot.web.server import WebSpec, listen

    st = State(config_path=session.demo.config_path)
    tokens = agent_tokens(st.config.web, os.environ)
    web = WebSpec(st.database_url, st.config.path, tokens), listen("127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    base = f"http://127.0.0.1:{port}"
    said = (
        f"The dashboard is at {base}/ (Ctrl-C to stop the demo). Act 1: "
        f"{base}/releases/{RELEASE_ID} · Act 2: {base}/releases/{PREVENTED_ID}"
    )
    await serve(st, poll=30.0, web=web, stop=stop, started=said)
