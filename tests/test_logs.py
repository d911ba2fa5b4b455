"""The service's log goes to standard error: standard output is the commands' own (the JSON of
``--json`` a script reads), which a warning logged while publishing made unreadable."""

from __future__ import annotations

import subprocess
import sys


def test_a_logged_line_goes_to_standard_error_not_to_the_commands_output() -> None:
    code = (
        "from onthedot import logs\n"
        "logs.get_logger('onthedot.test').warning('staged files found live', release='r')\n"
        "print('{\"live\": true}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"live": true}\n'
    assert "staged files found live" in done.stderr and "release" in done.stderr
