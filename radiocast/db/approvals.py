"""State changes of approval before air: a programme waits, an approver approves or declines
it (or refuses it for one commune's station), each decision recorded once per file (its
sha256), as an event and in the tamper-evident chain. Like `ops`, every change is a named
function that records an event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.core.models import AIRABLE as AIRABLE_STATES
from radiocast.core.models import AiringState, ApprovalState, DeliveryState, ProgrammeState
from radiocast.db import chain, ops
from radiocast.db.schema import Airing, ApprovalDecision, Delivery, Programme

APPROVED, DECLINED, REFUSED = "approved", "declined", "refused"
AIRABLE = AIRABLE_STATES


@dataclass(frozen=True)
class Who:
    """The approver as the configuration names them, copied into the record."""

    id: str
    name: str
    title: str


def await_approval(s: Session, p: Programme, now: datetime) -> None:
    ops.record_event(s, now, "programme", p.id, "approval", p.approval,
                     ApprovalState.AWAITING.value, p.sha256)
    p.approval = ApprovalState.AWAITING.value


def decided(s: Session, p: Programme, decision: str,
            station_id: str | None = None) -> ApprovalDecision | None:
    """The same decision already recorded for this very file (and station)."""
    return s.scalars(select(ApprovalDecision).where(
        ApprovalDecision.programme_id == p.id, ApprovalDecision.sha256 == (p.sha256 or ""),
        ApprovalDecision.decision == decision, ApprovalDecision.station_id.is_(None)
        if station_id is None else ApprovalDecision.station_id == station_id)).first()


def decide(s: Session, p: Programme, decision: str, who: Who, comment: str, now: datetime,
           station_id: str | None = None, aired_first: bool = False) -> bool:
    """Record a decision on the programme's current file and apply it. False when the same
    decision was already recorded (nothing changes: one record)."""
    if decided(s, p, decision, station_id) is not None:
        return False
    row = ApprovalDecision(programme_id=p.id, sha256=p.sha256 or "", decision=decision,
                           station_id=station_id, approver_id=who.id, approver_name=who.name,
                           approver_title=who.title, comment=comment, at=now)
    s.add(row)
    s.flush()
    chain.append(s, row)
    if decision == APPROVED:
        _approve(s, p, who, now, aired_first)
    elif decision == DECLINED:
        _decline(s, p, who, comment, now)
    else:
        _refuse(s, p, station_id or "", who, comment, now)
    return True


def _approve(s: Session, p: Programme, who: Who, now: datetime, aired_first: bool) -> None:
    to = ApprovalState.APPROVED_AFTER_AIR if aired_first else ApprovalState.APPROVED
    ops.record_event(s, now, "programme", p.id, "approval", p.approval, to.value,
                     f"{who.name} ({who.id}) {p.sha256}")
    p.approval, p.approved_at = to.value, now
    old = s.get(Programme, p.supersedes_id) if p.supersedes_id else None
    if old is not None and old.state == ProgrammeState.READY.value:
        ops.supersede(s, old, p, now)  # the approved revision replaces the version on air


def _decline(s: Session, p: Programme, who: Who, reason: str, now: datetime) -> None:
    ops.record_event(s, now, "programme", p.id, "approval", p.approval,
                     ApprovalState.DECLINED.value, f"{who.name} ({who.id}): {reason}")
    p.approval = ApprovalState.DECLINED.value
    _withdraw(s, p, None, now, f"declined by {who.name}")


def _refuse(s: Session, p: Programme, station_id: str, who: Who, reason: str,
            now: datetime) -> None:
    ops.record_event(s, now, "programme", p.id, "refused_for", None, None,
                     f"{station_id}: {who.name} ({who.id}): {reason}")
    _withdraw(s, p, station_id, now, f"refused for {station_id} by {who.name}")


def _withdraw(s: Session, p: Programme, station_id: str | None, now: datetime,
              why: str) -> None:
    """Nothing of it airs (there, or anywhere); its files leave the stations at their next
    inventory (a cancelled delivery is no longer kept there)."""
    q = select(Airing).where(Airing.programme_id == p.id,
                             Airing.state == AiringState.PLANNED.value)
    d = select(Delivery).where(Delivery.programme_id == p.id,
                               Delivery.state != DeliveryState.CANCELLED.value)
    if station_id is not None:
        q, d = q.where(Airing.station_id == station_id), d.where(Delivery.station_id == station_id)
    for a in s.scalars(q):
        ops.cancel_airing(s, a, now, why)
    for dl in s.scalars(d):
        ops.set_delivery_state(s, dl, DeliveryState.CANCELLED, now, why)


def mark_removed(s: Session, d: Delivery, now: datetime) -> None:
    """A withdrawn (cancelled) delivery's file is gone from the station: its inventory removed
    it, and the station need not be visited for it again."""
    ops.record_event(s, now, "delivery", d.id, "removed", d.state, d.state, d.station_id)
    d.delivered_at = None
