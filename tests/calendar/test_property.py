"""Property: the rules never raise, whatever the date (1990–2100), nation or policy zone."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from onthedot.calendar.policy import Policy
from onthedot.calendar.rules import RULE_IDS, check_release
from onthedot.model import NATIONS, Change, PreReleaseAccess, Release, Severity

instants = st.datetimes(
    min_value=dt.datetime(1990, 1, 1),
    max_value=dt.datetime(2100, 12, 31),
    timezones=st.just(dt.UTC),
)
naive_or_aware = st.one_of(
    instants, st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 12, 31))
)
policies = st.sampled_from(
    [Policy(), Policy(zone="Europe/Dublin", time="11:00", holidays="IE"), Policy(holidays="uk")]
)


@settings(max_examples=300, deadline=None)
@given(
    release_at=instants,
    announced_at=st.none() | naive_or_aware,
    nation=st.sampled_from(NATIONS),
    previous=st.lists(naive_or_aware, max_size=2),
    granted=st.lists(st.none() | naive_or_aware, max_size=2),
    lead=st.none() | st.text(max_size=30),
    policy=policies,
)
def test_rules_never_raise(
    release_at: dt.datetime,
    announced_at: dt.datetime | None,
    nation: str,
    previous: list[dt.datetime],
    granted: list[dt.datetime | None],
    lead: str | None,
    policy: Policy,
) -> None:
    release = Release(
        id="any",
        title="Any",
        producer="Any",
        release_at=release_at,
        announced_at=announced_at,
        nation=nation,
        lead_statistician=lead,
        change=tuple(Change(previous=p) for p in previous),
        pre_release_access=tuple(
            PreReleaseAccess(name=f"p{i}", granted_at=g) for i, g in enumerate(granted)
        ),
    )
    history = [release.model_copy(update={"release_at": release_at - dt.timedelta(days=1)})]
    findings = check_release(release, policy, history=history)
    assert all(f.rule in RULE_IDS and f.severity in Severity for f in findings)
    assert all(f.message.endswith(".") for f in findings)
