"""The command starts fast: ``--help``, ``--version`` and ``check`` load only what they use.

Timing a start-up here would measure the machine (two cores shared with the servers of other
tests), so the budget is what gets imported, read from ``python -X importtime``: ``--help`` and
``--version`` import no package beyond Typer (which brings click) and the standard library, and
``check`` none of the packages other commands need (the probe engine, the web app, the publish
targets, the report writers, Alembic once the store is up to date, an HTTP client). The time
these take is measured in bench/bench_startup.py against ``pip --version``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_release

#: third-party packages (and our own heavy parts) that no start-up of ``--help`` may import
HEAVY = (
    "aiobotocore", "aiohttp", "aioftp", "aiosqlite", "alembic", "asyncssh", "botocore", "docx",
    "fastapi", "govuk_bank_holidays", "holidays", "httpx", "icalendar", "jinja2", "odf", "orjson",
    "psycopg", "pycurl", "pydantic", "requests", "rich", "sqlalchemy", "starlette", "uvicorn",
    "onthedot.agent", "onthedot.config", "onthedot.model", "onthedot.publish", "onthedot.record.report",
    "onthedot.runtime", "onthedot.store", "onthedot.verify", "onthedot.web",
)
#: what ``check`` may need (the release model, the store, the holiday calendars) and must not
NOT_FOR_CHECK = (
    "aiobotocore", "aiohttp", "aioftp", "alembic", "asyncssh", "botocore", "docx", "fastapi",
    "icalendar", "jinja2", "odf", "pycurl", "requests", "starlette", "uvicorn", "onthedot.agent",
    "onthedot.record.report", "onthedot.runtime", "onthedot.web",
    "rich",  # its lines are printed by click's echo, styled only on a terminal
    # of publishing, only a target's class (asked where its staged copies will wait)
    "onthedot.publish.aws", "onthedot.publish.lease", "onthedot.publish.manifest",
    "onthedot.publish.prerelease", "onthedot.publish.purgers", "onthedot.publish.purging",
    "onthedot.publish.staging", "onthedot.publish.statement", "onthedot.publish.steps",
    # onthedot.toml's [verify.caches] is checked against the cache models (onthedot.verify.caches,
    # plain data); nothing that fetches or judges is loaded
    "onthedot.verify.probe", "onthedot.verify.probe_curl", "onthedot.verify.verifier",
    "onthedot.verify.diagnose", "onthedot.verify.judgement", "onthedot.morning",
    "onthedot.record.checks", "onthedot.verify.preflight",
)


def imported(*args: str, cwd: Path | None = None) -> set[str]:
    """The modules ``python -X importtime ARGS`` imported (importtime writes one line each)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first is the header


def of(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The ``packages`` that ``modules`` contains (a package or any module inside it)."""
    return sorted(p for p in packages if any(m == p or m.startswith(p + ".") for m in modules))


#: modules ``import onthedot.cli`` (and ``--help``, ``--version``) may load beyond Typer's own: the
#: package, the command modules and what they share (errors, the timeline's event kinds) and a few
#: small standard modules — 11 when this budget was set (14 with ``-m`` and ``--help``). A new
#: command module fits; a library (even a small one, with its own imports) or a package's
#: ``__init__`` that loads its parts does not: import it where the command runs.
BEYOND_TYPER = 20


def test_importing_the_command_loads_no_heavy_package_and_little_beyond_typer() -> None:
    modules = imported("-c", "import onthedot.cli")
    assert of(modules, HEAVY) == []
    extra = modules - imported("-c", "import typer")
    assert len(extra) <= BEYOND_TYPER, sorted(extra)


def test_help_and_version_load_no_heavy_package_and_little_beyond_typer() -> None:
    typer_alone = imported("-c", "import typer")
    for option in ("--help", "--version"):
        modules = imported("-m", "onthedot.cli", option)
        assert of(modules, HEAVY) == [], option
        assert len(modules - typer_alone) <= BEYOND_TYPER, sorted(modules - typer_alone)


def test_check_loads_only_what_checking_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the holiday tables' home
    release = write_release(tmp_path / "r", release_at="2019-12-18T09:30:00",
                            announced_at="2019-06-01T09:30:00")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    first = imported("-m", "onthedot.cli", "--database", db, "check", str(release), cwd=tmp_path)
    assert of(first, ("alembic", "sqlalchemy")) == ["alembic", "sqlalchemy"]  # a new store
    again = imported("-m", "onthedot.cli", "--database", db, "check", str(release), cwd=tmp_path)
    assert of(again, NOT_FOR_CHECK) == []
    # not the 250 countries of the holidays package (the UK's module is read on its own, which
    # importtime does not list)
    assert of(first, ("holidays.countries",)) == []
    # an unchanged release is only read from the store, by sqlite3: SQLAlchemy is not loaded;
    # the year's bank holidays are remembered from the first run: the holidays package is not
    assert of(again, ("pydantic", "sqlalchemy", "holidays")) == ["pydantic"]
    assert of(again, ("asyncio",)) == []  # nothing to wait for


def test_check_of_a_release_with_a_target_asks_it_where_it_stages_and_loads_no_more(
    tmp_path: Path,
) -> None:
    """The example ``onthedot init`` writes publishes to a local web root: ``check`` warns where
    its staged copies will wait (the target's class says), without the staging machinery (the
    store's SQLAlchemy, asyncio, the timeline) that publishing uses."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "onthedot.cli", "init", str(site)], check=True,
                   capture_output=True, timeout=120)
    release = str(site / "releases" / "example-quarterly.toml")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    imported("-m", "onthedot.cli", "--database", db, "check", release, cwd=site)  # a new store
    again = imported("-m", "onthedot.cli", "--database", db, "check", release, cwd=site)
    assert "onthedot.publish.placement" in again  # asked the target where its copies wait
    heavy = ("asyncio", "sqlalchemy", "onthedot.publish.staging", "onthedot.record.timeline")
    assert of(again, NOT_FOR_CHECK + heavy) == []
