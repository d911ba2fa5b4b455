"""The report, built once from an Assessment; every renderer (DOCX, ODT, HTML, Markdown) reads it.

The sections and their order are those of the regulator's form (the seed, ../shared/seed/):
1 Core information, 2 Circumstances of breach, 3 Impact of the breach, 4 Corrective actions. A
fact that was not recorded is shown in square brackets as missing, never invented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from onthedot.calendar.editions import cite, edition_on
from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, get_zone, to_local
from onthedot.model import is_web_url
from onthedot.record import kinds
from onthedot.record.report.actions import longer_term, short_term, unique
from onthedot.record.report.assess import Assessment
from onthedot.record.report.facts import account_paragraphs, clock_note, impact_facts, summary

HEADING = "Report of a breach of the Code of Practice for Statistics"
ACCOUNT_GUIDANCE = "Give an account of what happened including roles of persons involved, dates, times etc."
IMPACT_GUIDANCE = (
    "Provide details of the impact of the breach both inside the producer body and externally."
)
ACTIONS_GUIDANCE = (
    "Describe the short-term actions made to redress the situation and the longer term changes "
    "to procedures etc."
)


@dataclass(frozen=True)
class Row:
    """One line of a form: a label and its value (a missing value is bracketed text)."""

    label: str
    text: str
    link: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class Report:
    release_id: str
    breached: bool
    core: tuple[Row, ...]
    citations: tuple[str, ...]
    edition_note: str
    due: str
    clock_note: str
    account: tuple[str, ...]
    summary: tuple[str, ...]
    impact_prompts: tuple[Row, ...]
    impact_facts: tuple[str, ...]
    short_term: tuple[str, ...]
    longer_term: tuple[str, ...]
    warning: str | None = None
    record: str = ""
    heading: str = HEADING
    guidance: dict[str, str] = field(
        default_factory=lambda: {
            "account": ACCOUNT_GUIDANCE,
            "impact": IMPACT_GUIDANCE,
            "actions": ACTIONS_GUIDANCE,
        }
    )

    def text(self) -> str:
        """Everything the report says, in order, as plain text (for tests and quick looks)."""
        parts = [self.heading, self.warning or ""]
        parts += [f"{r.label}: {r.text} {r.link or ''}" for r in self.core]
        parts += [*self.citations, self.due, self.clock_note, *self.account, *self.summary]
        parts += [f"{r.label}: {r.text}" for r in self.impact_prompts]
        parts += [*self.impact_facts, *self.short_term, *self.longer_term, self.record]
        return "\n".join(p for p in parts if p)


def missing(text: str) -> str:
    return f"[{text}]"


def output_link(a: Assessment) -> str | None:
    site, release = a.release.site, a.release
    if site is None or not release.artefact:
        return None
    return site.url(release.artefact[0].path)


def statement_link(a: Assessment) -> str | None:
    """The last recorded statement's address, else the release's ``statement_url``; an address
    recorded before web addresses were checked is not linked unless it is one."""
    published = a.evidence.of(kinds.STATEMENT_PUBLISHED)
    recorded = str(published[-1].data.get("url") or "") if published else ""
    return recorded if is_web_url(recorded) else a.release.statement_url


def core_rows(a: Assessment, today: dt.date) -> tuple[Row, ...]:
    r = a.release
    link = output_link(a)
    statement = statement_link(a)
    no_link = missing("No link to the statistical output was recorded: add [site] public and an artefact")
    return (
        Row("Title and link to statistical output", f"{r.title}." + ("" if link else f" {no_link}"), link),
        Row("Name of producer organisation", r.producer),
        _person("Name and contact details of person dealing with report", r.lead_statistician,
                "No contact person was recorded: add lead_statistician to the release file"),
        _person("Head of Profession for Statistics / lead official", r.head_of_profession,
                "No Head of Profession was recorded: add head_of_profession to the release file"),
        Row("Link to published statement about the breach (if relevant)",
            "" if statement else missing("No link to a published statement was recorded"),
            statement, missing=statement is None),
        Row("Date of breach report", fmt_date(today)),
    )


def _person(label: str, value: str | None, absent: str) -> Row:
    return Row(label, value) if value else Row(label, missing(absent), missing=True)


def citations(a: Assessment, day: dt.date) -> tuple[str, ...]:
    practices = sorted({p for b in a.breaches for p in b.practices})
    found = []
    for practice in practices:
        try:
            found.append(cite(practice, day).text)
        except KeyError:
            found.append(f"Practice {practice}")
    return tuple(found)


def impact_prompts() -> tuple[Row, ...]:
    return (
        Row("Impact inside the producer body", missing(
            "To be completed by the producer: who had to act, what was delayed or held back")),
        Row("Impact outside the producer body", missing(
            "To be completed by the producer: how prominent the release is, enquiries from users or the media")),
    )


def build(a: Assessment, *, today: dt.date | None = None, zone: Zone = LONDON) -> Report:
    """The report of ``a``; ``today`` is the date of the report (default: today in ``zone``)."""
    release_day = to_local(a.release.release_at, zone).date()
    today = today or dt.datetime.now(get_zone(zone)).date()
    edition = edition_on(release_day)
    short = [x["what"] for x in short_term(a.evidence, zone)]
    longer = unique([x for b in a.breaches for x in longer_term(a.evidence, b)])
    return Report(
        release_id=a.release.id,
        breached=bool(a.breaches),
        core=core_rows(a, today),
        citations=citations(a, release_day),
        edition_note=(
            f"Cited from the Code of Practice for Statistics, edition {edition.id}, in force on "
            f"{fmt_date(release_day)}."
        ),
        due=due_sentence(a, zone),
        clock_note=clock_note(a.evidence, zone),
        account=tuple(account_paragraphs(a, zone)),
        summary=tuple(summary(a, zone)),
        impact_prompts=impact_prompts(),
        impact_facts=tuple(impact_facts(a, zone)),
        short_term=tuple(short) if short else (missing(
            "No short-term action was recorded in the timeline: record them with `onthedot timeline-add`"),),
        longer_term=tuple(x["what"] for x in longer),
        warning=tamper_warning(a, zone),
        record=record_note(a),
    )


RECORD_HEADING = "Annex: the record this report was drafted from"


def record_note(a: Assessment) -> str:
    """The annex: the full record reference, and what a reader can do with it."""
    head = a.record_reference
    if head is None:
        return "Nothing had been recorded for this release when this report was drafted."
    count = len(a.evidence.events)
    return (
        f"Record reference: {head}. This is the fingerprint (SHA-256) of the last of the {count} "
        "events recorded for this release when this report was drafted; each event's fingerprint "
        "covers every event before it. Ask the producer to show that the record still runs "
        "through this event unchanged."
    )


def due_sentence(a: Assessment, zone: Zone) -> str:
    local = to_local(a.release.release_at, zone)
    return (
        f"The release “{a.release.title}” was due at {local:%H:%M} on {fmt_date(local.date())} "
        f"({get_zone(zone).key} time, {local.tzname()})."
    )


def tamper_warning(a: Assessment, zone: Zone) -> str | None:
    if a.chain.ok:
        return None
    event = a.broken_event
    seq = a.chain.broken_seq
    what = f"event {seq}"
    if event is not None:
        what += f" ({event.kind}, recorded at {to_local(event.at, zone):%H:%M:%S})"
    return (
        f"WARNING: the timeline of this release fails its integrity check at {what}: "
        f"{a.chain.reason.rstrip('.')}. The facts below may not be what onthedot recorded; "
        "compare them with a backup of the store before sending this report."
    )


def lines(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
