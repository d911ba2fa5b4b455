"""Where staged copies wait, end to end: real nginx serving the file target's web root.

By default a staged copy waits beside its final path, in the served tree: the leak probe fetches
it through the public site before T and records the embargo exposure (an ``early`` breach, cause
"staging exposed"). With ``staging=`` outside the web root the public gets 404 for nothing at
all, and the flip at T is still one rename, on the dot (``test_publish_e2e``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import cli, write_config, write_site_release
from tests.e2e.test_publish_e2e import NEW, PATH, _events
from tests.servers.nginx import Nginx

pytestmark = [pytest.mark.services, pytest.mark.timeout(90)]


def _publish_soon(tmp_path: Path, public: str, target: str) -> tuple[int, dict[str, Any], Path]:
    """``onthedot publish`` of a release due 8 s from now: time, even on a busy machine, to start,
    stage, and run one round of leak probes that ends a second before T."""
    release = write_site_release(
        tmp_path / "rel",
        public=public,
        origin=public,
        release_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8),
        artefacts=[(PATH, NEW, None)],
        target=target,
    )
    config = write_config(tmp_path, "[policy]\n")
    code, data = cli(
        f"sqlite:///{tmp_path / 'store.db'}", "publish", str(release), "--watch", "2", config=config
    )
    return code, data, release


@pytest.mark.parametrize("inside", ["beside the file", "in a staging folder under the web root"])
def test_a_staged_copy_the_web_server_serves_is_an_embargo_exposure_before_t(
    tmp_path: Path, webroot: Path, origin: Nginx, inside: str
) -> None:
    target = f"file://{webroot}"
    if inside != "beside the file":
        target += f"?staging={webroot}/.staging"
    code, data, release = _publish_soon(tmp_path, origin.url, target)
    assert code == 0, json.dumps(data, indent=1)
    events = _events(tmp_path)
    (exposed,) = [e for e in events if e["kind"] == "embargo.exposed"]
    (flipped,) = [e for e in events if e["kind"] == "publish.flipped"]
    assert exposed["at"] < flipped["data"]["release_at"]  # seen, and recorded, before T
    prefix = origin.url + ("/statistics/" if inside == "beside the file" else "/.staging/")
    assert exposed["data"]["url"].startswith(prefix + ".onthedot-")
    assert exposed["data"]["http_status"] == 200 and exposed["data"]["served_bytes"] == len(NEW)
    assert "ask IT now to remove it or block its address" in exposed["data"]["fix"]
    _, found = cli(
        f"sqlite:///{tmp_path / 'store.db'}",
        "breaches",
        str(release),
        config=tmp_path / "onthedot.toml",
    )
    (early,) = [b for b in found["breaches"] if b["kind"] == "early"]
    assert early["cause"] == "staging exposed" and origin.url + PATH in early["urls"]
    assert not [u for u in early["urls"] if ".onthedot-" in u]  # (never the hidden copy's)
