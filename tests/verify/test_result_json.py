"""The hand-written result JSON is exactly what pydantic would write (so it cannot drift)."""

from __future__ import annotations

import datetime as dt
import json

from onthedot.model import CheckResult, Status
from onthedot.verify.verifier import result_json


def test_result_json_matches_the_model() -> None:
    result = CheckResult(
        url="https://www.example.org/x.xlsx",
        status=Status.STALE,
        served_sha256="b" * 64,
        expected_sha256="a" * 64,
        diagnosis="The cache (Varnish) served the old file.",
        cache={"product": "varnish", "age": 12, "cache_control": {"max-age": "3600"}},
        vantage="edge 192.0.2.1",
        checked_at=dt.datetime(2019, 12, 18, 9, 30, 1, 250000, tzinfo=dt.UTC),
        http_status=200,
        layer="cache",
        timings={"total": 0.012},
    )
    expected = json.loads(result.model_dump_json())
    expected["checked_at"] = "2019-12-18T09:30:01.250000Z"
    assert json.loads(json.dumps(result_json(result))) == expected
    assert set(result_json(result)) == set(CheckResult.model_fields)
