from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from onthedot.calendar.policy import DEFAULT_POLICY, Policy
from onthedot.calendar.rules import check_release
from onthedot.calendar.timeutil import local_to_utc
from onthedot.config import load_config
from onthedot.errors import ReleaseFileError

from .conftest import MakeRelease

DUBLIN_TOML = """
[policy]
time = "11:00"
zone = "Europe/Dublin"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
notice_days = 28
holidays = "IE"
"""


def dublin() -> Policy:
    return Policy.model_validate(tomllib.loads(DUBLIN_TOML)["policy"])


def test_defaults_are_the_code_of_practice() -> None:
    policy = Policy.model_validate({})
    assert policy == DEFAULT_POLICY
    assert (policy.time, policy.zone, policy.notice_days, policy.pra_hours) == (
        dt.time(9, 30),
        "Europe/London",
        28,
        24.0,
    )
    assert policy.weekday_names == ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    assert policy.calendar_for("scotland") == "scotland"


def test_a_toml_local_time_and_day_names_are_accepted() -> None:
    table = tomllib.loads('time = 10:00:00\nweekdays = ["Tuesday", "thu", 0]\nholidays = "uk"')
    policy = Policy.model_validate(table)
    assert policy.time == dt.time(10, 0)
    assert policy.weekdays == (0, 1, 3)
    assert policy.calendar_for("scotland") == "uk"


def _dublin_release(make_release: MakeRelease, local: dt.datetime) -> object:
    at = local_to_utc(local, "Europe/Dublin")
    return make_release(dt.datetime(2026, 1, 7, 9, 30)).model_copy(
        update={"release_at": at, "announced_at": at - dt.timedelta(days=35)}
    )


def test_dublin_policy_accepts_11_00_dublin_time_on_a_working_day(
    make_release: MakeRelease,
) -> None:
    release = _dublin_release(make_release, dt.datetime(2026, 3, 31, 11, 0))  # Irish summer time
    assert check_release(release, dublin()) == []  # type: ignore[arg-type]


def test_dublin_policy_flags_london_0930_and_irish_holidays(make_release: MakeRelease) -> None:
    policy = dublin()
    at_0930 = _dublin_release(make_release, dt.datetime(2026, 3, 31, 9, 30))
    [finding] = check_release(at_0930, policy)  # type: ignore[arg-type]
    assert finding.rule == "T3.6.time"
    assert "09:30 (Europe/Dublin), not 11:00" in finding.message
    st_patrick = _dublin_release(make_release, dt.datetime(2026, 3, 17, 11, 0))
    assert [f.rule for f in check_release(st_patrick, policy)] == ["T3.6.holiday"]  # type: ignore[arg-type]
    # and the UK's Spring bank holiday (25 May 2026) is an ordinary day in Ireland
    uk_holiday = _dublin_release(make_release, dt.datetime(2026, 5, 25, 11, 0))
    assert check_release(uk_holiday, policy) == []  # type: ignore[arg-type]


def test_custom_release_days_are_named_in_the_message(make_release: MakeRelease) -> None:
    policy = Policy(weekdays=("tue", "thu"))
    release = make_release(dt.datetime(2019, 12, 18, 9, 30))  # a Wednesday
    [finding] = check_release(release, policy)
    assert finding.rule == "T3.6.weekday"
    assert "one of Tuesday, Thursday" in finding.message


def test_holidays_none_turns_the_holiday_rule_off(make_release: MakeRelease) -> None:
    release = make_release(dt.datetime(2019, 12, 25, 9, 30))
    assert check_release(release, Policy(holidays="none")) == []


def policy_problems(tmp_path: Path, body: str) -> list[str]:
    config = tmp_path / "onthedot.toml"
    config.write_text(f"[policy]\n{body}\n", encoding="utf-8")
    with pytest.raises(ReleaseFileError) as caught:
        load_config(config)
    assert caught.value.exit_code == 2
    return caught.value.problems


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('time = "half nine"', ["policy.time: ", 'write it as "HH:MM"']),
        ('time = "09:30+01:00"', ["policy.time: "]),
        ('zone = "Europe/Atlantis"', ["policy.zone: ", "IANA name"]),
        ('weekdays = ["funday"]', ["policy.weekdays: ", '"mon"']),
        ('weekdays = "mon"', ["policy.weekdays: ", "list of days"]),
        ("weekdays = []", ["at least one release day"]),
        ('holidays = "Narnia"', ["policy.holidays: ", "country code"]),
        ("notice_days = -3", ["policy.notice_days: "]),
        ("pra_hours = 0", ["policy.pra_hours: "]),
        ('tolerance_s = "5"', ["policy.tolerance_s: should be a number", "tolerance_s = 0"]),
        ("tolerance_s = -1", ["policy.tolerance_s: should be greater than or equal to 0"]),
        ('timezone = "Europe/London"', ["policy.timezone: unknown key: did you mean 'zone'?"]),
    ],
)
def test_bad_settings_name_the_line_and_the_setting(
    tmp_path: Path, body: str, words: list[str]
) -> None:
    (problem,) = policy_problems(tmp_path, body)
    assert problem.startswith(f"{tmp_path / 'onthedot.toml'}:2: policy.")
    for word in words:
        assert word in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = policy_problems(tmp_path, 'time = "x"\nzone = "y"')
    assert [p.split(": ")[1] for p in problems] == ["policy.time", "policy.zone"]


@pytest.mark.parametrize(
    ("body", "sentences"),
    [
        (
            'colour = "red"\nshade = "dark"',
            [
                "policy.colour: unknown key: known keys: time, zone, weekdays, notice_days, "
                "holidays, pra_hours, pra_hours_by_nation, tolerance_s.",
                "policy.shade: unknown key: known keys: time, zone, weekdays, notice_days, "
                "holidays, pra_hours, pra_hours_by_nation, tolerance_s.",
            ],
        ),
        (
            'weekdays = "mon"',
            ['policy.weekdays: give a list of days, e.g. ["mon", "tue", "wed", "thu", "fri"]'],
        ),
        (
            'time = "25:00"',
            ["policy.time: '25:00' is not a time of day: write it as \"HH:MM\", e.g. \"09:30\""],
        ),
        ("weekdays = [7]", ['policy.weekdays: 7 is not a day of the week: write days as "mon" … "sun"']),
        (
            'zone = "Europe/Atlantis"',
            [
                "policy.zone: 'Europe/Atlantis' is not a time zone this machine knows: use an IANA "
                'name such as "Europe/London" or "Europe/Dublin".'
            ],
        ),
    ],
)
def test_a_bad_setting_is_one_plain_sentence_each(
    tmp_path: Path, body: str, sentences: list[str]
) -> None:
    problems = policy_problems(tmp_path, body)
    assert [p.split(": ", 1)[1] for p in problems] == sentences
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in problems] == [
        str(line) for line in range(2, 2 + len(sentences))
    ]


def test_days_as_numbers_run_from_monday_0_to_sunday_6() -> None:
    assert Policy(weekdays=[0, 6]).weekday_names == ("Monday", "Sunday")


def test_a_time_may_be_written_with_a_dot(tmp_path: Path) -> None:
    config = tmp_path / "onthedot.toml"
    config.write_text('[policy]\ntime = "09.30"\n', encoding="utf-8")
    assert load_config(config).policy.time == dt.time(9, 30)
