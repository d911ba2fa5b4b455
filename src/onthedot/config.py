"""Site config (``onthedot.toml``) and release files → typed models, with file:line: field errors.

A release file holds one release. ``onthedot.toml`` may hold ``[site]`` defaults shared
by many releases, a ``[policy]`` block and ``releases = ["releases/*.toml"]`` globs. Every problem is
reported as ``file:line: field: what is wrong`` and all problems of a file are reported together.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from onthedot.errors import ConfigError, ReleaseFileError
from onthedot.model import Release, Site
from onthedot.tomlpos import TomlPositions

CONFIG_NAME = "onthedot.toml"
MAX_RELEASE_FILE_BYTES = 1_000_000  # a release file is a few hundred bytes; 1 MB is plainly junk
DEFAULT_ZONE = "Europe/London"
CONFIG_KEYS = ("releases", "database", "site", "policy", "verify", "publish", "web")
_DATETIME_FIELDS = ("release_at", "announced_at")


@dataclass(frozen=True)
class Config:
    """What ``onthedot.toml`` says (all optional: a bare directory works)."""

    path: Path | None = None
    site: Mapping[str, Any] = field(default_factory=dict)
    policy: Mapping[str, Any] = field(default_factory=dict)
    verify: Mapping[str, Any] = field(default_factory=dict)
    publish: Mapping[str, Any] = field(default_factory=dict)
    web: Mapping[str, Any] = field(default_factory=dict)
    release_globs: tuple[str, ...] = ()
    database: str | None = None

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def zone(self) -> ZoneInfo:
        return _zone(str(self.policy.get("zone", DEFAULT_ZONE)), self.path)

    def release_files(self) -> list[Path]:
        files: list[Path] = []
        for pattern in self.release_globs:
            files.extend(sorted(self.root.glob(pattern)))
        return [f for f in dict.fromkeys(files) if f.is_file()]


def find_config(explicit: Path | None = None, start: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"{explicit}: the config file does not exist: check the --config path."
            )
        return explicit
    candidate = (start or Path.cwd()) / CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    data, positions = _read_toml(path)
    problems = _unknown_keys(path, positions, data, CONFIG_KEYS, ())
    globs = data.get("releases", [])
    if isinstance(globs, str):
        globs = [globs]
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        problems.append(_problem(path, positions, ("releases",), "must be a list of glob patterns"))
    tables = {}
    for name in ("site", "policy", "verify", "publish", "web"):
        value = data.get(name, {})
        if not isinstance(value, dict):
            problems.append(_problem(path, positions, (name,), "must be a table ([" + name + "])"))
            value = {}
        tables[name] = value
    if tables["site"]:
        problems.extend(_unknown_keys(path, positions, tables["site"], _fields(Site), ("site",)))
    database = data.get("database")
    if database is not None and not isinstance(database, str):
        problems.append(_problem(path, positions, ("database",), "must be a database URL string"))
    if problems:
        raise ReleaseFileError(problems)
    config = Config(path=path, release_globs=tuple(globs), database=database, **tables)
    _ = config.zone  # fail early on a bad zone
    return config


def load_release(path: Path, config: Config | None = None) -> Release:
    """Read, validate and complete one release file (artefact hashes computed, times in UTC)."""
    config = config or Config()
    data, positions = _read_toml(path)
    problems = _unknown_keys(
        path, positions, data, _fields(Release, exclude=("source", "lines")), ()
    )
    for index, art in enumerate(_as_tables(data.get("artefact"))):
        problems.extend(_unknown_keys(path, positions, art, _artefact_keys(), ("artefact", index)))
    if isinstance(data.get("site"), dict):
        problems.extend(_unknown_keys(path, positions, data["site"], _fields(Site), ("site",)))
    problems.extend(_normalise_times(path, positions, data, config.zone))
    _merge_site(data, config.site)
    problems.extend(_complete_artefacts(path, positions, data))
    if problems:
        raise ReleaseFileError(problems)
    lines = {key: positions.line((key,)) for key in data if positions.has_key((key,))}
    for table in ("change", "pre_release_access"):
        for index, _item in enumerate(_as_tables(data.get(table))):
            lines[f"{table}.{index}"] = positions.line((table, index))
    try:
        return Release.model_validate({**data, "source": path.resolve(), "lines": lines})
    except ValidationError as exc:
        raise ReleaseFileError(_pydantic_problems(path, positions, exc)) from None


def load_releases(paths: Iterable[Path], config: Config | None = None) -> list[Release]:
    """Load many release files; all problems of all files together; ids must be unique."""
    releases: list[Release] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            release = load_release(path, config)
        except ReleaseFileError as exc:
            problems.extend(exc.problems)
            continue
        if release.id in seen:
            line = release.line_of("id") or 1
            problems.append(
                f"{path}:{line}: id: {release.id!r} is already used by {seen[release.id]}: "
                "give each release its own id."
            )
            continue
        seen[release.id] = path
        releases.append(release)
    if problems:
        raise ReleaseFileError(problems)
    return releases


# --- reading -------------------------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[dict[str, Any], TomlPositions]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReleaseFileError(
            [f"{path}:1: cannot read the file ({exc.strerror}): check the path."]
        ) from None
    if size > MAX_RELEASE_FILE_BYTES:
        raise ReleaseFileError(
            [
                f"{path}:1: the file is {size:,} bytes, far too large for a release file: check the path."
            ]
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReleaseFileError(
            [f"{path}:{line}: the file is not UTF-8 text: save it as UTF-8."]
        ) from None
    if not text.strip():
        raise ReleaseFileError(
            [f"{path}:1: the file is empty: write a release (see `onthedot init`)."]
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        at = match.group(1) if match else "1"
        what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ReleaseFileError([f"{path}:{at}: invalid TOML: {what}."]) from None
    return data, TomlPositions(text)


def _problem(path: Path, positions: TomlPositions, loc: Sequence[str | int], what: str) -> str:
    return f"{path}:{positions.line(loc)}: {_dotted(loc)}: {what}"


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def _fields(model: type[BaseModel], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(name for name in model.model_fields if name not in exclude)


def _artefact_keys() -> tuple[str, ...]:
    return ("file", "path", "expect_text")


def _as_tables(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _unknown_keys(
    path: Path,
    positions: TomlPositions,
    data: Mapping[str, Any],
    allowed: Sequence[str],
    prefix: tuple[str | int, ...],
) -> list[str]:
    problems = []
    for key in data:
        if key in allowed:
            continue
        near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(allowed)}."
        problems.append(_problem(path, positions, (*prefix, key), f"unknown key: {hint}"))
    return problems


def _zone(name: str, source: Path | None) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        where = f"{source}: " if source else ""
        raise ConfigError(
            f"{where}policy.zone: {name!r} is not a time zone: use an IANA name such as Europe/London."
        ) from None


def _normalise_times(
    path: Path, positions: TomlPositions, data: dict[str, Any], zone: ZoneInfo
) -> list[str]:
    """Local date-times are wall-clock times in the policy zone; an explicit offset is honoured."""
    problems: list[str] = []
    kinds: dict[str, bool] = {}
    targets: list[tuple[tuple[str | int, ...], Mapping[str, Any], str]] = [
        ((key,), data, key) for key in _DATETIME_FIELDS
    ]
    for index, change in enumerate(_as_tables(data.get("change"))):
        targets += [(("change", index, key), change, key) for key in ("previous", "announced_at")]
    for index, grant in enumerate(_as_tables(data.get("pre_release_access"))):
        targets.append((("pre_release_access", index, "granted_at"), grant, "granted_at"))
    for loc, table, key in targets:
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            problems.append(
                _problem(path, positions, loc, "give a date and a time, e.g. 2026-03-12T09:30:00")
            )
            continue
        if not isinstance(value, dt.datetime):
            problems.append(
                _problem(path, positions, loc, "must be a TOML date-time, e.g. 2026-03-12T09:30:00")
            )
            continue
        kinds[_dotted(loc)] = value.tzinfo is not None
        try:
            assert isinstance(table, dict)
            table[key] = _local_to_utc(value, zone)
        except ValueError as exc:
            problems.append(_problem(path, positions, loc, str(exc)))
    if len(set(kinds.values())) > 1:
        with_offset = sorted(k for k, v in kinds.items() if v)
        without = sorted(k for k, v in kinds.items() if not v)
        problems.append(
            _problem(
                path,
                positions,
                (without[0],),
                f"is a local time but {with_offset[0]} has an offset: "
                "write all times the same way, all local (Europe/London) or all with offsets",
            )
        )
    return problems


def _local_to_utc(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    first = value.replace(tzinfo=zone, fold=0)
    second = value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        round_trip = first.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != value:
            raise ValueError(
                f"{value:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks go forward): pick another time"
            )
        raise ValueError(
            f"{value:%Y-%m-%d %H:%M} happens twice in {zone.key} (the clocks go back): add an offset, "
            "e.g. +01:00 or +00:00"
        )
    return first.astimezone(dt.UTC)


def _merge_site(data: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    own = data.get("site")
    if not defaults:
        return
    if own is None:
        data["site"] = dict(defaults)
    elif isinstance(own, dict):
        data["site"] = {**defaults, **own}


def _complete_artefacts(path: Path, positions: TomlPositions, data: dict[str, Any]) -> list[str]:
    """Resolve each artefact's file inside the release's folder; hash it (streamed)."""
    problems: list[str] = []
    folder = path.resolve().parent
    for index, art in enumerate(_as_tables(data.get("artefact"))):
        loc: tuple[str | int, ...] = ("artefact", index)
        art_path = art.get("path")
        if isinstance(art_path, str) and not art_path.startswith("/"):
            problems.append(
                _problem(
                    path,
                    positions,
                    (*loc, "path"),
                    "must start with / (a URL path under site.public)",
                )
            )
        name = art.get("file")
        if name is None:
            if art.get("expect_text") is None:
                problems.append(
                    _problem(
                        path,
                        positions,
                        loc,
                        "give `file` (its bytes must be served) or `expect_text`",
                    )
                )
            continue
        if not isinstance(name, str):
            continue  # pydantic reports the type
        local = (folder / name).resolve()
        if not local.is_relative_to(folder):
            problems.append(
                _problem(
                    path,
                    positions,
                    (*loc, "file"),
                    f"{name!r} is outside the release's folder: "
                    "keep artefacts beside the release file",
                )
            )
            continue
        if not local.is_file():
            problems.append(
                _problem(path, positions, (*loc, "file"), f"{name!r} does not exist in {folder}")
            )
            continue
        art["sha256"], art["size"] = file_sha256(local)
        art["local_path"] = local
    return problems


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _pydantic_problems(path: Path, positions: TomlPositions, exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "missing":
            message = "is missing: add it"
        problems.append(_problem(path, positions, loc, _plain(message)))
    return problems


def _plain(message: str) -> str:
    return message.replace("Value error, ", "").replace("Input should be", "should be")
