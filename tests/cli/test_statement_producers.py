"""One service publishing for several producers: ``onthedot statement`` words each release's
statement as its producer's ``[statement.producers."<name>"]`` table says, the rest as
``[statement]`` says; a wrong key or placeholder in a producer's table is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_evidence_cli import RELEASE, Cli
from tests.record.incident import PRODUCER
from tests.record.test_statement_register import sentences

ONS = "Office for National Statistics (ONS)"
CONFIG = f"""\
releases = ["*.toml"]

[statement]
contact_role = "the statistics team at {{producer}}"

[statement.producers."{ONS}"]
contact_role = "the Road Safety statistics team (roadsafety@ons.gov.uk)"
apology = "{{producer}} is sorry for the delay."

[statement.producers."Welsh Government"]  # publishes nothing here yet: no harm
what = ""
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path)


def test_two_producers_in_one_config_get_their_own_statements(cli: Cli) -> None:
    (cli.folder / "onthedot.toml").write_text(CONFIG, encoding="utf-8")
    hse = cli.release
    cli.record_incident()
    cli.release = cli.folder / "ons.toml"
    cli.release.write_text(
        RELEASE.replace("fatal-injuries-2019-apr-sep", "road-casualties-2019")
        .replace(PRODUCER, ONS)
        .replace("Fatal injuries arising", "Road casualties arising"),
        encoding="utf-8",
    )
    cli.record_incident()
    statements = {}
    for release in (hse, cli.release):
        drafted = cli("statement", str(release))
        assert drafted.exit_code == 0, drafted.output
        statements[release.stem] = sentences(drafted.stdout)
    said_hse, said_ons = statements["release"], statements["ons"]
    assert said_hse[0].startswith("“Fatal injuries arising") and said_ons[0].startswith(
        "“Road casualties arising"
    )
    assert said_hse[0].endswith("until 10:35, 1 hour 5 minutes late.")  # [statement]'s `what`
    assert said_ons[0].endswith("until 10:35, 1 hour 5 minutes late.")  # the ONS table has none
    assert said_hse[2].startswith("We apologise for this, and have reported it")
    assert said_ons[2] == f"{ONS} is sorry for the delay."
    assert said_hse[-1].endswith(f"please contact the statistics team at {PRODUCER}.")
    assert said_ons[-1].endswith(
        "please contact the Road Safety statistics team (roadsafety@ons.gov.uk)."
    )


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            'apolgy = "Sorry."',
            f'onthedot.toml:4: statement.producers."{ONS}".apolgy: unknown key: did you mean '
            "'apology'?",
        ),
        (
            'why = "Because {reason}."',
            f'onthedot.toml:4: statement.producers."{ONS}".why: {{reason}} is not a placeholder '
            "this sentence can use: use {cause}, {title}, {producer}",
        ),
        (
            'link = "See {link"',
            f'onthedot.toml:4: statement.producers."{ONS}".link: is not a template',
        ),
    ],
)
def test_a_wrong_key_or_placeholder_in_a_producer_s_table_is_refused_with_its_line(
    cli: Cli, table: str, problem: str
) -> None:
    (cli.folder / "onthedot.toml").write_text(
        f'[statement]\ncontact = "Ask {{contact}}."\n[statement.producers."{ONS}"]\n{table}\n',
        encoding="utf-8",
    )
    refused = cli("statement", str(cli.release))
    assert refused.exit_code == 2
    assert problem in refused.output, refused.output


def test_check_warns_of_a_producer_s_table_named_nearly_as_a_release_s_producer(cli: Cli) -> None:
    (cli.folder / "onthedot.toml").write_text(
        CONFIG.replace(f'"{ONS}"', '"Office for National Statistics"'), encoding="utf-8"
    )
    (cli.folder / "ons.toml").write_text(
        RELEASE.replace("fatal-injuries-2019-apr-sep", "road-casualties-2019").replace(
            PRODUCER, ONS
        ),
        encoding="utf-8",
    )
    checked = cli("check", str(cli.folder))
    assert checked.exit_code == 0, checked.output  # a warning: the statement can still be drafted
    (warned,) = [line for line in checked.output.splitlines() if "statement-wording" in line]
    assert warned.strip() == (
        f"statement-wording {cli.folder / 'ons.toml'}:3: A statement about road-casualties-2019 "
        f'would use the [statement] wording, as no [statement.producers] table is named "{ONS}" '
        'exactly; if the table "Office for National Statistics" is meant for this producer, give '
        "it the producer's name as written here."
    )
    (cli.folder / "onthedot.toml").write_text(CONFIG, encoding="utf-8")
    assert "statement-wording" not in cli("check", str(cli.folder)).output
