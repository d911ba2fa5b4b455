"""The statement about a breach that the producer publishes on its site: an HTML fragment.

Three to five plain sentences a Head of Profession would publish: what was late and by how much
(to the minute), why in one clause, an apology, where the statistics are, and whom to contact.
A breach of another kind (early, back to the previous version, ...) is one plain sentence of its
own, with its cause.
The wording is the producer's: ``[statement]`` of onthedot.toml (``StatementSettings``), with the
sentences of ``[statement.producers."<the release's producer>"]`` in place of those it names; the
record reference is kept out of the text, in the fragment's ``data-record-reference`` attribute.
``onthedot.publish.statement`` puts it on the site and records that it did.
"""

from __future__ import annotations

from collections.abc import Mapping

from markupsafe import Markup, escape

from onthedot.calendar.timeutil import LONDON, Zone, fmt_date, to_local
from onthedot.record.breaches import Breach
from onthedot.record.report.assess import Assessment
from onthedot.record.report.facts import PUBLIC_CAUSES
from onthedot.record.report.minutes import Minutes, span
from onthedot.record.report.model import output_link
from onthedot.settings import StatementSettings, StatementWording


def statement_html(
    a: Assessment, zone: Zone = LONDON, wording: StatementSettings | None = None
) -> str:
    """The fragment (a <section>) for ``a``, in the wording of its release's producer;
    ValueError when no breach was found."""
    if not a.breaches:
        raise ValueError("no breach: nothing to state")
    release = a.release
    chosen = (wording or StatementSettings()).of(release.producer)
    values = _values(a, zone, chosen)
    main = _main(a)
    late = main.kind == "late" and main.started_at is not None and main.ended_at is not None
    sentences = [
        _sentence(chosen.what, values) if late else escape(_what_else(a, zone, values)),
        # (another kind of breach says its cause in its own sentence)
        _sentence(chosen.why, values) if values["cause"] and late else Markup(""),
        _sentence(chosen.apology, values),
        _sentence(chosen.link, values) if values["link"] else Markup(""),
        _sentence(chosen.contact, values),
    ]
    body = Markup(" ").join(s for s in sentences if s)
    heading = Markup("<h2>Statement about the release of {}</h2>\n").format(release.title)
    reference = Markup(' data-record-reference="{}"').format(a.record_reference or "")
    return str(
        Markup(
            '<section class="onthedot-statement" id="statement-{}"{}>\n{}<p>{}</p>\n</section>\n'
        ).format(release.id, reference if a.record_reference else "", heading, body)
    )


def _main(a: Assessment) -> Breach:
    return next((b for b in a.breaches if b.kind == "late"), a.breaches[0])


def _values(a: Assessment, zone: Zone, wording: StatementWording) -> dict[str, str | Markup]:
    release, main = a.release, _main(a)
    local = to_local(release.release_at, zone)
    link = release.statement_url or output_link(a)
    late_by = span(main.started_at, main.ended_at) if main.started_at and main.ended_at else ""
    return {
        "title": release.title,
        "producer": release.producer,
        "due": f"{local:%H:%M}",
        "date": fmt_date(local.date()),
        "live": Minutes(release, zone).clock(main.ended_at) if main.ended_at else "",
        "late_by": late_by,
        "cause": PUBLIC_CAUSES.get(main.cause.split(";")[0], ""),
        "link": Markup('<a href="{0}">{0}</a>').format(link) if link else "",
        "contact": wording.contact_role.format(producer=release.producer),
    }


def _sentence(template: str, values: Mapping[str, str | Markup]) -> Markup:
    """``template`` with ``values`` put in, as HTML: the template and the values are text (escaped),
    the link is a link."""
    return escape(template).format(**values) if template.strip() else Markup("")


#: what the public saw of each kind of breach, as the start of a sentence ("because" and its
#: cause, from ``PUBLIC_CAUSES``, may follow)
PUBLIC_KINDS: Mapping[str, str] = {
    "early": "Some users could see the statistics before the release time",
    "stale": "After the statistics were published, some users were shown the previous version again",
    "missing": "After the statistics were published, some users could not find them",
    "error": "Some users could not open the statistics",
    "wrong-file": "A file other than the new one was published with the statistics",
    "time": (
        "The statistics were released at a time or on a day that the Code of Practice for "
        "Statistics does not allow"
    ),
    "change": "The release date or time was changed without the change being announced first",
    "pra": "Pre-release access to the statistics was given outside the rules",
}
OTHER_KIND = "The statistics were not released as the Code of Practice for Statistics requires"
#: kinds whose sentence is the whole story: a cause would only say it again
_SAID_ALREADY = frozenset({"wrong-file", "time", "change", "pra"})


def _what_else(a: Assessment, zone: Zone, values: Mapping[str, str | Markup]) -> str:
    """The first sentences when the statistics were not (yet) late and then live: a breach
    still going on, or one plain sentence for each other kind of breach, with its cause."""
    main = _main(a)
    due = f"“{values['title']}” was due to be published at {values['due']} on {values['date']}"
    if main.kind == "late":
        return f"{due} but was not yet available to all users when this statement was written."
    told = dict.fromkeys(_told(b) for b in a.breaches)
    return " ".join((f"{due}.", *told))


def _told(breach: Breach) -> str:
    """ "Some users could not open the statistics because our website was not working properly." """
    what = PUBLIC_KINDS.get(breach.kind, OTHER_KIND)
    cause = (
        "" if breach.kind in _SAID_ALREADY else PUBLIC_CAUSES.get(breach.cause.split(";")[0], "")
    )
    return f"{what} because {cause}." if cause else f"{what}."
