"""``scripts/mutation [--changed REF] [--again] [MODULE ...]``: mutmut over the judging modules.

Runs ``mutmut run`` on every mutant of the named modules (all of ``[tool.mutmut] source_paths``
when none is named; with ``--changed REF`` only those changed since REF; with ``--again`` only
the mutants the last run did not catch), subtracts the equivalents listed in
tests/mutation/equivalents.toml, prints one row per module and exits 1 when a module scores under
90 % or a listed equivalent went stale. A run over every module writes the table into
docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.mutation.score import (
    CAUGHT,
    MISSED,
    Mutant,
    Score,
    caught_equivalents,
    load_equivalents,
    stale,
    table,
    tally,
    with_table,
)

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENTS = ROOT / "tests" / "mutation" / "equivalents.toml"
DOC = ROOT / "docs" / "testing.md"


def judging_files() -> list[Path]:
    """The files ``[tool.mutmut] source_paths`` names, folders expanded, relative to the root."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[Path] = []
    for entry in config["tool"]["mutmut"]["source_paths"]:
        path = Path(entry)
        found += sorted(path.rglob("*.py")) if (ROOT / path).is_dir() else [path]
    return found


def module_of(path: Path) -> str:
    parts = path.with_suffix("").parts[1:]  # without "src"
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def chosen(names: Sequence[str], changed_since: str | None) -> list[str]:
    """The modules to test: the named ones, those changed since a ref, or all."""
    modules = {module_of(p): p for p in judging_files()}
    if changed_since is not None:
        try:
            touched = set(_git("diff", "--name-only", f"{changed_since}...HEAD").split())
        except subprocess.CalledProcessError:
            raise SystemExit(
                f"{changed_since} is not a branch or commit here: give --changed one, e.g. main."
            ) from None
        touched |= set(_git("diff", "--name-only", "HEAD").split())
        return [m for m, p in modules.items() if str(p) in touched]
    if not names:
        return list(modules)
    unknown = [n for n in names if _match(n, modules) is None]
    if unknown:
        raise SystemExit(
            f"Not a judging module: {', '.join(unknown)}; choose from {', '.join(modules)}."
        )
    return [m for n in names if (m := _match(n, modules))]


def _match(name: str, modules: dict[str, Path]) -> str | None:
    for module, path in modules.items():
        if name in (module, str(path)) or module.endswith("." + name):
            return module
    return None


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def run_mutmut(patterns: Sequence[str], children: str | None = None) -> int:
    children = children or os.environ.get("MUTATION_CHILDREN", str(os.cpu_count() or 2))
    command = ["mutmut", "run", "--max-children", children, *patterns]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def results() -> Iterator[Mutant]:
    """Every mutant mutmut knows, with the mutated line of those no test caught."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for name, code in data.exit_code_by_key.items():
            status = status_by_exit_code[code]
            line = _added(get_diff_for_mutant(name, path=path)) if status in MISSED else ""
            yield Mutant(name.replace(".__init__.", "."), status, line)


def _added(diff: str) -> str:
    lines = diff.splitlines()
    return " / ".join(x[1:].strip() for x in lines if x.startswith("+") and not x.startswith("+++"))


def report(modules: Sequence[str], mutants: Sequence[Mutant]) -> tuple[list[Score], list[str]]:
    listed = load_equivalents(EQUIVALENTS)
    by_name = {m.name: m for m in mutants}
    mine = [e for e in listed if e.mutant.rpartition(".")[0] in modules]
    return tally(modules, mutants, listed), stale(by_name, mine)


def survivors(modules: Sequence[str], mutants: Sequence[Mutant]) -> list[Mutant]:
    excused = {e.mutant for e in load_equivalents(EQUIVALENTS)}
    return [
        m for m in mutants if m.module in modules and m.status in MISSED and m.name not in excused
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__)
    parser.add_argument("modules", nargs="*", metavar="MODULE")
    parser.add_argument(
        "--changed", metavar="REF", help="only the judging modules changed since REF"
    )
    parser.add_argument(
        "--again", action="store_true", help="rerun only what the last run did not catch"
    )
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    modules = chosen(args.modules, args.changed)
    if not modules:
        print(f"No judging module changed since {args.changed}: nothing to mutate.")
        return 0
    patterns = (
        [m.name for m in results() if m.module in modules and m.status not in CAUGHT]
        if args.again
        else [f"{m}.*" for m in modules]
    )
    if patterns and run_mutmut(patterns) != 0:
        print("mutmut could not run the tests: run `mutmut run` to see why.", file=sys.stderr)
        return 1
    mutants = list(results())
    suspects = caught_equivalents(mutants, load_equivalents(EQUIVALENTS), modules)
    if suspects:  # (a real kill is caught again; a test that failed by chance, on a busy
        # machine, most likely not: once a listed equivalent "killed" after a second's run, alone
        # it survived in a tenth)
        print(f"listed equivalents caught, run again alone: {', '.join(suspects)}")
        if run_mutmut(suspects, children="1") != 0:
            print("mutmut could not run the tests: run `mutmut run` to see why.", file=sys.stderr)
            return 1
        mutants = list(results())
    return _verdict(modules, mutants, write=not (args.modules or args.changed))


def _verdict(modules: Sequence[str], mutants: Sequence[Mutant], *, write: bool) -> int:
    scores, gone = report(modules, mutants)
    for mutant in survivors(modules, mutants):
        print(f"survived: {mutant.name}: {mutant.line}")
    for sentence in gone:
        print(f"stale equivalent: {sentence}")
    print(table(scores))
    if write:
        DOC.write_text(with_table(DOC.read_text(encoding="utf-8"), table(scores)), encoding="utf-8")
    failing = [s.module for s in scores if not s.passes]
    for module in failing:
        print(f"{module} scores under 90 %: add tests that kill its survivors (mutmut show NAME).")
    return 1 if failing or gone else 0


if __name__ == "__main__":
    sys.exit(main())
