"""Staging from the user's side: a staging that fails leaves no hidden copy anywhere."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, write_site_release
from tests.publish.conftest import read_only

pytestmark = pytest.mark.timeout(60)


def test_a_failed_staging_removes_every_hidden_copy_it_made(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "locked").mkdir(parents=True)
    release = write_site_release(
        tmp_path / "rel",
        public="http://127.0.0.1:9",
        origin=None,
        target=f"file://{www}",
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[
            ("/statistics/a.csv", b"a,b\n1,2\n" * 1000, None),
            ("/statistics/c.csv", b"c,d\n3,4\n" * 1000, None),
            ("/locked/b.csv", b"e,f\n5,6\n", None),
        ],
    )
    db = f"sqlite:///{tmp_path / 's.db'}"
    with read_only(www / "locked"):
        code, data = cli(db, "publish", str(release), "--now")
    assert code == 1 and "write access" in data["error"]
    assert [p for p in www.rglob("*") if p.is_file()] == []  # no hidden copy, nothing live
    _, timeline = cli(db, "timeline", str(release))
    kinds = [e["kind"] for e in timeline["events"]]
    assert kinds[-2:] == ["publish.discarded", "publish.failed"]
    (discarded,) = [e for e in timeline["events"] if e["kind"] == "publish.discarded"]
    assert sorted(m["path"] for m in discarded["data"]["manifest"]) == [
        "/locked/b.csv",
        "/statistics/a.csv",
        "/statistics/c.csv",
    ]
