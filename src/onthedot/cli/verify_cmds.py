"""``verify``, ``preflight``, ``diff``: see what the public sees, predict it, compare environments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from onthedot.cli.common import EXIT_FINDINGS, EXIT_OK, emit_json, out, resolve_release, run, state
from onthedot.clock import SYSTEM_CLOCK
from onthedot.runtime import VerifySettings, verifier_for
from onthedot.verify.recorder import CheckRecorder
from onthedot.verify.verifier import VerifyReport

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
STATUS_COLOUR = {
    "embargoed": "green",
    "live": "green",
    "early": "red",
    "stale": "red",
    "missing": "red",
    "error": "red",
}


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def print_results(report: VerifyReport) -> None:
    table = Table("Status", "URL", "Vantage", "Diagnosis", show_lines=False)
    for r in report.results:
        colour = STATUS_COLOUR.get(r.status.value, "white")
        table.add_row(f"[{colour}]{r.status.value}[/]", r.url, r.vantage, r.diagnosis)
    out.print(table)
    verdict = "[green]all fine[/]" if report.ok else "[red]breach-level findings[/]"
    out.print(f"{len(report.results)} result(s), {report.phase} the release time: {verdict}.")


def verify(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    as_json: JsonOpt = False,
) -> None:
    """Look at every artefact URL now, as the public does (edge, origin, every vantage point).

    Before release_at: embargoed (fine) or early (breach). From release_at: live, stale, missing
    or error, each with a one-sentence diagnosis. Exit 0 all fine, 1 any breach-level status.
    """

    async def body() -> int:
        async with state.store() as engine:
            rel = await resolve_release(engine, release)
            settings = VerifySettings.from_table(state.config.verify)
            async with verifier_for(rel, SYSTEM_CLOCK, settings) as verifier:
                report = await verifier.check(rel)
            await CheckRecorder(engine).record(rel.id, report.results)
        if as_json:
            emit_json(report.as_json())
        else:
            print_results(report)
        return EXIT_OK if report.ok else EXIT_FINDINGS

    run(body, as_json)
