"""``onthedot verify`` ends its process without the interpreter's teardown (``cli.leave``): what
it wrote and recorded is all there, and its exit code is the command's.

Run as a user runs it (a process of its own, its JSON read from a pipe), since the quick end
happens only in the command's entry point, never under the test runner's in-process invocation.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from onthedot.record import kinds
from onthedot.record.checks import CHUNK
from tests.e2e.helpers import write_site_release
from tests.servers import Nginx

pytestmark = pytest.mark.services
FILES = CHUNK + 100  # recorded in two chunks, the second made while the first is written


def onthedot(*args: str, cwd: Path) -> tuple[int, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "onthedot.cli", *args, "--json"],
        capture_output=True, text=True, cwd=cwd, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_verify_output_and_record_are_complete_and_its_exit_code_kept(
    tmp_path: Path, webroot: Path, origin: Nginx
) -> None:
    files: list[tuple[str, bytes | None, str | None]] = []
    (webroot / "f").mkdir()
    for i in range(FILES):
        data = os.urandom(2048)
        if i < FILES - 1:  # the last one is not uploaded: missing, exit 1
            (webroot / "f" / f"{i}.bin").write_bytes(data)
        files.append((f"/f/{i}.bin", data, None))
    release = write_site_release(
        tmp_path / "rel", public=origin.url, origin=None, artefacts=files,
        release_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )  # fmt: skip
    db = ["--database", f"sqlite:///{tmp_path / 'store.db'}"]

    code, report = onthedot(*db, "verify", str(release), cwd=tmp_path)

    statuses = [r["status"] for r in report["results"]]
    assert (code, len(statuses)) == (1, FILES)  # every result written out, exit 1 for the breach
    assert statuses.count("live") == FILES - 1 and statuses[-1] == "missing"
    code, timeline = onthedot(*db, "timeline", str(release), "--verify", cwd=tmp_path)
    assert code == 0 and timeline["chain"]["ok"]
    recorded = [e["kind"] for e in timeline["events"]]
    assert recorded.count(kinds.VERIFY_RESULT) == FILES  # every status recorded before the end
    assert recorded.count(kinds.VERIFY_FIRST_LIVE) == FILES - 1
