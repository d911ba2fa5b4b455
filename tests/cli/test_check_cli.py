"""``onthedot check`` from the user's side: rule ids on dated cases, JSON contract, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from onthedot.cli import app
from tests.conftest import write_release

runner = CliRunner()


def check_json(tmp_path: Path, *paths: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", "--json", *map(str, paths)])
    return result.exit_code, json.loads(result.stdout)


def rules_for(tmp_path: Path, release_at: str, nation: str = "england-and-wales", **kw: str) -> set[str]:
    announced = kw.pop("announced_at", None)
    if announced is None:
        year = int(release_at[:4])
        announced = f"{year - 1}-06-01T09:30:00"
    path = write_release(tmp_path / release_at.replace(":", ""), release_at=release_at,
                         announced_at=announced, nation=nation, **kw)
    code, data = check_json(tmp_path, path)
    (release,) = data["releases"]
    rules = {f["rule"] for f in release["findings"]}
    assert code == (1 if any(f["severity"] == "error" for f in release["findings"]) else 0)
    return rules


@pytest.mark.parametrize(
    ("release_at", "nation", "expected"),
    [
        ("2019-12-18T09:30:00", "england-and-wales", set()),  # the seed's date: a Wednesday
        ("2019-12-21T09:30:00", "england-and-wales", {"T3.6.weekday"}),  # Saturday
        ("2019-12-18T09:31:00", "england-and-wales", {"T3.6.time"}),
        ("2019-12-25T09:30:00", "england-and-wales", {"T3.6.holiday"}),  # Christmas
        ("2019-12-26T09:30:00", "england-and-wales", {"T3.6.holiday"}),  # Boxing Day
        ("2020-05-08T09:30:00", "england-and-wales", {"T3.6.holiday"}),  # VE Day, moved
        ("2020-05-04T09:30:00", "england-and-wales", set()),  # ...so early May Monday is normal
        ("2023-01-03T09:30:00", "scotland", {"T3.6.holiday"}),  # 2 January substitute, Scotland
        ("2023-01-03T09:30:00", "england-and-wales", set()),
        ("2023-07-12T09:30:00", "northern-ireland", {"T3.6.holiday"}),  # Battle of the Boyne
        ("2023-07-12T09:30:00", "england-and-wales", set()),
        ("2023-08-07T09:30:00", "scotland", {"T3.6.holiday"}),  # first Monday of August
        ("2023-08-07T09:30:00", "england-and-wales", set()),
        ("2022-06-03T09:30:00", "england-and-wales", {"T3.6.holiday"}),  # Platinum Jubilee
        ("2022-09-19T09:30:00", "scotland", {"T3.6.holiday"}),  # State Funeral
        ("2023-05-08T09:30:00", "northern-ireland", {"T3.6.holiday"}),  # Coronation
        ("2023-07-12T09:30:00", "uk", {"T3.6.holiday"}),  # NI only: a warning for a UK release
    ],
)
def test_dated_cases(tmp_path: Path, release_at: str, nation: str, expected: set[str]) -> None:
    assert rules_for(tmp_path, release_at, nation) == expected


def test_uk_partial_holiday_is_a_warning(tmp_path: Path) -> None:
    path = write_release(tmp_path, release_at="2023-07-12T09:30:00", nation="uk")
    code, data = check_json(tmp_path, path)
    (finding,) = data["releases"][0]["findings"]
    assert (code, finding["severity"], finding["rule"]) == (0, "warning", "T3.6.holiday")
    assert "Northern Ireland" in finding["message"]


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2025-03-28T09:30:00", "2025-03-28T09:30:00Z"),
        ("2025-03-31T09:30:00", "2025-03-31T08:30:00Z"),
        ("2025-10-24T09:30:00", "2025-10-24T08:30:00Z"),
        ("2025-10-27T09:30:00", "2025-10-27T09:30:00Z"),
    ],
)
def test_release_at_utc_across_dst(tmp_path: Path, local: str, utc: str) -> None:
    path = write_release(tmp_path, release_at=local, announced_at="2025-01-02T09:30:00")
    code, data = check_json(tmp_path, path)
    assert code == 0 and data["releases"][0]["release_at_utc"] == utc


def test_short_notice_and_missing_contact(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        'id = "r"\ntitle = "T"\nproducer = "P"\nrelease_at = 2019-12-18T09:30:00\n'
        "announced_at = 2019-12-10T09:30:00\n",
        encoding="utf-8",
    )
    code, data = check_json(tmp_path, path)
    findings = data["releases"][0]["findings"]
    assert code == 1 and {f["rule"] for f in findings} == {"T3.1.notice", "T3.7.contact"}
    notice = next(f for f in findings if f["rule"] == "T3.1.notice")
    assert notice["line"] == 5


def test_moved_release_needs_reason_and_hop_approval(tmp_path: Path) -> None:
    path = write_release(tmp_path)
    assert check_json(tmp_path, path)[0] == 0
    write_release(tmp_path, release_at="2019-12-19T09:30:00")  # moved, no [[change]] recorded
    code, data = check_json(tmp_path, path)
    assert code == 1 and "T3.2.change" in {f["rule"] for f in data["releases"][0]["findings"]}
    write_release(tmp_path, release_at="2019-12-19T09:30:00", extra="""
[[change]]
previous = 2019-12-18T09:30:00
reason = "Supplier delay"
approved_by = "A Head"
announced_at = 2019-11-20T09:30:00
""")
    code, data = check_json(tmp_path, path)
    assert code == 0, data


def test_policy_block_for_another_producer(tmp_path: Path) -> None:
    (tmp_path / "onthedot.toml").write_text(
        '[policy]\ntime = "11:00"\nzone = "Europe/Dublin"\nholidays = "IE"\n', encoding="utf-8"
    )
    path = write_release(tmp_path / "r", release_at="2025-03-18T11:00:00")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--config", str(tmp_path / "onthedot.toml"), "--database", db,
                                 "check", "--json", str(path)])
    data = json.loads(result.stdout)
    assert data["releases"][0]["release_at_utc"] == "2025-03-18T11:00:00Z"
    assert {f["rule"] for f in data["releases"][0]["findings"]} == set()
    path = write_release(tmp_path / "r", id="st-patrick", release_at="2025-03-17T11:00:00")
    result = runner.invoke(app, ["--config", str(tmp_path / "onthedot.toml"), "--database", db,
                                 "check", "--json", str(path)])
    assert {f["rule"] for f in json.loads(result.stdout)["releases"][0]["findings"]} == {"T3.6.holiday"}


def test_bad_input_is_exit_2_with_file_line_field(tmp_path: Path) -> None:
    path = write_release(tmp_path, extra="titel = 'x'\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:9: titel: unknown key: did you mean 'title'?" in result.stdout
    result = runner.invoke(app, ["--database", db, "check", "--json", str(path)])
    assert result.exit_code == 2 and json.loads(result.stdout)["ok"] is False


def test_init_then_check_is_clean(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "site")])
    assert result.exit_code == 0, result.stdout
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--config", str(tmp_path / "site" / "onthedot.toml"), "--database", db,
                                 "check", str(tmp_path / "site" / "releases")])
    assert result.exit_code == 0, result.stdout


TOML_VALUES = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False),
    st.datetimes().map(lambda d: d.replace(microsecond=0)), st.dates(),
)
KEYS = st.sampled_from(["id", "title", "producer", "release_at", "announced_at", "nation",
                        "lead_statistician", "exemption", "relase_at", "site", "artefact"])


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(KEYS, TOML_VALUES, max_size=8), st.binary(max_size=40))
def test_check_never_crashes(tmp_path: Path, fields: dict[str, object], junk: bytes) -> None:
    body = "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items())
    path = tmp_path / "gen.toml"
    path.write_bytes(body.encode() + (junk if len(junk) % 3 == 0 else b""))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = runner.invoke(app, ["--database", db, "check", "--json", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1, 2)
    data = json.loads(result.stdout)
    if result.exit_code == 2:
        assert data["ok"] is False and all(str(path) in e for e in data.get("errors", [data.get("error", str(path))]))
