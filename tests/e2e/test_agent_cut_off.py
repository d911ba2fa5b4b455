"""A remote agent cut off around T (``bench/bench_chaos.py``'s ``agent-cut-off`` case, run once):
the agent runs in a network namespace the test makes, joined by a veth pair to the service and
the Varnish edge (their own private /30; nothing else is reachable from inside), and its end of
the pair is taken down from T − 0.5 s for 8 s. Its vantage point is found silent and the
*vantage* incident opens and is alerted within seconds; the other agent and the service's own
sweeps go on; once it is back the incident is resolved; one flip, the hash chain intact (no
event lost or changed). The namespace and the pair are removed whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench.bench_chaos import CUT_S, SILENT_S, agent_cut_off

from tests.conftest import _postgres_url
from tests.servers.netns import unavailable

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def database() -> Iterator[str]:
    yield from _postgres_url()


@pytest.mark.skipif(unavailable() is not None, reason=f"{unavailable()}")
def test_an_agent_cut_off_at_t_is_found_silent_and_alerted_while_the_others_go_on(
    tmp_path: Path, database: str
) -> None:
    with ExitStack() as stack:  # (the namespace and the pair removed on leaving, whatever happens)
        case = agent_cut_off(tmp_path / "agent-cut-off", stack, database)
    assert case["places"] == ["agent:edinburgh"], case  # only the one cut off
    assert case["opened_after_cut_s"] <= SILENT_S + 3, case  # its last post, the limit, a look
    assert case["alert_after_cut_s"] <= SILENT_S + 5, case
    assert {"problem": "vantage", "state": "resolved"} in case["incidents"], case
    # back: the agent's own back-off (4 s after 8 s without an answer), its 1 s timeout, a look
    assert case["resolved_after_mend_s"] <= 10, case
    during = case["during_cut"]
    assert "agent:edinburgh" not in during and during.get("agent:cardiff", 0) >= CUT_S, case
    assert case["cardiff_longest_gap_s"] <= 2.0, case  # cardiff never paused
    assert case["verify_ok"] and not case["early"] and case["edge_new_s"] is not None, case
    for kind in ("publish.staged", "publish.flipped", "publish.done"):
        assert case["kinds"].get(kind) == 1, (kind, case)
    assert not case["tracebacks"], case
