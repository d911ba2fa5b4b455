from __future__ import annotations

import datetime as dt
import logging

import pytest

from onthedot.calendar import holidays as hol

D = dt.date


@pytest.mark.parametrize("nation", hol.UK_NATIONS)
@pytest.mark.parametrize(
    "day", [D(2020, 5, 8), D(2022, 6, 3), D(2022, 9, 19), D(2023, 5, 8), D(2022, 6, 2)]
)
def test_one_off_days_are_holidays_in_every_nation(nation: str, day: dt.date) -> None:
    assert day in hol.bank_holidays(nation, day.year)
    found = hol.holiday_on("uk", day)
    assert found is not None and not found.partial


def test_the_moved_early_may_bank_holiday_of_2020() -> None:
    england = hol.bank_holidays("england-and-wales", 2020)
    assert D(2020, 5, 8) in england and D(2020, 5, 4) not in england


@pytest.mark.parametrize(
    ("day", "kept_in"),
    [
        (D(2025, 1, 2), ("scotland",)),
        (D(2024, 7, 12), ("northern-ireland",)),
        (D(2025, 8, 4), ("scotland",)),
        (D(2025, 8, 25), ("england-and-wales", "northern-ireland")),
        (D(2025, 3, 17), ("northern-ireland",)),
        (D(2025, 4, 21), ("england-and-wales", "northern-ireland")),
    ],
)
def test_uk_union_says_which_nations_keep_a_day(day: dt.date, kept_in: tuple[str, ...]) -> None:
    found = hol.holiday_on("uk", day)
    assert found is not None and found.partial and found.nations == kept_in
    named = hol.bank_holidays("uk", day.year)[day]
    assert named.endswith(f"({found.where} only)")
    for nation in hol.UK_NATIONS:
        assert (day in hol.bank_holidays(nation, day.year)) is (nation in kept_in)


def test_none_calendar_has_no_holidays_and_release_must_be_resolved() -> None:
    assert hol.bank_holidays("none", 2025) == {}
    with pytest.raises(ValueError, match="release's nation"):
        hol.holidays_in("release", 2025)


def test_country_calendars_from_the_holidays_package() -> None:
    assert D(2026, 3, 17) in hol.bank_holidays("IE", 2026)
    assert D(2026, 10, 26) in hol.bank_holidays("ie", 2026)  # October bank holiday
    assert hol.check_calendar_name("de-by") == "DE-BY"
    with pytest.raises(ValueError, match="not a holiday calendar"):
        hol.check_calendar_name("GB-XYZ")


@pytest.mark.parametrize("nation", hol.UK_NATIONS)
def test_uk_days_are_the_packages_own_although_only_its_uk_module_is_loaded(nation: str) -> None:
    import holidays

    for year in (1995, 2020, 2022, 2027):
        code = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}[nation]
        own = holidays.country_holidays("GB", subdiv=code, years=year)
        assert hol.bank_holidays(nation, year) == {d: n for d, n in own.items() if d.year == year}


def test_results_are_cached_and_copies_are_safe_to_change() -> None:
    first = hol.bank_holidays("scotland", 2024)
    first.clear()
    assert hol.bank_holidays("scotland", 2024)


# --- cross-check with the GOV.UK list shipped inside govuk-bank-holidays ----------------------------


def test_govuk_list_is_read_from_the_package_never_downloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the GOV.UK list must not be fetched")

    monkeypatch.setattr(requests, "get", no_network)
    hol._govuk_data.cache_clear()
    try:
        listed = hol.govuk_bank_holidays("scotland", 2019)
    finally:
        hol._govuk_data.cache_clear()
    assert listed is not None and D(2019, 1, 2) in listed
    assert hol.govuk_bank_holidays("england-and-wales", 1995) is None  # not covered
    assert hol.govuk_bank_holidays("IE", 2019) is None


@pytest.mark.parametrize("nation", hol.UK_NATIONS)
@pytest.mark.parametrize("year", range(2018, 2026))
def test_the_two_lists_agree_on_weekdays_of_past_years(nation: str, year: int) -> None:
    assert hol.cross_check(nation, year) == []


def test_disagreements_are_returned_and_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours = hol.bank_holidays("scotland", 2024)
    reference = dict(ours)
    reference.pop(D(2024, 1, 2))  # GOV.UK "forgets" 2 January
    reference[D(2024, 6, 14)] = "Extra day"  # and adds a Friday
    reference[D(2024, 6, 15)] = "Saturday day"  # weekends are not compared
    hol._log_once.cache_clear()  # each disagreement is logged once per process: run it afresh
    with caplog.at_level(logging.INFO, logger=hol.__name__):
        found = hol.cross_check("scotland", 2024, reference=reference)
    assert [(d.day, d.holidays_name is not None, d.govuk_name) for d in found] == [
        (D(2024, 1, 2), True, None),
        (D(2024, 6, 14), False, "Extra day"),
    ]
    assert "disagree about 2024-01-02 in Scotland" in found[0].message
    assert "GOV.UK's list calls it 'Extra day'" in found[1].message
    assert any("2024-06-14" in r.getMessage() for r in caplog.records)


def test_disagreements_only_for_uk_calendars() -> None:
    assert hol.disagreements_on("IE", D(2024, 1, 2)) == []
    assert hol.cross_check("england-and-wales", 1999) == []  # GOV.UK list does not cover 1999
