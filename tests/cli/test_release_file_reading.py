"""The service reads its release files at every tick: an artefact whose size and mtime have not
changed since the last read is not hashed again; a changed one is, and its new hash is used. A
release file that did not change, nor its artefact files, is not parsed again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from onthedot import config as config_module
from onthedot.cli.common import State
from onthedot.model import Release
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


def test_a_release_file_is_parsed_again_only_when_it_or_an_artefact_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "releases"
    release_file = write_release(folder, extra=ARTEFACTS)
    _settled(release_file, release_file.read_bytes(), 60)
    _settled(folder / "a.csv", b"a,1\n", 60)
    _settled(folder / "b.csv", b"b,1\n", 60)
    (tmp_path / "onthedot.toml").write_text('releases = ["releases/*.toml"]\n', encoding="utf-8")
    parsed: list[str] = []
    hashed: list[str] = []
    real_load, real_hash = config_module.load_release, config_module.file_sha256

    def counting_load(path: Path, *args: Any) -> Release:
        parsed.append(path.name)
        return real_load(path, *args)

    def counting_hash(path: Path) -> tuple[str, int]:
        hashed.append(path.name)
        return real_hash(path)

    monkeypatch.setattr(config_module, "load_release", counting_load)
    monkeypatch.setattr(config_module, "file_sha256", counting_hash)
    state = State(config_path=tmp_path / "onthedot.toml")

    def read() -> Release:
        parsed.clear()
        hashed.clear()
        return state.release_files_from_config().releases[0]

    first = read()
    assert parsed == ["fatal-injuries.toml"] and sorted(hashed) == ["a.csv", "b.csv"]
    assert read() is first and parsed == [] and hashed == []  # nothing changed: nothing read

    _settled(
        folder / "b.csv", b"b,2 (revised)\n", 30
    )  # an artefact file changed, not the release's
    revised = read()
    assert parsed == ["fatal-injuries.toml"] and hashed == ["b.csv"]
    assert revised.artefact[1].sha256 != first.artefact[1].sha256
    assert read() is revised and parsed == []

    # a new version moved in over it: the same size and an old mtime, another file (inode)
    text = release_file.read_text(encoding="utf-8").replace("Fatal", "Fetal")
    moved_in = tmp_path / "new.toml"
    _settled(moved_in, text.encode(), 60)
    os.utime(moved_in, ns=(release_file.stat().st_mtime_ns,) * 2)
    moved_in.replace(release_file)
    renamed = read()
    assert parsed == ["fatal-injuries.toml"] and hashed == []  # (its artefacts' hashes kept)
    assert renamed.title.startswith("Fetal")

    release_file.write_text(text.replace("Fetal", "Fatal"), encoding="utf-8")  # just now
    assert read().title.startswith("Fatal") and parsed == ["fatal-injuries.toml"]
    read()
    assert parsed == ["fatal-injuries.toml"]  # changed too recently to be kept: read again
