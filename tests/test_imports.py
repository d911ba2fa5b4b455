"""The import contracts in pyproject.toml hold (``lint-imports``), and each catches what it names.

Imports run one way: cli → web → runtime → morning → publish → record → verify → model. The probe's
shared types (``onthedot.verify.probe``) import neither the engine nor the test doubles, nothing in
onthedot imports ``onthedot.testing``, and no modules of ``onthedot.verify`` import each other in a
circle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "4 kept, 0 broken" in result.stdout

BREAKS = {
    "the shared types choose the engine": (
        "verify/probe.py",
        "def _default() -> object:\n"
        "    from onthedot.verify.probe_curl import CurlTransport\n\n"
        "    return CurlTransport\n",
        "The probe's shared types know no engine and no test double BROKEN",
    ),
    "the shared types ship a test double": (
        "verify/probe.py",
        "from onthedot.testing import MockProbeTransport as _Mock  # noqa: F401\n",
        "The probe's shared types know no engine and no test double BROKEN",
    ),
    "the verifier uses a test double": (
        "verify/verifier.py",
        "from onthedot.testing import mock_response as _mock  # noqa: F401\n",
        "nothing in onthedot imports onthedot.testing BROKEN",
    ),
    "the verifier calls back into the release morning": (
        "verify/verifier.py",
        "from onthedot.morning import publisher as _publisher  # noqa: F401\n",
        "imports run one way, from the commands down to the model BROKEN",
    ),
    "two verify modules import each other": (
        "verify/diagnose.py",
        "def _late() -> object:\n    from onthedot.verify import verifier\n\n    return verifier\n",
        "No import circle among the modules of onthedot.verify BROKEN",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_each_contract_catches_the_import_it_forbids(case: str, tmp_path: Path) -> None:
    module, added, broken = BREAKS[case]
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "src" / "onthedot",
        tmp_path / "src" / "onthedot",
        ignore=shutil.ignore_patterns("__pycache__", "static", "*.css", "*.js"),
    )
    path = tmp_path / "src" / "onthedot" / module
    path.write_text(path.read_text() + "\n\n" + added)
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
