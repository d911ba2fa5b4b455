"""Release files and onthedot.toml, fuzzed: whatever a person (or a slip of the keyboard) writes,
loading either works or stops with the project's one error for it, every problem naming the file,
a line and, where the fault has one, the key. Never another exception, never a traceback.

Documents are generated (valid-ish structures: the known keys and unknown ones, values of every
TOML type, tables, arrays of tables) and mutated from the bundled examples (lines dropped,
doubled, swapped, characters replaced). Deterministic (``derandomize``) and bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from onthedot.config import Config, load_config, load_release
from onthedot.errors import ReleaseFileError
from onthedot.model import Artefact, Release, Site
from onthedot.settings import ConfigFile, PublishSettings, VerifySettings, WebSettings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FILE_FAULTS = ("invalid TOML", "the file is", "cannot read the file")
KEY = r"[A-Za-z0-9_\-]+(\[\d+\]|\.[A-Za-z0-9_\-\"' ]+)*"

RELEASE_KEYS = [k for k in Release.model_fields if k not in ("source", "lines")]
SITE_KEYS = list(Site.model_fields)
ARTEFACT_KEYS = [k for k in Artefact.model_fields if k not in ("sha256", "size", "local_path")]
CONFIG_KEYS = list(ConfigFile.model_fields)
TABLE_KEYS = {
    "site": SITE_KEYS,
    "verify": list(VerifySettings.model_fields),
    "publish": list(PublishSettings.model_fields),
    "web": list(WebSettings.model_fields),
    "policy": ["time", "zone", "weekdays", "notice_days", "holidays", "pra_hours", "tolerance_s"],
}

# --- generating TOML ----------------------------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12)
datetimes = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
scalars = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "https://www.example.org",
            "javascript:alert(1)",
            "http://a/\r\nX: 1",
            "2019-12-18T09:30:00",
            "/statistics/x.xlsx",
            "../../etc/passwd",
            "sqlite:///x.db",
            "Europe/London",
            "09:30",
            "127.0.0.1",
            "",
        ]
    ),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    datetimes,
    datetimes.map(lambda d: d.replace(tzinfo=dt.UTC)),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=8,
)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a TOML basic string (JSON's escapes are TOML's)


def toml(document: dict[str, Any]) -> str:
    """A TOML text for ``document``: scalars first, then ``[table]`` and ``[[array]]`` blocks."""
    head, tail = [], []
    for name, value in document.items():
        if isinstance(value, dict):
            tail += [f"[{_key(name)}]", *(f"{_key(k)} = {_value(v)}" for k, v in value.items())]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tail += [
                    f"[[{_key(name)}]]",
                    *(f"{_key(k)} = {_value(v)}" for k, v in item.items()),
                ]
        else:
            head.append(f"{_key(name)} = {_value(value)}")
    return "\n".join(head + tail) + "\n"


def table(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(keys), names), values, max_size=len(keys) + 1)


release_documents = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just("a-release"), scalars),
        "title": st.one_of(st.just("Statistics"), scalars),
        "producer": st.one_of(st.just("Office"), scalars),
        "release_at": st.one_of(datetimes, scalars),
    },
    optional={
        "announced_at": st.one_of(datetimes, scalars),
        "statement_url": scalars,
        "nation": st.one_of(st.sampled_from(["uk", "scotland", "wales"]), scalars),
        "site": st.one_of(table(SITE_KEYS), scalars),
        "artefact": st.one_of(st.lists(table(ARTEFACT_KEYS), max_size=3), scalars),
        "change": st.lists(
            table(["previous", "reason", "approved_by", "announced_at"]), max_size=2
        ),
        "pre_release_access": st.lists(
            table(["name", "email", "organisation", "granted_at"]), max_size=2
        ),
        "extra": values,
    },
)
config_documents = st.dictionaries(
    st.sampled_from([*CONFIG_KEYS, "releses", "zone"]),
    st.one_of(values, *(table(keys) for keys in TABLE_KEYS.values())),
    max_size=6,
).map(lambda d: {k: v for k, v in d.items() if k != "releases" or not isinstance(v, list)})


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` after a few slips: a line dropped, doubled or swapped, a character replaced."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        slip = draw(st.sampled_from(["drop", "double", "swap", "char", "insert"]))
        if slip == "drop":
            del lines[at]
        elif slip == "double":
            lines.insert(at, lines[at])
        elif slip == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif slip == "char" and lines[at]:
            pos = draw(st.integers(0, len(lines[at]) - 1))
            char = draw(st.sampled_from(list("=[]{}\"'#.,0-_ \t\\x\u00e9\u202e")))
            lines[at] = lines[at][:pos] + char + lines[at][pos + 1 :]
        else:
            lines.insert(
                at, draw(st.sampled_from(["[site]", "[[artefact]]", "x = 1", "= 2", "[verify]"]))
            )
    return "\n".join(lines) + "\n"


# --- what must hold -------------------------------------------------------------------------------


def assert_well_reported(path: Path, exc: ReleaseFileError) -> None:
    assert exc.problems, "an error without a problem"
    for line in exc.problems:
        where = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", line, re.S)
        assert where, f"the problem does not start with file:line: {line!r}"
        assert int(where[1]) >= 1
        what = where[2]
        assert what.startswith(FILE_FAULTS) or re.match(rf"({KEY}|\(file\)): \S", what), (
            f"the problem names no key: {line!r}"
        )
        assert "Traceback" not in line and "pydantic" not in line.lower()


def load_release_text(folder: Path, text: str, config: Config | None = None) -> None:
    path = folder / "release.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    example_files = (f.name for f in (EXAMPLES / "releases").iterdir() if f.suffix != ".toml")
    for artefact in ("x.xlsx", *example_files):
        (folder / artefact).write_bytes(b"figures")
    try:
        load_release(path, config)
        event("release loaded")
    except ReleaseFileError as exc:
        event("release refused")
        assert_well_reported(path, exc)


def load_config_text(folder: Path, text: str) -> Config | None:
    path = folder / "onthedot.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config = load_config(path)
    except ReleaseFileError as exc:
        event("config refused")
        assert_well_reported(path, exc)
        return None
    event("config loaded")
    return config


@FUZZ
@given(document=release_documents)
def test_a_generated_release_file_loads_or_is_reported(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    load_release_text(tmp_path, toml(document))


@FUZZ
@given(
    text=st.sampled_from(sorted(EXAMPLES.glob("releases/*.toml"))).flatmap(
        lambda p: mutated(p.read_text(encoding="utf-8"))
    )
)
def test_a_mutated_example_release_loads_or_is_reported(tmp_path: Path, text: str) -> None:
    load_release_text(tmp_path, text)


@FUZZ
@given(document=config_documents)
def test_a_generated_onthedot_toml_loads_or_is_reported(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    config = load_config_text(tmp_path, toml(document))
    if config is not None:  # a config that loads is used for a release without a new kind of error
        load_release_text(
            tmp_path, (EXAMPLES / "releases" / "example-quarterly-2027-q1.toml").read_text(), config
        )


@FUZZ
@given(text=mutated((EXAMPLES / "onthedot.toml").read_text(encoding="utf-8")))
def test_a_mutated_example_onthedot_toml_loads_or_is_reported(tmp_path: Path, text: str) -> None:
    load_config_text(tmp_path, text)
