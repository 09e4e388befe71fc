"""From problems to messages: each problem is an incident from the moment it is first seen
until it clears; each alert channel is told once when an incident has lasted its settle
time, reminded every `remind_hours` while it lasts, and told when it clears — outside its
quiet hours, unless the problem concerns an emergency programme. Daily digests too. This
only writes notices (the outbox); `send` delivers them, off the daemon's loop."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from radiocast.config.alerts import AlertChannel
from radiocast.config.settings import Settings
from radiocast.core.humane import age, month_label, when
from radiocast.core.i18n import t, word
from radiocast.core.models import FELL_THROUGH_VALUES, AiringState, Priority
from radiocast.core.months import local_month
from radiocast.db import ops_alerts, views
from radiocast.db.engine import Database
from radiocast.db.schema import Airing, Incident, Notice, Programme

SEVERITY = {"warning": 0, "error": 1}
KEEP_CLOSED = timedelta(days=7)  # a cleared incident is still told as cleared this long
RISK_LINES = 5
SHORT_STATIONS = 10
KEY_MAX = 200  # the column's width
TEXT_MAX = 1500  # a message holds station-written text: bounded, and short for a phone


class ProblemLike(Protocol):
    severity: str
    code: str
    message: str
    action: str
    subject: str
    params: dict[str, Any]


def key_of(p: ProblemLike) -> str:
    """The incident's key: code and subject, a long subject (a file's path) hashed."""
    key = f"{p.code}:{p.subject}"
    return key if len(key) <= KEY_MAX else \
        f"{p.code}:{hashlib.sha256(p.subject.encode()).hexdigest()}"


@dataclass
class Alerts:
    settings: Settings
    db: Database
    clock: Callable[[], datetime]

    def lang(self, ch: AlertChannel) -> str:
        return ch.language or self.settings.general.language

    def languages(self) -> set[str]:
        return {self.lang(ch) for ch in self.settings.alerts} | {self.settings.general.language}

    def update(self, found: Mapping[str, Sequence[ProblemLike]]) -> int:
        """Track incidents from the current problems (worded in each language in `found`)
        and queue what each channel must be told now. Returns the notices queued."""
        now = self.clock()
        with self.db.write() as s:
            incidents = self._track(s, found, now)
            told: dict[tuple[str, int], list[Notice]] = {}
            for n in s.scalars(select(Notice).where(Notice.incident_id.in_(
                    [i.id for i in incidents])).order_by(Notice.id)):
                told.setdefault((n.channel, n.incident_id or 0), []).append(n)
            queued = sum(self._tell(s, ch, inc, told.get((ch.name, inc.id), []), now)
                         for ch in self.settings.alerts for inc in incidents)
            return queued + self._digests(s, now, incidents)

    def _track(self, s: Session, found: Mapping[str, Sequence[ProblemLike]],
               now: datetime) -> list[Incident]:
        open_ = {i.key: i for i in s.scalars(select(Incident).where(
            Incident.closed_at.is_(None)))}
        first = next(iter(found.values()), [])
        texts = {lang: {key_of(p): [p.message, p.action] for p in ps}
                 for lang, ps in found.items()}
        for p in first:
            words = {lang: by_key[key_of(p)] for lang, by_key in texts.items()
                     if key_of(p) in by_key}
            inc = open_.pop(key_of(p), None)
            if inc is None:
                ops_alerts.open_incident(s, key_of(p), p.code, p.severity,
                                         p.params.get("station"), _emergency(s, p), words, now)
            else:
                ops_alerts.see_incident(s, inc, p.severity, words, now)
        for inc in open_.values():  # no longer found: it cleared
            ops_alerts.close_incident(s, inc, now)
        s.flush()
        return list(s.scalars(select(Incident).where(
            (Incident.closed_at.is_(None)) | (Incident.closed_at >= now - KEEP_CLOSED))))

    def _tell(self, s: Session, ch: AlertChannel, inc: Incident, told: list[Notice],
              now: datetime) -> int:
        if SEVERITY.get(inc.severity, 1) < SEVERITY[ch.min_severity] or (
                ch.stations is not None and inc.station_id not in ch.stations):
            return 0
        kinds = [n.kind for n in told]
        if inc.closed_at is None:
            if "start" not in kinds:
                if now - inc.opened_at < timedelta(minutes=ch.settle_minutes):
                    return 0  # a blip shorter than this is never told
                kind = "start"
            elif now - told[-1].created_at >= timedelta(hours=ch.remind_hours) \
                    and told[-1].kind in ("start", "remind"):
                kind = "remind"
            else:
                return 0
        elif "start" in kinds and "clear" not in kinds:
            kind = "clear"
        else:
            return 0
        title, body = self._words(ch, inc, kind, now)
        ops_alerts.queue_notice(s, ch.name, inc.id, kind, title, body, now,
                                now if inc.emergency else self._after_quiet(ch, now))
        return 1

    def _words(self, ch: AlertChannel, inc: Incident, kind: str,
               now: datetime) -> tuple[str, str]:
        lang, tz = self.lang(ch), self.settings.general.tz
        texts: dict[str, list[str]] = json.loads(inc.texts)
        message, action = texts.get(lang) or next(iter(texts.values()), ["", ""])
        message, action = message[:TEXT_MAX], action[:TEXT_MAX]
        title = t(f"alert.{kind}", lang, message=message[:200],
                  severity=word("severity", inc.severity, lang))
        if kind == "clear":
            minutes = int((now - inc.opened_at) / timedelta(minutes=1))
            lasted = t("alert.lasted_minutes", lang, n=minutes) if minutes < 120 else \
                t("alert.lasted_hours", lang, n=minutes // 60)
            return title, t("alert.body_clear", lang, at=when(now, tz), lasted=lasted)
        return title, t("alert.body_start", lang, message=message, action=action,
                        since=when(inc.opened_at, tz), age=age(inc.opened_at, now, lang))

    def _after_quiet(self, ch: AlertChannel, now: datetime) -> datetime:
        """Now, or when the channel's quiet hours end."""
        tz = self.settings.general.tz
        local = now.astimezone(tz)
        if ch.quiet_hours is None or not ch.quiet_at(local.time()):
            return now
        end = datetime.combine(local.date(), ch.quiet_hours[1], tz)
        return end if end > local else end + timedelta(days=1)

    def _digests(self, s: Session, now: datetime, incidents: list[Incident]) -> int:
        tz = self.settings.general.tz
        local = now.astimezone(tz)
        midnight = datetime.combine(local.date(), datetime.min.time(), tz)
        queued = 0
        for ch in self.settings.alerts:
            if ch.digest_at is None or local.time() < ch.digest_at:
                continue
            if s.scalars(select(Notice.id).where(
                    Notice.channel == ch.name, Notice.kind == "digest",
                    Notice.created_at >= midnight)).first() is not None:
                continue  # today's is queued already
            title, body = digest(s, self.settings, now, self.lang(ch), incidents)
            ops_alerts.queue_notice(s, ch.name, None, "digest", title, body, now, now)
            queued += 1
        return queued


def _emergency(s: Session, p: ProblemLike) -> bool:
    pid = p.params.get("programme")
    return isinstance(pid, int) and s.scalars(select(Programme.priority).where(
        Programme.id == pid)).first() == Priority.EMERGENCY.value


def digest(s: Session, settings: Settings, now: datetime, lang: str,
           incidents: Sequence[Incident]) -> tuple[str, str]:
    """A short daily text for a phone: this month so far, yesterday, what needs attention."""
    tz: ZoneInfo = settings.general.tz
    local = now.astimezone(tz)
    month, need = local_month(now, tz), settings.schedule.replays_per_month
    stations = settings.stations_for(month)
    progress = views.month_progress(s, month, stations, need,
                                    settings.schedule.versions == "each")
    short = [f"{sid} {done}/{total}" for sid, (done, total) in progress.items()
             if done < total]
    start = datetime.combine(local.date() - timedelta(days=1), datetime.min.time(), tz)
    yesterday = [state for (state,) in s.execute(select(Airing.state).where(
        Airing.planned_at >= start, Airing.planned_at < start + timedelta(days=1)))]
    missed = FELL_THROUGH_VALUES
    lines = [t("alert.digest_month", lang, month=month_label(month),
               done=len(stations) - len(short), total=len(stations), need=need),
             t("alert.digest_yesterday", lang, aired=yesterday.count(AiringState.AIRED.value),
               missed=sum(1 for x in yesterday if x in missed))]
    risk = [json.loads(i.texts).get(lang, ["?"])[0] for i in incidents
            if i.closed_at is None and i.severity == "error"]
    if risk:
        lines.append(t("alert.digest_risk", lang, n=len(risk)))
        lines += [f"- {m}" for m in risk[:RISK_LINES]]
    else:
        lines.append(t("alert.digest_fine", lang))
    if short:
        more = t("alert.digest_more", lang, n=len(short) - SHORT_STATIONS) \
            if len(short) > SHORT_STATIONS else ""
        lines.append(t("alert.digest_short", lang, stations=", ".join(short[:SHORT_STATIONS]))
                     + (f" {more}" if more else ""))
    return t("alert.digest_title", lang, day=f"{local:%d/%m/%Y}"), "\n".join(lines)
