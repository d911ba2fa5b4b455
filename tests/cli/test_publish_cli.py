"""``onthedot publish`` refuses only input it cannot act on, with exit 2 and one sentence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.e2e.helpers import cli, write_site_release


def test_files_but_no_target_is_exit_2(tmp_path: Path) -> None:
    release = write_site_release(
        tmp_path,
        public="http://127.0.0.1:9",
        origin=None,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[("/x.csv", b"a,b\n", None)],
    )
    code, data = cli(f"sqlite:///{tmp_path / 's.db'}", "publish", str(release), "--now")
    assert code == 2
    assert data["error"].endswith('set [site] target, e.g. target = "ftp://publisher@host/".')


def test_unknown_adapter_scheme_is_exit_2(tmp_path: Path) -> None:
    release = write_site_release(
        tmp_path,
        public="http://127.0.0.1:9",
        origin=None,
        target="sftpp://u@host/",
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[("/x.csv", b"a,b\n", None)],
    )
    code, data = cli(f"sqlite:///{tmp_path / 's.db'}", "publish", str(release), "--now")
    assert code == 2 and "sftp" in data["error"]


def test_unreachable_target_is_a_recorded_failure(tmp_path: Path) -> None:
    release = write_site_release(
        tmp_path,
        public="http://127.0.0.1:9",
        origin=None,
        target="ftp://u:p@127.0.0.1:9/?timeout=2",
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        artefacts=[("/x.csv", b"a,b\n", None)],
    )
    db = f"sqlite:///{tmp_path / 's.db'}"
    code, data = cli(db, "publish", str(release), "--now")
    assert code == 1 and "127.0.0.1" in data["error"] and ":p@" not in data["error"]
    code, timeline = cli(db, "timeline", str(release))
    kinds = [e["kind"] for e in timeline["events"]]
    assert "publish.failed" in kinds
