"""Every calendar finding is the sentence a statistician reads, word for word, with its fix."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from onthedot.calendar.policy import Policy
from onthedot.calendar.rules import check_release
from onthedot.model import Change, Release, Severity

from .conftest import build_release, london, recipient

WEDNESDAY = dt.datetime(2019, 12, 18, 9, 30)
SATURDAY = dt.datetime(2019, 12, 21, 9, 30)


def sentences(local: dt.datetime, policy: Policy | None = None, **changes: Any) -> list[str]:
    return [f.message for f in check_release(build_release(local, **changes), policy or Policy())]


def test_access_given_too_early_names_the_hours_and_the_earliest_allowed_time() -> None:
    adviser = recipient(name="Adviser", granted_at=london(2019, 12, 16, 21, 30))
    assert sentences(WEDNESDAY, Policy(pra_hours=1.5), pre_release_access=(adviser,)) == [
        "Adviser was given pre-release access 36.0 hours before release, more than 1.5: "
        "give access no earlier than Wednesday 18 December 2019 08:00 GMT."
    ]


def test_access_given_after_release_and_access_without_a_time() -> None:
    people = (
        recipient(name="Press officer", granted_at=london(2019, 12, 18, 9, 45)),
        recipient(name="Unrecorded"),
    )
    found = check_release(
        build_release(WEDNESDAY, pre_release_access=people), Policy(pra_hours=1.5)
    )
    assert [(f.message, f.severity) for f in found] == [
        (
            "Press officer was given access at Wednesday 18 December 2019 09:45 GMT, at or after "
            "release, which is not pre-release access: correct `granted_at` or remove them from "
            "`pre_release_access`.",
            Severity.ERROR,
        ),
        (
            "The pre-release access of Unrecorded has no `granted_at`: record when access was "
            "given (no more than 1.5 hours before release).",
            Severity.WARNING,
        ),
    ]


@pytest.mark.parametrize(
    ("policy", "sentence"),
    [
        (
            Policy(),
            "The release is on Saturday 21 December 2019, which is not a release day: move it "
            "to a weekday (Monday to Friday).",
        ),
        (
            Policy(weekdays=("mon", "wed")),
            "The release is on Saturday 21 December 2019, which is not a release day: move it "
            "to one of Monday, Wednesday.",
        ),
        (
            Policy(zone="Europe/Dublin"),
            "The release is on Saturday 21 December 2019 (Europe/Dublin), which is not a release "
            "day: move it to a weekday (Monday to Friday).",
        ),
    ],
)
def test_a_release_on_a_day_off_names_the_days_allowed(policy: Policy, sentence: str) -> None:
    assert sentences(SATURDAY, policy) == [sentence]


def test_a_holiday_kept_in_one_nation_only_is_a_warning_with_two_fixes() -> None:
    found = check_release(build_release(dt.datetime(2025, 1, 2, 9, 30), nation="uk"), Policy())
    assert [(f.message, f.severity) for f in found] == [
        (
            "The release is on Thursday 2 January 2025, New Year Holiday in Scotland only: move "
            "it to a day that is a working day in every UK nation, or set `nation` to the one it "
            "serves.",
            Severity.WARNING,
        )
    ]


def test_announced_after_release_gives_the_earliest_date_that_would_do() -> None:
    assert sentences(WEDNESDAY, announced_at=london(2019, 12, 19, 9, 0)) == [
        "The release was announced on Thursday 19 December 2019, after release: move it to "
        "Thursday 16 January 2020 or later, or announce the next release 28 days ahead."
    ]


def test_no_announcement_asks_for_one() -> None:
    assert sentences(WEDNESDAY, announced_at=None) == [
        "The release has no `announced_at`: record when its date and time were pre-announced, "
        "at least 28 days before release."
    ]


def test_a_change_with_neither_reason_nor_approval_asks_for_both() -> None:
    moved = Change(previous=london(2019, 12, 11, 9, 30), reason=" ", approved_by="")
    assert sentences(WEDNESDAY, change=[moved]) == [
        "The move from Wednesday 11 December 2019 09:30 GMT has no recorded `reason` or "
        "`approved_by`: add `reason` and `approved_by` to that [[change]], naming the Head of "
        "Profession who agreed it."
    ]


@pytest.mark.parametrize(
    ("lead", "sentence"),
    [
        (
            "  ",
            "The release names no lead statistician: add "
            '`lead_statistician = "Name <email>"` so users know whom to ask.',
        ),
        (
            "Jane Smith",
            "The lead statistician 'Jane Smith' has no contact details: add an email address or "
            'phone number, e.g. "Jane Smith <stats@example.org>".',
        ),
    ],
)
def test_a_lead_statistician_without_contact_details(lead: str, sentence: str) -> None:
    assert sentences(WEDNESDAY, lead_statistician=lead) == [sentence]


@pytest.mark.parametrize(
    ("announced", "sentences_expected"),
    [
        (
            london(2019, 12, 18, 8, 0),
            [
                "The release was announced on Wednesday 18 December 2019, only 0 days ahead, not "
                "28: move it to Wednesday 15 January 2020 or later, or announce the next release "
                "28 days ahead."
            ],
        ),
        (
            london(2019, 11, 21, 9, 30),
            [
                "The release was announced on Thursday 21 November 2019, only 27 days ahead, not "
                "28: move it to Thursday 19 December 2019 or later, or announce the next release "
                "28 days ahead."
            ],
        ),
        (london(2019, 11, 20, 9, 30), []),
    ],
)
def test_announced_on_the_day_or_one_day_short_or_exactly_28_days_ahead(
    announced: dt.datetime, sentences_expected: list[str]
) -> None:
    assert sentences(WEDNESDAY, announced_at=announced) == sentences_expected


def test_a_blank_exemption_does_not_excuse_another_time() -> None:
    assert sentences(dt.datetime(2019, 12, 18, 10, 0), exemption="  ") == [
        "The release is at 10:00, not 09:30: move it to 09:30 or record the Director General "
        "for Regulation's approval as `exemption`."
    ]


@pytest.mark.parametrize("lead", ["Jane Smith, 0300 000 0000", "Jane Smith https://example.org/c"])
def test_a_phone_number_or_a_web_address_is_a_way_to_contact(lead: str) -> None:
    assert sentences(WEDNESDAY, lead_statistician=lead) == []


def test_a_bank_holiday_asks_for_a_working_day() -> None:
    assert sentences(dt.datetime(2019, 12, 25, 9, 30)) == [
        "The release is on Wednesday 25 December 2019, Christmas Day in England and Wales: move "
        "it to a working day that is not a bank holiday."
    ]


def test_access_without_a_time_does_not_hide_the_next_persons_and_hours_are_rounded() -> None:
    people = (
        recipient(name="Unrecorded"),
        recipient(name="Adviser", granted_at=london(2019, 12, 17, 9, 27)),  # 24 h 3 min
    )
    assert sentences(WEDNESDAY, pre_release_access=people)[1] == (
        "Adviser was given pre-release access 24.1 hours before release, more than 24: give "
        "access no earlier than Tuesday 17 December 2019 09:30 GMT."
    )


AUCKLAND = Policy(zone="Pacific/Auckland")
NZ_T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=ZoneInfo("Pacific/Auckland"))


def nz_release(**changes: Any) -> Release:
    fields: dict[str, Any] = {
        "id": "nz",
        "title": "t",
        "producer": "p",
        "release_at": NZ_T,
        "announced_at": dt.datetime(2019, 11, 1, tzinfo=dt.UTC),
        "lead_statistician": "A <a@example.org>",
        "nation": "uk",
    }
    return Release(**{**fields, **changes})


def test_every_date_and_time_is_read_and_shown_in_the_policys_zone() -> None:
    release = nz_release(
        announced_at=dt.datetime(2019, 11, 20, 20, 0, tzinfo=dt.UTC),  # 21 November in Auckland
        pre_release_access=(
            recipient(name="Early", granted_at=dt.datetime(2019, 12, 16, 9, 30)),
            recipient(name="Late", granted_at=dt.datetime(2019, 12, 18, 9, 45)),
        ),
        change=[Change(previous=dt.datetime(2019, 12, 11, 9, 30), reason="", approved_by="HoP")],
    )
    assert [f.message for f in check_release(release, AUCKLAND)] == [
        "The release was announced on Thursday 21 November 2019, only 27 days ahead, not 28: "
        "move it to Thursday 19 December 2019 or later, or announce the next release 28 days "
        "ahead.",
        "The move from Wednesday 11 December 2019 09:30 NZDT has no recorded `reason`: add "
        "`reason` to that [[change]], naming the Head of Profession who agreed it.",
        "Early was given pre-release access 48.0 hours before release, more than 24: give access "
        "no earlier than Tuesday 17 December 2019 09:30 NZDT.",
        "Late was given access at Wednesday 18 December 2019 09:45 NZDT, at or after release, "
        "which is not pre-release access: correct `granted_at` or remove them from "
        "`pre_release_access`.",
    ]


def test_a_move_nobody_recorded_is_shown_in_the_policys_zone() -> None:
    release = nz_release()
    earlier = release.model_copy(update={"release_at": NZ_T - dt.timedelta(days=1)})
    assert [f.message for f in check_release(release, AUCKLAND, history=[earlier])] == [
        "The release moved from Tuesday 17 December 2019 09:30 NZDT to Wednesday 18 December 2019 "
        "09:30 NZDT without a recorded change: add a [[change]] with `previous`, `reason` and "
        "`approved_by` (the Head of Profession)."
    ]


def test_each_finding_points_at_the_line_to_fix_or_the_nearest_one() -> None:
    moved = Change(previous=london(2019, 12, 11, 9, 30), reason="moved", approved_by="")
    release = build_release(
        dt.datetime(2019, 12, 25, 9, 30),  # Christmas Day
        announced_at=None,
        lead_statistician="Jane Smith",
        change=[Change(previous=london(2019, 12, 4, 9, 30), reason="r", approved_by="HoP"), moved],
        lines={"id": 2, "release_at": 5, "change": 20, "change.1": 24},
    )
    earlier = release.model_copy(
        update={"release_at": london(2019, 11, 27, 9, 30), "announced_at": london(2019, 10, 1)}
    )
    found = check_release(release, Policy(), history=[earlier])
    assert [(f.rule, f.line) for f in found] == [
        ("T3.1.notice", 5),
        ("T3.2.change", 24),
        ("T3.2.change", 5),
        ("T3.6.holiday", 5),
        ("T3.7.contact", 2),
    ]
    saturday = build_release(SATURDAY, lines={"release_at": 7})
    assert [(f.rule, f.line) for f in check_release(saturday, Policy())] == [("T3.6.weekday", 7)]


def test_when_the_holiday_lists_disagree_both_findings_point_at_the_release_time() -> None:
    # the holidays package has a Scottish bank holiday on 15 June 2026 that GOV.UK's list lacks
    release = build_release(
        dt.datetime(2026, 6, 15, 9, 30), nation="scotland", lines={"release_at": 5}
    )
    found = check_release(release, Policy())
    assert [(f.rule, f.severity, f.line) for f in found] == [
        ("T3.6.holiday", Severity.ERROR, 5),
        ("T3.6.holiday", Severity.WARNING, 5),
    ]
    assert found[1].message == (
        "The bank-holiday lists disagree about 2026-06-15 in Scotland (the holidays package calls "
        "it \"Scotland's participation in the FIFA World Cup final\", GOV.UK's list does not have "
        "it): check https://www.gov.uk/bank-holidays and move the release if it is a holiday."
    )
