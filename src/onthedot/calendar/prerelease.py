"""Pre-release access (Code of Practice T3.4): who may see the statistics before T, and when.

Pure rules, no I/O. Access is given no earlier than ``pra_hours`` before T (the policy's, or
its nation's ``pra_hours_by_nation``) and ends at T, when the public has the statistics. When the
release file lists recipients (``[[pre_release_access]]``), only they may be given access; a
release without a list leaves the choice to whoever grants it, who names the person's role and
why they need access (both recorded, and the names and roles published with the release).

    rule id            refused when
    T3.4.pra-window    access is asked for before the window opens, or at or after T
    T3.4.pra-list      the person is not on the release's list (when it has one)
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
from dataclasses import dataclass

from onthedot.calendar.policy import Policy
from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import InputError
from onthedot.model import Finding, PreReleaseAccess, Release, Severity

WINDOW_RULE = "T3.4.pra-window"
LIST_RULE = "T3.4.pra-list"


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to give access to: a name, and an e-mail address when one was given."""

    name: str
    email: str | None = None

    @classmethod
    def parse(cls, text: str) -> Recipient:
        """``"Jane Smith <jane.smith@example.gov.uk>"`` or ``"Jane Smith"``; InputError else."""
        name, address = email.utils.parseaddr(text.strip())
        if "<" not in text:  # a bare name: parseaddr takes one word for an address
            name, address = text.strip(), ""
        if not name or any(c in name for c in "<>@\n\r") or (address and "@" not in address):
            raise InputError(
                f'{text!r} is not a person: write them as "Name <email>", e.g. '
                '--to "Jane Smith <jane.smith@example.gov.uk>".'
            )
        return cls(name, address or None)

    def same_as(self, name: str, address: str | None) -> bool:
        """The same person as ``name <address>``: by e-mail when both have one, else by name."""
        if self.email and address:
            return self.email.casefold() == address.casefold()
        return self.name.casefold() == name.casefold()


@dataclass(frozen=True, slots=True)
class Window:
    """When pre-release access may be used: from ``opens`` until ``closes`` (T), not at T."""

    opens: dt.datetime
    closes: dt.datetime
    hours: float

    def holds(self, instant: dt.datetime) -> bool:
        return self.opens <= instant < self.closes


def window(release: Release, policy: Policy) -> Window:
    hours = policy.pra_hours_for(release.nation)
    t = release.release_at.astimezone(dt.UTC)
    return Window(t - dt.timedelta(hours=hours), t, hours)


def listed(release: Release, recipient: Recipient) -> PreReleaseAccess | None:
    """The recipient's entry on the release's list, or None (also when there is no list)."""
    return next((p for p in release.pre_release_access if recipient.same_as(p.name, p.email)), None)


def grant_findings(
    release: Release, policy: Policy, recipient: Recipient, now: dt.datetime
) -> list[Finding]:
    """Why ``recipient`` may not be given access to ``release`` at ``now``: one Finding (an error)
    per rule broken, each one sentence with the fix; none when access may be given."""
    found = []
    when = window(release, policy)
    if now < when.opens:
        found.append(
            _refusal(
                WINDOW_RULE,
                f"Pre-release access to {release.id} may be given from "
                f"{fmt_local(when.opens, policy.zone)} ({when.hours:g} hours before release), not "
                "earlier: grant it then.",
            )
        )
    elif now >= when.closes:
        found.append(
            _refusal(
                WINDOW_RULE,
                f"{release.id} was released at {fmt_local(when.closes, policy.zone)}, so there is "
                "no pre-release access to give: send them the published statistics.",
            )
        )
    if release.pre_release_access and listed(release, recipient) is None:
        found.append(
            _refusal(
                LIST_RULE,
                f"{recipient.name} is not on the pre-release access list of {release.id}: add "
                "them to its [[pre_release_access]] (as the Head of Profession agreed), or grant "
                "access to someone on it.",
            )
        )
    return found


def _refusal(rule: str, message: str) -> Finding:
    return Finding(rule=rule, severity=Severity.ERROR, message=message)


def recipients_html(release: Release, policy: Policy, people: list[tuple[str, str | None]]) -> str:
    """The list of recipients to publish with the release: an HTML fragment naming each person
    and their role (``people``: name, role, in the order access was given; repeats dropped)."""
    hours = f"{window(release, policy).hours:g}"
    shown = list(dict.fromkeys((name, role or "") for name, role in people))
    if not shown:
        lines = ["<p>No one had access to these statistics before their release.</p>"]
    else:
        items = [f"<li>{html.escape(n)}{', ' + html.escape(r) if r else ''}</li>" for n, r in shown]
        lines = [
            f"<p>These people had access to the statistics up to {hours} hours before their "
            "release:</p>",
            "<ul>",
            *(f"  {item}" for item in items),
            "</ul>",
        ]
    body = "\n".join(f"  {line}" for line in lines)
    return (
        f'<section class="pre-release-access">\n  <h2>Pre-release access</h2>\n{body}\n</section>\n'
    )
