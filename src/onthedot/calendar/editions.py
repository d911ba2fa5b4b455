"""The editions of the Code of Practice for Statistics, and the wording of each release practice.

Rule ids keep edition 2's numbering (``T3.6.time``) because producers and the regulator know
breaches by it. A report cites the edition in force on the release date: :func:`cite` picks it.
This module is the ONE table of that wording; nothing else in onthedot spells out the Code.

Sources (checked 2026; ``quoted=False`` marks wording we summarised because the published text
was not at hand — check it against https://code.statisticsauthority.gov.uk before relying on it):

* 2.0 — statisticsauthority.gov.uk, "T3: Orderly release" (Code of Practice, February 2018).
* 2.1 — OSR, "Release times review – findings and outcomes" (24 March 2022) and "Changes to the
  Code of Practice … release times" (in force 5 May 2022): T3.1 asks for the date *and time*;
  T3.6 allows an alternative time approved by the Director General for Regulation.
* 3.0 — OSR, "Short guide to Code of Practice standard three: Be transparent", and OSR's letter
  to Heads of Profession on the launch of the refreshed Code ("aiming to release the third
  edition, Code 3.0, via the UKSA Code website on 30 October" 2025; formal launch 4 November).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

# In force from. 2.0: the Code was published on 22 February 2018 ("from Feb 2018").
EDITION_2_0_FROM = dt.date(2018, 2, 22)
EDITION_2_1_FROM = dt.date(2022, 5, 5)
# 3.0: the release date OSR announced to Heads of Profession (see the module docstring).
EDITION_3_0_FROM = dt.date(2025, 10, 30)


@dataclass(frozen=True)
class Edition:
    id: str
    in_force_from: dt.date
    principle: str  # "Principle T3: Orderly release" / "Standard 3: Be transparent"
    label_prefix: str  # how one practice of this edition is named: "Practice" / "Requirement"


@dataclass(frozen=True)
class Practice:
    number: str  # in this edition's own numbering: "T3.6" / "3.6"
    wording: str
    quoted: bool = True  # False: our summary of the substance, not the published words


@dataclass(frozen=True)
class Citation:
    edition: str
    principle: str
    practice_label: str  # "Practice T3.6" / "Requirement 3.6"
    wording: str
    text: str  # the whole citation, as a report prints it


EDITIONS: tuple[Edition, ...] = (
    Edition("2.0", EDITION_2_0_FROM, "Principle T3: Orderly release", "Practice"),
    Edition("2.1", EDITION_2_1_FROM, "Principle T3: Orderly release", "Practice"),
    Edition("3.0", EDITION_3_0_FROM, "Standard 3: Be transparent", "Requirement"),
)

_T3_1_2_0 = (
    "The release of both regular and ad hoc official statistics should be pre-announced through "
    "a 12-month release calendar, giving a specific release date at least four weeks in advance "
    "where practicable."
)
_T3_2 = (
    "Changes to pre-announced release dates or times should be agreed by the Chief Statistician/"
    "Head of Profession for Statistics. Any changes should be announced promptly, explaining the "
    "reasons for the change."
)
_T3_4 = (
    "The circulation of statistics in their final form ahead of their publication should be "
    "restricted to eligible recipients, in line with the rules and principles on pre-release "
    "access set out in legislation for the UK and devolved administrations."
)
_T3_7 = (
    "The name and contact information of the lead statistician or analyst responsible for "
    "production should be included in the published statistics."
)
_EDITION_2_0: Mapping[str, Practice] = {
    "T3.1": Practice("T3.1", _T3_1_2_0),
    "T3.2": Practice("T3.2", _T3_2),
    "T3.4": Practice("T3.4", _T3_4),
    "T3.6": Practice("T3.6", "Statistics should be released to all users at 9.30am on a weekday."),
    "T3.7": Practice("T3.7", _T3_7),
}
_EDITION_2_1: Mapping[str, Practice] = {
    **_EDITION_2_0,
    "T3.1": Practice(
        "T3.1",
        "The release of both regular and ad hoc official statistics should be pre-announced "
        "through a 12-month release calendar, giving the specific release date and time at "
        "least four weeks in advance where practicable.",
    ),
    "T3.6": Practice(
        "T3.6",
        "Statistics should be released to all users at 9.30am on a weekday, or at another time "
        "approved by the Director General for Regulation.",
        quoted=False,
    ),
}
_EDITION_3_0: Mapping[str, Practice] = {
    "T3.1": Practice(
        "3.1",
        "Pre-announce the release of statistics with the time and date in a 12-month release "
        "calendar. Give a specific release date and time four weeks ahead where possible.",
    ),
    "T3.2": Practice(
        "3.2",
        "Agree changes to pre-announced release dates or times with the Chief Statistician/Head "
        "of Profession for Statistics and announce promptly, explaining the reasons.",
    ),
    "T3.4": Practice(
        "3.4",
        "Act in line with the relevant pre-release access rules and principles set out in "
        "legislation when circulating official statistics in their final form.",
    ),
    "T3.6": Practice(
        "3.6",
        "Release the statistics to all users at the same time, at the standard time (usually "
        "9.30am on a weekday) or another time approved by the Director General for Regulation.",
        quoted=False,
    ),
    "T3.7": Practice(
        "3.7",
        "Give users straightforward access to the team responsible for the statistics, with "
        "contact details in the published statistics.",
        quoted=False,
    ),
}
PRACTICES: Mapping[str, Mapping[str, Practice]] = {
    "2.0": _EDITION_2_0,
    "2.1": _EDITION_2_1,
    "3.0": _EDITION_3_0,
}


def practice_of(rule_id: str) -> str:
    """The edition-2 practice a rule id comes from: ``T3.6.holiday`` → ``T3.6``."""
    return ".".join(rule_id.split(".")[:2])


def edition_on(on: dt.date) -> Edition:
    """The edition in force on ``on`` (the earliest edition held for dates before 2018)."""
    day = on.date() if isinstance(on, dt.datetime) else on
    current = EDITIONS[0]
    for edition in EDITIONS:
        if edition.in_force_from <= day:
            current = edition
    return current


def cite(rule_id: str, on: dt.date) -> Citation:
    """How a report cites the practice behind ``rule_id`` for a release on ``on``.

    KeyError if the Code has no practice behind the rule id.
    """
    edition = edition_on(on)
    legacy = practice_of(rule_id)
    try:
        practice = PRACTICES[edition.id][legacy]
    except KeyError:
        raise KeyError(f"no practice of the Code is recorded for rule {rule_id!r}") from None
    label = f"{edition.label_prefix} {practice.number}"
    also = f" ({legacy} in edition 2)" if practice.number != legacy else ""
    text = f"{edition.principle}; {label}{also}: {practice.wording}"
    return Citation(edition.id, edition.principle, label, practice.wording, text)
