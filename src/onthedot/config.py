"""Site config (``onthedot.toml``) and release files → typed models, with file:line: field errors.

A release file holds one release. ``onthedot.toml`` may hold ``[site]`` defaults shared by many
releases, ``releases = ["releases/*.toml"]`` globs and the settings tables (``onthedot.settings``).
Every problem is reported as ``file:line: field: what is wrong`` and all problems of a file are
reported together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import stat
import time
import tomllib
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from onthedot.adapters import operator_only
from onthedot.calendar.timeutil import get_zone
from onthedot.errors import ConfigError, ReleaseFileError
from onthedot.model import EXTERNAL, DigestKey, Digests, Release, Site, has_secret, path_fault
from onthedot.problems import dotted, problem, unknown_keys, validation_problems
from onthedot.settings import ConfigFile
from onthedot.tomlpos import TomlPositions

log = logging.getLogger("onthedot.config")

CONFIG_NAME = "onthedot.toml"
MAX_RELEASE_FILE_BYTES = 1_000_000  # a release file is a few hundred bytes; 1 MB is plainly junk
_BOM = "\ufeff"  # some editors (Notepad) start a UTF-8 file with it; TOML does not allow it
CONFIG_KEYS = tuple(ConfigFile.model_fields)
_DATETIME_FIELDS = ("release_at", "announced_at")


class Config(ConfigFile):
    """What ``onthedot.toml`` says (all optional: a bare directory works), and where it is."""

    path: Path | None = None

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def zone(self) -> ZoneInfo:
        return get_zone(self.policy.zone)

    def release_files(self) -> list[Path]:
        files: list[Path] = []
        for pattern in self.releases:
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
    """Read and check all of onthedot.toml at once: every problem as ``file:line: key: fault``."""
    if path is None:
        return Config()
    data, positions = _read_toml(path)
    try:
        settings = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ReleaseFileError(validation_problems(path, positions, exc, ConfigFile)) from None
    return Config(path=path, **dict(settings))


def load_release(
    path: Path,
    config: Config | None = None,
    digests: Digests | None = None,
    stamps: Stamps | None = None,
) -> Release:
    """Read, validate and complete one release file (artefact hashes computed, times in UTC);
    ``digests`` are the files' SHA-256 already known (see ``digest_of``), completed here;
    ``stamps``, if given, gets the stamp of each artefact file as it was when hashed."""
    config = config or Config()
    data, positions = _read_toml(path)
    problems = unknown_keys(
        path, positions, data, _fields(Release, exclude=("source", "lines")), ()
    )
    for index, art in enumerate(_as_tables(data.get("artefact"))):
        problems.extend(unknown_keys(path, positions, art, _artefact_keys(), ("artefact", index)))
    if isinstance(data.get("site"), dict):
        problems.extend(unknown_keys(path, positions, data["site"], _fields(Site), ("site",)))
    problems.extend(_normalise_times(path, positions, data, config.zone))
    problems.extend(_operator_only(path, positions, data.get("site")))
    problems.extend(_gate_secrets(path, positions, data))
    _merge_site(data, config.site.model_dump(exclude_unset=True))
    problems.extend(_complete_artefacts(path, positions, data, digests, stamps))
    if problems:
        raise ReleaseFileError(problems)
    lines = {key: positions.line((key,)) for key in data if positions.has_key((key,))}
    for table in ("change", "pre_release_access", "gate"):
        for index, _item in enumerate(_as_tables(data.get(table))):
            lines[f"{table}.{index}"] = positions.line((table, index))
    try:
        return Release.model_validate({**data, "source": path.resolve(), "lines": lines})
    except ValidationError as exc:
        raise ReleaseFileError(validation_problems(path, positions, exc, Release)) from None


@dataclass(frozen=True)
class ReleaseFiles:
    """Release files read one by one: the releases that loaded, and the problems of each file
    that did not (a broken file never stops the others from loading)."""

    releases: list[Release]
    broken: dict[Path, list[str]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        return [problem for problems in self.broken.values() for problem in problems]


def read_releases(
    paths: Iterable[Path],
    config: Config | None = None,
    digests: Digests | None = None,
    kept: KeptReleases | None = None,
) -> ReleaseFiles:
    """Load each release file on its own: whatever one file holds (bad TOML, a wrong field, an
    id another file already uses, nesting too deep to parse, junk too large to read) is that
    file's problem, and the rest still load. ``digests``: as for ``load_release``; ``kept``:
    the releases of the last read, taken again from files that did not change."""
    releases: list[Release] = []
    broken: dict[Path, list[str]] = {}
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            if kept is not None:
                release = kept.load(path, config, digests)
            else:
                release = load_release(path, config, digests)
        except ReleaseFileError as exc:
            broken[path] = exc.problems
            continue
        except Exception as exc:  # (what no check foresaw in this file must not stop the rest)
            log.exception("reading the release file %s failed", path)
            broken[path] = [
                f"{path}:1: this file could not be read ({exc}): check it, or report it "
                "with the service's log"
            ]
            continue
        if release.id in seen:
            line = release.line_of("id") or 1
            broken[path] = [
                f"{path}:{line}: id: {release.id!r} is already used by {seen[release.id]}: "
                "give each release its own id."
            ]
            continue
        seen[release.id] = path
        releases.append(release)
    return ReleaseFiles(releases, broken)


Stamp = tuple[int, int, int, int]
"""A file as ``stat`` finds it: device, inode, size, mtime_ns (one moved in over it, or changed,
has another)."""
Stamps = dict[str, tuple[str, Stamp]]
"""Each artefact file of a release as named beside the release file (by the path the release file
was read by, links not followed) → its real path and stamp when hashed."""


def stamp_of(found: os.stat_result) -> Stamp:
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


@dataclass(frozen=True)
class ReleaseRead:
    stamp: Stamp
    artefacts: Stamps
    release: Release
    looked_at: float = 0.0
    """``monotonic()`` when the release's folder and artefact files were last looked at."""

    @cached_property
    def digest_keys(self) -> tuple[DigestKey, ...]:
        """Its artefact files as they were hashed (``Digests``' keys)."""
        return tuple((local, *stamp) for local, stamp in self.artefacts.values())


IN_HAND_LOOK_S = 30.0
"""The artefact files of a release in hand are looked at after 15 to 30 s (see ``KeptReleases``)
rather than at every read."""


class KeptReleases:
    """The releases read well at the last read of the release files (``earlier``), by file, and
    in ``kept`` those this read used: a file is parsed again only when its stamp, its real path
    (a link to its folder swapped, the file in both hard-linked) or one of its artefact files'
    stamp (as named beside it) changed, so a read of files that did not change parses none. A
    file changed less than ``SETTLED_NS`` ago is not kept (two changes within the clock's tick
    would leave its stamp as it was).

    The release file is looked at at every read; the real path and the artefact files of a
    release ``in_hand`` (the scheduler's: being published, or published) only after its own
    period of 15 to 30 s (``IN_HAND_LOOK_S``): at T, 200 releases of 50 files each read every
    second were 10,000 stats a second, for releases whose publish already has the release it was
    armed with. A change to them is still taken up, that much later; each release's period is
    its own (from its path), so releases armed together are not all looked at in one read."""

    def __init__(
        self, earlier: Mapping[Path, ReleaseRead], in_hand: Collection[str] = frozenset()
    ) -> None:
        self._earlier = earlier
        self._in_hand = in_hand
        self.kept: dict[Path, ReleaseRead] = {}

    def load(self, path: Path, config: Config | None, digests: Digests | None) -> Release:
        stamp = _stamp(str(path))
        read = self._earlier.get(path)
        now = monotonic()
        if read is not None and read.stamp == stamp:
            if read.release.id in self._in_hand and now - read.looked_at < _period(path):
                return self._keep(path, read, digests)
            if os.path.realpath(path) == str(read.release.source) and _unchanged(read.artefacts):
                return self._keep(path, replace(read, looked_at=now), digests)
        artefacts: Stamps = {}
        release = load_release(path, config, digests, artefacts)
        settled = time.time_ns() - SETTLED_NS
        if stamp is not None and all(
            s[3] < settled for s in (stamp, *(a[1] for a in artefacts.values()))
        ):
            self.kept[path] = ReleaseRead(stamp, artefacts, release, now)
        return release

    def _keep(self, path: Path, read: ReleaseRead, digests: Digests | None) -> Release:
        if digests is not None:  # still in use: kept for the next read too
            for key in read.digest_keys:
                digests.get(key)
        self.kept[path] = read
        return read.release


def _period(path: Path) -> float:
    """How long the artefact files of a release in hand are left unlooked at: 15 to 30 s, by path."""
    return IN_HAND_LOOK_S * (1024 + zlib.crc32(str(path).encode()) % 1024) / 2048


def _stamp(path: str) -> Stamp | None:
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


def _unchanged(artefacts: Stamps) -> bool:
    return all(_stamp(named) == stamp for named, (_local, stamp) in artefacts.items())


def load_releases(paths: Iterable[Path], config: Config | None = None) -> list[Release]:
    """Load many release files; all problems of all files together; ids must be unique."""
    files = read_releases(paths, config)
    if files.broken:
        raise ReleaseFileError(files.problems())
    return files.releases


# --- reading -------------------------------------------------------------------------------------


def _read_toml(path: Path) -> tuple[dict[str, Any], TomlPositions]:
    text = _read_text(path)
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
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ReleaseFileError(
            [f"{path}:1: the file nests brackets too deeply to be read: a release file needs none."]
        ) from None
    return data, TomlPositions(text)


def _read_text(path: Path) -> str:
    """The file's text (a UTF-8 byte order mark dropped), read no further than
    ``MAX_RELEASE_FILE_BYTES``: a huge file, or a device that never ends, is refused."""
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):  # a pipe or a device: opening it could hang
            raise ReleaseFileError(
                [f"{path}:1: this is not a file: give the path of a release file."]
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_RELEASE_FILE_BYTES + 1)
        size = max(len(raw), found.st_size)
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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ReleaseFileError(
            [f"{path}:{line}: the file is not UTF-8 text: save it as UTF-8."]
        ) from None
    return text.removeprefix(_BOM)


def _fields(model: type[BaseModel], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(name for name in model.model_fields if name not in exclude)


def _artefact_keys() -> tuple[str, ...]:
    return ("file", "path", "expect_text", "landing", "link_text", "name")


def _as_tables(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


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
                problem(path, positions, loc, "give a date and a time, e.g. 2026-03-12T09:30:00")
            )
            continue
        if not isinstance(value, dt.datetime):
            problems.append(
                problem(path, positions, loc, "must be a TOML date-time, e.g. 2026-03-12T09:30:00")
            )
            continue
        kinds[dotted(loc)] = value.tzinfo is not None
        try:
            assert isinstance(table, dict)
            table[key] = _local_to_utc(value, zone)
        except ValueError as exc:
            problems.append(problem(path, positions, loc, str(exc)))
    if len(set(kinds.values())) > 1:
        with_offset = sorted(k for k, v in kinds.items() if v)
        without = sorted(k for k, v in kinds.items() if not v)
        problems.append(
            problem(
                path,
                positions,
                (without[0],),
                f"is a local time but {with_offset[0]} has an offset: "
                "write all times the same way, all local (Europe/London) or all with offsets",
            )
        )
    return problems


def _local_to_utc(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    try:
        return _to_utc(value, zone)
    except OverflowError:  # (a time so near year 1 or 9999 that UTC would fall outside them)
        raise ValueError(f"{value:%Y-%m-%d %H:%M} is out of range: write the real time") from None


def _to_utc(value: dt.datetime, zone: ZoneInfo) -> dt.datetime:
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


def _operator_only(path: Path, positions: TomlPositions, site: Any) -> list[str]:
    """A release file's own target and purge URLs may not say where secrets go or come from."""
    if not isinstance(site, dict):
        return []
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(site.get("target"), str):
        found.append((("site", "target"), site["target"]))
    if isinstance(site.get("purge"), list):
        found += [
            (("site", "purge", i), u) for i, u in enumerate(site["purge"]) if isinstance(u, str)
        ]
    return [
        problem(
            path,
            positions,
            loc,
            f"?{key}= may be set only in onthedot.toml's [site], where the operator keeps the "
            "secrets: move this address there",
        )
        for loc, url in found
        if (key := operator_only(url)) is not None
    ]


def _gate_secrets(path: Path, positions: TomlPositions, data: dict[str, Any]) -> list[str]:
    """A release file is stored and shown: a gate address with a password or token is not."""
    release_id = data.get("id") if isinstance(data.get("id"), str) else "<release id>"
    return [
        problem(
            path,
            positions,
            ("gate", i, "send"),
            f"holds a password or token, and release files are stored: declare this gate in "
            f"onthedot.toml under [[gates.{release_id}]] instead",
        )
        for i, gate in enumerate(_as_tables(data.get("gate")))
        if isinstance(gate.get("send"), str) and has_secret(gate["send"])
    ]


def _merge_site(data: dict[str, Any], defaults: Mapping[str, Any]) -> None:
    own = data.get("site")
    if not defaults:
        return
    if own is None:
        data["site"] = dict(defaults)
    elif isinstance(own, dict):
        data["site"] = {**defaults, **own}


def _complete_artefacts(
    path: Path,
    positions: TomlPositions,
    data: dict[str, Any],
    digests: Digests | None,
    stamps: Stamps | None,
) -> list[str]:
    """Resolve each artefact's file inside the release's folder; hash it (streamed)."""
    problems: list[str] = []
    folder = path.resolve().parent
    inside = os.path.join(folder, "")  # the folder's path with its separator at the end
    real_dirs: dict[str, str] = {}
    seen_paths: set[str] = set()
    for index, art in enumerate(_as_tables(data.get("artefact"))):
        loc: tuple[str | int, ...] = ("artefact", index)
        art_path = art.get("path")
        fault = _path_fault(art_path, seen_paths) if isinstance(art_path, str) else None
        if fault is not None:
            problems.append(problem(path, positions, (*loc, "path"), fault))
        where = _found_fault(art, data)
        if where is not None:
            problems.append(problem(path, positions, (*loc, where[0]), where[1]))
        name = art.get("file")
        if name is None:
            if art.get("expect_text") is None:
                problems.append(
                    problem(
                        path,
                        positions,
                        loc,
                        "give `file` (its bytes must be served) or `expect_text`",
                    )
                )
            continue
        if not isinstance(name, str):
            continue  # pydantic reports the type
        if "\0" in name:
            problems.append(
                problem(
                    path,
                    positions,
                    (*loc, "file"),
                    f"{name!r} holds a NUL character, which no file name can: write the file's name",
                )
            )
            continue
        local, found = _locate(folder, name, real_dirs)
        if not _inside(local, inside):
            problems.append(
                problem(
                    path,
                    positions,
                    (*loc, "file"),
                    f"{name!r} is outside the release's folder: "
                    "keep artefacts beside the release file",
                )
            )
            continue
        if found is None:
            problems.append(
                problem(path, positions, (*loc, "file"), f"{name!r} does not exist in {folder}")
            )
            continue
        try:
            art["sha256"], art["size"] = digest_of(local, found, digests)
        except OSError as exc:  # (unreadable to this user, or gone since it was looked at)
            reason = exc.strerror or type(exc).__name__
            problems.append(
                problem(
                    path,
                    positions,
                    (*loc, "file"),
                    f"{name!r} cannot be read ({reason.lower()}): give the service "
                    "permission to read it, or put it back",
                )
            )
            continue
        art["local_path"] = local
        if stamps is not None:
            stamps[os.path.join(path.parent, name)] = (str(local), stamp_of(found))
    return problems


def _found_fault(art: dict[str, Any], data: dict[str, Any]) -> tuple[str, str] | None:
    """What is wrong with how an artefact says where it is (its ``path``, or the ``landing`` page
    it is found through, and how): (key, fault), or None."""
    has_path, landing = art.get("path") is not None, art.get("landing")
    if has_path and landing is not None:
        return (
            "landing",
            "give either path (where it will be) or landing (the page that links to it), not both",
        )
    if not has_path and landing is None:
        return (
            "path",
            "give path (the file's address under site.public) or, for a file another system publishes, landing (the page that will link to it)",
        )
    if has_path:
        for key in ("link_text", "name"):
            if art.get(key) is not None:
                return (
                    key,
                    "is for a file found through its landing page: remove it or give landing instead of path",
                )
        return None
    return _landing_fault(art, landing, data)


def _landing_fault(
    art: dict[str, Any], landing: Any, data: dict[str, Any]
) -> tuple[str, str] | None:
    site = data.get("site")
    if not (
        isinstance(site, dict) and (site.get("target") == EXTERNAL or site.get("published_by"))
    ):
        return (
            "landing",
            f'a file is found through its landing page only when another system publishes the release: set target = "{EXTERNAL}" and published_by in [site], or give path',
        )
    if art.get("file") is None:
        return (
            "file",
            "give the local file of a file found through its landing page: onthedot tells it by its contents",
        )
    fault = path_fault(landing) if isinstance(landing, str) else None
    if fault is not None:
        return "landing", fault
    pages = {
        a.get("path") for a in _as_tables(data.get("artefact")) if a.get("expect_text") is not None
    }
    if landing not in pages:
        return (
            "landing",
            f"list the landing page {landing} as an artefact too, with path and expect_text (words only the published page shows)",
        )
    name = art.get("name")
    if isinstance(name, str) and ("/" in name or not name.strip("*")):
        return "name", "must be a file name, * standing for any part, e.g. lms-*.xlsx"
    return None


def _inside(local: Path, folder: str) -> bool:
    """``local.is_relative_to(folder)`` for two resolved paths (``folder`` ending in its
    separator), without taking either apart: a release lists thousands of files."""
    text = str(local)
    return text.startswith(folder) or text == folder[:-1]


def _path_fault(art_path: str, seen: set[str]) -> str | None:
    """The artefact path rule (``model.path_fault``), and each path listed once."""
    if art_path in seen:
        return f"{art_path} is listed twice: list each artefact path once"
    seen.add(art_path)
    return path_fault(art_path)


def _locate(
    folder: Path, name: str, real_dirs: dict[str, str]
) -> tuple[Path, os.stat_result | None]:
    """``folder / name`` with every symbolic link resolved (as ``Path.resolve()``), and its stat
    if it is a regular file. Each directory is resolved once (``real_dirs``), then the file is
    looked at itself: one system call per file rather than one per part of its path."""
    parent, base = os.path.split(os.path.join(folder, name))
    real_parent = real_dirs.get(parent)
    if real_parent is None:
        real_parent = real_dirs[parent] = os.path.realpath(parent)
    local = os.path.join(real_parent, base)
    try:
        found = os.lstat(local)
        if base in ("", ".", "..") or stat.S_ISLNK(found.st_mode):
            local = os.path.realpath(local)
            found = os.stat(local)
    except OSError:
        return Path(os.path.realpath(local)), None
    return Path(local), found if stat.S_ISREG(found.st_mode) else None


SETTLED_NS = 2_000_000_000
"""A file changed this recently is hashed but not remembered: a second change within the clock's
tick that stamped the first would leave size and mtime as they were (as git does)."""


def digest_of(local: Path, found: os.stat_result, digests: Digests | None) -> tuple[str, int]:
    """SHA-256 and size of ``local`` (stat ``found``): remembered while its stamp is the same
    (another file moved in over it, with the same size and mtime, is hashed again)."""
    key = (str(local), *stamp_of(found))
    known = digests.get(key) if digests is not None else None
    if known is not None:
        return known, found.st_size
    digest, size = file_sha256(local)
    if digests is not None and size == found.st_size:
        if time.time_ns() - found.st_mtime_ns > SETTLED_NS:
            digests[key] = digest
    return digest, size


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, streamed (a 1 GB artefact is never held in memory)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return digest.hexdigest(), handle.tell()
