"""Staging from the user's side: a staging that fails leaves no hidden copy anywhere; ``check``
and ``preflight`` warn when staged copies would wait where the web server serves them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.e2e.helpers import cli, write_site_release
from tests.publish.conftest import read_only
from tests.servers.nginx import Nginx

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


def _release_for(tmp_path: Path, public: str, target: str) -> Path:
    return write_site_release(
        tmp_path / "rel",
        public=public,
        origin=None,
        target=target,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
        artefacts=[("/statistics/a.csv", b"a,b\n1,2\n", None)],
    )


@pytest.mark.parametrize(
    ("staging", "warned"),
    [("", True), ("?staging={tmp}/www/.staging", True), ("?staging={tmp}/staging", False)],
    ids=["beside", "under-the-root", "outside"],
)
def test_check_warns_when_staged_copies_would_wait_in_the_served_tree(
    tmp_path: Path, staging: str, warned: bool
) -> None:
    (tmp_path / "www").mkdir()
    target = f"file://{tmp_path}/www" + staging.format(tmp=tmp_path)
    release = _release_for(tmp_path, "http://127.0.0.1:9", target)
    code, data = cli(f"sqlite:///{tmp_path / 's.db'}", "check", str(release))
    assert code in (0, 1), data  # a warning never blocks
    (checked,) = data["releases"]
    found = [f for f in checked["findings"] if f["rule"] == "publish.staging"]
    assert [f["severity"] for f in found] == (["warning"] if warned else [])
    if warned:
        assert "inside the served web root" in found[0]["message"]
        assert found[0]["message"].endswith("to a folder outside the web root on the same server.")


@pytest.mark.services
def test_preflight_warns_when_staged_copies_would_wait_in_the_served_tree(
    tmp_path: Path, webroot: Path, origin: Nginx
) -> None:
    release = _release_for(tmp_path, origin.url, f"file://{webroot}")
    _, data = cli(f"sqlite:///{tmp_path / 's.db'}", "preflight", str(release))
    (warning,) = data["warnings"]
    assert "set staging= on the target" in warning
    outside = _release_for(tmp_path / "2", origin.url, f"file://{webroot}?staging={tmp_path}/st")
    _, data = cli(f"sqlite:///{tmp_path / 's2.db'}", "preflight", str(outside))
    assert data["warnings"] == []
