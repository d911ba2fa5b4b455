"""The calendar rules of the Code of Practice (principle T3, orderly release), one function each.

Every rule is ``rule(release, policy, *, history=None) -> list[Finding]``; pure, no I/O, and it
never raises for a well-formed Release (a property test throws 1990–2100 at them).
``history`` is what was recorded about the same release before, oldest first: earlier versions
(``Release``) or the store's field changes (see :mod:`onthedot.calendar.history`), so that a date
moved after announcement without a ``[[change]]`` entry is caught.
:func:`check_release` runs them all in the order of :data:`RULES`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

from onthedot.calendar import holidays
from onthedot.calendar.history import History, announced_times
from onthedot.calendar.policy import Policy
from onthedot.calendar.timeutil import as_instant, fmt_clock, fmt_date, fmt_local, get_zone
from onthedot.model import Change, Finding, Release, Severity


class Rule(Protocol):
    def __call__(
        self, release: Release, policy: Policy, *, history: History = None
    ) -> list[Finding]: ...


def _finding(
    rule: str, message: str, line: int | None, severity: Severity = Severity.ERROR
) -> Finding:
    return Finding(rule=rule, severity=severity, message=message, line=line)


def _local(release: Release, policy: Policy) -> dt.datetime:
    return release.release_at.astimezone(get_zone(policy.zone))


def _instant(value: dt.datetime, policy: Policy) -> dt.datetime:
    return as_instant(value, policy.zone)


def _zone_note(policy: Policy) -> str:
    return "" if policy.zone == "Europe/London" else f" ({policy.zone})"


# --- T3.1 pre-announcement -----------------------------------------------------------------------


def notice(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.1: the date and time were announced at least ``notice_days`` ahead."""
    line = release.line_of("announced_at") or release.line_of("release_at")
    days = policy.notice_days
    if release.announced_at is None:
        return [
            _finding(
                "T3.1.notice",
                (
                    "The release has no `announced_at`: record when its date and time were "
                    f"pre-announced, at least {days} days before release."
                ),
                line,
            )
        ]
    zone = get_zone(policy.zone)
    announced = _instant(release.announced_at, policy).astimezone(zone)
    lead = (_local(release, policy).date() - announced.date()).days
    if lead >= days:
        return []
    earliest = announced.date() + dt.timedelta(days=days)
    when = "after release" if lead < 0 else f"only {lead} days ahead, not {days}"
    return [
        _finding(
            "T3.1.notice",
            (
                f"The release was announced on {fmt_date(announced.date())}, {when}: move it to "
                f"{fmt_date(earliest)} or later, or announce the next release {days} days ahead."
            ),
            line,
        )
    ]


# --- T3.2 changes to pre-announced dates and times -------------------------------------------------


def change(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.2: each change is recorded with a reason and Head of Profession approval."""
    found = [f for i, c in enumerate(release.change) if (f := _unapproved(release, policy, i, c))]
    return found + _unrecorded_moves(release, policy, history)


def _unapproved(release: Release, policy: Policy, index: int, item: Change) -> Finding | None:
    missing = [
        label
        for label, value in (("`reason`", item.reason), ("`approved_by`", item.approved_by))
        if not value.strip()
    ]
    if not missing:
        return None
    line = release.line_of(f"change.{index}") or release.line_of("change")
    was = fmt_local(_instant(item.previous, policy), policy.zone)
    return _finding(
        "T3.2.change",
        (
            f"The move from {was} has no recorded {' or '.join(missing)}: add "
            f"{' and '.join(missing)} to that [[change]], naming the Head of Profession who agreed it."
        ),
        line,
    )


def _unrecorded_moves(release: Release, policy: Policy, history: History) -> list[Finding]:
    now = release.release_at.astimezone(dt.UTC)
    recorded = {_instant(c.previous, policy) for c in release.change}
    return [
        _finding(
            "T3.2.change",
            (
                f"The release moved from {fmt_local(was, policy.zone)} to "
                f"{fmt_local(now, policy.zone)} without a recorded change: add a [[change]] with "
                "`previous`, `reason` and `approved_by` (the Head of Profession)."
            ),
            release.line_of("release_at"),
        )
        for was in announced_times(release, history, policy.zone)
        if was not in recorded
    ]


# --- T3.4 pre-release access -----------------------------------------------------------------------


def pra_window(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.4: each person's pre-release access starts within ``pra_hours`` before T, not after."""
    found = []
    limit = dt.timedelta(hours=policy.pra_hours_for(release.nation))
    hours = f"{policy.pra_hours_for(release.nation):g}"
    t = release.release_at.astimezone(dt.UTC)
    for index, person in enumerate(release.pre_release_access):
        line = release.line_of(f"pre_release_access.{index}") or release.line_of(
            "pre_release_access"
        )
        if person.granted_at is None:
            found.append(
                _finding(
                    "T3.4.pra-window",
                    (
                        f"The pre-release access of {person.name} has no `granted_at`: record when "
                        f"access was given (no more than {hours} hours before release)."
                    ),
                    line,
                    Severity.WARNING,
                )
            )
            continue
        granted = _instant(person.granted_at, policy)
        if granted >= t:
            found.append(
                _finding(
                    "T3.4.pra-window",
                    (
                        f"{person.name} was given access at {fmt_local(granted, policy.zone)}, at or "
                        "after release, which is not pre-release access: correct `granted_at` or "
                        "remove them from `pre_release_access`."
                    ),
                    line,
                )
            )
        elif t - granted > limit:
            ahead = (t - granted).total_seconds() / 3600
            found.append(
                _finding(
                    "T3.4.pra-window",
                    (
                        f"{person.name} was given pre-release access {ahead:.1f} hours before release, "
                        f"more than {hours}: give access no earlier than "
                        f"{fmt_local(t - limit, policy.zone)}."
                    ),
                    line,
                )
            )
    return found


def pra_list(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.4: each person on the pre-release access list has a role (published with the list of
    recipients) and a justification (why they need the statistics before release)."""
    found = []
    for index, person in enumerate(release.pre_release_access):
        missing = [
            key for key in ("role", "justification") if not (getattr(person, key) or "").strip()
        ]
        if not missing:
            continue
        line = release.line_of(f"pre_release_access.{index}") or release.line_of(
            "pre_release_access"
        )
        keys = " and ".join(f"`{key}`" for key in missing)
        found.append(
            _finding(
                "T3.4.pra-list",
                (
                    f"{person.name} is on the pre-release access list without {keys}: add "
                    f"{keys}, as the list of recipients is published with their roles."
                ),
                line,
                Severity.WARNING,
            )
        )
    return found


# --- T3.6 release time, weekday, holiday -----------------------------------------------------------


def release_time(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.6: released at the policy's time, unless an approved exemption is recorded."""
    local = _local(release, policy)
    if local.time() == policy.time or (release.exemption or "").strip():
        return []
    at, want = fmt_clock(local), fmt_clock(policy.time)
    return [
        _finding(
            "T3.6.time",
            (
                f"The release is at {at}{_zone_note(policy)}, not {want}: move it to {want} or record "
                "the Director General for Regulation's approval as `exemption`."
            ),
            release.line_of("release_at"),
        )
    ]


def weekday(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.6: released on one of the policy's weekdays."""
    day = _local(release, policy).date()
    if day.weekday() in policy.weekdays:
        return []
    names = policy.weekday_names
    allowed = (
        "a weekday (Monday to Friday)"
        if policy.weekdays == (0, 1, 2, 3, 4)
        else ("one of " + ", ".join(names))
    )
    return [
        _finding(
            "T3.6.weekday",
            (
                f"The release is on {fmt_date(day)}{_zone_note(policy)}, which is not a release day: "
                f"move it to {allowed}."
            ),
            release.line_of("release_at"),
        )
    ]


def holiday(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.6: not on a bank holiday of the release's calendar (uk: warn for partial ones)."""
    calendar = policy.calendar_for(release.nation)
    day = _local(release, policy).date()
    line = release.line_of("release_at")
    found = []
    hit = holidays.holiday_on(calendar, day)
    if hit is not None and hit.partial:
        found.append(
            _finding(
                "T3.6.holiday",
                (
                    f"The release is on {fmt_date(day)}, {hit.name} in {hit.where} only: move it to "
                    "a day that is a working day in every UK nation, or set `nation` to the one it serves."
                ),
                line,
                Severity.WARNING,
            )
        )
    elif hit is not None:
        found.append(
            _finding(
                "T3.6.holiday",
                (
                    f"The release is on {fmt_date(day)}, {hit.name} in {hit.where}: move it to a "
                    "working day that is not a bank holiday."
                ),
                line,
            )
        )
    for disagreement in holidays.disagreements_on(calendar, day):
        found.append(_finding("T3.6.holiday", disagreement.message, line, Severity.WARNING))
    return found


# --- T3.7 contact ----------------------------------------------------------------------------------

_CONTACT = re.compile(r"@|https?://|\+?\d[\d ()-]{6,}\d")


def contact(release: Release, policy: Policy, *, history: History = None) -> list[Finding]:
    """T3.7: the lead statistician is named with a way to contact them."""
    lead = (release.lead_statistician or "").strip()
    line = release.line_of("lead_statistician") or release.line_of("id")
    if not lead:
        return [
            _finding(
                "T3.7.contact",
                (
                    "The release names no lead statistician: add "
                    '`lead_statistician = "Name <email>"` so users know whom to ask.'
                ),
                line,
            )
        ]
    if _CONTACT.search(lead):
        return []
    return [
        _finding(
            "T3.7.contact",
            (
                f"The lead statistician {lead!r} has no contact details: add an email address or "
                f'phone number, e.g. "{lead} <stats@example.org>".'
            ),
            line,
        )
    ]


RULES: tuple[tuple[str, Rule], ...] = (
    ("T3.1.notice", notice),
    ("T3.2.change", change),
    ("T3.4.pra-window", pra_window),
    ("T3.4.pra-list", pra_list),
    ("T3.6.time", release_time),
    ("T3.6.weekday", weekday),
    ("T3.6.holiday", holiday),
    ("T3.7.contact", contact),
)
RULE_IDS: tuple[str, ...] = tuple(rule_id for rule_id, _ in RULES)


def check_release(release: Release, policy: Policy, history: History = None) -> list[Finding]:
    """Every calendar finding for ``release``, in the order of :data:`RULES`."""
    return [f for _, rule in RULES for f in rule(release, policy, history=history)]
