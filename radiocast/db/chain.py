"""The tamper-evident record the signed report rests on: every approval decision and every
proof-of-play event, in the order stored, as a hash chain. Each entry's digest is
sha256(previous digest, kind, the row's canonical content); `verify` walks it and names the
first entry that was changed, inserted or removed. Rows stored before the chain began
(radiocast before 0011) are counted, not judged. The chain's head (its length and last
digest) is printed on the PDF report, so a printed report can be matched with the record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.db.schema import ApprovalDecision, AsRunEvent, ChainEntry

GENESIS = "0" * 64
BATCH = 2000
KINDS: dict[str, Any] = {"approval": ApprovalDecision, "asrun": AsRunEvent}


def _when(v: datetime | None) -> str | None:
    return None if v is None else v.astimezone(UTC).isoformat()


def content(row: ApprovalDecision | AsRunEvent) -> str:
    """A row's canonical form: every column that the report rests on."""
    if isinstance(row, ApprovalDecision):
        doc: dict[str, Any] = {
            "programme_id": row.programme_id, "sha256": row.sha256, "decision": row.decision,
            "station_id": row.station_id, "approver_id": row.approver_id,
            "approver_name": row.approver_name, "approver_title": row.approver_title,
            "comment": row.comment, "at": _when(row.at)}
    else:
        doc = {"event_id": row.event_id, "station_id": row.station_id, "seq": row.seq,
               "airing_id": row.airing_id, "status": row.status,
               "started_at": _when(row.started_at), "finished_at": _when(row.finished_at),
               "detail": row.detail, "raw": row.raw, "received_at": _when(row.received_at)}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(previous: str, kind: str, text: str) -> str:
    return hashlib.sha256(f"{previous}\n{kind}\n{text}".encode()).hexdigest()


def append(s: Session, row: ApprovalDecision | AsRunEvent) -> ChainEntry:
    """Chain a row just stored (flushed: it has its id), inside its write transaction."""
    kind = "approval" if isinstance(row, ApprovalDecision) else "asrun"
    last = s.scalars(select(ChainEntry).where(ChainEntry.seq > 0)
                     .order_by(ChainEntry.seq.desc()).limit(1)).first()
    entry = ChainEntry(seq=(last.seq if last else 0) + 1, kind=kind, ref_id=row.id,
                       digest=digest(last.digest if last else GENESIS, kind, content(row)))
    s.add(entry)
    s.flush()
    return entry


@dataclass(frozen=True)
class Head:
    length: int
    digest: str

    def short(self) -> str:
        return f"{self.length}:{self.digest[:16]}"


def head(s: Session) -> Head:
    last = s.scalars(select(ChainEntry).where(ChainEntry.seq > 0)
                     .order_by(ChainEntry.seq.desc()).limit(1)).first()
    return Head(0, GENESIS) if last is None else Head(last.seq, last.digest)


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: Head
    problem: str = ""  # the first entry changed, inserted or removed; "" when whole
    before_chain: int = 0  # rows stored before the chain began

    @property
    def whole(self) -> bool:
        return not self.problem


def verify(s: Session) -> Verdict:
    """Walk the chain from its first entry; stop at the first one that does not hold."""
    begin = s.get(ChainEntry, 0)  # written by the migration: proof of play before it is older
    if begin is None or begin.kind != "start":
        return Verdict(0, Head(0, GENESIS), "the chain's start (entry 0) was removed")
    previous, expected, seen = GENESIS, 1, {k: set[int]() for k in KINDS}
    for entries in _batches(s):
        rows = {k: {r.id: r for r in s.scalars(select(m).where(m.id.in_(
            [e.ref_id for e in entries if e.kind == k])))} for k, m in KINDS.items()}
        for e in entries:
            what = f"entry {e.seq} ({e.kind} #{e.ref_id})"
            if e.seq != expected:
                return Verdict(expected - 1, Head(expected - 1, previous),
                               f"entry {expected} was removed (the next is {e.seq})")
            row = rows.get(e.kind, {}).get(e.ref_id)
            if row is None:
                return Verdict(e.seq - 1, Head(e.seq - 1, previous),
                               f"{what}: its row was removed")
            if digest(previous, e.kind, content(row)) != e.digest:
                return Verdict(e.seq - 1, Head(e.seq - 1, previous), f"{what} was changed")
            seen[e.kind].add(e.ref_id)
            previous, expected = e.digest, expected + 1
    length = expected - 1
    before = 0
    for kind, model in KINDS.items():
        older = begin.ref_id if kind == "asrun" else 0
        for rid in s.scalars(select(model.id).order_by(model.id)):
            if rid in seen[kind]:
                continue
            if rid > older:
                return Verdict(length, Head(length, previous),
                               f"{kind} #{rid} was inserted: it is in no chain entry")
            before += 1
    return Verdict(length, Head(length, previous), "", before)


def _batches(s: Session) -> Iterator[list[ChainEntry]]:
    after = 0
    while True:
        entries = list(s.scalars(select(ChainEntry).where(ChainEntry.seq > after)
                                 .order_by(ChainEntry.seq).limit(BATCH)))
        if not entries:
            return
        yield entries
        after = entries[-1].seq
