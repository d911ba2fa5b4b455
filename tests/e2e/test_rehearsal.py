"""``onthedot rehearse``: the release morning rehearsed on the live website with a test file,
through real nginx and Varnish. A healthy site is ready; the faults a test server does not have
(a web server keeping the file it had open, no purge in front of a long-lived cache, a waiting
copy the public can open) are each found and told in plain words, before the day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from onthedot.cli import app
from tests.e2e.helpers import cli, fetch, write_config, write_site_release
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer
from tests.servers.varnish import Varnish

pytestmark = pytest.mark.services

PATH = "/statistics/fatalquarterly.xlsx"
TEST_FILE = "/statistics/release-rehearsal.txt"


def _release(
    tmp_path: Path,
    webroot: Path,
    origin: Nginx,
    cache: Varnish,
    *,
    purge: bool = True,
    staging: bool = True,
) -> tuple[Path, Path]:
    """A release whose files go into nginx's web root (its staged copies outside it, unless
    ``staging`` is off), behind Varnish (purged at T unless ``purge`` is off); its config."""
    (webroot / "statistics").mkdir(exist_ok=True)
    target = f"file://{webroot}"
    if staging:
        (tmp_path / "staging").mkdir(exist_ok=True)
        target += f"?staging={tmp_path / 'staging'}"
    release = write_site_release(
        tmp_path / "releases",
        public=cache.url,
        origin=origin.url,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
        artefacts=[(PATH, b"the new spreadsheet", None)],
        target=target,
        purge=(f"varnish://{cache.host}:{cache.port}",) if purge else (),
    )
    return release, write_config(tmp_path)


def _rehearse(
    release: Path, config: Path, tmp_path: Path, *args: str
) -> tuple[int, dict[str, Any]]:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    return cli(db, "rehearse", str(release), *args, config=config)


def test_a_healthy_site_sees_the_change_at_once_and_nothing_of_the_release_is_touched(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    release, config = _release(tmp_path, webroot, origin, varnish)
    code, said = _rehearse(release, config, tmp_path)
    assert code == 0, said
    assert said["ok"] is True and said["live"] is True and said["findings"] == []
    assert said["stage"] == "second" and said["url"] == varnish.url + TEST_FILE
    assert 0 <= said["reached_after_s"] < 5
    assert set(said["seen"]) == {"default"}
    assert "reached the public" in said["summary"] and "ready" in said["summary"]
    # the public has the second version, through the cache; the release's own file is not there
    status, body, _ = fetch(varnish.url + TEST_FILE)
    assert status == 200 and b"version 2" in body
    assert not (webroot / PATH.lstrip("/")).exists()
    # the release's record holds nothing of the rehearsal
    code, timeline = cli(
        f"sqlite:///{tmp_path / 'store.db'}", "timeline", str(release), config=config
    )
    assert code == 0 and timeline["events"] == []
    # a person reads the same in sentences, with no markup lost
    db = f"sqlite:///{tmp_path / 'store.db'}"
    human = CliRunner().invoke(
        app, ["--config", str(config), "--database", db, "rehearse", str(release)]
    )
    assert human.exit_code == 0, human.stdout
    assert "A test file changed on the website at" in human.stdout
    assert "this website is ready" in human.stdout
    # it never replaces anything else on the website, and says who ran it if asked to record
    (webroot / "statistics" / "index.html").write_bytes(b"<html>the team's page</html>")
    for path, why in [
        (PATH, "is one of fatal-injuries-2019-apr-sep's own files"),
        ("/statistics/index.html", "There is already a file at"),  # (asked of the origin)
    ]:
        code, said = _rehearse(release, config, tmp_path, "--path", path)
        assert code == 2 and why in said["error"], said
    assert (webroot / "statistics" / "index.html").read_bytes() == b"<html>the team's page</html>"
    code, said = _rehearse(release, config, tmp_path, "--by", "  ")
    assert code == 2 and "--by is empty" in said["error"], said


def test_a_web_server_keeping_the_file_it_had_open_is_found_before_the_day(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    """The fault of December 2019, which the test server did not have: nginx keeps serving the
    file it had open (open_file_cache, with its default of a minute before it looks at the path
    again) after the new one is put in place, and the cache, purged on the dot, fetches that old
    file again. nginx first opens the test file when its first version goes live, a few seconds
    before the second is put in place, so it still holds that file then, however busy the
    machine (with a validity of a few seconds, whether it did was a matter of timing)."""
    origin = start_server(
        Nginx(
            webroot,
            extra_server_conf="open_file_cache max=100 inactive=60s;\nopen_file_cache_valid 60s;",
        )
    )
    cache = start_server(Varnish(origin.host, origin.port, default_ttl=3600))
    release, config = _release(tmp_path, webroot, origin, cache)
    code, said = _rehearse(release, config, tmp_path, "--limit", "4", "--by", "HSE IT")
    assert code == 1, said
    assert said["ok"] is False and said["live"] is False and said["stage"] == "second", said
    assert said["causes"][0] == "origin", said
    assert any("web server" in f for f in said["findings"]), said
    assert "had not reached the public 4 seconds later" in said["summary"]
    assert "Put this right with IT before the release day" in said["summary"]
    # with --by, what it found is on the release's own timeline, in the record's words
    code, timeline = cli(
        f"sqlite:///{tmp_path / 'store.db'}", "timeline", str(release), config=config
    )
    (done,) = [e for e in timeline["events"] if e["kind"] == "rehearsal.done"]
    assert done["actor"] == "HSE IT" and done["data"]["causes"] == said["causes"]
    assert "the web server itself kept serving the old file" in done["data"]["text"]


def test_a_long_lived_cache_with_no_purge_keeps_the_old_version(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    release, config = _release(tmp_path, webroot, origin, varnish, purge=False)
    code, said = _rehearse(release, config, tmp_path, "--limit", "4")
    assert code == 1, said
    assert said["live"] is False and said["reached_after_s"] is None
    assert said["stage"] == "second", said  # (the first version was new to the cache)
    assert any(f.startswith("The cache (Varnish) served the old file") for f in said["findings"])
    assert "had not reached the public 4 seconds later" in said["summary"]


def test_a_waiting_copy_the_public_can_open_is_told(
    tmp_path: Path, webroot: Path, origin: Nginx, varnish: Varnish
) -> None:
    """Staged beside the live files, in the web root nginx serves: the copy waiting for its
    time can be opened by anyone who guesses its name."""
    release, config = _release(tmp_path, webroot, origin, varnish, staging=False)
    code, said = _rehearse(release, config, tmp_path)
    assert code == 1, said
    assert said["live"] is True
    assert any("could be opened on the public website" in f for f in said["findings"]), said


def test_a_release_another_system_publishes_or_with_nowhere_to_go_is_refused(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "releases"
    release = write_site_release(
        folder,
        public="http://127.0.0.1:9",
        origin=None,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3),
        artefacts=[(PATH, b"x", None)],
    )
    config = write_config(tmp_path)
    code, said = _rehearse(release, config, tmp_path)
    assert code == 2, said
    assert "has no target" in said["error"] and "[site]" in said["error"]
    text = release.read_text(encoding="utf-8").replace(
        "[site]\n", '[site]\npublished_by = "the web team\'s CMS"\n'
    )
    release.write_text(text, encoding="utf-8")
    code, said = _rehearse(release, config, tmp_path)
    assert code == 2, said
    assert "publishes" in said["error"], json.dumps(said)
