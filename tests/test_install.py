"""The front door: the lock matches the project, warnings are fatal only when they are ours, and a
plain ``pip install .`` (no extras, no lock) gives a command that runs."""

from __future__ import annotations

import os
import subprocess
import venv
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".uv" / "bin" / "uv"


class _ThirdPartyNotice(UserWarning):
    """Shaped like cryptography's CryptographyDeprecationWarning, a UserWarning subclass."""


def _warn_from(module: str, category: type[Warning]) -> None:
    warnings.warn_explicit("something is deprecated", category, f"{module}.py", 1, module=module)


@pytest.mark.parametrize(
    "category", [DeprecationWarning, PendingDeprecationWarning, FutureWarning, _ThirdPartyNotice]
)
def test_another_packages_deprecation_is_reported_not_fatal(category: type[Warning]) -> None:
    with pytest.warns(category):
        _warn_from("asyncssh.crypto.misc", category)
    _warn_from("asyncssh.crypto.misc", category)  # the suite's own filters: shown, not raised


@pytest.mark.parametrize("module", ["onthedot", "onthedot.verify.probe", "tests.test_install"])
def test_our_own_warnings_are_errors(module: str) -> None:
    with pytest.raises(DeprecationWarning):
        _warn_from(module, DeprecationWarning)


def test_a_module_merely_named_like_ours_is_not_ours() -> None:
    _warn_from("onthedotty", DeprecationWarning)


@pytest.mark.parametrize("category", [RuntimeWarning, ResourceWarning])
def test_runtime_and_resource_warnings_stay_errors_everywhere(category: type[Warning]) -> None:
    with pytest.raises(category):
        _warn_from("asyncio.base_events", category)


def test_the_lock_matches_pyproject() -> None:
    assert UV.exists(), "scripts/install puts uv in .uv/; run it first"
    result = subprocess.run(
        [str(UV), "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_sqlalchemy_asyncio_declares_its_extra() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"sqlalchemy[asyncio]' in text
    lock = (ROOT / "uv.lock").read_text()
    assert 'name = "greenlet"' in lock


@pytest.mark.slow
# pip builds and installs every dependency: ~80 s alone, more on a busy machine
@pytest.mark.timeout(600)
def test_a_plain_pip_install_runs_the_command(tmp_path: Path) -> None:
    """``pip install .`` without extras, in a fresh venv: what the package declares is enough.

    The versions are held to the lock's (as constraints, which add no package) so that this test
    passes on any day; ``scripts/lock`` runs it on the newest releases before a lock is kept.
    Were ``sqlalchemy[asyncio]`` written without its extra, greenlet would be missing here.
    """
    constraints = tmp_path / "constraints.txt"
    exported = subprocess.run(
        [
            str(UV),
            "export",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            "--format",
            "requirements-txt",
            "--output-file",
            str(constraints),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    install = subprocess.run(
        [
            str(bin_dir / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(constraints),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    command = str(bin_dir / "onthedot")
    helped = subprocess.run([command, "--help"], capture_output=True, text=True, env=env)
    assert helped.returncode == 0, helped.stderr
    assert "Orderly release for official statistics" in helped.stdout
    checked = subprocess.run(
        [command, "check", "releases/"],
        cwd=ROOT / "examples",
        capture_output=True,
        text=True,
        env=env,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "fatal-injuries-2019-apr-sep" in checked.stdout
