"""The calendar rules on dated cases: each breach is flagged with its rule id, nothing else is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from onthedot.calendar.policy import Policy
from onthedot.calendar.rules import RULE_IDS, check_release
from onthedot.model import Change, PreReleaseAccess, Severity

from .conftest import MakeRelease, london, recipient

POLICY = Policy()


def rules_of(findings: list) -> list[tuple[str, Severity]]:  # type: ignore[type-arg]
    return [(f.rule, f.severity) for f in findings]


ERR, WARN = Severity.ERROR, Severity.WARNING

# (case, local release time in Europe/London, nation, expected (rule, severity) in order)
CASES = [
    ("ordinary Wednesday", dt.datetime(2019, 12, 18, 9, 30), "england-and-wales", []),
    ("Saturday", dt.datetime(2019, 12, 21, 9, 30), "england-and-wales", [("T3.6.weekday", ERR)]),
    ("Sunday", dt.datetime(2025, 6, 1, 9, 30), "uk", [("T3.6.weekday", ERR)]),
    ("09:31", dt.datetime(2019, 12, 18, 9, 31), "england-and-wales", [("T3.6.time", ERR)]),
    ("09:29", dt.datetime(2019, 12, 18, 9, 29), "england-and-wales", [("T3.6.time", ERR)]),
    ("Christmas Day", dt.datetime(2019, 12, 25, 9, 30), "scotland", [("T3.6.holiday", ERR)]),
    ("Boxing Day", dt.datetime(2019, 12, 26, 9, 30), "england-and-wales", [("T3.6.holiday", ERR)]),
    ("Boxing Day, uk", dt.datetime(2024, 12, 26, 9, 30), "uk", [("T3.6.holiday", ERR)]),
    ("VE Day 2020", dt.datetime(2020, 5, 8, 9, 30), "england-and-wales", [("T3.6.holiday", ERR)]),
    ("4 May 2020 is normal", dt.datetime(2020, 5, 4, 9, 30), "england-and-wales", []),
    (
        "Platinum Jubilee",
        dt.datetime(2022, 6, 3, 9, 30),
        "northern-ireland",
        [("T3.6.holiday", ERR)],
    ),
    ("state funeral", dt.datetime(2022, 9, 19, 9, 30), "scotland", [("T3.6.holiday", ERR)]),
    ("coronation", dt.datetime(2023, 5, 8, 9, 30), "england-and-wales", [("T3.6.holiday", ERR)]),
    ("2 Jan, Scotland", dt.datetime(2025, 1, 2, 9, 30), "scotland", [("T3.6.holiday", ERR)]),
    ("2 Jan, England", dt.datetime(2025, 1, 2, 9, 30), "england-and-wales", []),
    ("2 Jan, NI", dt.datetime(2025, 1, 2, 9, 30), "northern-ireland", []),
    ("2 Jan, uk", dt.datetime(2025, 1, 2, 9, 30), "uk", [("T3.6.holiday", WARN)]),
    ("12 July, NI", dt.datetime(2024, 7, 12, 9, 30), "northern-ireland", [("T3.6.holiday", ERR)]),
    ("12 July, Scotland", dt.datetime(2024, 7, 12, 9, 30), "scotland", []),
    ("12 July, England", dt.datetime(2024, 7, 12, 9, 30), "england-and-wales", []),
    ("12 July, uk", dt.datetime(2023, 7, 12, 9, 30), "uk", [("T3.6.holiday", WARN)]),
    ("1st Mon Aug, Scotland", dt.datetime(2025, 8, 4, 9, 30), "scotland", [("T3.6.holiday", ERR)]),
    ("1st Mon Aug, England", dt.datetime(2025, 8, 4, 9, 30), "england-and-wales", []),
    ("1st Mon Aug, NI", dt.datetime(2025, 8, 4, 9, 30), "northern-ireland", []),
    (
        "last Mon Aug, England",
        dt.datetime(2025, 8, 25, 9, 30),
        "england-and-wales",
        [("T3.6.holiday", ERR)],
    ),
    ("last Mon Aug, Scotland", dt.datetime(2025, 8, 25, 9, 30), "scotland", []),
    (
        "Saturday 09:31 Christmas",
        dt.datetime(2021, 12, 25, 9, 31),
        "england-and-wales",
        [("T3.6.time", ERR), ("T3.6.weekday", ERR), ("T3.6.holiday", ERR)],
    ),
]


@pytest.mark.parametrize(("case", "local", "nation", "expected"), CASES, ids=[c[0] for c in CASES])
def test_dated_cases(
    make_release: MakeRelease,
    case: str,
    local: dt.datetime,
    nation: str,
    expected: list[tuple[str, Severity]],
) -> None:
    findings = check_release(make_release(local, nation=nation), POLICY)
    assert rules_of(findings) == expected
    for finding in findings:
        assert finding.message.endswith(".") and ": " in finding.message  # a sentence with a fix


def test_holiday_message_names_the_day_and_where_it_is_kept(make_release: MakeRelease) -> None:
    [finding] = check_release(make_release(dt.datetime(2024, 7, 12, 9, 30), nation="uk"), POLICY)
    assert "Friday 12 July 2024" in finding.message
    assert "Northern Ireland only" in finding.message


def test_time_message_says_the_time_and_the_fix(make_release: MakeRelease) -> None:
    [finding] = check_release(make_release(dt.datetime(2019, 12, 18, 9, 31)), POLICY)
    assert finding.message == (
        "The release is at 09:31, not 09:30: move it to 09:30 or record the Director General "
        "for Regulation's approval as `exemption`."
    )


def test_a_recorded_exemption_allows_another_time(make_release: MakeRelease) -> None:
    release = make_release(dt.datetime(2023, 6, 14, 7, 0), exemption="DGR approval ref 2022/07")
    assert check_release(release, POLICY) == []


@pytest.mark.parametrize(
    ("instant", "flagged"),
    [
        (dt.datetime(2025, 3, 28, 9, 30, tzinfo=dt.UTC), False),  # GMT: 09:30 local
        (dt.datetime(2025, 3, 31, 8, 30, tzinfo=dt.UTC), False),  # BST: 09:30 local
        (dt.datetime(2025, 3, 31, 9, 30, tzinfo=dt.UTC), True),  # BST: 10:30 local
        (dt.datetime(2025, 10, 24, 8, 30, tzinfo=dt.UTC), False),  # BST
        (dt.datetime(2025, 10, 27, 9, 30, tzinfo=dt.UTC), False),  # GMT
        (dt.datetime(2025, 10, 27, 8, 30, tzinfo=dt.UTC), True),  # GMT: 08:30 local
    ],
)
def test_time_rule_reads_utc_instants_in_london_across_dst(
    make_release: MakeRelease, instant: dt.datetime, flagged: bool
) -> None:
    release = make_release(dt.datetime(2025, 1, 8, 9, 30)).model_copy(
        update={"release_at": instant, "announced_at": instant - dt.timedelta(days=40)}
    )
    assert ("T3.6.time" in [f.rule for f in check_release(release, POLICY)]) is flagged


def test_weekday_is_the_london_date_not_the_utc_date(make_release: MakeRelease) -> None:
    # 23:30 UTC on Friday 27 June 2025 is 00:30 on Saturday in London
    late = dt.datetime(2025, 6, 27, 23, 30, tzinfo=dt.UTC)
    release = make_release(dt.datetime(2025, 6, 4, 9, 30)).model_copy(
        update={"release_at": late, "announced_at": late - dt.timedelta(days=40)}
    )
    assert [f.rule for f in check_release(release, POLICY)] == ["T3.6.time", "T3.6.weekday"]


# --- T3.1 notice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("announced", "flagged"),
    [
        (london(2019, 11, 20, 9, 30), False),  # exactly 28 days
        (london(2019, 11, 20, 17, 0), False),  # same calendar day, later in the day
        (london(2019, 11, 21, 9, 30), True),  # 27 days
        (london(2019, 12, 19, 9, 30), True),  # after release
        (None, True),
    ],
)
def test_notice_needs_28_days(
    make_release: MakeRelease, announced: dt.datetime | None, flagged: bool
) -> None:
    release = make_release(dt.datetime(2019, 12, 18, 9, 30), announced_at=announced)
    findings = check_release(release, POLICY)
    assert ([f.rule for f in findings] == ["T3.1.notice"]) is flagged
    assert all(f.severity is ERR for f in findings)


def test_notice_message_gives_the_earliest_allowed_date(make_release: MakeRelease) -> None:
    release = make_release(
        dt.datetime(2019, 12, 18, 9, 30), announced_at=london(2019, 12, 8, 9, 30)
    )
    [finding] = check_release(release, POLICY)
    assert "only 10 days ahead, not 28" in finding.message
    assert "Sunday 5 January 2020 or later" in finding.message


def test_notice_days_come_from_the_policy(make_release: MakeRelease) -> None:
    release = make_release(
        dt.datetime(2019, 12, 18, 9, 30), announced_at=london(2019, 12, 8, 9, 30)
    )
    assert check_release(release, Policy(notice_days=7)) == []


# --- T3.2 changes ---------------------------------------------------------------------------------


def test_a_change_without_reason_or_approval_is_flagged(make_release: MakeRelease) -> None:
    moved = Change(previous=london(2019, 12, 11, 9, 30), reason="Data supplier delay")
    release = make_release(dt.datetime(2019, 12, 18, 9, 30), change=(moved,))
    [finding] = check_release(release, POLICY)
    assert finding.rule == "T3.2.change" and finding.severity is ERR
    assert "`approved_by`" in finding.message and "`reason`" not in finding.message.split(":")[0]
    assert "Wednesday 11 December 2019 09:30 GMT" in finding.message


def test_an_approved_change_with_reason_is_fine(make_release: MakeRelease) -> None:
    moved = Change(
        previous=dt.datetime(2019, 12, 11, 9, 30),  # naive: read as London time
        reason="Data supplier delay",
        approved_by="A Head <hop@example.org>",
    )
    release = make_release(dt.datetime(2019, 12, 18, 9, 30), change=(moved,))
    earlier = make_release(dt.datetime(2019, 12, 11, 9, 30))
    assert check_release(release, POLICY, history=[earlier]) == []


def test_history_shows_a_move_nobody_recorded(make_release: MakeRelease) -> None:
    earlier = make_release(dt.datetime(2019, 12, 11, 9, 30))
    unannounced_draft = make_release(dt.datetime(2019, 12, 4, 9, 30), announced_at=None)
    release = make_release(dt.datetime(2019, 12, 18, 9, 30))
    findings = check_release(release, POLICY, history=[unannounced_draft, earlier, earlier])
    assert rules_of(findings) == [("T3.2.change", ERR)]
    assert "moved from Wednesday 11 December 2019 09:30 GMT" in findings[0].message


@dataclass(frozen=True)
class StoreChange:
    """The shape of the store's history rows (onthedot.store.releases.HistoryEntry)."""

    field: str
    old: object
    new: object
    changed_at: object = None


def test_store_field_changes_count_as_history(make_release: MakeRelease) -> None:
    release = make_release(dt.datetime(2019, 12, 18, 9, 30))  # announced 6 November
    moved = StoreChange(
        "release_at", "2019-12-11T09:30:00Z", "2019-12-18T09:30:00Z", london(2019, 11, 20, 10, 0)
    )
    before_announcement = StoreChange(
        "release_at", "2019-12-04T09:30:00Z", "2019-12-11T09:30:00Z", london(2019, 11, 1, 10, 0)
    )
    other_field = StoreChange("title", "Old", "New")
    garbage = StoreChange("release_at", "not a date", None)
    history = [before_announcement, moved, other_field, garbage]
    findings = check_release(release, POLICY, history=history)
    assert rules_of(findings) == [("T3.2.change", ERR)]
    assert "moved from Wednesday 11 December 2019 09:30 GMT" in findings[0].message
    recorded = release.model_copy(
        update={
            "change": (Change(previous=london(2019, 12, 11, 9, 30), reason="r", approved_by="h"),)
        }
    )
    assert check_release(recorded, POLICY, history=history) == []


# --- T3.4 pre-release access ----------------------------------------------------------------------


def test_pre_release_access_window_is_checked_per_person(make_release: MakeRelease) -> None:
    people = (
        recipient(name="Minister", granted_at=london(2019, 12, 17, 9, 30)),  # 24 h: fine
        recipient(name="Adviser", granted_at=london(2019, 12, 17, 9, 29)),  # 24 h 1 min
        recipient(name="Press officer", granted_at=london(2019, 12, 18, 9, 30)),  # at T
        recipient(name="Unrecorded"),
    )
    release = make_release(
        dt.datetime(2019, 12, 18, 9, 30),
        pre_release_access=people,
        lines={"pre_release_access": 30, "pre_release_access.1": 34},
    )
    findings = check_release(release, POLICY)
    assert rules_of(findings) == [
        ("T3.4.pra-window", ERR),
        ("T3.4.pra-window", ERR),
        ("T3.4.pra-window", WARN),
    ]
    assert findings[0].message.startswith("Adviser") and findings[0].line == 34
    assert findings[1].message.startswith("Press officer") and findings[1].line == 30
    assert "Unrecorded" in findings[2].message
    assert check_release(release, Policy(pra_hours=25))[0].message.startswith("Press officer")


# --- T3.7 contact ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lead", "flagged"),
    [
        ("A Statistician <stats@example.org>", False),
        ("Statistics team, 0300 123 4567", False),
        ("A Statistician", True),
        ("", True),
        (None, True),
    ],
)
def test_lead_statistician_needs_a_contact(
    make_release: MakeRelease, lead: str | None, flagged: bool
) -> None:
    release = make_release(dt.datetime(2019, 12, 18, 9, 30), lead_statistician=lead)
    assert ([f.rule for f in check_release(release, POLICY)] == ["T3.7.contact"]) is flagged


# --- everything at once ------------------------------------------------------------------------------


def test_findings_come_in_rule_order_with_lines(make_release: MakeRelease) -> None:
    release = make_release(
        dt.datetime(2021, 12, 25, 9, 31),
        announced_at=None,
        lead_statistician=None,
        change=(Change(previous=london(2021, 12, 18, 9, 30)),),
        pre_release_access=(PreReleaseAccess(name="X", granted_at=london(2021, 12, 1, 9, 30)),),
        lines={"release_at": 5, "announced_at": 6, "lead_statistician": 8, "change": 20},
    )
    findings = check_release(release, POLICY)
    order = [f.rule for f in findings]
    assert order == sorted(order, key=RULE_IDS.index)
    assert set(order) == set(RULE_IDS)
    lines = {f.rule: f.line for f in findings}
    assert lines["T3.1.notice"] == 6 and lines["T3.6.time"] == 5 and lines["T3.7.contact"] == 8
    assert lines["T3.2.change"] == 20
    assert findings == check_release(release, POLICY)  # stable
