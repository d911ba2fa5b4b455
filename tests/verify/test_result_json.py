"""The hand-written result JSON is exactly what pydantic would write (so it cannot drift)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

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


def test_a_judged_result_is_the_result_validation_would_make() -> None:
    """``CheckResult.judged`` (the judgement's own values, not validated again) makes the very
    result ``CheckResult(...)`` does: equal, the same fields set, the same JSON, still frozen."""
    fields: dict[str, Any] = {
        "url": "https://www.example.org/x.xlsx",
        "status": Status.LIVE,
        "served_sha256": "a" * 64,
        "expected_sha256": "a" * 64,
        "diagnosis": "The new version is live (served by Varnish).",
        "cache": {"product": "varnish", "age": 0, "headers": {"x-cache": "MISS"}},
        "vantage": "default",
        "checked_at": dt.datetime(2019, 12, 18, 9, 30, 1, tzinfo=dt.UTC),
        "http_status": 200,
        "layer": None,
        "timings": {"total": 0.004},
    }
    judged, validated = CheckResult.judged(**fields), CheckResult(**fields)
    assert judged == validated
    assert judged.model_fields_set == validated.model_fields_set == set(CheckResult.model_fields)
    assert judged.model_dump_json() == validated.model_dump_json()
    assert result_json(judged) == result_json(validated)
    assert judged.model_copy(update={"layer": "cache"}).layer == "cache"
    with pytest.raises(ValidationError):  # frozen, as every model of onthedot
        judged.status = Status.STALE  # type: ignore[misc]
