"""Approval before air, as the CLI (and the web page) use it: what waits and who may approve
it, and the decisions with their rules — an unknown approver, one outside the programme's
stations, or a programme that is not waiting is refused and nothing changes; the same
decision twice is one record. A declined programme leaves a note beside the drop folder's
receipts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from radiocast.app import App
from radiocast.config.approval import Approver
from radiocast.core.errors import ExitCode, RadiocastError
from radiocast.core.fsutil import atomic_write, fit_name, note_bytes
from radiocast.core.i18n import t
from radiocast.core.models import ApprovalState, Priority, ProgrammeState
from radiocast.db import approvals, views
from radiocast.db.schema import Programme

DECLINED_SUFFIX = " - KHÔNG DUYỆT.txt"


class ApprovalRefused(RadiocastError):
    """A decision that cannot be taken as asked: nothing changed (exit 2)."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class Waiting:
    id: int
    title: str
    month: str
    language: str
    revision: int
    sha256: str
    duration_s: float
    output_lufs: float | None
    output_path: str
    source_name: str
    waiting_since: datetime
    approvers: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "month": self.month,
                "language": self.language, "revision": self.revision, "sha256": self.sha256,
                "duration_s": round(self.duration_s, 1), "output_lufs": self.output_lufs,
                "output_path": self.output_path, "source_name": self.source_name,
                "waiting_since": self.waiting_since.isoformat(), "approvers": self.approvers}


def stations_of(app: App, p: Programme) -> list[str]:
    """Where the programme goes: who approves it must cover these stations."""
    return app.settings.stations_for(p.month, views.programme_stations(p), p.language)


def waiting(app: App) -> list[Waiting]:
    """Every programme waiting for approval, the longest-waiting first."""
    with app.db.read() as s:
        return [Waiting(p.id, p.title, p.month, p.language, p.revision, p.sha256 or "",
                        p.duration_s or 0.0, p.output_lufs, p.output_path or "",
                        p.source_name, since,
                        [a.id for a in app.settings.approval.approvers_for(stations_of(app, p))])
                for p, since in views.awaiting_approval(s)]


def _approver(app: App, approver_id: str) -> Approver:
    who = app.settings.approval.approver(approver_id)
    if who is None:
        known = ", ".join(a.id for a in app.settings.approval.approvers) or "-"
        raise ApprovalRefused(t("approval.unknown_approver", app.lang, id=approver_id,
                                known=known))
    return who


def decide(app: App, pid: int, approver_id: str, decision: str, comment: str = "",
           station_id: str | None = None) -> bool:
    """Approve, decline, or (with `station_id`) refuse for one station. True when recorded,
    False when the same decision was already recorded. ApprovalRefused: nothing changed."""
    who = _approver(app, approver_id)
    with app.db.write() as s:
        p = s.get(Programme, pid)
        if p is None or p.state != ProgrammeState.READY.value:
            raise ApprovalRefused(t("approval.not_waiting", app.lang, id=pid))
        if station_id is not None:
            if station_id not in stations_of(app, p):
                raise ApprovalRefused(t("approval.not_its_station", app.lang, id=pid,
                                        station=station_id))
            if p.priority != Priority.NORMAL.value:
                raise ApprovalRefused(t("approval.refuse_normal_only", app.lang, id=pid))
        if not who.covers([station_id] if station_id else stations_of(app, p)):
            raise ApprovalRefused(t("approval.outside", app.lang, who=who.id, id=pid))
        if approvals.decided(s, p, decision, station_id) is not None:
            return False  # the same decision again: one record
        if p.approval == ApprovalState.DECLINED.value or (
                station_id is None and p.approval != ApprovalState.AWAITING.value):
            raise ApprovalRefused(t("approval.not_waiting", app.lang, id=pid))
        aired_first = app.settings.approval.airs_first(p.priority)
        done = approvals.decide(s, p, decision, approvals.Who(who.id, who.name, who.title),
                                comment, app.clock(), station_id, aired_first)
        note = (p.source_name, p.title) if decision == approvals.DECLINED else None
    if note is not None:
        _declined_note(app, note[0], note[1], who, comment)
    return done


def _declined_note(app: App, name: str, title: str, who: Approver, reason: str) -> None:
    """Beside the receipts: staff see why their file will not air, in Vietnamese first."""
    at = f"{app.clock().astimezone(app.settings.general.tz):%d/%m/%Y %H:%M}"
    text = "\n----\n".join(t("note.declined", lang, name=name, title=title, who=who.name,
                             role=who.title or "-", at=at, reason=reason).strip()
                           for lang in ("vi", "en")) + "\n"
    atomic_write(note_path(app, name), note_bytes(text))


def dumps(items: list[Waiting]) -> str:
    return json.dumps([w.as_json() for w in items], ensure_ascii=False, indent=2)


def note_path(app: App, name: str) -> Path:
    return app.settings.ingest.archive_dir / (fit_name(name, len(DECLINED_SUFFIX))
                                              + DECLINED_SUFFIX)
