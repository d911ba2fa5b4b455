"""One bad release file is one bad file: each loads on its own, and nothing in one ends a run."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from onthedot.config import load_config, load_release, read_releases
from onthedot.errors import ReleaseFileError
from tests.conftest import write_release


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ReleaseFileError) as info:
        load_release(path)
    return info.value.problems


def test_a_byte_order_mark_is_accepted_in_a_release_file_and_in_the_config(
    tmp_path: Path,
) -> None:
    path = write_release(tmp_path)
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    release = load_release(path)
    assert release.id == "fatal-injuries"
    assert release.line_of("id") == 1
    config = tmp_path / "onthedot.toml"
    config.write_bytes(
        codecs.BOM_UTF8 + b'releases = ["*.toml"]\n[policy]\nzone = "Europe/Dublin"\n'
    )
    assert load_config(config).policy.zone == "Europe/Dublin"


@pytest.mark.parametrize(
    "body",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "x = " + "{a = " * 50_000 + "1" + "}" * 50_000,
        "title = " + "[" * 100_000,
    ],
    ids=["arrays", "inline-tables", "unclosed"],
)
def test_nesting_too_deep_to_parse_is_a_problem_of_that_file(tmp_path: Path, body: str) -> None:
    path = tmp_path / "nested.toml"
    path.write_text(body, encoding="utf-8")
    assert problems_of(path) == [
        f"{path}:1: the file nests brackets too deeply to be read: a release file needs none."
    ]


def test_a_pipe_or_a_missing_file_is_refused_without_waiting(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)  # opening it would wait for a writer for ever
    assert problems_of(pipe) == [f"{pipe}:1: this is not a file: give the path of a release file."]
    dangling = tmp_path / "gone.toml"
    dangling.symlink_to(tmp_path / "moved-away.toml")
    assert problems_of(dangling) == [
        f"{dangling}:1: cannot read the file (No such file or directory): check the path."
    ]


def test_each_file_loads_on_its_own(tmp_path: Path) -> None:
    good = write_release(tmp_path, id="good")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('id = "bad"\ntitle = \n', encoding="utf-8")
    nested = tmp_path / "nested.toml"
    nested.write_text("x = " + "[" * 100_000 + "]" * 100_000, encoding="utf-8")
    twin = write_release(tmp_path, id="good", name="twin.toml")
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * 2_000_000)
    files = read_releases([good, bad_toml, nested, twin, huge])
    assert [r.id for r in files.releases] == ["good"]
    assert list(files.broken) == [bad_toml, nested, twin, huge]
    assert files.broken[bad_toml][0].startswith(f"{bad_toml}:2: invalid TOML")
    assert files.broken[twin] == [
        f"{twin}:1: id: 'good' is already used by {good}: give each release its own id."
    ]
    assert "2,000,002 bytes, far too large" in files.broken[huge][0]
    assert len(files.problems()) == 4


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PermissionError(13, "Permission denied"), "permission denied"),
        (FileNotFoundError(2, "No such file or directory"), "no such file or directory"),
    ],
)
def test_an_artefact_that_cannot_be_read_is_a_problem_of_its_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, reason: str
) -> None:
    # (readable to the stat that finds it, not to the read that hashes it: another user's file
    # with mode 0600, or one removed in between; as root every file reads, so the read is made
    # to fail here)
    from onthedot import config

    plain = config.file_sha256

    def reading(path: Path) -> tuple[str, int]:
        if path.name == "locked.csv":
            raise error
        return plain(path)

    monkeypatch.setattr(config, "file_sha256", reading)
    extra = '\n[[artefact]]\nfile = "{}"\npath = "/statistics/{}"\n'
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "locked.csv").write_bytes(b"new")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "open.csv").write_bytes(b"new")
    locked = write_release(tmp_path / "a", id="locked", extra=extra.format("locked.csv", "a.csv"))
    other = write_release(tmp_path / "b", id="other", extra=extra.format("open.csv", "b.csv"))
    files = read_releases([locked, other])
    assert [r.id for r in files.releases] == ["other"]
    (problem,) = files.broken[locked]
    line = locked.read_text(encoding="utf-8").splitlines().index('file = "locked.csv"') + 1
    assert problem == (
        f"{locked}:{line}: artefact[0].file: 'locked.csv' cannot be read ({reason}): give the "
        "service permission to read it, or put it back"
    )


def test_a_file_name_with_a_nul_or_a_time_out_of_range_is_that_files_problem(
    tmp_path: Path,
) -> None:
    """TOML allows ``\\u0000`` in a string and times near year 9999; neither may reach the file
    system or the clock as they are (each raised there, and no release file loaded)."""
    nul = write_release(
        tmp_path / "a",
        id="nul",
        extra='\n[[artefact]]\nfile = "x\\u0000.csv"\npath = "/statistics/x.csv"\n',
    )
    late = write_release(tmp_path / "b", id="late", release_at="9999-12-31T23:30:00-01:00")
    good = write_release(tmp_path / "c", id="good")
    files = read_releases([nul, late, good])
    assert [r.id for r in files.releases] == ["good"]
    (nul_problem,) = files.broken[nul]
    line = nul.read_text(encoding="utf-8").splitlines().index('file = "x\\u0000.csv"') + 1
    assert nul_problem.startswith(f"{nul}:{line}: artefact[0].file: 'x\\x00.csv' holds a NUL")
    assert files.broken[late][0] == (
        f"{late}:4: release_at: 9999-12-31 23:30 is out of range: write the real time"
    )


def test_a_failure_no_check_foresaw_is_a_problem_of_that_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onthedot import config

    plain = config.load_release

    def loading(path: Path, *args: object) -> object:
        if path.name == "odd.toml":
            raise RuntimeError("something no check foresaw")
        return plain(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(config, "load_release", loading)
    odd = write_release(tmp_path, id="odd")
    good = write_release(tmp_path, id="good")
    files = read_releases([odd, good])
    assert [r.id for r in files.releases] == ["good"]
    assert files.broken[odd] == [
        f"{odd}:1: this file could not be read (something no check foresaw): check it, or "
        "report it with the service's log"
    ]


def test_check_names_a_publishing_address_no_adapter_can_use_with_its_line(
    tmp_path: Path,
) -> None:
    """An unknown scheme, or an option that is not a number, in ``[site] target`` or ``purge``
    failed only at the release time (at every tick, in the log, with no file or line): found
    now, where it is written, its secret masked."""
    from typer.testing import CliRunner

    from onthedot.cli import app

    site = (
        '\n[site]\npublic = "https://www.example.org"\n'
        'target = "ftp://publisher:hunter2-secret@127.0.0.1/www?timeout=soon"\n'
        'purge = ["varnish://127.0.0.1:6081", "nosuchcache://127.0.0.1/"]\n'
        '[[artefact]]\nfile = "a.csv"\npath = "/statistics/a.csv"\n'
    )
    (tmp_path / "a.csv").write_bytes(b"new")
    path = write_release(tmp_path, id="bad-urls", extra=site)
    result = CliRunner().invoke(
        app, ["--database", f"sqlite:///{tmp_path / 's.db'}", "check", str(path)]
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 2, said
    lines = path.read_text(encoding="utf-8").splitlines()
    target_line = next(i for i, line in enumerate(lines, 1) if line.startswith("target"))
    purge_line = next(i for i, line in enumerate(lines, 1) if line.startswith("purge"))
    assert f"{path}:{target_line}: site.target: ftp://publisher:****@127.0.0.1/www" in said
    assert "gives timeout='soon', which is not a number of seconds" in said
    assert f"{path}:{purge_line}: site.purge[1]: There is no purger for the scheme" in said
    assert "site.purge[0]" not in said and "hunter2-secret" not in said
