"""The service reads its release files at every tick: an artefact whose size and mtime have not
changed since the last read is not hashed again; a changed one is, and its new hash is used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onthedot import config as config_module
from onthedot.cli.common import State
from tests.conftest import write_release

ARTEFACTS = """
[site]
public = "https://stats.example"

[[artefact]]
path = "/statistics/a.csv"
file = "a.csv"

[[artefact]]
path = "/statistics/b.csv"
file = "b.csv"
"""


def _settled(path: Path, data: bytes, age_s: int) -> None:
    path.write_bytes(data)
    then = path.stat().st_mtime_ns - age_s * 1_000_000_000
    os.utime(path, ns=(then, then))


def test_an_unchanged_artefact_is_not_hashed_again_at_the_next_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "releases"
    write_release(folder, extra=ARTEFACTS)
    _settled(folder / "a.csv", b"a,1\n", 60)
    _settled(folder / "b.csv", b"b,1\n", 60)
    (tmp_path / "onthedot.toml").write_text('releases = ["releases/*.toml"]\n', encoding="utf-8")
    hashed: list[str] = []
    real = config_module.file_sha256

    def counting(path: Path) -> tuple[str, int]:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(config_module, "file_sha256", counting)
    state = State(config_path=tmp_path / "onthedot.toml")

    first = state.release_files_from_config().releases[0]
    assert sorted(hashed) == ["a.csv", "b.csv"]

    hashed.clear()
    again = state.release_files_from_config().releases[0]
    assert hashed == []
    assert [a.sha256 for a in again.artefact] == [a.sha256 for a in first.artefact]

    _settled(folder / "b.csv", b"b,2 (revised)\n", 30)  # a new size and mtime
    changed = state.release_files_from_config().releases[0]
    assert hashed == ["b.csv"]
    assert changed.artefact[0].sha256 == first.artefact[0].sha256
    assert changed.artefact[1].sha256 != first.artefact[1].sha256

    hashed.clear()
    state.release_files_from_config()
    assert hashed == []  # (the revised file's hash was kept; the old one let go)
    assert len(state._digests) == 2
