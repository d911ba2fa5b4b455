"""The folders of a local web root's target (``file://``) before T: a staging folder the target
makes is for the service's user alone, and with ``staging=`` no folder of the release appears in
the web root before the flip (a request for it would answer 403 or 301, not 404, and so tell
that the folder is there)."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from onthedot.adapters import create
from onthedot.errors import TargetError
from onthedot.publish.targets import Target
from tests.publish.conftest import artefact

PATH = "/statistics/2019/fatalquarterly.xlsx"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def target_of(url: str) -> Target:
    target = create("target", url)
    assert isinstance(target, Target)
    return target


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that takes nothing away: what a folder gets is what the target asked for."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


@pytest.mark.usefixtures("open_umask")
async def test_a_staging_folder_the_target_makes_is_for_the_service_alone(tmp_path: Path) -> None:
    local, sha = artefact(tmp_path)
    www, staging = tmp_path / "www", tmp_path / "srv" / "staging"
    www.mkdir(mode=0o755)
    async with target_of(f"file://{www}?staging={staging}") as target:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert mode(staging) == 0o700  # nobody else may list it or open what is in it
        assert mode(Path(staged.location)) == 0o644
        await target.flip(staged)
    placed = www / PATH.lstrip("/")
    assert placed.read_bytes() == local.read_bytes()
    assert mode(placed) == 0o644  # the web server reads it from T
    assert mode(placed.parent) == mode(placed.parent.parent) == 0o755
    assert mode(www) == 0o755 and mode(staging) == 0o700 and list(staging.iterdir()) == []


@pytest.mark.usefixtures("open_umask")
async def test_folders_the_target_did_not_make_keep_their_modes(tmp_path: Path) -> None:
    local, sha = artefact(tmp_path)
    www, staging = tmp_path / "www", tmp_path / "staging"
    www.mkdir(mode=0o775)
    staging.mkdir(mode=0o750)
    (www / "statistics").mkdir(mode=0o751)
    async with target_of(f"file://{www}?staging={staging}") as target:
        await target.flip(await target.stage(PATH, local, sha, secrets.token_hex(16)))
    assert (mode(www), mode(staging), mode(www / "statistics")) == (0o775, 0o750, 0o751)
    assert mode(www / "statistics" / "2019") == 0o755


async def test_without_staging_the_copy_waits_in_a_web_root_folder_made_as_before(
    tmp_path: Path,
) -> None:
    local, sha = artefact(tmp_path)
    (tmp_path / "www").mkdir()
    async with target_of(f"file://{tmp_path}/www") as target:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert mode(tmp_path / "www" / "statistics" / "2019") == 0o755
        await target.flip(staged)
    assert mode(tmp_path / "www" / PATH.lstrip("/")) == 0o644


async def test_with_staging_the_release_folder_is_made_only_at_the_flip_and_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, sha = artefact(tmp_path)
    www, staging = tmp_path / "www", tmp_path / "staging"
    www.mkdir()
    async with target_of(f"file://{www}?staging={staging}") as target:
        staged = await target.stage(PATH, local, sha, secrets.token_hex(16))
        assert list(www.iterdir()) == []  # before T nothing in the web root names the release
        synced: list[str] = []
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        await target.flip(staged)
        assert sorted(synced) == [str(www), str(www / "statistics"), str(www / "statistics/2019")]
        await target.flip(staged)  # again (a crash after the flip): in place, quiet
    assert (www / PATH.lstrip("/")).read_bytes() == local.read_bytes()
    assert mode(www / "statistics") == 0o755 and mode(www / "statistics" / "2019") == 0o755


async def test_a_release_folder_that_could_not_be_made_at_the_flip_is_named_at_staging(
    tmp_path: Path,
) -> None:
    """The folder is made at T, but what would stop it is found while staging, hours before."""
    local, sha = artefact(tmp_path)
    www = tmp_path / "www"
    www.mkdir()
    (www / "statistics").write_bytes(b"a file where a folder is wanted")
    async with target_of(f"file://{www}?staging={tmp_path}/staging") as target:
        with pytest.raises(TargetError, match=r"creating the folder \S*/www/statistics/2019\b"):
            await target.stage(PATH, local, sha, secrets.token_hex(16))
