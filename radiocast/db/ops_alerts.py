"""The alert state changes: incidents open, are seen again and close; notices are queued,
sent, retried and given up. Like `ops`, the only code that writes these rows."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from radiocast.db.ops import record_event
from radiocast.db.schema import Incident, Notice


def open_incident(s: Session, key: str, code: str, severity: str, station_id: str | None,
                  emergency: bool, texts: dict[str, list[str]], now: datetime) -> Incident:
    inc = Incident(key=key, code=code, severity=severity, station_id=station_id,
                   emergency=int(emergency), texts=json.dumps(texts, ensure_ascii=False),
                   opened_at=now, last_seen_at=now)
    s.add(inc)
    s.flush()
    record_event(s, now, "incident", inc.id, "opened", detail=key)
    return inc


def see_incident(s: Session, inc: Incident, severity: str, texts: dict[str, list[str]],
                 now: datetime) -> None:
    inc.last_seen_at = now
    inc.severity = severity
    inc.texts = json.dumps(texts, ensure_ascii=False)


def close_incident(s: Session, inc: Incident, now: datetime) -> None:
    inc.closed_at = now
    record_event(s, now, "incident", inc.id, "closed", detail=inc.key)


def queue_notice(s: Session, channel: str, incident_id: int | None, kind: str, title: str,
                 body: str, now: datetime, not_before: datetime) -> None:
    s.add(Notice(channel=channel, incident_id=incident_id, kind=kind, title=title, body=body,
                 created_at=now, not_before=not_before, attempts=0, next_attempt_at=now))


def notice_sent(s: Session, notice: Notice, now: datetime) -> None:
    notice.sent_at = now
    notice.attempts += 1
    notice.last_error = None


def notice_failed(s: Session, notice: Notice, now: datetime, error: str, wait: timedelta,
                  give_up_after: timedelta) -> bool:
    """Count a failed send; give up when it has failed for `give_up_after`. True: given up."""
    notice.attempts += 1
    notice.last_error = error[:500]
    notice.next_attempt_at = now + wait
    if now - notice.created_at >= give_up_after:
        notice.given_up_at = now
        record_event(s, now, "notice", notice.id, "given_up", detail=notice.last_error)
        return True
    return False
