"""The demo told for people, with Rich: headings, a countdown to 09:30, each event and e-mail as it
happens, tables. On a terminal the countdown is one line counting down; otherwise (a log, a pipe)
it prints one line a second, so the output reads as a transcript."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from onthedot.clock import Clock

TRANSCRIPT_WIDTH = 120
"""Columns of the output when it is not a terminal (a log, a pipe)."""
BODY_LINES = 4
"""Lines of each e-mail's body shown."""


class RichStage:
    """A ``demo.acts.Stage`` printing to ``console`` (people's text is never read as markup)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(markup=False, highlight=False)
        if not self.console.is_terminal:
            self.console.width = TRANSCRIPT_WIDTH

    def heading(self, text: str) -> None:
        self.console.print()
        self.console.rule(Text(text, style="bold"))

    def say(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style))

    async def countdown(self, clock: Clock, until: dt.datetime) -> None:
        if self.console.is_terminal:
            with self.console.status("") as status:
                while (left := (until - clock.now()).total_seconds()) > 0:
                    status.update(Text(_to_go(clock, left), style="bold"))
                    await asyncio.sleep(0.1)
        else:
            shown = None
            while (left := (until - clock.now()).total_seconds()) > 0:
                if shown != int(left):
                    shown = int(left)
                    self.console.print(_to_go(clock, left))
                await asyncio.sleep(0.05)
        self.console.print(Text("09:30: release time.", style="bold"))

    def event(self, at: str, label: str, sentence: str) -> None:
        line = Text.assemble((f"{at}  ", "cyan"), (label, "bold"), "  ", sentence)
        self.console.print(line)

    def mail(self, to: str, subject: str, body: str) -> None:
        lines = [line for line in body.strip().splitlines() if line.strip()][:BODY_LINES]
        self.console.print(
            Text.assemble(("  ✉ e-mail to ", "magenta"), (to, "bold"), ": ", subject)
        )
        for line in lines:
            self.console.print(Text(f"      {line}", style="dim"))

    def table(self, title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        table = Table(*header, title=title, title_justify="left", show_lines=False)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def _to_go(clock: Clock, left: float) -> str:
    return f"{clock.now():%H:%M:%S} on 18 December 2019: {left:.0f} s to the release time"
