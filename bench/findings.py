"""Findings for docs/benchmarks.md, worked out from the figures of the run (never hand-written):
what a benchmark showed that is worth a person's attention, with where it comes from."""

from __future__ import annotations

from typing import Any


def num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def findings_section(results: dict[str, dict[str, Any]]) -> list[str]:
    found = (
        verify_findings(results["verify"])
        + morning_findings(results["morning"])
        + publish_findings(results["publish"])
        + kill_findings(results["kill"])
        + startup_findings(results.get("startup", {}))
        + verify_cli_findings(results.get("verify_cli", {}))
    )
    if not found:
        return []
    return ["## Findings", "", *[f"- {item}" for item in found], ""]


def verify_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    f = result["figures"]
    rounds = f.get("rounds", [])
    cpu = f.get("cpu_us_per_url_median", {})
    if not rounds or not cpu:
        return []
    ratios = [r["ratio"] for r in rounds]
    below = sum(ratio < 0.5 for ratio in ratios)
    wrk = [r["wrk"]["requests_per_s"] for r in rounds]
    return [
        f"The probe's ratio to wrk went from {num(min(ratios), 3)} to {num(max(ratios), 3)} "
        f"over the {len(rounds)} rounds ({below} below 0.5), while wrk alone ranged from "
        f"{num(min(wrk), 0)} to {num(max(wrk), 0)} requests/s: the probe is bound by one core "
        f"({num(cpu.get('prober'))} CPU µs per URL against {num(cpu.get('raw_pycurl'))} for the "
        "bare pycurl loop, which does nothing but fetch and hash), so the ratio follows how much "
        "of the second core Varnish and wrk got in each round."
    ]


def morning_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    f = result["figures"]
    spent = f.get("sweep_cpu_s")
    if not spent:
        return []
    ours = spent.get("onthedot", 0.0)
    servers = sum(v for k, v in spent.items() if k != "onthedot")
    cpus = f.get("machine_cpus") or 1
    floor = (ours + servers) / cpus
    return [
        f"The morning's sweep took {num(f['classified_s'], 2)} s while the edge and the origin "
        f"used {num(servers, 2)} CPU-seconds (Varnish handling {f.get('urls', 10_000):,} misses, "
        "nginx serving them) "
        f"and onthedot {num(ours, 2)}: {num(ours + servers, 2)} CPU-seconds on {cpus} CPUs, so "
        f"even perfectly shared the sweep could not end before {num(floor, 2)} s. The bare probe "
        f"engine on the same purged edge, fetching and hashing only, needed "
        f"{num(f['probe_only_s'], 2)} s. On this machine the edge and origin alone kept "
        f"{num(servers / f['classified_s'], 2)} of its {cpus} CPUs busy for the whole sweep; "
        "in production they run on other machines.",
        *_wrk_finding(f),
    ]


def _wrk_finding(f: dict[str, Any]) -> list[str]:
    wrk = f.get("wrk")
    if not wrk:
        return []
    spent = wrk.get("cpu_s_in_run", {})
    servers = sum(v for k, v in spent.items() if k != "wrk")
    took, goal, urls = wrk["all_answered_s"], f.get("goal_s", 1.5), f.get("urls", 10_000)
    room = (
        f"it leaves {num(goal - took, 2)} s of the {num(goal, 1)} s goal for hashing, judging "
        f"and diagnosing {urls:,} URLs while sharing the same cores"
        if took < goal
        else f"the {num(goal, 1)} s goal is out of reach on this edge whatever the client"
    )
    return [
        f"wrk needed {num(took, 2)} s to get the new version of all {urls:,} files from the "
        f"purged edge (wrk {num(spent.get('wrk', 0.0), 2)} CPU-seconds, Varnish and nginx "
        f"{num(servers, 2)}): that is this edge's own pace on this machine, and {room}. "
        f"onthedot's sweep took {num(f['classified_s'] / took, 2)} × wrk's time."
    ]


def publish_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    series = result["figures"]["series"]
    file, mv = series.get("file"), series.get("mv_baseline")
    if not file or not mv or file["purge_ms"].get("p50") is None:
        return []
    found = []
    unseen = mv["runs"] - mv["seen"]
    if unseen:
        found.append(
            f"In {unseen} of the {mv['runs']} bare `mv` + PURGE baseline runs the edge still "
            "served the old bytes 10 s after T although Varnish answered the PURGE with 200 "
            "(those runs are left out of the baseline's lag). Why, seen in Varnish's log: the "
            "new file has the old one's size and was written in the same second, so nginx gives "
            "it the same ETag and Last-Modified; Varnish revalidated the copy the PURGE had just "
            "dropped (a known race in Varnish: varnish-cache pull request 4082) and, told 304 "
            "Not Modified, kept it. The publisher gives each staged copy a modification time "
            "later than the file it replaces; the bare `mv` does not."
        )
    missed = {
        name: figures["runs"] - figures["seen"]
        for name, figures in series.items()
        if name != "mv_baseline" and figures["runs"] - figures["seen"] > 0
    }
    if missed:
        counted = ", ".join(
            f"{n} of the {series[name]['runs']} of the {name} series" for name, n in missed.items()
        )
        found.append(
            f"Runs of the publisher where the edge never showed the new bytes: {counted}. The "
            "watch of each ended at its 2 s limit, before the first purge again "
            "(`[remediate] backoff_s`, 5 s after the first); its timeline says what the edge "
            "and the origin served."
        )
    purge, flip = file["purge_ms"]["p50"], file["flip_lag_ms"]["p50"]
    extra = file["lag_ms"]["p50"] - mv["lag_ms"]["p50"]
    return [
        *found,
        f"Where onthedot's lag over the bare `mv` + PURGE goes (file target, medians): the "
        f"rename is done {num(flip, 2)} ms after T, the first PURGE starts {num(purge)} ms "
        f"after T, and the new bytes reach the observer {num(extra)} ms later than with the "
        "bare `mv`. The purges start as soon as the files are renamed, while the "
        "`publish.flipped` event and its step are committed to the store (SQLite, "
        "`synchronous=FULL`, the price of never publishing twice after a crash).",
    ]


def kill_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    series = result["figures"]["series"]
    runs = [r for s in series.values() for r in s["runs_detail"]]
    found = []
    mid = [r for r in runs if r.get("observed") == "mid-staging"]
    orphaned = [r for r in mid if r.get("leftovers")]
    if orphaned:
        found.append(
            f"**Orphaned staged copies.** In {len(orphaned)} of the {len(mid)} runs killed "
            "mid-staging, the hidden staged copies of the first attempt (`.onthedot-` + 32 hex "
            "digits, whole or partial) stay beside the artefacts for ever: the restart stages "
            "again under a fresh random token (`secrets.token_hex` in `Publisher._stage`), so "
            "the old names are neither reused nor removed. They are unguessable and unlinked, so "
            "nothing is published early, but a server with directory listings would show them "
            "before T, and repeated crashes fill the disk. Fix in the publisher: record the "
            "token before the first upload and, on restart, reuse it or discard its copies "
            "(or remove `.onthedot-*` names not in the manifest after the flip)."
        )
    other = [r for r in runs if r.get("leftovers") and r not in orphaned]
    if other:
        found.append(
            "Staged copies were also left after runs killed in other phases: "
            + ", ".join(f"run {r['run']} ({r['kind']}, {r.get('observed')})" for r in other)
            + "."
        )
    for kind, s in series.items():
        control = s.get("control") or {}
        if control and not control.get("ok"):
            error = _last_line(control.get("outcome_error"))
            found.append(
                f"**{kind}: a two-file release fails without any kill.** The control run "
                f"(not killed) ended with `{error}`."
                + (
                    " The publisher stages and flips all artefacts at once (`asyncio.gather` in "
                    "`Publisher._stage` / `_go_live`) and the FTP target drives them all over "
                    "its one aioftp control connection, which allows one reader at a time. Fix in "
                    "`targets/ftp.py`: an `asyncio.Lock` around each command sequence (or one "
                    "connection per transfer). The FTP kill runs therefore publish one file."
                    if "readuntil" in error
                    else ""
                )
            )
    late = [
        r for r in runs if r.get("observed") == "right-after-flip" and (r.get("late_s") or 0) > 0.2
    ]
    if late:
        found.append(
            f"Killed between the rename and the recording of the flip ({len(late)} runs), the "
            "restart records `publish.flipped` at its own time (late by its start-up, up to "
            f"{num(max(r['late_s'] for r in late), 1)} s) although the origin had the new file at "
            "T; the edge stayed stale until the restart purged, so the lateness recorded is the "
            "public's, but the moment of the rename itself is not in the timeline."
        )
    redone = [
        r
        for r in runs
        if r.get("observed") == "after-completion" and not r["checks"].get("one_done")
    ]
    if redone:
        found.append(
            f"Running `publish` again for a release already verified ({len(redone)} runs where "
            "the kill came too late) verifies again and appends a second `publish.done` event: "
            "nothing is flipped twice, but the timeline reads as two publications."
        )
    waited = [r for r in runs if not r.get("fast_forward_lease", True)]
    for r in waited:
        found.append(
            f"Without expiring the killed holder's lease by hand (run {r['run']}), the restart "
            f"waited for it to lapse: {num(r.get('restart_s'), 1)} s from the kill to the end, "
            f"going live {num(r.get('late_s'), 1)} s after T and recorded as late."
        )
    return found


def startup_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    f = result["figures"]
    imports = dict(f.get("check_imports_ms", {}))
    check = f["commands"]["onthedot check RELEASE"]
    if not imports or check["median_s"] <= f["commands"]["pip --version"]["median_s"]:
        return []
    total = imports.pop("all")
    top = ", ".join(f"{name} {num(ms, 0)}" for name, ms in list(imports.items())[:6])
    return [
        f"`onthedot check` took {num(check['median_s'], 3)} s, {num(check['ratio_to_pip_median'], 2)} × "
        f"`pip --version`: its imports alone took {num(total, 0)} ms (largest, in ms: {top}), "
        "the rest is the interpreter, reading the release and the store and applying the rules. "
        "What is left after the store is read by `sqlite3` (no SQLAlchemy, no asyncio), the "
        "year's bank holidays are read from the tables remembered on disk (the `holidays` "
        "package is not loaded), pydantic's plugin search is skipped, the publish target is "
        "asked where it stages without the staging machinery and the lines are printed without "
        "Rich: Typer (which builds each option's parser with pydantic, whose plugin loader still "
        "imports `importlib.metadata`), and the release and settings models (pydantic, eight "
        "tables made for `[verify.caches]` from the cache models)."
    ]


def verify_cli_findings(result: dict[str, Any]) -> list[str]:
    if not result.get("ok"):
        return []
    f = result["figures"]
    phases = f.get("phases_s_median")
    if not phases:
        return []
    goal = f.get("goal", 0.3)
    budget = f["wrk_s_median"] / goal
    first_batch = phases.get("first_batch")
    return [
        f"Where `onthedot verify` of 6,000 files spends its time (medians): "
        f"{num(f['to_first_request_s_median'], 2)} s from start to the first request (imports, "
        f"reading the release, opening the store), then {num(phases['sweep'], 2)} s fetching and "
        f"judging (the probe engine and the diagnosis of each response)"
        + (
            f", its results stored batch by batch by a process of their own from "
            f"{num(first_batch, 2)} s on while the rest were fetched, "
            f"{num(phases['record'], 2)} s storing what was left after the sweep"
            if first_batch is not None
            else f", {num(phases['record'], 2)} s storing 6,000 results and 12,000 timeline events"
        )
        + f", {num(phases['output_and_exit'], 2)} s writing the JSON and exiting; wrk needed "
        f"{num(f['wrk_s_median'], 3)} s for the same 6,000 requests."
        + (
            f" From its first request the command used {num(cpu, 2)} CPU-seconds (all its "
            f"threads and its recorder process) in {num(f['from_first_request_s_median'], 2)} s: "
            + (
                "it waited for the CPU more than it used it (a loaded machine)."
                if f["from_first_request_s_median"] > 1.5 * cpu
                else "it was mostly working, not waiting."
            )
            if (cpu := f.get("cpu_from_first_request_s_median"))
            else ""
        )
        + (
            f" The sweep alone took longer than the whole command may to reach "
            f"{goal} × wrk ({num(budget, 2)} s): the rest cannot make up for it."
            if phases["sweep"] > budget
            else ""
        )
        + _cpu_bound(f, budget, goal)
    ]


def _cpu_bound(f: dict[str, Any], budget: float, goal: float) -> str:
    """What the command's CPU alone allows: its work spread perfectly over every CPU of the
    machine, nothing else running (not even the edge it fetches from)."""
    cpu, cpus = f.get("cpu_from_first_request_s_median"), f.get("machine", {}).get("cpus")
    if not cpu or not cpus:
        return ""
    best = cpu / cpus
    return (
        f" At that CPU the command could not end sooner than {num(best, 2)} s after its first "
        f"request on {cpus} CPUs even if it kept every one of them busy with nothing else "
        f"running: {num(f['wrk_s_median'] / best, 2)} × wrk at best. "
        + (
            f"{goal} × wrk needs its CPU from the first request down to "
            f"{num(budget * cpus, 2)} CPU-seconds at most ({num(budget * cpus / cpu * 100, 0)} % "
            "of what it uses), less what the edge and the origin use on the same CPUs: less work "
            "for each URL, not more of it done at once."
            if best > budget
            else "The goal is within what its CPU allows: the time is lost waiting, not working."
        )
    )


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("**met**" if met else "**not met**")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def failed_section(name: str, result: dict[str, Any], goals: list[list[str]]) -> list[str] | None:
    """The section of a benchmark that did not run (its goal row added), or None if it ran."""
    if result.get("ok"):
        return None
    goals.append([f"{name} benchmark", "—", f"did not run: {result.get('error')}", verdict(False)])
    return [f"## {name}", "", f"The benchmark failed: `{result.get('error')}`.", ""]
