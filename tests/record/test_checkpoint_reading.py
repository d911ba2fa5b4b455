"""Reading the checkpoint file (``Anchor.latest``): each call reads only the lines added since the
last (a release page asks at every making, and the file holds a line for every head signed), yet
a line not signed by the key is still found: appended at once, changed in place within
``FULL_READ_S``; a line still being written is not taken for a forged one."""

from __future__ import annotations

from pathlib import Path

import pytest

from onthedot.record import checkpoint
from onthedot.record.checkpoint import Anchor, CheckpointForged


def anchor(tmp_path: Path) -> Anchor:
    return Anchor(tmp_path / "key", tmp_path / "checkpoints.jsonl", "the store")


def test_only_the_lines_added_since_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, reader = anchor(tmp_path), anchor(tmp_path)
    for seq in range(1, 201):
        signer.sign(f"release-{seq % 20}", seq, f"head-{seq}")
    read: list[int] = []
    real = Anchor._read

    def counted(self: Anchor, line: str, number: int, public: object) -> object:
        read.append(number)
        return real(self, line, number, public)  # type: ignore[arg-type]

    monkeypatch.setattr(Anchor, "_read", counted)
    first = reader.latest("release-3")
    assert first is not None and (first.seq, first.head) == (183, "head-183")
    assert len(read) == 200
    signer.sign("release-3", 201, "head-201")
    again = reader.latest("release-3")
    assert again is not None and again.seq == 201
    assert read[200:] == [201]  # (the one line added, numbered as in the file)
    assert reader.latest("release-4") is not None and len(read) == 201
    assert reader.latest("nothing signed") is None


def test_a_line_not_signed_by_the_key_is_found_appended_or_changed_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer, reader = anchor(tmp_path), anchor(tmp_path)
    signer.sign("gdp", 1, "a" * 64)
    signer.sign("gdp", 2, "b" * 64)
    assert reader.latest("gdp") is not None
    text = reader.path.read_text()
    reader.path.write_text(text.replace("b" * 64, "c" * 64))  # (same length, in place)
    monkeypatch.setattr(checkpoint, "FULL_READ_S", 0.0)
    with pytest.raises(CheckpointForged) as forged:
        reader.latest("gdp")
    assert forged.value.line == 2
    reader.path.write_text(text + '{"store": "the store", "release": "gdp"}\n')
    with pytest.raises(CheckpointForged) as appended:
        reader.latest("other")
    assert appended.value.line == 3


def test_a_line_still_being_written_is_left_for_the_next_call(tmp_path: Path) -> None:
    signer, reader = anchor(tmp_path), anchor(tmp_path)
    signer.sign("gdp", 1, "a" * 64)
    line = reader.path.read_bytes()
    signer.sign("gdp", 2, "b" * 64)
    whole = reader.path.read_bytes()
    reader.path.write_bytes(whole[: len(line) + 40])  # (half of the second line)
    first = reader.latest("gdp")
    assert first is not None and first.seq == 1
    with reader.path.open("ab") as out:
        out.write(whole[len(line) + 40 :])
    second = reader.latest("gdp")
    assert second is not None and second.seq == 2


def test_a_line_cut_short_by_a_crash_is_left_out_not_taken_for_a_forged_one(
    tmp_path: Path,
) -> None:
    """A write cut short (power lost, a full disk) leaves half a line, and the next signing
    glues its line onto it: that line is lost, the ones after are read, and the file is not
    called altered (it was, for every release, from then on)."""
    signer, reader = anchor(tmp_path), anchor(tmp_path)
    signer.sign("gdp", 1, "a" * 64)
    whole = reader.path.read_bytes()
    reader.path.write_bytes(whole + whole[:40])  # (the next line, cut short)
    signer.sign("gdp", 2, "b" * 64)  # (glued on)
    signer.sign("gdp", 3, "c" * 64)
    latest = reader.latest("gdp")
    assert latest is not None and (latest.seq, latest.head) == (3, "c" * 64)


def test_a_key_file_is_never_left_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signing key is written whole under a name of its own, then linked in: a crash while
    writing it left an empty key file, and every signature after failed."""

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("onthedot.record.checkpoint.os.fsync", crash)
    with pytest.raises(OSError):
        checkpoint.write_private(tmp_path / "keys" / "key", b"secret")
    assert list((tmp_path / "keys").iterdir()) == []  # (neither the key nor its part)
    monkeypatch.undo()
    assert checkpoint.write_private(tmp_path / "keys" / "key", b"secret")
    assert (tmp_path / "keys" / "key").read_bytes() == b"secret"
    assert not checkpoint.write_private(tmp_path / "keys" / "key", b"other")  # (made first)
    assert (tmp_path / "keys" / "key").read_bytes() == b"secret"
