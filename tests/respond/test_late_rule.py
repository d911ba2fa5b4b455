"""An incident's "late" follows the one rule for late (``Policy.late_after_s``), as breach
detection, preflight and the dashboard do: a flip 3 s after T is late under the default 1 s rule,
and on time for a producer whose policy tolerates 5 s."""

from __future__ import annotations

import datetime as dt

from onthedot.calendar.policy import Policy
from onthedot.record import kinds
from onthedot.record.timeline import GENESIS, Event
from onthedot.respond.problems import FLIP_RECORDED_S, Reading

T = dt.datetime(2026, 2, 20, 7, 0, tzinfo=dt.UTC)


def flipped(late_s: float) -> Event:
    at = T + dt.timedelta(seconds=late_s)
    data = {"late_s": late_s}
    return Event("retail", 1, at, kinds.PUBLISH_FLIPPED, "onthedot", "onthedot", data, GENESIS, "x")


def staged() -> Event:
    return Event("retail", 1, T, kinds.PUBLISH_STAGED, "onthedot", "onthedot", {}, GENESIS, "x")


def test_a_flip_later_than_the_policy_allows_is_a_late_incident() -> None:
    default = Reading(T, Policy().late_after_s)
    default.feed(flipped(3.0))
    assert "late" in default.problems(T + dt.timedelta(seconds=10))
    tolerant = Reading(T, Policy(tolerance_s=5.0).late_after_s)
    tolerant.feed(flipped(3.0))
    assert "late" not in tolerant.problems(T + dt.timedelta(seconds=10))


def test_staged_but_not_flipped_is_late_once_the_rule_s_seconds_and_the_recording_passed() -> None:
    """A flip done on time may reach the record seconds later on a crowded morning: not yet
    late then; a release still not recorded as flipped after that is."""
    reading = Reading(T, Policy().late_after_s)
    reading.feed(staged())
    assert "late" not in reading.problems(T + dt.timedelta(seconds=1.5))
    recorded = Policy().late_after_s + FLIP_RECORDED_S
    assert "late" not in reading.problems(T + dt.timedelta(seconds=recorded - 0.5))
    assert "late" in reading.problems(T + dt.timedelta(seconds=recorded + 0.5))


def result(after_s: float, status: str, seq: int) -> Event:
    at = T + dt.timedelta(seconds=after_s)
    data = {"url": "https://www.gov.uk/x", "status": status, "checked_at": at.isoformat()}
    return Event("retail", seq, at, kinds.VERIFY_RESULT, "onthedot", "onthedot", data, GENESIS, "x")


def test_a_page_another_system_publishes_within_the_rule_opens_no_incident() -> None:
    external = Reading(T, Policy().late_after_s, external=True)
    external.feed(result(0.01, "stale", 1))  # the sweep at T, before GOV.UK's page is up
    assert external.problems(T + dt.timedelta(seconds=0.2)) == {}
    external.feed(result(0.5, "live", 2))
    assert external.problems(T + dt.timedelta(seconds=2)) == {}
    late = Reading(T, Policy().late_after_s, external=True)
    late.feed(result(0.01, "stale", 1))  # (the timeline records a status when it changes)
    assert late.problems(T + dt.timedelta(seconds=0.9)) == {}
    stale = late.problems(T + dt.timedelta(seconds=1.1))["stale"]  # not published after the rule
    assert stale.since == T + dt.timedelta(seconds=0.01)
    ours = Reading(T, Policy().late_after_s)  # a release onthedot flips: stale at T is stale
    ours.feed(result(0.01, "stale", 1))
    assert "stale" in ours.problems(T + dt.timedelta(seconds=0.2))
