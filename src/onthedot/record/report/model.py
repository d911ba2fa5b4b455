"""The report, built once from an Assessment; every renderer (DOCX, ODT, HTML, Markdown) walks
the same blocks (``Report.blocks``).

The sections and their order are those of the regulator's form (the seed, ../shared/seed/):
1 Core information, 2 Circumstances of breach, 3 Impact of the breach, 4 Corrective actions,
written as a statistician writes to the regulator (times to the minute, no tool names); then the
annexes: A the exact times and the clock, B the technical detail for IT, C the record reference.
A fact that was not recorded is a bracketed prompt ("[To complete: ...]"), never invented.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from onthedot.calendar.editions import cite, edition_on
from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, get_zone, to_local
from onthedot.model import is_web_url
from onthedot.record import golive, kinds
from onthedot.record.narrative import label
from onthedot.record.report import facts
from onthedot.record.report.actions import longer_term, short_term, unique
from onthedot.record.report.assess import Assessment
from onthedot.record.report.minutes import Minutes

HEADING = "Report of a breach of the Code of Practice for Statistics"
ACCOUNT_GUIDANCE = (
    "Give an account of what happened including roles of persons involved, dates, times etc."
)
IMPACT_GUIDANCE = (
    "Provide details of the impact of the breach both inside the producer body and externally."
)
ACTIONS_GUIDANCE = (
    "Describe the short-term actions made to redress the situation and the longer term changes "
    "to procedures etc."
)
NOT_APPLICABLE = "Not applicable: no breach was found."
AGREED = "[To complete: the changes agreed, who will make them, and when.]"
ANNEX_TIMES = "Annex A: the exact times, from the record"
ANNEX_IT = "Annex B: technical detail for IT"
RECORD_HEADING = "Annex C: the record this report was drafted from"


@dataclass(frozen=True)
class Row:
    """One line of a form: a label and its value (a missing value is bracketed text)."""

    label: str
    text: str
    link: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class Block:
    """One thing a renderer writes: a heading (``level``), a paragraph (``style``: "", guidance,
    strong or warning), a bulleted list (``items``) or a two-column form (``rows``)."""

    kind: str
    text: str = ""
    level: int = 0
    style: str = ""
    items: tuple[str, ...] = ()
    rows: tuple[Row, ...] = ()


def _h(level: int, text: str) -> Block:
    return Block("heading", text, level=level)


def _p(text: str, style: str = "") -> Block:
    return Block("para", text, style=style)


def _ul(items: Sequence[str]) -> Block:
    return Block("bullets", items=tuple(items))


@dataclass(frozen=True)
class Report:
    release_id: str
    title: str
    author: str
    date: dt.date
    breached: bool
    core: tuple[Row, ...]
    citations: tuple[str, ...]
    edition_note: str
    due: str
    clock_note: str
    account: tuple[str, ...]
    summary: tuple[str, ...]
    noticed: tuple[str, ...]
    impact_prompts: tuple[Row, ...]
    impact_facts: tuple[str, ...]
    short_term: tuple[str, ...]
    investigation: tuple[str, ...]
    uat: tuple[str, ...]
    root_cause: tuple[str, ...]
    tests_planned: tuple[str, ...]
    longer_term: tuple[str, ...]
    exact_clock_note: str = ""
    timeline: tuple[str, ...] = ()
    for_it: tuple[str, ...] = ()
    warning: str | None = None
    record: str = ""
    curve: str = ""  # the go-live curve as SVG (the HTML report shows it; record.golive)
    curve_text: str = ""
    heading: str = HEADING
    producer: str = ""  # the organisation (the Word file's Company)
    agreed: str = AGREED  # the longer-term changes agreed (what people wrote, else a prompt)
    guidance: dict[str, str] = field(
        default_factory=lambda: {
            "account": ACCOUNT_GUIDANCE,
            "impact": IMPACT_GUIDANCE,
            "actions": ACTIONS_GUIDANCE,
        }
    )

    @property
    def document_title(self) -> str:
        return f"{self.heading}: {self.title}"

    def blocks(self) -> list[Block]:
        """The report from top to bottom."""
        out = [_h(1, self.heading)]
        out += [_p(self.warning, "warning")] if self.warning else []
        out += [_h(2, "1. Core information"), Block("form", rows=self.core)]
        return out + self._circumstances() + self._impact() + self._actions() + self._annexes()

    def _circumstances(self) -> list[Block]:
        out = [_h(2, "2. Circumstances of breach")]
        if not self.breached:
            out.append(
                _p(
                    "No breach of the Code's release practices was found for this release.",
                    "strong",
                )
            )
        out += [
            _h(3, "Relevant principle(s) and practice(s)"),
            _ul(self.citations or (NOT_APPLICABLE,)),
        ]
        out += [
            _p(self.edition_note),
            _h(3, "Account of what happened"),
            _p(self.guidance["account"], "guidance"),
        ]
        out += [_p(t) for t in (self.due, self.clock_note, *self.account)]
        out += [_p(t, "strong") for t in self.summary]
        if self.breached:
            out += [_h(3, "How the problem was noticed"), *(_p(t) for t in self.noticed)]
        return out

    def _impact(self) -> list[Block]:
        return [
            _h(2, "3. Impact of the breach"),
            _p(self.guidance["impact"], "guidance"),
            Block("form", rows=self.impact_prompts),
            _p("Facts that help:"),
            _ul(self.impact_facts),
        ]

    def _actions(self) -> list[Block]:
        out = [_h(2, "4. Corrective actions (taken or planned) to prevent re-occurrence")]
        out += [
            _p(self.guidance["actions"], "guidance"),
            _h(3, "Short-term actions taken"),
            _ul(self.short_term),
        ]
        if self.breached:
            for title, paragraphs in (
                ("Investigation", self.investigation),
                ("Whether the test (UAT) environment shows the fault", self.uat),
                ("Root cause", self.root_cause),
                ("Planned tests", self.tests_planned),
            ):
                out += [_h(3, title), *(_p(t) for t in paragraphs)]
        out += [
            _h(3, "Longer-term changes"),
            _ul((*(self.longer_term or (NOT_APPLICABLE,)), self.agreed)),
        ]
        return out

    def _annexes(self) -> list[Block]:
        out = [_h(2, ANNEX_TIMES), _p(self.exact_clock_note), *(_p(t) for t in self.timeline)]
        if self.for_it:
            out += [_h(2, ANNEX_IT), _ul(self.for_it)]
        return [*out, _h(2, RECORD_HEADING), _p(self.record)]

    def text(self) -> str:
        """Everything the report says, in order, as plain text (for tests and quick looks)."""
        parts: list[str] = []
        for block in self.blocks():
            parts += [block.text, *block.items]
            parts += [f"{r.label}: {r.text} {r.link or ''}".rstrip() for r in block.rows]
        return "\n".join(p for p in parts if p)


def missing(text: str) -> str:
    return f"[{text}]"


def output_link(a: Assessment) -> str | None:
    site, release = a.release.site, a.release
    if site is None or not release.paths:
        return None
    return site.url(release.paths[0])


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
    no_link = missing("To complete: the address of the statistics on the website")
    return (
        Row(
            "Title and link to statistical output",
            f"{r.title}." + ("" if link else f" {no_link}"),
            link,
        ),
        Row("Name of producer organisation", r.producer),
        _person(
            "Name and contact details of person dealing with report",
            r.lead_statistician,
            "To complete: name, email and telephone number of the person dealing with this report",
        ),
        _person(
            "Head of Profession for Statistics / lead official",
            r.head_of_profession,
            "To complete: name of the Head of Profession for Statistics",
        ),
        Row(
            "Link to published statement about the breach (if relevant)",
            "" if statement else missing("No link to a published statement was recorded"),
            statement,
            missing=statement is None,
        ),
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
        Row(
            "Impact inside the producer body",
            missing("To complete: who had to act, what was delayed or held back"),
            missing=True,
        ),
        Row(
            "Impact outside the producer body",
            missing("To complete: how prominent the release is, enquiries from users or the media"),
            missing=True,
        ),
    )


def author(a: Assessment) -> str:
    """Who the document is by: the lead statistician's name (without address or telephone) and
    the producer, or the producer alone."""
    lead = re.split(r"[<,(\[]", a.release.lead_statistician or "", maxsplit=1)[0].strip()
    return f"{lead}, {a.release.producer}" if lead else a.release.producer


def build(a: Assessment, *, today: dt.date | None = None, zone: Zone = LONDON) -> Report:
    """The report of ``a``; ``today`` is the date of the report (default: today in ``zone``)."""
    release_day = to_local(a.release.release_at, zone).date()
    today = today or dt.datetime.now(get_zone(zone)).date()
    edition = edition_on(release_day)
    short = [x["what"] for x in short_term(a.evidence, zone)]
    longer = unique([x for b in a.breaches for x in longer_term(a.evidence, b)])
    return Report(
        release_id=a.release.id,
        title=a.release.title,
        author=author(a),
        producer=a.release.producer,
        date=today,
        breached=bool(a.breaches),
        core=core_rows(a, today),
        citations=citations(a, release_day),
        edition_note=(
            f"Cited from the Code of Practice for Statistics, edition {edition.id}, in force on "
            f"{fmt_date(release_day)}."
        ),
        due=due_sentence(a, zone),
        clock_note=facts.clock_note(),
        account=tuple(facts.account_paragraphs(a, zone)),
        summary=tuple(facts.summary(a, zone)),
        noticed=tuple(facts.noticed(a, zone)),
        impact_prompts=impact_prompts(),
        impact_facts=tuple(facts.impact_facts(a, zone)),
        short_term=tuple(short)
        or (missing("To complete: the short-term actions taken, with the time of each"),),
        investigation=tuple(facts.investigation(a, zone)),
        uat=tuple(facts.uat(a, zone)),
        root_cause=tuple(facts.root_cause(a, zone)),
        tests_planned=tuple(facts.tests_planned(a, zone)),
        longer_term=tuple(x["what"] for x in longer),
        exact_clock_note=facts.exact_clock_note(a.evidence, zone),
        timeline=tuple(facts.timeline(a, zone)),
        for_it=tuple(
            facts.for_it(a, (str(x.get("detail") or "") for x in longer if x.get("detail")))
        ),
        warning=tamper_warning(a, zone),
        record=record_note(a),
        curve=_curve(a, zone)[0],
        curve_text=_curve(a, zone)[1],
    )


def _curve(a: Assessment, zone: Zone) -> tuple[str, str]:
    """The go-live curve (SVG) and its sentence, the same figure as the dashboard's."""
    drawn = golive.curve(a.release, a.evidence.results)
    return str(golive.svg(drawn, get_zone(zone))), golive.sentence(drawn, get_zone(zone))


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
        f"({facts.zone_name(zone, local)})."
    )


def tamper_warning(a: Assessment, zone: Zone) -> str | None:
    if a.chain.ok:
        return None
    event = a.broken_event
    seq = a.chain.broken_seq
    what = f"event {seq}"
    if event is not None:
        what += f" ({label(event.kind)}, at {Minutes(a.release, zone).clock(event.at)})"
    return (
        f"WARNING: the timeline of this release fails its integrity check at {what}: "
        f"{a.chain.reason.rstrip('.')}. The facts below may not be what was recorded; "
        "compare them with a backup of the record before sending this report."
    )
