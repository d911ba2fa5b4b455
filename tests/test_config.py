"""Release files and onthedot.toml: every problem named by file, line and field."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from onthedot.config import Config, load_config, load_release, load_releases
from onthedot.errors import ReleaseFileError
from onthedot.model import DigestKey, Site
from onthedot.verify.caches import Fastly, Nginx, Varnish
from tests.conftest import write_release


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ReleaseFileError) as info:
        load_release(path)
    return info.value.problems


def test_design_example_loads_with_utc_instants_and_hashes(tmp_path: Path) -> None:
    (tmp_path / "fatalquarterly.xlsx").write_bytes(b"new spreadsheet")
    path = write_release(tmp_path, extra="""
[site]
public = "https://www.example.org"
origin = "http://origin.internal:8080"
target = "ftp://publisher@origin.internal:21/"
purge = ["varnish://cache.internal:6081"]

[[artefact]]
file = "fatalquarterly.xlsx"
path = "/statistics/fatalquarterly.xlsx"

[[artefact]]
path = "/statistics/fatals.htm"
expect_text = "April to September 2019"
""")
    release = load_release(path)
    assert release.release_at == dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
    assert release.announced_at == dt.datetime(2019, 11, 1, 9, 30, tzinfo=dt.UTC)
    first, second = release.artefact
    assert first.size == len(b"new spreadsheet")
    assert first.sha256 == hashlib.sha256(b"new spreadsheet").hexdigest()
    assert second.expect_text == "April to September 2019" and second.sha256 is None
    assert release.site is not None and release.site.purge == ("varnish://cache.internal:6081",)
    assert release.line_of("release_at") == 4


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2025-03-28T09:30:00", dt.datetime(2025, 3, 28, 9, 30, tzinfo=dt.UTC)),
        ("2025-03-31T09:30:00", dt.datetime(2025, 3, 31, 8, 30, tzinfo=dt.UTC)),
        ("2025-10-24T09:30:00", dt.datetime(2025, 10, 24, 8, 30, tzinfo=dt.UTC)),
        ("2025-10-27T09:30:00", dt.datetime(2025, 10, 27, 9, 30, tzinfo=dt.UTC)),
        ("2025-06-02T09:30:00+00:00", dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)),
    ],
)
def test_local_times_are_europe_london_across_dst(tmp_path: Path, local: str, utc: dt.datetime) -> None:
    announced = "2025-01-02T09:30:00+00:00" if "+" in local else "2025-01-02T09:30:00"
    release = load_release(write_release(tmp_path, release_at=local, announced_at=announced))
    assert release.release_at == utc


def test_nonexistent_local_time_is_refused(tmp_path: Path) -> None:
    (problem,) = problems_of(write_release(tmp_path, release_at="2025-03-30T01:30:00"))
    assert ":4: release_at:" in problem and "does not exist" in problem


def test_misspelt_key_names_line_and_suggests(tmp_path: Path) -> None:
    path = write_release(tmp_path, extra='relase_at = 2019-12-18T09:30:00\n')
    (problem,) = problems_of(path)
    assert problem == f"{path}:9: relase_at: unknown key: did you mean 'release_at'?"


def test_misspelt_artefact_key(tmp_path: Path) -> None:
    path = write_release(tmp_path, extra='\n[[artefact]]\npath = "/x.htm"\nexpect_txt = "new"\n')
    problems = problems_of(path)
    assert f"{path}:12: artefact[0].expect_txt: unknown key: did you mean 'expect_text'?" in problems


def test_missing_field_and_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('id = "x"\ntitle = 3\nproducer = "P"\n', encoding="utf-8")
    problems = problems_of(path)
    assert any(p.startswith(f"{path}:2: title:") and "string" in p for p in problems)
    assert f"{path}:1: release_at: is missing: add it" in problems


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('id = "x"\ntitle = "unterminated\n', encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: invalid TOML")


def test_impossible_date(tmp_path: Path) -> None:
    (problem,) = problems_of(write_release(tmp_path, release_at="2019-02-30T09:30:00"))
    assert problem.startswith(f"{tmp_path / 'fatal-injuries.toml'}:4: invalid TOML")


def test_naive_and_offset_mix_is_refused(tmp_path: Path) -> None:
    path = write_release(tmp_path, release_at="2019-12-18T09:30:00+00:00")
    (problem,) = problems_of(path)
    assert ": announced_at: is a local time but release_at has an offset" in problem


def test_date_without_time(tmp_path: Path) -> None:
    (problem,) = problems_of(write_release(tmp_path, release_at="2019-12-18"))
    assert ":4: release_at: give a date and a time" in problem


def test_artefact_file_missing_or_escaping(tmp_path: Path) -> None:
    path = write_release(
        tmp_path / "rel",
        extra='\n[[artefact]]\nfile = "../../etc/passwd"\npath = "/p"\n\n[[artefact]]\nfile = "nope.csv"\npath = "/n.csv"\n',
    )
    problems = problems_of(path)
    assert any(":11: artefact[0].file: '../../etc/passwd' is outside the release's folder" in p for p in problems)
    assert any(":15: artefact[1].file: 'nope.csv' does not exist" in p for p in problems)


def test_empty_file_and_junk(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    assert problems_of(empty) == [f"{empty}:1: the file is empty: write a release (see `onthedot init`)."]
    junk = tmp_path / "junk.toml"
    with junk.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    (problem,) = problems_of(junk)
    assert "52,428,800 bytes, far too large" in problem
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b'id = "x"\n\xff\xfe\x00junk')
    assert problems_of(binary) == [f"{binary}:2: the file is not UTF-8 text: save it as UTF-8."]


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = write_release(tmp_path, name="a.toml")
    b = write_release(tmp_path, name="b.toml")
    with pytest.raises(ReleaseFileError) as info:
        load_releases([a, b])
    assert info.value.problems == [
        f"{b}:1: id: 'fatal-injuries' is already used by {a}: give each release its own id."
    ]


def test_site_defaults_from_config_are_merged(tmp_path: Path) -> None:
    config_path = tmp_path / "onthedot.toml"
    config_path.write_text(
        'releases = ["releases/*.toml"]\n[site]\npublic = "https://www.example.org"\n'
        'target = "file:///srv/www"\n[policy]\nzone = "Europe/Dublin"\n',
        encoding="utf-8",
    )
    write_release(tmp_path / "releases", extra='[site]\norigin = "http://origin:8080"\n')
    config = load_config(config_path)
    (release,) = load_releases(config.release_files(), config)
    assert release.site is not None
    assert (release.site.public, release.site.origin, release.site.target) == (
        "https://www.example.org", "http://origin:8080", "file:///srv/www")


def test_unknown_config_key(tmp_path: Path) -> None:
    config_path = tmp_path / "onthedot.toml"
    config_path.write_text('relases = ["*.toml"]\n', encoding="utf-8")
    with pytest.raises(ReleaseFileError) as info:
        load_config(config_path)
    assert info.value.problems == [f"{config_path}:1: relases: unknown key: did you mean 'releases'?"]


def test_empty_config_is_fine() -> None:
    assert Config().release_files() == []


SETTINGS = """\
[policy]
zone = "Europe/Dublin"
tolerance_s = 5

[verify]
concurrency = 8
timeout = 2.5
verify_tls = false

[verify.caches]
varnish = {default_ttl = 3600}
fastly.default_ttl = 60

[verify.caches.nginx]
valid = 600

[publish]
stage_ahead_s = 600

[web]
agents = {edinburgh = "0123456789abcdef0123"}
refresh_s = 2
"""


def test_settings_tables_become_typed_settings(tmp_path: Path) -> None:
    config_path = tmp_path / "onthedot.toml"
    config_path.write_text(SETTINGS, encoding="utf-8")
    config = load_config(config_path)
    assert (config.policy.zone, config.policy.tolerance_s, config.zone.key) == (
        "Europe/Dublin", 5.0, "Europe/Dublin")
    assert (config.verify.concurrency, config.verify.timeout, config.verify.verify_tls) == (8, 2.5, False)
    assert config.verify.caches.models() == {
        "varnish": Varnish(default_ttl=3600, configured=True),
        "nginx": Nginx(valid=600, configured=True),
        "fastly": Fastly(default_ttl=60, configured=True),
    }
    assert (config.publish.stage_ahead_s, config.publish.catch_up_s) == (600.0, 7 * 24 * 3600.0)
    assert (config.web.refresh_s, config.web.agents_before_s) == (2.0, 900.0)
    assert config.web.agents["edinburgh"].get_secret_value() == "0123456789abcdef0123"


def test_secrets_never_show_in_the_settings_repr(tmp_path: Path) -> None:
    config_path = tmp_path / "onthedot.toml"
    config_path.write_text(
        'database = "postgresql://onthedot:hunter2hunter2@db/onthedot"\n' + SETTINGS,
        encoding="utf-8",
    )
    config = load_config(config_path)
    for shown in (repr(config), str(config), repr(config.web), str(config.web.agents)):
        assert "0123456789abcdef0123" not in shown and "hunter2" not in shown
    assert "edinburgh" in repr(config.web)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[verify.caches.varnish]\nttl = 1\n", "2: verify.caches.varnish.ttl: unknown key: did you mean 'default_ttl'?"),
        ("[verify]\ncaches.nginix = {}\n", "2: verify.caches.nginix: unknown key: did you mean 'nginx'?"),
        ("[verify.caches]\nsquid = {ttl = 1}\n", "2: verify.caches.squid.ttl: unknown key: this table takes no keys, leave it empty."),
        ("verify = 3\n", "1: verify: should be a table"),
        (
            "[verify.caches]\nvarnish = {default_ttl = -1}\n",
            "2: verify.caches.varnish.default_ttl: should be greater than or equal to 0: "
            "write e.g. default_ttl = 120",
        ),
        ('[verify]\nmax_bytes = 0\n', "2: verify.max_bytes: should be greater than or equal to 1"),
        ("[web]\nrefresh_s = inf\n", "2: web.refresh_s: should be a finite number"),
        ('[web]\nagents = {"bad name" = "0123456789abcdef0123"}\n', '2: web.agents."bad name": give a name of letters'),
        ('[web.agents]\nedinburgh = "short"\n', "2: web.agents.edinburgh: give a name of letters, digits"),
        (  # a table of named tables: the name quoted as the file writes it, its keys still known
            "[notify]\nit = []\n[notify.releases.'lfs-2024 (Q1)']\nstatistican = []\n",
            "4: notify.releases.\"lfs-2024 (Q1)\".statistican: unknown key: did you mean 'statistician'?",
        ),
        ("releases = 3\n", '1: releases: should be a list of glob patterns, e.g. releases = ["releases/*.toml"]'),
    ],
)
def test_a_wrong_setting_names_line_and_key(tmp_path: Path, text: str, problem: str) -> None:
    config_path = tmp_path / "onthedot.toml"
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ReleaseFileError) as info:
        load_config(config_path)
    (found,) = info.value.problems
    assert found.startswith(f"{config_path}:{problem}")


@pytest.mark.parametrize("public", ["https://www.example.org", "https://www.example.org/"])
def test_a_sites_url_of_a_path_has_one_slash(public: str) -> None:
    assert Site(public=public).url("/statistics/x.xlsx") == "https://www.example.org/statistics/x.xlsx"


def _artefacts(*names: str) -> str:
    return "".join(f'\n[[artefact]]\nfile = "{n}"\npath = "/{i}"\n' for i, n in enumerate(names))


def test_links_are_followed_before_the_folder_is_checked(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"not for the public")
    folder = tmp_path / "rel"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "real.csv").write_bytes(b"the release")
    (folder / "alias.csv").symlink_to(folder / "data" / "real.csv")
    (folder / "leak.csv").symlink_to(outside / "secret.csv")
    (folder / "elsewhere").symlink_to(outside)
    path = write_release(folder, extra=_artefacts("alias.csv", "leak.csv", "elsewhere/secret.csv", "data"))
    problems = problems_of(path)
    assert [p.split(": ", 2)[1] for p in problems] == ["artefact[1].file", "artefact[2].file", "artefact[3].file"]
    assert "'leak.csv' is outside the release's folder" in problems[0]
    assert "'elsewhere/secret.csv' is outside the release's folder" in problems[1]
    assert "'data' does not exist" in problems[2]  # a folder is not a file
    path.write_text(path.read_text(encoding="utf-8").split("\n[[artefact]]")[0] + _artefacts("alias.csv"))
    (artefact,) = load_release(path).artefact
    assert artefact.local_path == folder / "data" / "real.csv"
    assert artefact.sha256 == hashlib.sha256(b"the release").hexdigest()


def test_remembered_digests_are_used_only_while_size_and_mtime_stay(tmp_path: Path) -> None:
    folder = tmp_path / "rel"
    folder.mkdir()
    data = folder / "a.csv"
    data.write_bytes(b"first")
    os.utime(data, ns=(1_000_000_000, 1_000_000_000))  # long ago: settled
    path = write_release(folder, extra=_artefacts("a.csv"))
    digests: dict[DigestKey, str] = {}
    assert load_release(path, digests=digests).artefact[0].sha256 == hashlib.sha256(b"first").hexdigest()
    key = (str(data), data.stat().st_dev, data.stat().st_ino, 5, 1_000_000_000)
    assert digests == {key: hashlib.sha256(b"first").hexdigest()}
    digests[key] = "remembered"  # what the store says is used as it is
    assert load_release(path, digests=digests).artefact[0].sha256 == "remembered"
    data.write_bytes(b"second")  # another size and a new mtime: hashed again, too fresh to keep
    assert load_release(path, digests=digests).artefact[0].sha256 == hashlib.sha256(b"second").hexdigest()
    assert len(digests) == 1
