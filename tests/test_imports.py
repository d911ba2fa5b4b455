"""Imports run one way: cli → web → runtime → morning → publish → record → verify → model.

The contracts are in pyproject.toml (``[tool.importlinter]``); ``lint-imports`` checks them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_import_contract_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_that_runs_back_up_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "src" / "onthedot",
        tmp_path / "src" / "onthedot",
        ignore=shutil.ignore_patterns("__pycache__", "static"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    verifier = tmp_path / "src" / "onthedot" / "verify" / "verifier.py"
    verifier.write_text(
        verifier.read_text(encoding="utf-8") + "\nfrom onthedot.morning import publisher\n",
        encoding="utf-8",
    )
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "onthedot.verify.verifier -> onthedot.morning.publisher" in result.stdout
    assert "release morning" in result.stdout and "BROKEN" in result.stdout
