from __future__ import annotations

import datetime as dt

import pytest

from onthedot.calendar.editions import (
    EDITION_2_1_FROM,
    EDITION_3_0_FROM,
    PRACTICES,
    cite,
    edition_on,
    practice_of,
)
from onthedot.calendar.rules import RULE_IDS


def test_a_2019_breach_cites_edition_2_practice_t3_6_as_the_seed_report_does() -> None:
    citation = cite("T3.6.time", dt.date(2019, 12, 18))
    assert citation.edition == "2.0"
    assert citation.text == (
        "Principle T3: Orderly release; "
        "Practice T3.6: Statistics should be released to all users at 9.30am on a weekday."
    )


def test_a_2023_breach_cites_edition_2_1_with_date_and_time_and_dgr_approval() -> None:
    notice = cite("T3.1.notice", dt.date(2023, 6, 1))
    time = cite("T3.6.holiday", dt.date(2023, 6, 1))
    assert notice.edition == time.edition == "2.1"
    assert "release date and time" in notice.wording
    assert "Director General for Regulation" in time.wording
    assert time.practice_label == "Practice T3.6"


def test_a_2026_breach_cites_standard_3_with_the_edition_2_id_beside_it() -> None:
    citation = cite("T3.6.weekday", dt.date(2026, 1, 14))
    assert citation.edition == "3.0"
    assert citation.principle == "Standard 3: Be transparent"
    assert citation.text.startswith(
        "Standard 3: Be transparent; Requirement 3.6 (T3.6 in edition 2):"
    )
    assert "9.30am" in citation.wording


@pytest.mark.parametrize(
    ("day", "edition"),
    [
        (EDITION_2_1_FROM - dt.timedelta(days=1), "2.0"),
        (EDITION_2_1_FROM, "2.1"),
        (EDITION_3_0_FROM - dt.timedelta(days=1), "2.1"),
        (EDITION_3_0_FROM, "3.0"),
        (dt.date(2012, 1, 1), "2.0"),
    ],
)
def test_the_edition_in_force_changes_on_its_first_day(day: dt.date, edition: str) -> None:
    assert edition_on(day).id == edition
    assert edition_on(dt.datetime.combine(day, dt.time(9, 30))).id == edition


@pytest.mark.parametrize("rule_id", RULE_IDS)
@pytest.mark.parametrize("edition", sorted(PRACTICES))
def test_every_rule_is_citable_in_every_edition(rule_id: str, edition: str) -> None:
    day = {"2.0": dt.date(2019, 1, 7), "2.1": dt.date(2024, 1, 8), "3.0": dt.date(2026, 1, 7)}
    citation = cite(rule_id, day[edition])
    assert citation.edition == edition
    assert citation.wording and citation.wording in citation.text
    assert practice_of(rule_id) in citation.text


def test_a_rule_without_a_practice_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no practice"):
        cite("T9.9.nothing", dt.date(2020, 1, 1))
