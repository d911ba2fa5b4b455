"""``onthedot incidents``, ``ack`` and ``close``: the incidents of the releases, and a person's
answer to one (docs/respond.md). ``onthedot run`` announces an acknowledgement or a close to
every role that was alerted."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.calendar_cmds import JsonOpt
from onthedot.cli.common import EXIT_OK, emit_json, out, run, state, styled

if TYPE_CHECKING:
    from onthedot.respond.incidents import Incident

IncidentArg = Annotated[
    int, typer.Argument(help="The incident's number, as `onthedot incidents` lists it.", min=1)
]


def register(app: typer.Typer) -> None:
    app.command("incidents")(incidents)
    app.command("ack")(ack)
    app.command("close")(close)


def incidents(
    everything: Annotated[
        bool, typer.Option("--all", help="Resolved and closed incidents too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the open incidents (what is wrong with which release, since when, who is on it)."""
    from onthedot.respond.incidents import IncidentBook

    async def body() -> int:
        async with state.store() as engine:
            found = await IncidentBook(engine).listed(everything=everything)
        if as_json:
            emit_json({"ok": True, "incidents": [i.as_json() for i in found]})
            return EXIT_OK
        if not found:
            out.print("No open incidents." if not everything else "No incidents.")
        for incident in found:
            _show(incident)
        return EXIT_OK

    run(body, as_json)


def _show(incident: Incident) -> None:
    colour = "red" if incident.state == "open" else "yellow" if incident.active else "green"
    since = incident.since.astimezone(state.config.zone).strftime("%H:%M:%S %d %b %Y")
    out.print(
        styled(
            (f"{incident.id:>4}", "bold"),
            f"  {incident.release_id}  ",
            (incident.state, colour),
            f"  since {since}  {incident.title}",
        ),
        highlight=False,
    )
    if incident.diagnosis:
        out.print(f"      {incident.diagnosis}", highlight=False)
    if incident.by:
        out.print(f"      {incident.state} by {incident.by}: {incident.reason}".rstrip(": "))


def ack(
    incident: IncidentArg,
    by: Annotated[
        str | None, typer.Option("--by", help="Who is on it (default: your login name).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="What is being done, if you like.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an incident: you are on it, so no one else is alerted about it."""
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.respond.incidents import IncidentBook

    async def body() -> int:
        async with state.store() as engine:
            done = await IncidentBook(engine).acknowledge(
                incident, by or getpass.getuser(), "cli", SYSTEM_CLOCK.now(), reason
            )
        _said(done, as_json)
        return EXIT_OK

    run(body, as_json)


def close(
    incident: IncidentArg,
    by: Annotated[str, typer.Option("--by", help="Who closes it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it needs nothing more.")],
    as_json: JsonOpt = False,
) -> None:
    """Close an incident by hand, with the reason (everyone alerted about it is told)."""
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.errors import InputError
    from onthedot.respond.incidents import IncidentBook

    async def body() -> int:
        if not by.strip() or not reason.strip():
            raise InputError("Say who closes the incident and why: --by NAME --reason TEXT.")
        async with state.store() as engine:
            done = await IncidentBook(engine).close(incident, by, reason, SYSTEM_CLOCK.now())
        _said(done, as_json)
        return EXIT_OK

    run(body, as_json)


def _said(incident: Incident, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": True, "incident": incident.as_json()})
    else:
        out.print(f"Incident {incident.id} of {incident.release_id} is {incident.state}.")
