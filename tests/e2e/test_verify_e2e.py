"""``onthedot verify`` through real nginx (origin) and real Varnish (cache), as the public sees it."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from onthedot.cli import app
from tests.e2e.helpers import cli, fetch, runner, write_config, write_site_release
from tests.servers.nginx import Nginx
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

OLD = b"old spreadsheet, April to June 2019" * 100
NEW = b"new spreadsheet, April to September 2019" * 100
PATH = "/statistics/fatalquarterly.xlsx"


def put(webroot: Path, path: str, data: bytes) -> None:
    target = webroot / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _spreadsheet_release(
    folder: Path, varnish: Varnish, origin: Nginx, release_at: dt.datetime, **extra: Any
) -> Path:
    """The seed's release: the new spreadsheet at PATH, behind ``varnish`` in front of ``origin``."""
    return write_site_release(
        folder,
        public=varnish.url,
        origin=origin.url,
        release_at=release_at,
        artefacts=[(PATH, NEW, None)],
        **extra,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_the_seed_scenario_is_stale_until_purged(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    put(webroot, PATH, OLD)
    assert fetch(varnish.url + PATH)[1] == OLD  # the cache holds the old version (1-hour TTL)
    release_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    release = _spreadsheet_release(
        tmp_path / "rel",
        varnish,
        origin,
        release_at,
    )

    config = write_config(tmp_path)
    code, data = cli(db, "verify", str(release), config=config)  # nothing uploaded: origin old too
    (result,) = data["results"]
    assert (code, data["phase"], result["status"], result["layer"]) == (
        1,
        "after",
        "stale",
        "origin",
    )
    assert "origin" in result["diagnosis"] and "upload" in result["diagnosis"]

    put(webroot, PATH, NEW)  # the FTP upload at 09:30: the origin has the new file
    code, data = cli(db, "verify", str(release), config=config)
    (result,) = data["results"]
    assert (code, result["status"], result["layer"]) == (1, "stale", "cache")
    sentence = result["diagnosis"]
    assert "Varnish" in sentence and "origin" in sentence and "new" in sentence
    assert "Age" in sentence and "3,600" in sentence and "purge" in sentence.lower()
    assert result["served_sha256"] != result["expected_sha256"]
    assert result["cache"]["age"] is not None

    status, _, _ = fetch(varnish.url + PATH, method="PURGE")
    assert status == 200
    code, data = cli(db, "verify", str(release))
    (result,) = data["results"]
    assert (code, result["status"], data["ok"]) == (0, "live", True)
    assert result["served_sha256"] == result["expected_sha256"]


def test_before_t_embargoed_or_early(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    put(webroot, PATH, OLD)
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    release = _spreadsheet_release(
        tmp_path / "rel",
        varnish,
        origin,
        release_at,
    )
    code, data = cli(db, "verify", str(release))
    assert (code, data["phase"], data["results"][0]["status"]) == (0, "before", "embargoed")
    put(webroot, PATH, NEW)
    fetch(varnish.url + PATH, method="PURGE")
    code, data = cli(db, "verify", str(release))
    (result,) = data["results"]
    assert (code, result["status"]) == (1, "early")
    assert "before" in result["diagnosis"]


def test_missing_and_error(
    tmp_path: Path, webroot: Path, start_server: Callable[[Nginx], Nginx], db: str
) -> None:
    server = start_server(
        Nginx(webroot, extra_server_conf="location = /broken.csv { return 500; }")
    )
    release = write_site_release(
        tmp_path / "rel",
        public=server.url,
        origin=None,
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        artefacts=[("/absent.csv", b"a,b\n", None), ("/broken.csv", b"c,d\n", None)],
    )
    code, data = cli(db, "verify", str(release))
    statuses = {r["url"].rsplit("/", 1)[1]: r["status"] for r in data["results"]}
    assert code == 1 and statuses == {"absent.csv": "missing", "broken.csv": "error"}
    assert all(r["diagnosis"] for r in data["results"])


def test_page_with_linked_files_and_foreign_links(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    page = (
        b"<html><body><h1>Fatal injuries: April to September 2019</h1>"
        b'<a href="/statistics/fatalquarterly.xlsx">Tables</a>'
        b'<a href="http://elsewhere.invalid/steal.csv">foreign</a></body></html>'
    )
    put(webroot, PATH, OLD)
    put(webroot, "/statistics/fatals.htm", page)
    assert fetch(varnish.url + PATH)[1] == OLD  # cached old
    put(webroot, PATH, NEW)
    release = write_site_release(
        tmp_path / "rel",
        public=varnish.url,
        origin=origin.url,
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
        artefacts=[("/statistics/fatals.htm", None, "April to September 2019")],
    )
    code, data = cli(db, "verify", str(release))
    by_url = {r["url"]: r for r in data["results"]}
    assert by_url[varnish.url + "/statistics/fatals.htm"]["status"] == "live"
    linked = by_url[varnish.url + PATH]
    assert (code, linked["status"], linked["layer"]) == (1, "stale", "cache")
    assert not any("elsewhere.invalid" in url for url in by_url)


def test_unknown_release_is_exit_2(db: str) -> None:
    code, data = cli(db, "verify", "no-such-release")
    assert code == 2 and "is not a release file or a known release id" in data["error"]


def test_preflight_predicts_the_seed_failure(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    put(webroot, PATH, OLD)
    fetch(varnish.url + PATH)  # in the cache, as on the morning of 18 December 2019
    release_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    release = _spreadsheet_release(
        tmp_path / "rel",
        varnish,
        origin,
        release_at,
    )
    config = write_config(tmp_path)
    code, data = cli(db, "preflight", str(release), config=config)
    cache_rows = [r for r in data["results"] if r.get("layer", "cache") == "cache"]
    assert code == 1 and data["ok"] is False
    (row,) = cache_rows
    assert row["risk"] == "stale-after-T" and row["stale_until"]
    assert "purge" in row["fix"].lower() or "purger" in row["fix"].lower()
    with_purger = _spreadsheet_release(
        tmp_path / "rel2",
        varnish,
        origin,
        release_at,
        purge=(f"varnish://{varnish.host}:{varnish.port}",),
        id="with-purger",
    )
    code, data = cli(db, "preflight", str(with_purger), config=config)
    (row,) = [r for r in data["results"] if r.get("layer", "cache") == "cache"]
    assert row["risk"] == "none"


SOFT_404 = (
    b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><style>"
    + b"body{margin:0}" * 300  # a CMS's inline styles before the title
    + b"</style><title>Page not found - Example</title></head><body><h1>Sorry</h1></body></html>"
)


@pytest.mark.parametrize("with_origin", [True, False], ids=["origin", "no-origin"])
def test_a_file_answered_by_a_200_not_found_page_is_missing_not_stale(
    tmp_path: Path, webroot: Path, origin: Nginx, db: str, with_origin: bool
) -> None:
    """docs/verification.md: missing is "404/410 (or a 200 "not found" page)", for files too."""
    put(webroot, PATH, SOFT_404)  # the CMS's catch-all answer where the upload should be
    release = write_site_release(
        tmp_path / "rel",
        public=origin.url,
        origin=origin.url if with_origin else None,
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5),
        artefacts=[(PATH, NEW, None)],
    )
    code, data = cli(db, "verify", str(release))
    (result,) = data["results"]
    assert (code, result["status"], result["layer"]) == (1, "missing", "origin")
    assert "(a 200 page saying it was not found)" in result["diagnosis"]
    assert ("origin" in result["diagnosis"]) is with_origin


def test_preflight_that_could_read_nothing_says_so_and_exits_1(tmp_path: Path, db: str) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    release = write_site_release(
        tmp_path / "rel",
        public=closed,
        origin=None,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[(PATH, NEW, None), ("/statistics/other.csv", b"x", None)],
    )
    code, data = cli(db, "preflight", str(release))
    assert (code, data["ok"]) == (1, False)
    assert data["error"].startswith(
        "Preflight could read none of the 2 URL(s) of fatal-injuries-2019-apr-sep, so it predicts "
        "nothing: nothing accepted a connection to 127.0.0.1:"
    )
    assert [r["risk"] for r in data["results"]] == ["unknown", "unknown"]
    human = runner.invoke(app, ["--database", db, "preflight", str(release)])
    assert (
        human.exit_code == 1 and "Error: Preflight could read none of the 2 URL(s)" in human.stderr
    )


def test_diff_cached_against_uncached(
    webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    put(webroot, PATH, OLD)
    code, data = cli(db, "diff", origin.url + PATH, varnish.url + PATH, "--interval", "1.1")
    assert code == 1 and data["same"] is False
    aspects = {d["aspect"] for d in data["differences"]}
    assert any("layer" in a or "cache" in a.lower() for a in aspects), aspects
    assert all(d["why_it_matters"] for d in data["differences"])
    code, data = cli(db, "diff", origin.url + PATH, origin.url + PATH, "--interval", "0.5")
    assert code == 0 and data["same"] is True


def test_diff_recorded_on_a_release_fills_the_report_s_uat_section(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    put(webroot, PATH, OLD)
    release = _spreadsheet_release(
        tmp_path / "rel", varnish, origin, dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    )
    refused = runner.invoke(
        app,
        [
            "--database",
            db,
            "diff",
            origin.url + PATH,
            varnish.url + PATH,
            "--release",
            str(release),
        ],
    )
    assert refused.exit_code == 2 and "--by NAME" in refused.stderr
    code, _ = cli(
        db, "diff", origin.url + PATH, varnish.url + PATH, "--interval", "1.1",
        "--release", str(release), "--by", "HSE online publishing team",
    )  # fmt: skip
    assert code == 1
    _, shown = cli(db, "timeline", str(release))
    (uat,) = [e for e in shown["events"] if e["kind"] == "uat.checked"]
    assert uat["data"]["same"] is False and uat["data"]["uat"] == origin.url + PATH
    assert uat["data"]["text"].startswith(
        "a comparison of the test (UAT) environment with the live website found that they "
        "differ in "
    )
    out = tmp_path / "report.md"
    made = runner.invoke(
        app, ["--database", db, "report", str(release), "--format", "md", "-o", str(out)]
    )
    assert made.exit_code == 0, made.output
    report = " ".join(out.read_text(encoding="utf-8").split())
    # (no breach here, so it is in the record's annex; with one, also in the UAT section, which
    # reads the same kind of entry as `timeline-add uat` makes)
    assert (
        "HSE online publishing team recorded whether the test (UAT) environment shows the fault: "
        "a comparison of the test (UAT) environment with the live website found that they differ "
        "in whether a cache answers" in report
    )


def test_a_changed_artefact_is_hashed_again_and_the_timeline_still_verifies(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish, db: str
) -> None:
    """The store remembers each file's SHA-256 by size and mtime; a file replaced by another of
    the same size is noticed by its mtime, and the recorded events keep their hash chain."""
    release_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    release = _spreadsheet_release(tmp_path / "rel", varnish, origin, release_at)
    local = tmp_path / "rel" / "artefact-0.xlsx"
    os.utime(local, ns=(1_000_000_000, 1_000_000_000))  # settled long ago: remembered
    put(webroot, PATH, NEW)
    config = write_config(tmp_path)
    for _ in range(2):  # hashed, then taken from the store
        code, data = cli(db, "verify", str(release), config=config)
        assert (code, data["results"][0]["status"]) == (0, "live")
    same_size = NEW.replace(b"new", b"NEW")
    local.write_bytes(same_size)
    os.utime(local, ns=(2_000_000_000, 2_000_000_000))
    code, data = cli(db, "verify", str(release), config=config)
    (result,) = data["results"]
    assert (code, result["status"]) == (1, "stale")
    assert result["expected_sha256"] == hashlib.sha256(same_size).hexdigest()
    code, data = cli(db, "timeline", str(release), "--verify", config=config)
    assert (code, data["chain"]["ok"]) == (0, True)
    kinds = [e["kind"] for e in data["events"]]
    # live, live again (nothing new), stale: two changes of status, one first sight of live
    assert kinds.count("verify.result") == 2 and kinds.count("verify.first-live") == 1


def _stored_checks(db: str) -> int:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        (count,) = conn.execute("SELECT count(*) FROM checks").fetchone()
    return int(count)


def _events(db: str, release: Path) -> list[dict[str, Any]]:
    code, data = cli(db, "timeline", str(release), "--verify")
    assert (code, data["chain"]["ok"]) == (0, True)
    return [e for e in data["events"] if e["kind"].startswith("verify.")]


def test_verify_again_records_every_check_but_only_what_changed(
    tmp_path: Path, webroot: Path, origin: Nginx, db: str
) -> None:
    """Issue 10: each run stores its checks (the evidence), but the timeline gets a status only
    when it changed since the stored one, and a URL's first sight of live only once."""
    tables, page = "/statistics/tables.csv", "/statistics/summary.csv"
    put(webroot, tables, NEW)
    put(webroot, page, NEW)
    release = write_site_release(
        tmp_path / "rel",
        public=origin.url,
        origin=None,
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5),
        artefacts=[(tables, NEW, None), (page, NEW, None)],
    )
    assert cli(db, "verify", str(release))[0] == 0
    first = _events(db, release)
    assert sorted(e["kind"] for e in first) == ["verify.first-live"] * 2 + ["verify.result"] * 2

    assert cli(db, "verify", str(release))[0] == 0  # nothing changed
    assert _stored_checks(db) == 4 and _events(db, release) == first

    put(webroot, page, OLD)  # someone puts the old file back at one URL
    code, data = cli(db, "verify", str(release))
    statuses = sorted(r["status"] for r in data["results"])
    assert (code, statuses, _stored_checks(db)) == (1, ["live", "stale"], 6)
    (stale,) = _events(db, release)[len(first) :]
    assert (stale["kind"], stale["data"]["url"], stale["data"]["status"]) == (
        "verify.result",
        origin.url + page,
        "stale",
    )

    put(webroot, page, NEW)
    assert cli(db, "verify", str(release))[0] == 0
    (live,) = _events(db, release)[len(first) + 1 :]  # live again: no second first-live
    assert (live["kind"], live["data"]["url"], live["data"]["status"]) == (
        "verify.result",
        origin.url + page,
        "live",
    )
    firsts = [e["data"] for e in _events(db, release) if e["kind"] == "verify.first-live"]
    assert firsts == [e["data"] for e in first if e["kind"] == "verify.first-live"]
    assert _stored_checks(db) == 8
