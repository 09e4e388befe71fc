"""Proof of play: events appended to segment files under `asrun/` in the media folder (where
the hub reads them), fsync'd before they count; deleted only once the hub acknowledges them.

An event is one JSON line: {event_id, seq, station_id, airing_id, file, sha256, scheduled_at,
started_at, finished_at, status (aired|failed|interrupted|skipped), detail,
clock: {boot_id, monotonic_s}}. `seq` is consecutive per station and derived from the files
themselves (and the last acknowledged seq), so a crash can never leave a gap. The outcome of an
airing has a fixed event_id (a UUID made from the station and airing ids): if a crash makes the
agent write it again, the hub still stores it once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any

from radiocast.agent.ledger import Ledger
from radiocast.core.fsutil import fsync_dir

ASRUN_DIR = "asrun"
ACK_FILE = "asrun.ack"
NAMESPACE = uuid.UUID("6b0b1d9e-3f2a-4d0e-9a41-7c5e2f1d8a10")


def event_id(station_id: str, airing_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{station_id}/{airing_id}"))


class Journal:
    def __init__(self, media_dir: Path, ledger: Ledger) -> None:
        self.dir = media_dir / ASRUN_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ledger = ledger
        self.repair()
        self.next_seq = max(self.acked(), self.highest_written()) + 1

    # ------------------------------------------------------------ writing

    def segment_for(self, day: str) -> Path:
        """The segment today's events go to: the day's newest, or a new one named by the day
        and the seq it starts at. A name is never used twice: once the hub has acknowledged a
        segment and it is gone, the day's next event starts another, which no side can take
        for the old one by its name and size."""
        existing = sorted(self.dir.glob(f"{day}*.jsonl"))
        return existing[-1] if existing else self.dir / f"{day}.{self.next_seq:08d}.jsonl"

    def append(self, fields: dict[str, Any], day: str) -> dict[str, Any]:
        """Write one event (durably) and return it."""
        event = {**fields, "seq": self.next_seq}
        line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        path = self.segment_for(day)
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "the as-run line did not fit on the disk")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # never half a line: the event is written again later
                raise
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.dir)
        self.next_seq += 1
        return event

    def repair(self) -> None:
        """A power cut can leave half a line at the end of a segment: cut it off."""
        for seg in self.segments():
            data = seg.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(seg, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
                    os.fsync(fh.fileno())

    # ------------------------------------------------------------ reading, acknowledging

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("*.jsonl"))

    def events(self, seg: Path) -> list[dict[str, Any]]:
        out = []
        for line in seg.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                rec = json.loads(line)
                if isinstance(rec, dict) and isinstance(rec.get("seq"), int):
                    out.append(rec)
        return out

    def highest_written(self) -> int:
        return max((e["seq"] for seg in self.segments() for e in self.events(seg)), default=0)

    def acked(self) -> int:
        return int(self.ledger.get("acked_seq", "0"))

    def backlog(self) -> int:
        """Events written and not yet acknowledged by the hub."""
        return self.next_seq - 1 - self.acked()

    def take_ack(self, media_dir: Path) -> int:
        """Read the hub's `asrun.ack` (highest seq it stored, all before it too); delete the
        segments it covers. Returns the acknowledged seq."""
        try:
            text = (media_dir / ACK_FILE).read_text(encoding="ascii").strip()
            seq = int(text)
        except (OSError, ValueError):
            return self.acked()
        seq = min(seq, self.next_seq - 1)  # never more than was written
        if seq > self.acked():
            self.ledger.put("acked_seq", str(seq))
        for seg in self.segments():
            events = self.events(seg)
            if events and max(e["seq"] for e in events) <= self.acked():
                seg.unlink()
        return self.acked()
