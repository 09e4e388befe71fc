"""The network side of alerts, on threads of their own so the daemon's loop never waits for
a receiver: the outbox sender (apprise; retried with backoff, given up after two days) and
the dead-man pinger. URLs hold secrets (bot tokens, passwords): they never reach a log line
or the database; a channel is named by its `name` and its scheme only."""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
import unicodedata
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from radiocast.config.alerts import AlertChannel
from radiocast.config.settings import Settings
from radiocast.core.i18n import t
from radiocast.db import ops_alerts
from radiocast.db.engine import Database
from radiocast.db.schema import Incident, Notice

log = logging.getLogger(__name__)
BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)
GIVE_UP_AFTER = timedelta(days=2)
POLL_SECONDS = 2.0
BATCH = 1000  # notices looked at per pass (grouped, they are few messages)
SEND_DEADLINE = 60.0  # one message, start to end, whatever the channel does
GROUPED = frozenset({"start", "remind", "clear"})  # kinds merged by problem code
GROUP_LINES = 10
Notify = Callable[[str, str, str, str], tuple[bool, str]]  # url, title, body, lang


def scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


def redact(text: str, url: str) -> str:
    """An error text without the URL or anything that looks like credentials."""
    text = text.replace(url, f"{scheme(url)}://…")
    text = re.sub(r"//[^/@\s]+@", "//…@", text)
    return re.sub(r"(?i)\b(token|password|pass|key|secret)=[^&\s]+", r"\1=…", text)


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: cut at a word's end where one is near, never
    inside a character or between a letter and its accent, and marked with "…"."""
    text = unicodedata.normalize("NFC", text)
    if limit <= 0 or len(text) <= limit:  # 0: the channel sets no limit
        return text
    end = max(0, limit - 1)
    while end > 0 and unicodedata.combining(text[end]):
        end -= 1  # a Vietnamese letter keeps its marks
    space = max(text.rfind(" ", 0, end + 1), text.rfind("\n", 0, end + 1))
    if space > end * 0.6:
        end = space
    return text[:end].rstrip() + "…"


def fit(title: str, body: str, title_max: int, body_max: int) -> tuple[str, str]:
    """A message cut to a channel's limits (apprise's per service: Zalo 2,000 characters and
    no title, which goes on top of the body), so the channel never cuts it blindly."""
    if title_max <= 0:
        return "", cut(f"{title}\n{body}" if title else body, body_max)
    return cut(title, title_max), cut(body, body_max)


def apprise_notify(url: str, title: str, body: str, lang: str) -> tuple[bool, str]:
    """Send one message through apprise: (sent?, why not). Apprise's own log is captured
    (and redacted) instead of printed."""
    import apprise

    # apprise's and urllib3's debug lines carry URLs and payloads (a webhook's token is in its
    # path): never below WARNING, whatever -v says; what goes wrong is captured below, redacted
    for name in ("apprise", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    ap = apprise.Apprise()
    if not ap.add(url):
        return False, t("alert.bad_url", lang)
    [channel] = list(ap)
    title, body = fit(title, body, int(channel.title_maxlen), int(channel.body_maxlen))
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        ok = ap.notify(title=title, body=body)
    if ok:
        return True, ""
    said = [re.sub(r"^.*? - (WARNING|ERROR|CRITICAL) - ", "", ln)
            for ln in captured.getvalue().splitlines() if ln.strip()]
    return False, redact(said[-1] if said else t("alert.refused", lang), url)[-300:]


@dataclass(frozen=True)
class Due:
    """A notice waiting to go, with its incident's problem code (None: a digest or a test)."""

    id: int
    channel: str
    kind: str
    code: str | None
    title: str
    body: str


class Sender(threading.Thread):
    """Sends due notices, oldest first, one lane per channel side by side: a channel that
    trickles bytes holds only its own lane, and a send that has not finished within
    SEND_DEADLINE is recorded failed (retried later) while the lane moves on. A channel that
    fails is not tried again in the same pass. Notices of one kind and problem code due
    together on a channel go as one message that names the count and the first stations (an
    outage at 300 stations is one message, not 300)."""

    def __init__(self, settings: Settings, db: Database, clock: Callable[[], datetime],
                 stop: threading.Event, notify: Notify = apprise_notify) -> None:
        super().__init__(name="radiocast-alerts", daemon=True)
        self.settings, self.db, self.clock, self.stop_event = settings, db, clock, stop
        self.notify = notify
        self.stuck: dict[str, threading.Thread] = {}  # a send past its deadline, per channel
        self.counting = threading.Lock()

    def run(self) -> None:
        while not self.stop_event.wait(POLL_SECONDS):
            try:
                self.send_due()
            except Exception:  # a bug or a database error: log, keep the thread alive
                log.exception("sending alerts failed; trying again")

    def send_due(self) -> int:
        """Send what is due on every channel; returns how many notices went."""
        now = self.clock()
        with self.db.read() as s:
            due = [Due(n.id, n.channel, n.kind, code, n.title, n.body)
                   for n, code in s.execute(select(Notice, Incident.code).outerjoin(
                       Incident, Incident.id == Notice.incident_id).where(
                       Notice.sent_at.is_(None), Notice.given_up_at.is_(None),
                       Notice.not_before <= now, Notice.next_attempt_at <= now)
                       .order_by(Notice.id).limit(BATCH))]
        lanes: dict[str, list[list[Due]]] = {}
        for d in due:
            groups = lanes.setdefault(d.channel, [])
            same = next((g for g in groups if d.code and g[0].code == d.code
                         and g[0].kind == d.kind and d.kind in GROUPED), None)
            if same is not None:
                same.append(d)
            else:
                groups.append([d])
        sent = [0]
        threads = [threading.Thread(target=self._lane, args=(name, groups, sent), daemon=True)
                   for name, groups in lanes.items()
                   if not (name in self.stuck and self.stuck[name].is_alive())]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return sent[0]

    def _lane(self, name: str, groups: list[list[Due]], sent: list[int]) -> None:
        ch = next((c for c in self.settings.alerts if c.name == name), None)
        for group in groups:
            if self.stop_event.is_set():
                return
            if ch is None:
                ok, err = False, t("alert.channel_removed", self.settings.general.language)
            else:
                ok, err = self._send_within(ch, *self._message(ch, group))
            for d in group:
                n = self._record(d.id, ch, ok, err)
                with self.counting:
                    sent[0] += n
            if not ok:
                return

    def _message(self, ch: AlertChannel, group: list[Due]) -> tuple[str, str]:
        if len(group) == 1:
            return group[0].title, group[0].body
        lang = ch.language or self.settings.general.language
        lines = [d.title for d in group[:GROUP_LINES]]
        if len(group) > GROUP_LINES:
            lines.append(t("alert.digest_more", lang, n=len(group) - GROUP_LINES))
        return (t("alert.group_title", lang, title=group[0].title, n=len(group) - 1),
                "\n".join(lines) + "\n\n" + group[0].body.strip())

    def _send_within(self, ch: AlertChannel, title: str, body: str) -> tuple[bool, str]:
        """The send on a thread of its own, waited for SEND_DEADLINE at most."""
        out: list[tuple[bool, str]] = []
        th = threading.Thread(target=lambda: out.append(self._send(ch, title, body)),
                              name=f"radiocast-alert-{ch.name}", daemon=True)
        th.start()
        th.join(SEND_DEADLINE)
        if th.is_alive():
            self.stuck[ch.name] = th  # the channel waits until that send ends
            lang = ch.language or self.settings.general.language
            return False, t("alert.no_answer", lang, seconds=f"{SEND_DEADLINE:g}")
        return out[0]

    def _send(self, ch: AlertChannel, title: str, body: str) -> tuple[bool, str]:
        lang = ch.language or self.settings.general.language
        try:
            return self.notify(ch.url, title, body, lang)
        except Exception as exc:  # a plugin's bug must not end the thread
            return False, redact(f"{type(exc).__name__}: {exc}", ch.url)

    def _record(self, nid: int, ch: AlertChannel | None, ok: bool, err: str) -> int:
        now = self.clock()
        with self.db.write() as s:
            n = s.get_one(Notice, nid)
            if ok:
                ops_alerts.notice_sent(s, n, now)
                log.info("alert %s sent to %s (%s)", n.kind, n.channel,
                         scheme(ch.url) if ch else "?")
                return 1
            wait = BACKOFF_SECONDS[min(n.attempts, len(BACKOFF_SECONDS) - 1)]
            gave_up = ops_alerts.notice_failed(s, n, now, err, timedelta(seconds=wait),
                                               GIVE_UP_AFTER if ch else timedelta(0))
        log.log(logging.ERROR if gave_up else logging.WARNING,
                "alert to %s not sent (%s)%s: %s", n.channel, scheme(ch.url) if ch else "?",
                "; given up" if gave_up else f"; again in {wait} s", err)
        return 0


class DeadMan:
    """Pings `url` (healthchecks.io style): `/start` when the daemon starts, the URL itself
    after a healthy loop pass (at most every `every` seconds), `/fail` after a pass where a
    step failed. Pings go out on a thread of their own; a monitor that is down costs nothing."""

    def __init__(self, url: str, every: float, clock: Callable[[], float] = time.monotonic):
        self.url, self.every, self.clock = url.rstrip("/"), every, clock
        self.last: dict[str, float] = {}
        self.queue: queue.Queue[str | None] = queue.Queue(maxsize=100)
        self.thread = threading.Thread(target=self._run, name="radiocast-heartbeat",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._ping("/start")

    def tick(self, ok: bool) -> None:
        path = "" if ok else "/fail"
        mono = self.clock()
        if path not in self.last or mono - self.last[path] >= self.every:
            self.last[path] = mono
            self._ping(path)

    def _ping(self, path: str) -> None:
        with contextlib.suppress(queue.Full):  # the monitor is not answering: no pile-up
            self.queue.put_nowait(self.url + path)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while (url := self.queue.get()) is not None:
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    resp.read(1024)
            except OSError as exc:
                log.warning("heartbeat ping not sent (%s): %s", scheme(url),
                            redact(str(exc), url))
