"""The web accounts' state changes: accounts added, passwords set, accounts disabled, sign-in
failures counted and the lock-out. Like `ops`, the only code that writes these rows; every
change is an event naming the account (never a password or its hash)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.db.ops import record_event
from radiocast.db.schema import WebKey, WebUser

LOCK_AFTER = 10  # wrong passwords in a row
LOCK_FOR = timedelta(minutes=15)


def add_user(s: Session, name: str, role: str, password_hash: str, now: datetime,
             approver_id: str | None = None, stations: list[str] | None = None) -> WebUser:
    u = WebUser(name=name, role=role, approver_id=approver_id,
                stations=json.dumps(stations) if stations else None,
                password_hash=password_hash, disabled=0, failed=0, epoch=1, created_at=now)
    s.add(u)
    s.flush()
    record_event(s, now, "user", name, "added", detail=role)
    return u


def set_password(s: Session, u: WebUser, password_hash: str, now: datetime, by: str) -> None:
    u.password_hash = password_hash
    u.failed, u.locked_until, u.epoch = 0, None, u.epoch + 1  # every old session ends
    record_event(s, now, "user", u.name, "password", detail=f"by {by}")


def disable(s: Session, u: WebUser, now: datetime, by: str) -> None:
    u.disabled, u.epoch = 1, u.epoch + 1
    record_event(s, now, "user", u.name, "disabled", detail=f"by {by}")


def login_failed(s: Session, u: WebUser, now: datetime, address: str) -> bool:
    """Count a wrong password; True when this one locked the account."""
    u.failed += 1
    locked = u.failed >= LOCK_AFTER and (u.locked_until is None or u.locked_until <= now)
    if locked:
        u.locked_until = now + LOCK_FOR
        u.failed = 0
        record_event(s, now, "user", u.name, "locked", detail=f"from {address[:60]}")
    return locked


def login_ok(s: Session, u: WebUser, now: datetime, address: str) -> None:
    u.failed, u.locked_until = 0, None
    record_event(s, now, "user", u.name, "signed_in", detail=f"from {address[:60]}")


def web_key(s: Session) -> str:
    """The session-signing key, made the first time it is asked for."""
    key = s.scalars(select(WebKey).limit(1)).first()
    if key is None:
        key = WebKey(secret=secrets.token_hex(32))
        s.add(key)
        s.flush()
    return key.secret


def record_write(s: Session, user: str, what: str, detail: str, now: datetime) -> None:
    """A write made on the web page, naming who made it."""
    record_event(s, now, "web", user, what, detail=detail[:500])
