"""The service reads its release files at every tick: an artefact whose size and mtime have not
changed since the last read is not hashed again; a changed one is, and its new hash is used. A
release file that did not change, nor its artefact files, is not parsed again."""

from __future__ import annotations

import hashlib
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


def _settled_release(folder: Path) -> Path:
    """A release file and its two artefact files, a minute old."""
    release_file = write_release(folder, extra=ARTEFACTS)
    _settled(release_file, release_file.read_bytes(), 60)
    _settled(folder / "a.csv", b"a,1\n", 60)
    _settled(folder / "b.csv", b"b,1\n", 60)
    return release_file


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
    release_file = _settled_release(folder)
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


def test_an_artefact_moved_in_with_the_same_size_and_mtime_is_hashed_again(
    tmp_path: Path,
) -> None:
    """A correction moved in over an artefact (cp -p, rsync -a, a reproducible archive unpacked):
    the same size and mtime, another file."""
    folder = tmp_path / "releases"
    _settled_release(folder)
    (tmp_path / "onthedot.toml").write_text('releases = ["releases/*.toml"]\n', encoding="utf-8")
    state = State(config_path=tmp_path / "onthedot.toml")
    state.release_files_from_config()
    corrected = tmp_path / "b.new"
    corrected.write_bytes(b"b,2\n")
    old = (folder / "b.csv").stat().st_mtime_ns
    os.utime(corrected, ns=(old, old))
    corrected.replace(folder / "b.csv")
    again = state.release_files_from_config().releases[0]
    assert again.artefact[1].sha256 == hashlib.sha256(b"b,2\n").hexdigest()


def test_a_release_folder_swapped_under_a_link_is_read_from_the_new_folder(
    tmp_path: Path,
) -> None:
    """An atomic deploy: releases/current → v1 swapped to → v2, made with cp -al or rsync
    --link-dest (the release file and the unchanged artefact hard-linked, the revised one new)."""
    releases = tmp_path / "releases"
    v1, v2 = releases / "v1", releases / "v2"
    release_file = _settled_release(v1)
    (releases / "current").symlink_to("v1")
    config = tmp_path / "onthedot.toml"
    config.write_text('releases = ["releases/current/*.toml"]\n', encoding="utf-8")
    state = State(config_path=config)
    state.release_files_from_config()
    v2.mkdir()
    os.link(release_file, v2 / release_file.name)
    os.link(v1 / "a.csv", v2 / "a.csv")
    _settled(v2 / "b.csv", b"b,2 revised\n", 30)
    (releases / "current.new").symlink_to("v2")
    (releases / "current.new").replace(releases / "current")
    swapped = state.release_files_from_config().releases[0]
    assert swapped.source == (v2 / release_file.name).resolve()
    assert [a.local_path for a in swapped.artefact] == [
        (v2 / "a.csv").resolve(),
        (v2 / "b.csv").resolve(),
    ]
    assert swapped.artefact[1].sha256 == hashlib.sha256(b"b,2 revised\n").hexdigest()
    (v2 / "b.csv").unlink()  # (the one file new in v2 moved back: the folder alone differs)
    os.link(v1 / "b.csv", v2 / "b.csv")
    state.release_files_from_config()
    (releases / "current.new").symlink_to("v1")
    (releases / "current.new").replace(releases / "current")
    back = state.release_files_from_config().releases[0]
    assert back.source == release_file.resolve()
    assert [a.local_path for a in back.artefact] == [
        (v1 / "a.csv").resolve(),
        (v1 / "b.csv").resolve(),
    ]
