"""``onthedot demo < /dev/null`` as a new user runs it after the install step, timed (issue 17:
under 3 minutes), against a baseline of the same run: starting and stopping the demo's servers
alone (two websites of nginx, Varnish and vsftpd, and the mail sink). From each run's output: its
exit code, how long after 09:30 act 1 saw the edge stale, and act 2's edge lag.

``python -m bench.run demo`` (about 3 minutes); ``python -m bench.bench_demo`` prints the figures.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from onthedot.demo.session import demo_session

RUNS = 3
GOAL_S = 180.0


def _servers_alone() -> float:
    """Seconds to start and stop what the demo starts, without the acts."""
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-demo-") as folder:
        started = time.perf_counter()
        with demo_session(Path(folder)):
            pass
        return time.perf_counter() - started


def _one() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-demo-") as folder:
        started = time.perf_counter()
        with open(os.devnull, "rb") as nothing:
            done = subprocess.run(
                [sys.executable, "-m", "onthedot.cli", "demo", "--folder", folder],
                stdin=nothing,
                capture_output=True,
                text=True,
                timeout=600,
            )
        seconds = time.perf_counter() - started
    stale = re.search(r"The edge was stale ([\d.]+) s after 09:30", done.stdout)
    lag = re.search(r"Edge lag: the public got the new files ([\d.]+) s after 09:30", done.stdout)
    return {
        "seconds": round(seconds, 2),
        "exit": done.returncode,
        "stale_after_s": float(stale.group(1)) if stale else None,
        "edge_lag_s": float(lag.group(1)) if lag else None,
    }


def run() -> dict[str, Any]:
    baseline = min(_servers_alone() for _ in range(2))
    runs = [_one() for _ in range(RUNS)]
    figures = {
        "runs": runs,
        "median_s": statistics.median(r["seconds"] for r in runs),
        "max_s": max(r["seconds"] for r in runs),
        "servers_alone_s": round(baseline, 2),
        "goal_s": GOAL_S,
    }
    out = Path(__file__).resolve().parent / "results" / "demo.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
