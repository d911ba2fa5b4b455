"""The report with what people wrote (``drafts.Draft``) in place of its prompts.

Impact inside and outside the producer fill the impact form; the investigation comes before the
record's own findings (its prompt goes); the longer-term changes agreed replace their prompt;
the contact and the statement's address fill the core information; the status (who approved it,
when it was sent) is a line of the core information.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, to_local
from onthedot.record.report.assess import Assessment
from onthedot.record.report.drafts import SECTIONS, Draft, Drafts
from onthedot.record.report.model import Report, Row, build

CONTACT_ROW = 2
STATEMENT_ROW = 4
STATUS_LABEL = "Status of this report"


def paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split("\n\n") if p.strip())


def status_line(draft: Draft, zone: Zone) -> str:
    approved = draft.last("approved")
    parts = [
        {
            "draft": "Draft",
            "approved": "Approved",
            "sent": "Sent to the regulator",
            "published": "Published",
        }[draft.status]
    ]
    if approved is not None and draft.status != "draft":
        day = fmt_date(to_local(approved.at, zone).date())
        parts.append(f"approved by {approved.by} on {day}")
    if draft.sent_on is not None:
        parts.append(f"sent to the regulator on {fmt_date(draft.sent_on)}")
    return "; ".join(parts) + "."


def fill_in(report: Report, draft: Draft, zone: Zone) -> Report:
    written = draft.written
    core = list(report.core)
    if "contact" in written:
        core[CONTACT_ROW] = Row(core[CONTACT_ROW].label, written["contact"])
    if "statement_link" in written:
        core[STATEMENT_ROW] = Row(core[STATEMENT_ROW].label, "", written["statement_link"])
    core.append(Row(STATUS_LABEL, status_line(draft, zone)))
    impact = tuple(
        Row(row.label, written[key]) if key in written else row
        for row, key in zip(
            report.impact_prompts, ("impact_inside", "impact_outside"), strict=False
        )
    )
    investigation = report.investigation
    if "investigation" in written:
        recorded = tuple(p for p in report.investigation if not p.startswith("[To complete"))
        investigation = paragraphs(written["investigation"]) + recorded
    return dataclasses.replace(
        report,
        core=tuple(core),
        impact_prompts=impact,
        investigation=investigation,
        agreed=written.get("longer_term", report.agreed),
    )


async def drafted(
    engine: AsyncEngine, a: Assessment, *, today: dt.date | None = None, zone: Zone = LONDON
) -> Report:
    """The report of ``a`` drafted from the record, with what people wrote in the editor."""
    draft = await Drafts(engine).read(a.release.id)
    return fill_in(build(a, today=today, zone=zone), draft, zone)


__all__ = ["SECTIONS", "drafted", "fill_in", "status_line"]
