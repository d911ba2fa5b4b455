"""The failover and chaos sections of docs/benchmarks.md (issue 16), rendered by ``bench.run``."""

from __future__ import annotations

from collections.abc import Callable
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
            f"{num(case['alert_after_cut_s'], 1)} s after the cut (set to call it silent after "
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
        "incident (`The checks from Edinburgh stopped at …`) was opened and its message reached "
        "the webhook (the silence counts from when the server received edinburgh's last result, "
        "up to a round before the cut, so it may be under that setting); resolved: seconds from the pair coming back until "
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


def _both(scenarios: dict[int, dict[str, Any]], figure: Figure) -> list[str]:
    """A figure of the three instances, then of the one (the baseline)."""
    return [figure(scenarios[n]) if n in scenarios else "—" for n in (3, 1)]


def load_section(result: dict[str, Any], goals: list[list[str]]) -> list[str]:
    failed = failed_section("Load (run)", result, goals)
    if failed:
        return failed
    f = result["figures"]
    setup = f["setup"]
    scenarios = {s["instances"]: s for s in f["scenarios"]}
    three, one = scenarios.get(3, {}), scenarios.get(1, {})
    every = three.get("all_classified_s")
    p95 = three.get("dashboard_ms", {}).get("all", {}).get("p95")
    once = all(
        s["double_publishes"] == 0 and s["flipped_releases"] == s["releases"]
        for s in scenarios.values()
    )
    goals += [
        [
            f"{setup['releases']} releases × {setup['urls_per_release']} URLs due at the same T "
            "with 3 instances: every URL classified ≤ 5 s after T",
            "issue 16",
            f"{num(every, 2)} s (1 instance in the same run: {num(one.get('all_classified_s'), 2)} s)",
            verdict(
                None if not three else every is not None and every <= setup["classified_goal_s"]
            ),
        ],
        [
            "… the dashboard's p95 ≤ 500 ms during the burst (T − 5 s to T + 10 s, every "
            "instance's port)",
            "issue 16",
            f"{num(p95, 0)} ms (1 instance: "
            f"{num(one.get('dashboard_ms', {}).get('all', {}).get('p95'), 0)} ms)",
            verdict(None if p95 is None else p95 <= setup["dashboard_goal_ms"]),
        ],
        [
            "… exactly one `publish.flipped` per release",
            "issue 16",
            " and ".join(
                f"{s['flipped_releases']}/{s['releases']} flipped, {s['double_publishes']} twice "
                f"({n} instance{'s' if n > 1 else ''})"
                for n, s in scenarios.items()
            ),
            verdict(once),
        ],
    ]
    return [
        "## 13. Load: 200 releases due at the same T (`onthedot run` × 3 on PostgreSQL, issue 16)",
        "",
        f"What: {setup['releases']} release files of {setup['urls_per_release']} small files "
        "each, all due at the same T, published by real `onthedot run` subprocesses on one "
        "PostgreSQL database (the machine's server, a database of the scenario's own): a file "
        "target into nginx's web root with Varnish (`-t 3600`) in front, purged at T through "
        "`varnish://`; the old version of every file at the origin (the leak probes put it in "
        "Varnish's cache). Once one instance leads and the others stand by, the release files "
        f"are written, each due {num(setup['lead_s'], 0)} s later (each moved whole into the "
        "folder the instances read every second). Classified: when every URL of a release has "
        "a result checked at or after T in the store's `checks`, as seen by a thread asking the "
        f"store every {num(setup['poll_s'], 2)} s (so up to that much late). From "
        f"T − {num(-setup['load_from_s'], 0)} s to T + {num(setup['load_until_s'], 0)} s a process "
        f"of its own keeps {setup['connections']} requests in flight (pycurl multi, keep-alive) "
        "over `/`, `/calendar`, `/releases/{id}` and `/api/releases/{id}` (the last two with a "
        "read token), in turn on every instance's web port. Baseline in the same run: the same "
        "releases, servers and readers with one instance. "
        f"{setup['machine_cpus']} CPUs shared with other work: see the load average above.",
        "",
        *table(
            ["Measure", "3 instances", "1 instance (baseline)"],
            [[label, *_both(scenarios, figure)] for label, figure in LOAD_ROWS],
        ),
        "",
        *LOAD_CAUSES,
    ]


def _ms(figures: dict[str, Any]) -> str:
    times = " / ".join(num(figures.get(k), 0) for k in ("p50", "p95", "max")) + " ms"
    size = figures.get("bytes_max")
    return times if size is None else f"{times} ({num(size / 1000, 0)} kB)"


LOAD_CAUSES = [
    "Where the time goes, and what was done about it (found on 2026-12-06 in the instances' "
    "output, their CPU above, cProfile of the dashboard's app in a copy, samples of the leader's "
    "event loop every 5 ms (`ONTHEDOT_PROFILE=folder`, `bench/loop_sampling`, summed up by "
    "`bench.loop_profile`) and a trace of each release's steps after T (flip, purge, each sweep, "
    "results handed to recording, committed); each fix with a test that fails without it; the "
    "figures above are after all of them):",
    "",
    "- **A shared machine.** Other sessions' work on the same 2 CPUs ('other work' in the CPU "
    "row, measured as the machine's busy time less every process of the benchmark) takes what "
    "the set-up — instances, nginx, Varnish, PostgreSQL — would use; the two columns are not run "
    "at the same moment, so a difference of a few seconds between them says little. In this run "
    "other work was light and the benchmark's own processes kept both CPUs busy.",
    "- **First pass (the morning):** each timeline append a transaction of its own (now the "
    "appends made while one is written go together: `record/timeline.py`, `_Appends`); every "
    "artefact hashed again at every tick (`cli.common.KeptDigests`); connections held for a "
    "round of the loop until 20 publishes crashed waiting (the publish path's own pool, "
    "`store.db.publishing`); the lead dropped by a slow loop (`store/advisory.py`); each "
    "release purging its 50 URLs one by one (one Varnish BAN per release, 8 purges at a time "
    "per host). The last URL went from T + 28.6 s to T + 16.7 s with 3 instances.",
    "- **The flip's renames queued the sweeps.** The 10,000 renames at T were one call each on "
    "the event loop's default worker threads: the last release had all its files in place only "
    "at T + 8.7 s (half of them by T + 3.8 s), and the sweeps' address look-ups waited behind "
    "them. A release is now flipped in one call on the file target's own 4 threads, each folder "
    "fsynced once (`Target.flip_all`): 200 × 50 files in place 0.36 to 0.46 s after T in "
    "process (was 2.3 to 3.0 s). Every chunk of a sweep also looked the site up again; now "
    "every sweep within 10 s of the look-up made before T uses it.",
    "- **A budget with nobody to share it with.** With no other instance listening, the leader "
    "still posted its sweeps in chunks and looked at three chunks at a time; now it sweeps every "
    "release at once, as on SQLite (the instances are counted by the names of their listening "
    "connections).",
    "- **Per release, what could be per moment.** 200 probe engines were made, driven and "
    "closed at T (one is now lent to every release, `runtime.SharedProbes`); the spread's store "
    "calls of one kind go together in one statement (`store/gathered.py`: 31.6 % of the "
    "leader's busy samples down to 11.9 %); the results of every release in a timeline batch "
    "go in one insert, the events in another (3 statements a batch, was 102); a publish step is "
    "marked in one statement; a pooled connection is checked by its socket, not a round trip; "
    "the responder looks at most every 0.25 s. The scheduler parses a release file again only "
    "when it or one of its artefacts changed and syncs only a changed release: a tick over 200 "
    "unchanged files costs about 45 ms of CPU (was 0.8 s). Staging hashes each file while "
    "copying it, a release's files in up to 4 threads (the loop's CPU for staging 200 releases "
    "3.2 s down to 1.6 s).",
    "- **Found by this benchmark: a deadlock.** Two timeline batches over the same releases in "
    "opposite orders (two instances, or the publish path's pool and the main one) waited for "
    "one another, PostgreSQL gave one up, and a publish crashed at T. Now each batch takes its "
    "places in the releases' order, and one given up for a deadlock is tried again.",
    "- **Second pass (the evening of 2026-12-06).** Found with per-process CPU read from "
    "`/proc` every half second, the loop samples and py-spy (`--gil`, not pausing the process): "
    "(1) Varnish used a whole CPU from T + 2 s to T + 7 s testing every object looked up against "
    "200 bans, each an alternation of 50 whole paths: a ban now names the release's folder once, "
    "so another release's ban fails at its first characters (the edge's CPU for 10,000 look-ups "
    "after 200 such bans 3.1 s down to 1.7 s, `publish/purgers/varnish.py`); (2) every release "
    "page read and checked every line of the checkpoint file, a signature each, nine tenths of "
    "the dashboard process's time once the morning's heads were signed: the lines read are kept "
    "and only new ones read (`record/checkpoint.py`), which is most of the dashboard's change in "
    "the table; (3) the timeline's rows go by one COPY on PostgreSQL (a 10,000-URL sweep's "
    "recording 0.88 to 0.52 CPU s, `store/bulk.py`); (4) the scheduler looks at the artefacts of "
    "a release being published only every 15 to 30 s (a read of 200 × 50 files 52 to 16 ms), "
    "marks several releases' steps in one statement, and begins no tick from 0.5 s before a T to "
    "0.25 s after it; the responder reads only the kinds of event it acts on, each release from "
    "its own last event read; incidents of several releases open in one insert; (5) the sweep "
    "at T waits up to a second for the caches to answer the purge: sent before it, sweeps found "
    "the old files, recorded 1,500 stale results, opened 30 incidents and swept again (now 72 "
    "and 2); (6) the benchmark's edge runs Varnish's own default thread pools, as a site's does "
    "and as the morning benchmark's did, not the sandbox's 8 threads. Pages are now also given "
    "again for up to 5 s while nothing they are made from has changed (`web/answers.py`; 30 s "
    "when measured here, cut to 5 s after review for what that mark does not cover: no effect "
    "on these readers, who never ask for the same release within 30 s).",
    "- **Third pass (the night of 2026-12-06): where the leader's loop goes, and what did not "
    "help.** A sampler of the leader's event loop (`bench/loop_sampling`) found it busy 81 to "
    "99 % of the time from T + 2 s until the last result was stored: the probe engine in about "
    "29 % of the busy samples, storing the results 21 %, the responder 14 %, the publishes' own "
    "work (sweeps judged, steps marked) 10 %, the purges 9 %, the scheduler's tick 6 % (the "
    "sampler takes its turn when the loop lets go of the interpreter: a guide, not a measure). "
    "A trace of the timeline's writes: every URL had been judged by about T + 4.3 s, and the "
    "results were stored one transaction at a time (4,000 to 4,600 events each, 0.5 to 0.8 s "
    "each on the busy loop) until T + 7 to 7.5 s. The purge at T went 8 requests at a time to "
    "the edge, each turn a round of the busy loop: the 200 releases' BANs were answered from "
    "T + 0.5 to T + 5.7 s. They now go 64 at a time to a cache of the site's own and share "
    "their connections (`publish/purgers/http.py`; 200 BANs while the loop is busy 10 ms at a "
    "time: the last answered after 3.0 s 8 at a time, 0.4 s all at once), but the last URL "
    "stayed where it was: T + 7.4 to 8.0 s in four one-instance runs (7.4 to 7.8 s before). "
    "After these figures were measured, the responder's reading of results was made cheaper (it "
    "reads 10,000 at T on every instance): the timeline's data is checked for a long run of "
    "digits without a regular expression, and of each result only what a problem is made of is "
    "read (`record.breaches.read_seen`): 44 to 53 µs of CPU down to 12 µs a result, measured "
    "over 6,000 stored results. "
    "Nor did three other trials move it, so none was kept: the service with no responder at "
    "all (T + 6.9 and 7.1 s); sweeps sent as soon as the caches had answered the purge rather "
    "than once its answers were stored (7.7 and 7.8 s); and the results stored by a process of "
    "the service's own, the loop only working out which statuses changed and handing each "
    "chunk over (8.6 and 9.2 s, the dashboard's p95 about 970 ms: on 2 CPUs already busy with "
    "the edge, the origin, PostgreSQL and the dashboard, another busy process took their CPU "
    "rather than adding any).",
    "- **Fourth pass (the night of 2026-12-06 to 07): what the instances waited for at T.** "
    "Read from the store after a three-instance run: the flips were made by T + 0.03 s but "
    "recorded at T + 4.0 s (the median release; with one instance T + 2.3 s), the caches "
    "answered the purge at T + 3.8 s, the standbys' first chunks were posted at T + 2.6 s and "
    "most at T + 5.4 s, and the standbys' loops were 8 to 15 % busy until T + 4 s while the "
    "leader's was full. On an idle loop the same 200 flips are recorded in 50 ms, and "
    "PostgreSQL's own view (`pg_stat_activity` every 50 ms from T to T + 4.5 s) had its "
    "connections waiting on the instances (idle in a transaction, four samples in five), not "
    "the reverse: the time went in the loops' turns. Now the sweep at T fetches while its flip "
    "is recorded (its results go on the timeline after it) and waits for the caches' answer to "
    "the purge, not for its record (the first chunks posted at T + 2.0 s, the median release's "
    "at T + 4.1 s, the chunks done by T + 5.5 s, was T + 7.2 s, `morning/publisher.py`); and a "
    "standby asks which releases are due by their digests and reads only the new and changed "
    "ones (it read and checked 200 releases of 50 files every 5 s: half its busy loop from T "
    "to T + 2 s, `morning/spread.py`). Tried and not kept: no tick of the scheduler in the 10 s "
    "after a release time (a release written a few seconds before its time, as the failover "
    "test does, was then staged too late). Runs of the same code vary by seconds here: three "
    "instances 9.4 to 14.3 s tonight, one 5.2 to 6.8 s; the table is one of them, so each "
    "change is kept for the wait it removes, not for a figure.",
    "- **Fifth pass (the morning of 2026-12-07): the renames at T, and the chunks.** A trace "
    "of each release's steps (when its flip, its purge's answers and its results were on the "
    "timeline: rows of the table now) and of the file target's calls showed each release's "
    "flip, 50 renames in one worker thread, taking 1.2 to 2.7 s, although the same renames made "
    "by another process at that moment took 20 to 60 ms: a rename over a file frees the old "
    "file's blocks inside the rename (100 µs for a 10 KB file on this disk, 12 µs when the old "
    "file has a second name), and between renames each of the 200 threads waited for the "
    "interpreter's lock. While staging, the file each copy will replace now gets a second, "
    "hidden name, and the old files are freed after the watch (`publish/targets/file.py`): in "
    "the traced one-instance runs every release was in place by T + 0.8 s (was 2.7 s) and its "
    "flip recorded by T + 0.9 s (was 2.9 s; the table's runs: 0.8 s with three instances, 1.3 s "
    "with one). Renames made by the event loop itself were tried and not kept: under the load "
    "of T each still took about 100 µs, and the loop they held fired the last flips 0.7 s late. "
    "Then, with three instances, each looked at three chunks at a time (as many URLs as its "
    "engine fetches at once), and each chunk's look also waits on the store (its claim, its "
    "results written) and on judging, so the engines sat idle between chunks: every URL "
    "classified at T + 11.5 s after the first fix. Each now looks at four times as many "
    "(eleven chunks of 25, `morning/spread.py`): 8.4 to 8.6 s in two runs, the table's run 7.3 "
    "s (sixteen times as many: no better). Neither fix changed what is judged or recorded.",
    "- **Left: classification.** With three instances the leader's loop is busy 98 % from "
    "T + 1.5 s to T + 8 s (storing the results 27 % of its busy samples, fetching 18 %, the "
    "scheduler's tick 11 %, the responder 10 %) while the standbys' are busy 56 %, a quarter of "
    "it writing their chunks' results to the store for the leader to read back and record: "
    "the results are on the timeline at T + 5 to 6.5 s, most of a second after the last was "
    "fetched. What is left is less work per result on the leader: each instance storing the "
    "results it looked at (the timeline takes several writers) would take most of the leader's "
    "share of storing off it; not done yet. On 2 CPUs shared by three instances, the edge, the "
    "origin and the store, the spread adds work rather than CPUs: the same morning with the "
    "leader looking at every URL alone, the two others standing by, took 8.2 s before the "
    "fixes above, three instances sharing 11.5 s. One instance: T + 5.8 to 6.5 s.",
    "- **Sixth pass (midday of 2026-12-07): the pages themselves.** The CPU of each page made "
    "in process (no page kept), over a copy of this benchmark's store after a one-instance "
    "morning: a release page 25 to 30 ms, the board (`/`) 30 to 45 ms, the API's release 7 to "
    "12 ms, the calendar 4 to 10 ms. Of that, 3 to 5 ms a page went to the garbage collector "
    "(the web process now tunes it as the service does, `web/server.py`), the board looked on "
    "disk for its included templates about 400 times a page (Jinja's default; the installed "
    "templates are now read once, `web/app.py`), and the release page and the API read the "
    "release's timeline twice, once to show it and once to check its hash chain (now once, "
    "which also checks exactly the events shown, `Timeline.checked`). A release page also "
    "listed every event of its timeline, each in a sentence made from its parsed result (a "
    "6,000-file release is 12,000 rows at T): a run of more than ten checks that found the "
    "same thing at the same place is now one row (`record/narrative.py`, `told`), a 50-file "
    "release's page 27 to 19 ms, a 6,000-file release's 1.3 to 0.95 s. Three-instance runs "
    "during the pass: the dashboard's p95 639, 866 and 966 ms before the last change, 659 ms "
    "after it (the table's; 928 ms before the pass); every URL classified at T + 10.0, 8.6, "
    "9.2 and 7.6 s (7.3 s before: within what runs of the same code spread over here, above). "
    "One instance: p95 469 ms, then 302 ms (589 before). The readers keep 8 requests in flight "
    "whatever each costs, so cheaper pages are asked for more often (one instance: 1,480 "
    "requests against 725): the web processes' CPU stays what it was and the instances gain "
    "none from it.",
    "- **Left: the dashboard.** The p95 with one instance is under the 500 ms goal (302 ms in "
    "the table's run), and with three instances 0.6 to 1 s: each instance's dashboard runs at "
    "nice +10 "
    "so that what readers ask cannot delay the flips (measured: flips 5 to 8 ms late at +10, 23 "
    "to 26 ms at +5, 90 to 115 ms in two runs of three at 0), and while the publish keeps both "
    "CPUs busy it waits its turn: from T the three-instance p95 was 1.1 to 1.7 s in this pass's "
    "runs, before T 0.2 to 0.5 s.",
    "- Fixed earlier: a standby's responder failed its look with a duplicate key whenever "
    "another instance opened the same incident first (`respond/incidents.py`); 'responder "
    "looks failed' counts them.",
    "",
]


def _within(seconds: float | None, limit: float) -> str:
    return f"not within {num(limit, 0)} s" if seconds is None else f"{num(seconds, 2)} s"


def _pair(figures: dict[str, Any], digits: int, unit: str = "s") -> str:
    return f"{num(figures.get('p50'), digits)} / {num(figures.get('max'), digits)} {unit}"


def _cpu(s: dict[str, Any]) -> str:
    cpu = s.get("burst_cpu_per_s") or {}
    each = " + ".join(num(x, 2) for x in cpu.get("instances", []))
    return (
        f"instances {each}; nginx and Varnish {num(cpu.get('servers'), 2)}; PostgreSQL "
        f"{num(cpu.get('store'), 2)}; readers {num(cpu.get('readers'), 2)}; the bench "
        f"{num(cpu.get('bench'), 2)}; other work {num(cpu.get('other'), 2)} — of "
        f"{num(cpu.get('machine'), 2)} busy on {cpu.get('cpus', '?')} CPUs"
    )


def _recorded(scenario: dict[str, Any], kind: str) -> str:
    found = scenario.get("recorded_s", {}).get(kind)
    return "—" if not found else f"{num(found[0], 2)} / {num(found[1], 2)} s"


PAGES = ("/", "/calendar", "/releases/{id}", "/api/releases/{id}")
Figure = Callable[[dict[str, Any]], str]
LOAD_ROWS: list[tuple[str, Figure]] = [
    ("instances up (one leads, the others stand by)", lambda s: f"{num(s['instances_up_s'], 1)} s"),
    ("every release staged, before T", lambda s: f"{num(s['staged_before_t_s'], 1)} s"),
    ("releases with every URL classified", lambda s: f"{s['classified_releases']}/{s['releases']}"),
    ("a release classified after T: p50 / max", lambda s: _pair(s["classified_s"], 2)),
    ("every URL classified after T", lambda s: _within(s["all_classified_s"], s["wait_s"])),
    (
        "releases flipped within the wait / flipped twice",
        lambda s: f"{s['flipped_releases']} / {s['double_publishes']}",
    ),
    ("flip late: p50 / max", lambda s: _pair(s["flip_late_s"], 3)),
    *[
        (f"{label}, after T: p50 / max", lambda s, k=kind: _recorded(s, k))
        for kind, label in (
            ("publish.flipped", "flips recorded"),
            ("purge.attempt", "the caches' answers to the purge recorded"),
            ("verify.result", "results recorded (`verify.result`)"),
        )
    ],
    (
        "results stored from T on, by status (until the wait ended)",
        lambda s: ", ".join(f"{k} {num(v)}" for k, v in s.get("results_after_t", {}).items()),
    ),
    (
        "results stored from T on, by the instance that looked (most first)",
        lambda s: " + ".join(num(n) for n in s.get("results_by_instance", [])) or "—",
    ),
    (
        "dashboard requests (not 200)",
        lambda s: f"{num(s['dashboard_ms']['all']['requests'])} ({s['dashboard_ms']['failed']})",
    ),
    ("dashboard p50 / p95 / max", lambda s: _ms(s["dashboard_ms"]["all"])),
    (
        "… before T / from T: p95",
        lambda s: (
            f"{num(s['dashboard_ms']['before_t']['p95'], 0)} / "
            f"{num(s['dashboard_ms']['after_t']['p95'], 0)} ms"
        ),
    ),
    *[
        (
            f"… `{page}`: p50 / p95 / max",
            lambda s, p=page: _ms(s["dashboard_ms"]["pages"].get(p, {})),
        )
        for page in PAGES
    ],
    ("CPU s per s from T − 5 s to T + 10 s (each instance with its dashboard)", _cpu),
    (
        "the lead taken / lost; release holds lost",
        lambda s: f"{s['leaderships_taken']} / {s['leaderships_lost']}; {s['holds_lost']}",
    ),
    (
        "publishes crashed; responder looks failed",
        lambda s: f"{s['publish_crashed']}; {s['responder_failed']}",
    ),
    ("a traceback in an instance's output", lambda s: "yes" if any(s["tracebacks"]) else "no"),
]
