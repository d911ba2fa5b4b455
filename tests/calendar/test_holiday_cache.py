"""The holidays package's tables are remembered between runs, and a broken memory is ignored."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import onthedot
from onthedot.calendar.holiday_cache import HolidayCache

D = dt.date
PROGRAM = """\
import json, sys
from onthedot.calendar import holidays as hol
days = {n: [[d.isoformat(), name] for d, name in hol.bank_holidays(n, 2027).items()]
        for n in ("uk", "scotland", "IE")}
print(json.dumps({"days": days, "package_loaded": "holidays" in sys.modules}))
"""


def run_fresh(cache: Path) -> dict[str, object]:
    """Ask for 2027's bank holidays in a new process whose cache folder is ``cache``."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_a_second_run_reads_the_same_days_without_the_holidays_package(tmp_path: Path) -> None:
    first = run_fresh(tmp_path)
    again = run_fresh(tmp_path)
    assert first["package_loaded"] is True and again["package_loaded"] is False
    assert again["days"] == first["days"]
    scotland = first["days"]["scotland"]  # type: ignore[index]
    assert ["2027-01-04", "New Year Holiday (observed)"] in scotland  # (a substitute day)


def test_a_table_put_is_got_back_by_the_next_reader(tmp_path: Path) -> None:
    table = ((D(2027, 1, 1), "New Year's Day"), (D(2027, 12, 27), "Christmas Day (substitute day)"))
    HolidayCache(tmp_path).put("GB", "ENG", 2027, table)
    reader = HolidayCache(tmp_path)
    assert reader.get("GB", "ENG", 2027) == table
    assert reader.get("GB", "SCT", 2027) is None
    assert reader.get("GB", "ENG", 2028) is None


def test_a_broken_file_is_ignored_and_written_again(tmp_path: Path) -> None:
    HolidayCache(tmp_path).put("IE", None, 2027, ((D(2027, 3, 17), "Saint Patrick's Day"),))
    (written,) = tmp_path.glob("holidays-*.json")
    written.write_text('{"IE//2027": [["not a date", "x"]], "GB', encoding="utf-8")
    assert HolidayCache(tmp_path).get("IE", None, 2027) is None  # half a file: nothing known
    written.write_text('{"IE//2027": [["not a date", "x"]]}', encoding="utf-8")
    assert HolidayCache(tmp_path).get("IE", None, 2027) is None  # a bad entry: worked out again
    HolidayCache(tmp_path).put("IE", None, 2027, ((D(2027, 3, 17), "Saint Patrick's Day"),))
    assert HolidayCache(tmp_path).get("IE", None, 2027) == (
        (D(2027, 3, 17), "Saint Patrick's Day"),
    )
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary file left


def test_a_folder_that_cannot_be_written_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    cache = HolidayCache(blocked / "onthedot")
    cache.put("IE", None, 2027, ((D(2027, 3, 17), "Saint Patrick's Day"),))
    assert cache.get("IE", None, 2027) == ((D(2027, 3, 17), "Saint Patrick's Day"),)


def test_an_upgrade_of_onthedot_works_the_tables_out_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = ((D(2027, 1, 1), "New Year's Day"),)
    HolidayCache(tmp_path).put("GB", "ENG", 2027, table)
    assert HolidayCache(tmp_path).get("GB", "ENG", 2027) == table
    monkeypatch.setattr(onthedot, "__version__", "99.0.0")
    assert HolidayCache(tmp_path).get("GB", "ENG", 2027) is None  # what the old one wrote
    HolidayCache(tmp_path).put("GB", "ENG", 2027, table)
    assert HolidayCache(tmp_path).get("GB", "ENG", 2027) == table
