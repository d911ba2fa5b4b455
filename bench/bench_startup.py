"""Benchmark the command's start-up: ``onthedot --help``, ``--version`` and ``check RELEASE``
against ``pip --version`` run by the same interpreter, side by side (issue 10, item 4).

Run as ``.venv/bin/python -m bench.bench_startup`` (writes ``bench/results/startup.json``);
``run()`` returns the same figures as a dict for docs/benchmarks.md.

The venv is made by uv, which installs no pip, so the baseline is the pip wheel that ships with
this very Python (``ensurepip``), unpacked into a scratch folder and run as ``python -m pip
--version`` by the venv's interpreter. Every command runs with its bytecode compiled once
(``PYTHONPYCACHEPREFIX``, as an installed package has it) and once before timing. ``check`` reads
the release that ``onthedot init`` writes, with a SQLite store made by a first run (not timed).
Each round runs the four commands in an order rotated from round to round; the median of each
over ``ROUNDS`` rounds is the figure, and each command's ratio to pip is taken round by round.
"""

from __future__ import annotations

import ensurepip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "startup.json"
COMMAND = Path(sys.executable).parent / "onthedot"
ROUNDS = 21


def unpack_pip(into: Path) -> Path:
    """The pip wheel bundled with this Python, unpacked (as ``pip install`` would lay it out)."""
    bundled = Path(ensurepip.__file__).parent / "_bundled"
    (wheel,) = bundled.glob("pip-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    return into


def commands(work: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name → (argv, environment) of the four commands."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPYCACHEPREFIX": str(work / "pycache"), "COLUMNS": "100"}
    database = ["--database", f"sqlite:///{work / 'onthedot.db'}"]
    release = str(work / "site" / "releases" / "example-quarterly.toml")
    pip_env = env | {"PYTHONPATH": str(work / "pip")}
    return {
        "pip --version": ([sys.executable, "-m", "pip", "--version"], pip_env),
        "onthedot --help": ([str(COMMAND), "--help"], env),
        "onthedot --version": ([str(COMMAND), "--version"], env),
        "onthedot check RELEASE": ([str(COMMAND), *database, "check", release], env),
    }


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def imports_of(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """Milliseconds ``python -X importtime`` counts for each top-level package the command
    imports (its own time in each module, summed), largest first, and ``all`` of them."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "onthedot.cli", *argv[1:]],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )
    spent: dict[str, float] = {}
    for line in done.stderr.splitlines()[1:]:
        if line.startswith("import time:"):
            own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            top = ".".join(name.split(".")[:2]) if name.startswith("onthedot.") else name.split(".")[0]
            spent[top] = spent.get(top, 0.0) + int(own) / 1000
    ranked = dict(sorted(spent.items(), key=lambda item: -item[1]))
    return {"all": sum(spent.values()), **ranked}


def run() -> dict[str, Any]:
    """Measure, write bench/results/startup.json, return it."""
    with tempfile.TemporaryDirectory(prefix="onthedot-bench-startup-") as tmp:
        work = Path(tmp)
        unpack_pip(work / "pip")
        subprocess.run([str(COMMAND), "init", str(work / "site")], check=True, capture_output=True)
        cwd = work / "site"
        chosen = commands(work)
        for argv, env in chosen.values():  # bytecode, the store, the disk cache: not timed
            timed(argv, env, cwd)
        names = list(chosen)
        seconds: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for number in range(ROUNDS):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                wall, used = timed(*chosen[name], cwd)
                seconds[name].append(wall)
                cpu[name].append(used)
        check_imports = imports_of(*chosen["onthedot check RELEASE"], cwd)
    pip, pip_cpu = seconds["pip --version"], cpu["pip --version"]
    figures = {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "ratio_to_pip_median": statistics.median(v / p for v, p in zip(values, pip, strict=True)),
            "seconds": values,
            # CPU time: what the command itself costs, whatever else the machine is doing
            "cpu_median_s": statistics.median(cpu[name]),
            "cpu_ratio_to_pip_median": statistics.median(
                c / p for c, p in zip(cpu[name], pip_cpu, strict=True)
            ),
            "cpu_seconds": cpu[name],
        }
        for name, values in seconds.items()
    }
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_before_after": os.getloadavg()},
        "pip": f"pip {ensurepip.version()} (bundled with Python {platform.python_version()})",
        "rounds": ROUNDS,
        "commands": figures,
        "check_imports_ms": check_imports,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
