"""The pre-release access rules on their own: the window (per nation), the list, the person."""

from __future__ import annotations

import datetime as dt

import pytest

from onthedot.calendar.policy import Policy
from onthedot.calendar.prerelease import Recipient, grant_findings, recipients_html, window
from onthedot.calendar.rules import check_release
from onthedot.errors import InputError
from onthedot.model import PreReleaseAccess

from .conftest import build_release, london

WEDNESDAY = dt.datetime(2019, 12, 18, 9, 30)
T = london(2019, 12, 18, 9, 30)
JANE = Recipient("Jane Smith", "jane.smith@example.gov.uk")


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("Jane Smith <jane.smith@example.gov.uk>", JANE),
        ("  Jane Smith  ", Recipient("Jane Smith")),
        ('"Smith, Jane" <jane.smith@example.gov.uk>', Recipient("Smith, Jane", JANE.email)),
    ],
)
def test_a_person_is_a_name_and_perhaps_an_address(text: str, person: Recipient) -> None:
    assert Recipient.parse(text) == person


@pytest.mark.parametrize("text", ["", "<jane@example.gov.uk>", "Jane <not an address>", "a@b"])
def test_anything_else_is_one_sentence_with_the_form(text: str) -> None:
    with pytest.raises(InputError, match='write them as "Name <email>"'):
        Recipient.parse(text)


@pytest.mark.parametrize(
    ("nation", "hours"), [("scotland", 5.0), ("england-and-wales", 24.0), ("uk", 24.0)]
)
def test_the_window_is_the_policys_or_its_nations(nation: str, hours: float) -> None:
    policy = Policy(pra_hours_by_nation={"scotland": 5})
    opened = window(build_release(WEDNESDAY, nation=nation), policy)
    assert (opened.opens, opened.closes) == (T - dt.timedelta(hours=hours), T)
    assert opened.holds(opened.opens) and not opened.holds(T)


def test_a_nations_window_is_also_what_the_calendar_rule_checks() -> None:
    early = PreReleaseAccess(
        name="Adviser", role="Adviser", justification="Briefs", granted_at=T - dt.timedelta(hours=6)
    )
    release = build_release(WEDNESDAY, nation="scotland", pre_release_access=(early,))
    assert check_release(release, Policy()) == []
    (found,) = check_release(release, Policy(pra_hours_by_nation={"scotland": 5}))
    assert (
        found.rule == "T3.4.pra-window" and "6.0 hours before release, more than 5" in found.message
    )


def test_a_nation_that_is_none_is_refused() -> None:
    with pytest.raises(ValueError, match="'wales' is not a nation: use one of england-and-wales"):
        Policy(pra_hours_by_nation={"wales": 24})


@pytest.mark.parametrize(
    ("at", "rule", "said"),
    [
        (T - dt.timedelta(hours=24, seconds=1), "T3.4.pra-window", "may be given from Tuesday 17"),
        (T, "T3.4.pra-window", "was released at Wednesday 18 December 2019 09:30 GMT, so there"),
        (T - dt.timedelta(hours=24), None, ""),
        (T - dt.timedelta(seconds=1), None, ""),
    ],
)
def test_access_is_given_inside_the_window_only(
    at: dt.datetime, rule: str | None, said: str
) -> None:
    found = grant_findings(build_release(WEDNESDAY), Policy(), JANE, at)
    assert [f.rule for f in found] == ([rule] if rule else [])
    assert all(said in f.message for f in found)


def test_with_a_list_only_the_people_on_it_by_address_else_by_name() -> None:
    listed = (
        PreReleaseAccess(name="J. Smith", email="JANE.SMITH@example.gov.uk"),
        PreReleaseAccess(name="A Minister"),
    )
    release = build_release(WEDNESDAY, pre_release_access=listed)
    at = T - dt.timedelta(hours=1)
    assert grant_findings(release, Policy(), JANE, at) == []
    assert grant_findings(release, Policy(), Recipient("a minister"), at) == []
    (off,) = grant_findings(release, Policy(), Recipient("Jane Smith", "jane@elsewhere.org"), at)
    assert off.rule == "T3.4.pra-list"
    assert off.message == (
        "Jane Smith is not on the pre-release access list of fatal-injuries: add them to its "
        "[[pre_release_access]] (as the Head of Profession agreed), or grant access to someone "
        "on it."
    )


def test_a_listed_person_needs_a_role_and_a_justification() -> None:
    person = PreReleaseAccess(name="A Minister", role="Secretary of State", granted_at=T)
    found = [
        f
        for f in check_release(build_release(WEDNESDAY, pre_release_access=(person,)), Policy())
        if f.rule == "T3.4.pra-list"
    ]
    assert [(f.severity, f.message) for f in found] == [
        (
            "warning",
            "A Minister is on the pre-release access list without `justification`: add "
            "`justification`, as the list of recipients is published with their roles.",
        )
    ]


def test_nobody_is_said_plainly_in_the_published_list() -> None:
    assert "<p>No one had access to these statistics before their release.</p>" in (
        recipients_html(build_release(WEDNESDAY), Policy(), [])
    )
