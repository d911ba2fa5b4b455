"""Release files of releases another system publishes: ``target = "external"`` with the system's
name, files declared by their landing page; each mistake is refused with its file, line and key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from onthedot.config import load_config, load_release
from onthedot.errors import ReleaseFileError
from onthedot.model import Release
from onthedot.publish.manifest import Manifest
from onthedot.verify.discovery import found_artefacts
from onthedot.verify.verifier import release_urls, watched_urls
from tests.e2e.cms import LANDING, write_external_release

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)


def external(tmp_path: Path) -> Path:
    return write_external_release(tmp_path / "rel", public="https://www.gov.uk", release_at=T)


def test_an_external_release_has_no_target_and_names_who_publishes_it(tmp_path: Path) -> None:
    release = load_release(external(tmp_path))
    assert release.site is not None and release.site.target is None
    assert release.published_by == "GOV.UK" and release.site.external
    assert release.not_controlled is not None and "GOV.UK publishes" in release.not_controlled
    assert release.paths == (LANDING,)  # the file has no address until it is published
    assert [t.path for t in release_urls(release)] == [LANDING]
    ((url, art),) = found_artefacts(release)
    assert url == f"https://www.gov.uk{LANDING}#lms-march-2026.xlsx" and art.sha256
    assert watched_urls(release) == [f"https://www.gov.uk{LANDING}", url]
    assert Manifest.of(release).entries == ()  # nothing is uploaded
    again = Release.model_validate(release.model_dump())  # as the store keeps it
    assert again.published_by == "GOV.UK" and again.site is not None and again.site.target is None


def test_external_in_onthedot_toml_applies_to_every_release(tmp_path: Path) -> None:
    path = external(tmp_path)
    text = path.read_text().replace('target = "external"\npublished_by = "GOV.UK"\n', "")
    path.write_text(text)
    config = tmp_path / "onthedot.toml"
    config.write_text('[site]\ntarget = "external"\npublished_by = "Wagtail"\n')
    assert load_release(path, load_config(config)).published_by == "Wagtail"
    config.write_text('[site]\ntarget = "external"\n')  # no name: said plainly
    assert load_release(path, load_config(config)).published_by == "another system"


@pytest.mark.parametrize(
    ("change", "key", "said"),
    [
        (('target = "external"\npublished_by = "GOV.UK"', 'target = "file:///var/www"'), "artefact[1].landing", "set target"),
        (('target = "external"', 'target = "file:///var/www"'), "site", "published_by names the system"),
        (('file = "lms-march-2026.xlsx"\n', ""), "artefact[1].file", "give the local file"),
        (('landing = "', 'path = "/statistics/x.xlsx"\nlanding = "'), "artefact[1].landing", "not both"),
        ((f'landing = "{LANDING}"', 'landing = "/elsewhere"'), "artefact[1].landing", "list the landing page /elsewhere"),
        (('name = "lms-*.xlsx"', 'name = "media/lms.xlsx"'), "artefact[1].name", "must be a file name"),
        (('name = "lms-*.xlsx"', 'name = "*"'), "artefact[1].name", "must be a file name"),
        ((f'landing = "{LANDING}"\n', ""), "artefact[1].path", "give path"),
        ((f'landing = "{LANDING}"', 'landing = "no-slash"'), "artefact[1].landing", "must start with /"),
    ],
)  # fmt: skip
def test_each_mistake_is_refused_with_its_line_and_key(
    tmp_path: Path, change: tuple[str, str], key: str, said: str
) -> None:
    path = external(tmp_path)
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ReleaseFileError) as info:
        load_release(path)
    problems = info.value.problems
    mine = [p for p in problems if f": {key}:" in p and said in p]
    assert mine, problems
    assert mine[0].startswith(f"{path}:"), mine
    assert mine[0].split(":")[1].isdigit()


def test_link_words_are_only_for_a_file_found_through_its_landing_page(tmp_path: Path) -> None:
    path = external(tmp_path)
    path.write_text(
        path.read_text() + '\n[[artefact]]\npath = "/media/x.csv"\nfile = "lms-march-2026.xlsx"\n'
        'link_text = "CSV"\n'
    )
    with pytest.raises(ReleaseFileError) as info:
        load_release(path)
    assert any("artefact[2].link_text" in p and "landing" in p for p in info.value.problems)
