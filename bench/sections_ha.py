"""The failover and chaos sections of docs/benchmarks.md (issue 16), rendered by ``bench.run``."""

from __future__ import annotations

from typing import Any

from bench.findings import failed_section, num, table, verdict


def _once(case: dict[str, Any]) -> bool:
    kinds = case.get("kinds", {})
    return all(kinds.get(k) == 1 for k in ("publish.staged", "publish.flipped", "publish.done"))


def failover_section(result: dict[str, Any], goals: list[list[str]]) -> list[str]:
    failed = failed_section("Failover (run)", result, goals)
    if failed:
        return failed
    cases = result["figures"]["failover"]
    killed = [c for c in cases if c["kill_s"] is not None]
    at_minus_1 = next((c for c in killed if c["kill_s"] == -1.0), None)
    take_over = max((c.get("take_over_s") or 99.0 for c in killed), default=None)
    right = all(_once(c) and c["verify_ok"] and not c["early"] for c in cases)
    goals += [
        [
            "a standby takes the lead within 2 s of the leader being SIGKILLed",
            "issue 16",
            f"at most {num(take_over, 3)} s over {len(killed)} kills",
            verdict(take_over is not None and take_over <= 2.0),
        ],
        [
            "leader SIGKILLed at T − 1 s: the standby publishes, the edge has the new bytes by "
            "T + 2 s, one `publish.flipped`, `timeline --verify` passes",
            "issue 16 acceptance",
            f"edge at T + {num(at_minus_1 and at_minus_1['edge_new_s'], 3)} s, flip "
            f"{num(at_minus_1 and at_minus_1['flip_late_s'], 3)} s late",
            verdict(
                at_minus_1 is not None
                and at_minus_1["edge_new_s"] is not None
                and at_minus_1["edge_new_s"] <= 2.0
                and right
            ),
        ],
        [
            "killed at T − 1 s, T and T + 0.5 s: zero double publishes, zero lost events, chain "
            "intact",
            "issue 16",
            f"{sum(_once(c) and c['verify_ok'] for c in cases)}/{len(cases)} releases",
            verdict(right),
        ],
    ]
    rows = [
        [
            c["release"],
            "not killed (baseline)" if c["kill_s"] is None else f"T {c['kill_s']:+.1f} s",
            num(c.get("take_over_s"), 3),
            num(c["flip_late_s"], 3),
            num(c["edge_new_s"], 3),
            "yes" if c["early"] else "no",
            " / ".join(
                str(c["kinds"].get(k, 0))
                for k in ("publish.staged", "publish.flipped", "publish.done")
            ),
            "yes" if c["verify_ok"] else "**no**",
        ]
        for c in cases
    ]
    return [
        "## 11. Failover: the leader SIGKILLed around T (`onthedot run` × 2 on PostgreSQL, issue 16)",
        "",
        "What: two real `onthedot run` subprocesses on one PostgreSQL database (the machine's "
        "server, a database of the benchmark's own), a file target under nginx with Varnish "
        "(`-t 3600`) in front and its `varnish://` purger. One instance leads (holds the "
        "advisory lock), the other stands by. For each release (due 5 s after it is written; "
        "the leader stages it at once) the leader is SIGKILLed at the given moment, and a new "
        "standby is started once the old one has taken over. Baseline in the same run: a "
        "release of the same pair that nobody kills. Take-over: from the SIGKILL to the "
        "`leader_since` the new leader reports in `/api/health`; edge: when a thread polling "
        "Varnish every 10 ms first got the new bytes (never before T); events: `publish.staged` "
        "/ `publish.flipped` / `publish.done` in the timeline.",
        "",
        *table(
            [
                "Release",
                "Leader killed at",
                "take-over s",
                "flip late s",
                "edge new at T + s",
                "early",
                "events",
                "verify",
            ],
            rows,
        ),
        "",
    ]


def chaos_section(result: dict[str, Any], goals: list[list[str]]) -> list[str]:
    failed = failed_section("Chaos (run)", result, goals)
    if failed:
        return failed
    f = result["figures"]
    cases = {c["release"]: c for c in f["chaos"]}
    detected = {
        "chaos-store-down": "late" in cases.get("chaos-store-down", {}).get("breaches", []),
        "chaos-purge-fails": any(
            i["problem"] == "stale" for i in cases.get("chaos-purge-fails", {}).get("incidents", [])
        ),
        "chaos-origin-down": any(
            i["problem"] == "error" for i in cases.get("chaos-origin-down", {}).get("incidents", [])
        ),
    }
    right = all(_once(c) and c["verify_ok"] and c["leaders_at_end"] == 1 for c in cases.values())
    goals.append(
        [
            "chaos (store stopped 5 s around T, purge API failing, origin frozen from T − 1 s "
            "to T + 4 s): every incident detected, "
            "no double publish, chain intact",
            "issue 16",
            f"{sum(detected.values())}/{len(detected)} detected; "
            f"{sum(_once(c) and c['verify_ok'] for c in cases.values())}/{len(cases)} published "
            "once with an intact chain",
            verdict(all(detected.values()) and right),
        ]
    )
    rows = [
        [
            c["release"],
            num(c["flip_late_s"], 3),
            num(c["edge_new_s"], 3),
            ", ".join(f"{i['problem']} ({i['state']})" for i in c["incidents"]) or "none",
            ", ".join(c["breaches"]) or "none",
            str(c["kinds"].get("purge.failed", 0)),
            "yes" if _once(c) else "**no**",
            "yes" if c["verify_ok"] else "**no**",
            str(c["leaders_at_end"]),
        ]
        for c in cases.values()
    ]
    return [
        "## 12. Chaos around T (`onthedot run` × 2, issue 16)",
        "",
        "What: the same pair and site as section 9, one release per case. `chaos-store-down`: "
        "the store is a private PostgreSQL cluster (its own `initdb` in a temp dir, never the "
        f"machine's server) stopped from T − {num(f['setup']['outage_s'] / 2, 1)} s to "
        f"T + {num(f['setup']['outage_s'] / 2, 1)} s: nothing can be recorded meanwhile, so "
        "nothing is flipped until it is back (the flip's lateness is the price of never "
        "publishing unrecorded). `chaos-purge-fails`: the release's purger points where nothing "
        "answers, so the purge at T fails and Varnish keeps the old file; the watch is limited "
        f"to {f['setup']['watch_s']} s. Incidents: what the service opened (problem and state at "
        "the end); breaches: what `onthedot breaches` finds in the record (`time` in every row: "
        "the benchmark's releases are due at whatever minute it runs, not at 09:30 on a working "
        "day as the Code asks). `chaos-origin-down`: "
        "a site of its own whose nginx is frozen (SIGSTOP) from T − 1 s to T + 4 s, with "
        "`[verify] timeout = 2`: the edge cannot fetch the new file until it answers again.",
        "",
        *table(
            [
                "Case",
                "flip late s",
                "edge new at T + s",
                "incidents",
                "breaches",
                "purge.failed",
                "published once",
                "verify",
                "leaders at end",
            ],
            rows,
        ),
        "",
        *_agent_cut_off(f.get("agent"), goals),
    ]


def _measured(case: dict[str, Any]) -> str:
    return f" (measured {case['when']})" if case.get("when") else ""


def _agent_cut_off(case: dict[str, Any] | None, goals: list[list[str]]) -> list[str]:
    """The ``agent-cut-off`` case: its own goal row and table, under section 12."""
    if case is None or "skipped" in case:
        why = "not measured yet" if case is None else f"not measured: {case['skipped']}"
        return ["A remote agent cut off around T: " + why + ".", ""]
    only_it = case["places"] == ["agent:edinburgh"]
    others = (
        case["during_cut"].get("agent:cardiff", 0) > 0
        and "agent:edinburgh" not in case["during_cut"]
    )
    resolved = {"problem": "vantage", "state": "resolved"} in case["incidents"]
    right = only_it and others and resolved and _once(case) and case["verify_ok"]
    goals.append(
        [
            "an agent cut off around T: its vantage point found silent and alerted, the other "
            "vantage points unaffected, chain intact",
            "issue 16",
            f"incident {num(case['opened_after_cut_s'], 1)} s and alert "
            f"{num(case['alert_after_cut_s'], 1)} s after the cut (limit "
            f"{num(case['silent_after_s'], 0)} s); cardiff posted "
            f"{case['during_cut'].get('agent:cardiff', 0)} times meanwhile",
            verdict(right),
        ]
    )
    row = [
        num(case["cut_vs_t_s"], 2),
        num(case["cut_for_s"], 1),
        num(case["opened_after_cut_s"], 2),
        num(case["alert_after_cut_s"], 2),
        num(case["resolved_after_mend_s"], 2),
        ", ".join(f"{v} {n}" for v, n in case["during_cut"].items()) or "none",
        num(case["cardiff_longest_gap_s"], 2),
        num(case["edge_new_s"], 3),
        "yes" if _once(case) else "**no**",
        "yes" if case["verify_ok"] else "**no**",
    ]
    return [
        "A remote agent cut off around T (`agent-cut-off`, root only): one `onthedot run` whose "
        "web app and Varnish edge listen on this side of a veth pair (a private /30 of the test's "
        "own); agent `edinburgh` runs in the network namespace at the other end, agent `cardiff` "
        "here, both every 0.5 s; `[web] agent_silent_after_s = "
        f"{num(case['silent_after_s'], 0)}`. Edinburgh's end of the pair is taken down from "
        f"T − {num(-case['cut_vs_t_s'], 1)} s for {num(case['cut_for_s'], 0)} s"
        f"{_measured(case)}. Incident and alert: seconds from the cut until the *vantage* "
        "incident (`Checks from agent:edinburgh stopped …`) was opened and its message reached "
        "the webhook (the silence counts from edinburgh's last result, up to a round before the "
        "cut, so it may be under the limit); resolved: seconds from the pair coming back until "
        "the incident was resolved (mostly the agent's own back-off between tries to reach the "
        "server); posts meanwhile: results recorded per vantage point from 1 s after the cut "
        "until it ended (the service's own sweeps had ended: the release was live everywhere "
        "at once).",
        "",
        *table(
            [
                "cut at T + s",
                "cut for s",
                "incident after s",
                "alert after s",
                "resolved after s",
                "posts meanwhile",
                "cardiff longest pause s",
                "edge new at T + s",
                "published once",
                "verify",
            ],
            [row],
        ),
        "",
    ]
