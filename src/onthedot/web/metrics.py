"""``/metrics`` for Prometheus: a few series that matter on a release morning.

- ``onthedot_results{status}``: latest result per URL × vantage point of the releases within a
  day of now, by status (a non-zero ``stale``, ``early``, ``missing`` or ``error`` is a breach);
- ``onthedot_go_live_lag_seconds{release}``: from the release time until the last URL was live
  from every vantage point that looked (releases of the last week);
- ``onthedot_last_sweep_duration_seconds{release}``: how long the latest sweep of every URL took
  (reported by the service's verifier through ``ServiceMetrics.observe_sweep``);
- ``onthedot_agent_results_total{agent}``: results posted by each remote probe agent;
- ``onthedot_sweep_duration_seconds``: a histogram of every sweep's duration (verification
  latency: how long it takes to look at every URL of a release once);
- ``onthedot_leader`` (1 or 0) and ``onthedot_leader_since_seconds``: whether this instance
  publishes (several instances on one PostgreSQL store: exactly one should say 1), and since when;
- ``onthedot_schedule_lag_seconds{release}``: how late each release of the last week was flipped
  after its release time (0 when on the dot);
- ``onthedot_alerts{status}``: alert messages by delivery status (a growing ``failed`` means
  people are not being told).

Each app has its own registry, so several apps (tests) never share series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Release, Status
from onthedot.morning.leadership import Standing
from onthedot.web import queries

WINDOW = dt.timedelta(days=1)  # results: releases within a day of now
LAG_WINDOW = dt.timedelta(days=7)  # go-live lag: releases of the last week


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.results = Gauge(
            "onthedot_results",
            "Latest result per URL and vantage point of releases within a day of now, by status.",
            ["status"],
            registry=self.registry,
        )
        self.go_live_lag = Gauge(
            "onthedot_go_live_lag_seconds",
            "Seconds from the release time until every URL was live from every vantage point.",
            ["release"],
            registry=self.registry,
        )
        self.sweep = Gauge(
            "onthedot_last_sweep_duration_seconds",
            "Seconds the latest sweep of every URL of the release took.",
            ["release"],
            registry=self.registry,
        )
        self.agent_results = Counter(
            "onthedot_agent_results",
            "Results posted by remote probe agents.",
            ["agent"],
            registry=self.registry,
        )

        self.sweeps = Histogram(
            "onthedot_sweep_duration_seconds",
            "Seconds each sweep of every URL of a release took (verification latency).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )
        self.leader = Gauge(
            "onthedot_leader",
            "1 when this instance publishes (holds the lead on the shared store), else 0.",
            registry=self.registry,
        )
        self.leader_since = Gauge(
            "onthedot_leader_since_seconds",
            "Unix time since which this instance has been the leader (or a standby).",
            registry=self.registry,
        )
        self.schedule_lag = Gauge(
            "onthedot_schedule_lag_seconds",
            "Seconds after its release time each release of the last week was flipped.",
            ["release"],
            registry=self.registry,
        )
        self.alerts = Gauge(
            "onthedot_alerts",
            "Alert messages by delivery status.",
            ["status"],
            registry=self.registry,
        )

    def observe_sweep(self, release_id: str, seconds: float) -> None:
        """Called by the service's verifier after each sweep."""
        self.sweep.labels(release=release_id).set(seconds)
        self.sweeps.observe(seconds)

    def standing(self, standing: Standing | None) -> None:
        """Whether this instance publishes (None: no scheduler beside this dashboard)."""
        self.leader.set(1 if standing and standing.leader else 0)
        self.leader_since.set(standing.since.timestamp() if standing else 0)

    def agent_posted(self, agent: str, count: int) -> None:
        self.agent_results.labels(agent=agent).inc(count)

    async def refresh(
        self, engine: AsyncEngine, releases: Sequence[Release], now: dt.datetime
    ) -> None:
        """Recompute the store-derived series (called on each scrape)."""
        recent = [r for r in releases if abs(r.release_at - now) <= WINDOW]
        latest = await queries.latest_statuses(engine)
        counts = dict.fromkeys((s.value for s in Status), 0)
        for release in recent:
            for _url, status in latest.get(release.id, []):
                counts[status] = counts.get(status, 0) + 1
        for status, count in counts.items():
            self.results.labels(status=status).set(count)
        week = [r.id for r in releases if dt.timedelta(0) <= now - r.release_at <= LAG_WINDOW]
        self.schedule_lag.clear()
        for release_id, late_s in (await queries.flip_lags(engine, week)).items():
            self.schedule_lag.labels(release=release_id).set(late_s)
        for status, count in (await queries.alert_counts(engine)).items():
            self.alerts.labels(status=status).set(count)
        self.go_live_lag.clear()
        for release in releases:
            if not dt.timedelta(0) <= now - release.release_at <= LAG_WINDOW:
                continue
            lag = queries.go_live_lag(release, await queries.first_live(engine, release))
            if lag is not None:
                self.go_live_lag.labels(release=release.id).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)
