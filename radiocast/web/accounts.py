"""Web accounts: who may sign in, with which role and over which stations. Passwords are kept
as Argon2 hashes only; ten wrong passwords in a row lock an account for a while."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.app import App
from radiocast.core.errors import UsageError
from radiocast.core.i18n import t
from radiocast.db import ops_web
from radiocast.db.schema import WebUser
from radiocast.web.session import Account

ROLES = ("operator", "approver", "station")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
HASHER = PasswordHasher()
# verified when the name is unknown, so a wrong name costs the same time as a wrong password
_DUMMY = HASHER.hash("radiocast-no-such-user")


def account_of(app: App, u: WebUser) -> Account:
    """The account with its station scope: an operator sees every station; an approver the
    stations its [[approvers]] entry covers; a station account its own stations."""
    scope: tuple[str, ...] | None
    if u.role == "operator":
        scope = None
    elif u.role == "approver":
        who = app.settings.approval.approver(u.approver_id or "")
        scope = () if who is None else who.stations
    else:
        scope = tuple(json.loads(u.stations or "[]"))
    return Account(u.id, u.name, u.role, u.approver_id, scope, u.epoch)


def add(app: App, name: str, role: str, password: str, approver_id: str | None = None,
        stations: list[str] | None = None) -> None:
    lang = app.lang
    if not NAME.match(name):
        raise UsageError(t("web.bad_name", lang))
    if role not in ROLES:
        raise UsageError(t("web.bad_role", lang))
    if role == "approver" and app.settings.approval.approver(approver_id or "") is None:
        raise UsageError(t("web.need_approver", lang))
    if role == "station":
        known = {st.id for st in app.settings.stations}
        if not stations or not set(stations) <= known:
            raise UsageError(t("web.need_stations", lang))
        who = app.settings.approval.approver(approver_id) if approver_id else None
        if approver_id and (who is None or not who.covers(stations)):
            raise UsageError(t("web.need_approver", lang))  # the commune's own approver
    _check_password(password, lang)
    with app.db.write() as s:
        if s.scalars(select(WebUser).where(WebUser.name == name)).first() is not None:
            raise UsageError(t("web.exists", lang, name=name))
        ops_web.add_user(s, name, role, HASHER.hash(password), app.clock(),
                         approver_id if role != "operator" else None,
                         stations if role == "station" else None)


def _check_password(password: str, lang: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(t("web.short_password", lang, n=MIN_PASSWORD))


def set_password(app: App, name: str, password: str, by: str = "cli") -> None:
    _check_password(password, app.lang)
    with app.db.write() as s:
        ops_web.set_password(s, _named(app, s, name), HASHER.hash(password), app.clock(), by)


def disable(app: App, name: str, by: str = "cli") -> None:
    with app.db.write() as s:
        ops_web.disable(s, _named(app, s, name), app.clock(), by)


def _named(app: App, s: Session, name: str) -> WebUser:
    u = s.scalars(select(WebUser).where(WebUser.name == name)).first()
    if u is None:
        raise UsageError(t("web.no_user", app.lang, name=name))
    return u


def listing(app: App) -> list[dict[str, object]]:
    with app.db.read() as s:
        return [{"name": u.name, "role": u.role, "approver_id": u.approver_id,
                 "stations": json.loads(u.stations) if u.stations else None,
                 "disabled": bool(u.disabled),
                 "locked_until": u.locked_until.isoformat() if u.locked_until else None}
                for u in s.scalars(select(WebUser).order_by(WebUser.name))]


@dataclass(frozen=True)
class SignIn:
    account: Account | None
    locked_until: datetime | None = None  # set when the account is (or just got) locked


def sign_in(app: App, name: str, password: str, address: str) -> SignIn:
    """Check a name and password. A locked or disabled account never signs in; the tenth
    wrong password in a row locks it for ops_web.LOCK_FOR."""
    now = app.clock()
    with app.db.write() as s:
        u = s.scalars(select(WebUser).where(WebUser.name == name[:64])).first()
        if u is None or u.disabled:
            _verify(_DUMMY, password)
            return SignIn(None)
        if u.locked_until is not None and u.locked_until > now:
            return SignIn(None, u.locked_until)
        if not _verify(u.password_hash, password):
            locked = ops_web.login_failed(s, u, now, address)
            return SignIn(None, u.locked_until if locked else None)
        ops_web.login_ok(s, u, now, address)
        return SignIn(account_of(app, u))


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def current(app: App, user_id: int, epoch: int) -> Account | None:
    """The account a session names, if it is still valid (not disabled, same epoch)."""
    with app.db.read() as s:
        u = s.get(WebUser, user_id)
        if u is None or u.disabled or u.epoch != epoch:
            return None
        return account_of(app, u)
