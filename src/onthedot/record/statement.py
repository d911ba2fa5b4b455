"""The statement about a breach that the producer publishes on its site: an HTML fragment.

It says in plain words what went wrong, for how long, why, what was done and whom to contact,
and cites the practice breached (edition in force on the release date).
``onthedot.publish.statement`` puts it on the site and records that it did.
"""

from __future__ import annotations

from markupsafe import Markup

from onthedot.calendar.editions import cite
from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, to_local
from onthedot.record.narrative import Teller, fmt_duration
from onthedot.record.report.actions import short_term
from onthedot.record.report.assess import Assessment
from onthedot.record.report.facts import CAUSES


def _p(text: str) -> Markup:
    return Markup("<p>{}</p>\n").format(text)


def statement_html(a: Assessment, zone: Zone = LONDON) -> str:
    """The fragment (a <section>) for ``a``; ValueError when no breach was found."""
    if not a.breaches:
        raise ValueError("no breach: nothing to state")
    release, teller = a.release, Teller(a.release, zone)
    local = to_local(release.release_at, zone)
    main = next((b for b in a.breaches if b.kind == "late"), a.breaches[0])
    parts = [
        _p(
            f"“{release.title}” was due to be published at {local:%H:%M} on "
            f"{fmt_date(local.date())}. {_what_happened(a, teller)}"
        )
    ]
    cause = CAUSES.get(main.cause.split(";")[0])
    if cause:
        parts.append(_p(f"This happened because {cause}."))
    done = [x["what"] for x in short_term(a.evidence, zone)]
    if done:
        parts.append(_p("What we did: " + " ".join(done)))
    day = local.date()
    cited = "; ".join(cite(p, day).practice_label for p in sorted({p for b in a.breaches for p in b.practices}))
    parts.append(
        _p(
            f"This was a breach of the Code of Practice for Statistics ({cited}). We have reported "
            "it to the Office for Statistics Regulation and are making changes so that it does not happen again."
        )
    )
    if release.lead_statistician:
        parts.append(_p(f"Contact: {release.lead_statistician}."))
    if a.record_reference:
        parts.append(_p(f"Record reference: {a.record_reference[:16]}…"))
    heading = Markup("<h2>Statement about the release of {}</h2>\n").format(release.title)
    body = Markup("").join(parts)
    return str(
        Markup('<section class="onthedot-statement" id="statement-{}">\n{}{}</section>\n').format(
            release.id, heading, body
        )
    )


def _what_happened(a: Assessment, teller: Teller) -> str:
    late = next((b for b in a.breaches if b.kind == "late"), None)
    if late and late.started_at and late.ended_at:
        return (
            f"It was not available to all users until {teller.clock(late.ended_at)}, "
            f"{fmt_duration(late.duration_s or 0)} late."
        )
    if late:
        return "It was not available to all users at that time."
    return " ".join(f"{b.title}." for b in a.breaches)
