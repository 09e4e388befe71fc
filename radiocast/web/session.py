"""Sessions and forms: a signed, HttpOnly, SameSite=Strict cookie naming the account and its
epoch (a password change or a disabled account ends it), a CSRF token bound to the session for
every form, and a per-address limit on sign-in attempts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "radiocast_session"
MAX_AGE = 12 * 3600  # a working day; then sign in again
ATTEMPTS = 20  # sign-in attempts per address …
PER_SECONDS = 300.0  # … in this many seconds


@dataclass(frozen=True)
class Account:
    """A signed-in person, as every page sees them."""

    id: int
    name: str
    role: str  # operator | approver | station
    approver_id: str | None
    stations: tuple[str, ...] | None  # None: every station
    epoch: int

    def sees(self, station_id: str | None) -> bool:
        return self.stations is None or (station_id is not None and station_id in self.stations)


@dataclass(frozen=True)
class Session:
    user_id: int
    epoch: int
    nonce: str
    lang: str


class Signer:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.serializer = URLSafeTimedSerializer(secret, salt="radiocast-session")

    def issue(self, user_id: int, epoch: int, lang: str) -> str:
        return self.serializer.dumps({"u": user_id, "e": epoch, "n": secrets.token_hex(16),
                                      "l": lang})

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            doc: Any = self.serializer.loads(cookie, max_age=MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("u"), int):
            return None
        return Session(doc["u"], int(doc.get("e", 0)), str(doc.get("n", "")),
                       "en" if doc.get("l") == "en" else "vi")

    def csrf(self, session: Session) -> str:
        """The token every form of this session carries."""
        return hmac.new(self.secret, f"csrf:{session.nonce}".encode(),
                        hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(session), str(token))


class Throttle:
    """At most ATTEMPTS sign-in attempts per address in PER_SECONDS."""

    def __init__(self, attempts: int = ATTEMPTS, seconds: float = PER_SECONDS) -> None:
        self.attempts, self.seconds = attempts, seconds
        self.seen: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = time.monotonic()
        with self.lock:
            q = self.seen.setdefault(address, deque())
            while q and now - q[0] > self.seconds:
                q.popleft()
            if len(q) >= self.attempts:
                return False
            q.append(now)
            if len(self.seen) > 10_000:  # forget the quiet ones
                for key in [k for k, v in self.seen.items() if not v][:5_000]:
                    del self.seen[key]
            return True
