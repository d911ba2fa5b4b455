"""The mutation score: listed equivalents excluded only while they still survive on the same line,
stale entries reported, the table written between its markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutation.score import (
    END,
    START,
    Equivalent,
    Mutant,
    Score,
    caught_equivalents,
    load_equivalents,
    stale,
    table,
    tally,
    with_table,
)

MOD = "onthedot.verify.freshness"


def mutant(n: int, status: str, line: str = "") -> Mutant:
    return Mutant(f"{MOD}.x_freshness__mutmut_{n}", status, line)


MUTANTS = [
    *(mutant(n, "killed") for n in range(1, 17)),
    mutant(17, "timeout"),
    mutant(18, "survived", "a = 1"),
    mutant(19, "survived", "b = 2"),
    mutant(20, "no tests", "c = 3"),
]


def test_listed_equivalents_leave_the_score_and_the_rest_count_against_it() -> None:
    listed = [Equivalent(MUTANTS[17].name, "a = 1", "why")]
    (score,) = tally([MOD], MUTANTS, listed)
    assert score == Score(MOD, 20, 17, 1, 2)
    assert round(score.percent, 1) == 89.5 and not score.passes
    (better,) = tally([MOD], MUTANTS, [*listed, Equivalent(MUTANTS[18].name, "b = 2", "why")])
    assert (better.percent, better.passes) == (17 / 18 * 100, True)


def test_a_module_with_unchecked_mutants_does_not_pass() -> None:
    (score,) = tally([MOD], [mutant(1, "killed"), mutant(2, "not checked")], [])
    assert (score.unfinished, score.passes) == (1, False)


def test_an_entry_goes_stale_when_its_mutant_is_gone_killed_or_on_another_line() -> None:
    by_name = {m.name: m for m in MUTANTS}
    entries = [
        Equivalent(f"{MOD}.x_gone__mutmut_1", "x", "why"),
        Equivalent(MUTANTS[0].name, "x", "why"),
        Equivalent(MUTANTS[17].name, "a = 0", "why"),
        Equivalent(MUTANTS[18].name, "b = 2", "why"),
    ]
    assert stale(by_name, entries) == [
        f"{MOD}.x_gone__mutmut_1 no longer exists: remove it from the equivalents.",
        f"{MUTANTS[0].name} is now killed, so it was not equivalent: remove it.",
        f"{MUTANTS[17].name} now mutates 'a = 1', not 'a = 0': check it again and update or "
        "remove the entry.",
    ]


def test_the_listed_equivalents_caught_this_run_are_run_again_before_they_are_stale() -> None:
    listed = [
        Equivalent(MUTANTS[16].name, "", "why"),  # a timeout
        Equivalent(MUTANTS[1].name, "", "why"),  # killed
        Equivalent(MUTANTS[18].name, "b = 2", "why"),  # survived, as an equivalent does
        Equivalent("onthedot.verify.judgement.x_j__mutmut_1", "", "why"),  # another module
    ]
    other = Mutant("onthedot.verify.judgement.x_j__mutmut_1", "killed")
    assert caught_equivalents([*MUTANTS, other], listed, [MOD]) == sorted(
        [MUTANTS[1].name, MUTANTS[16].name]
    )
    assert caught_equivalents(MUTANTS, [], [MOD]) == []


def test_the_table_replaces_only_what_is_between_the_markers(tmp_path: Path) -> None:
    rendered = table([Score(MOD, 20, 18, 1, 1)])
    assert rendered.splitlines()[2] == f"| `{MOD}` | 20 | 18 | 1 | 1 | 94.7 % |"
    document = f"# Testing\n\nBefore.\n\n{START}\nold\n{END}\n\nAfter.\n"
    assert with_table(document, rendered) == (
        f"# Testing\n\nBefore.\n\n{START}\n{rendered}\n{END}\n\nAfter.\n"
    )
    with pytest.raises(ValueError, match="no <!-- mutation:start -->"):
        with_table("# Testing\n", rendered)


def test_the_repositorys_equivalents_each_say_why() -> None:
    listed = load_equivalents(Path(__file__).with_name("equivalents.toml"))
    assert all(e.mutant.startswith("onthedot.") and e.line and len(e.why) > 20 for e in listed)
    assert len({e.mutant for e in listed}) == len(listed)
