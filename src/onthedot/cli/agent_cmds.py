"""``agent``: a remote probe agent that pulls URLs from an onthedot server and posts what it saw.

Also runs on its own, on a machine without a site config: ``ONTHEDOT_AGENT_TOKEN=... python -m
onthedot.cli.agent_cmds --server URL`` (or ``--token-file PATH``; ``--token``, left out of the help, works but is
visible to every user of the machine, and says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onthedot.cli.common import EXIT_FINDINGS, EXIT_OK, emit_json, err, out, run


def register(app: typer.Typer) -> None:
    app.command("agent")(agent)


def agent(
    server: Annotated[
        str, typer.Option("--server", help="Address of the onthedot web app (`onthedot run`).")
    ],
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="A file only you can read that holds this agent's token (from the server's "
            "[web] agents); else $ONTHEDOT_AGENT_TOKEN.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            hidden=True,  # for older scripts only: a token in argv is visible to every user (ps)
            help="The token itself: visible to every user of this machine (ps), so prefer "
            "$ONTHEDOT_AGENT_TOKEN or --token-file.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The name you expect the server to record (warns if not)."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between rounds.")
    ] = 2.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds for each fetch and server call.")
    ] = 10.0,
    once: Annotated[
        bool, typer.Option("--once", help="One round, then exit (1 if any result is a breach).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Probe the URLs the server assigns, from where this agent runs, and post the results."""
    from onthedot.agent import AgentOptions, agent_token, run_agent
    from onthedot.collector import tune_gc
    from onthedot.model import iso_utc

    tune_gc()

    def say(sentence: str) -> None:
        err.print(sentence, highlight=False)

    async def body() -> int:
        secret, warnings = agent_token(token_file, token)
        for warning in warnings:
            say(warning)
        options = AgentOptions(
            server=server, token=secret, name=name, interval_s=interval, timeout_s=timeout
        )
        cycle = await run_agent(options, once=once, say=say)
        if as_json:
            emit_json(
                {
                    "ok": not cycle.breach,
                    "agent": cycle.agent,
                    "vantage": cycle.vantage,
                    "recorded": cycle.recorded,
                    "results": [
                        r.model_dump(mode="json") | {"checked_at": iso_utc(r.checked_at)}
                        for r in cycle.results
                    ],
                }
            )
        else:
            out.print(cycle.sentence(), highlight=False)
            for r in cycle.results:
                out.print(f"  {r.status.value:9} {r.url} — {r.diagnosis}", highlight=False)
        return EXIT_FINDINGS if cycle.breach else EXIT_OK

    run(body, as_json)


if __name__ == "__main__":
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(standalone)
    standalone()
