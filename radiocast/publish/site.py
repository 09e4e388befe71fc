"""The static site a target serves: `feed.xml` (RSS 2.0 with the iTunes and podcast
namespaces, written with the standard library), one page per programme with Open Graph and
Twitter-card tags (a link shared on Zalo or Facebook shows a card), `embed.html` for the
portal's iframe, `schedule.html` and one `.ics` per commune with its coming airings, and an
index. Only programmes that may air (approved, when approval is on) and whose premiere has
come; a revision replaces its programme in place (same guid, new enclosure URL). `app` is
`radiocast.app.App` (not imported: this module sits low in the house)."""

from __future__ import annotations

import html
import os
import shutil
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from radiocast.config.publish import PublishTarget
from radiocast.core.models import AIRABLE, AiringState, ApprovalState, ProgrammeState
from radiocast.db.schema import Airing, Programme

GUIDS = uuid.UUID("0f0e3a52-6c1b-4d4e-9b6a-52a5c6f1e7a3")
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
COMING_DAYS = 62  # the schedule and the calendars look this far ahead


@dataclass(frozen=True)
class Episode:
    id: int
    guid: str
    title: str
    month: str
    language: str
    revision: int
    duration_s: float
    source: Path
    size: int
    file: str  # its name on the site: slug and the first 8 hex of its sha256
    premiere: datetime

    @property
    def page(self) -> str:
        return f"episodes/{self.file.removesuffix('.mp3')}.html"


@dataclass(frozen=True)
class Showing:
    station_id: str
    station: str
    start: datetime
    end: datetime
    title: str
    airing_id: int


def guid_of(p: Programme) -> str:
    """Stable across revisions: the month, the title and the language version. A corrected
    file replaces its episode in podcast apps instead of adding another."""
    return f"radiocast:{uuid.uuid5(GUIDS, f'{p.month}/{p.title_key}/{p.language}')}"


def episodes(app: Any, target: PublishTarget, now: datetime) -> list[Episode]:
    rules = app.settings.approval
    out = []
    with app.db.read() as s:
        for p in s.scalars(select(Programme).where(Programme.state == ProgrammeState.READY.value,
                                                   Programme.language.in_(target.languages))):
            if not (p.approval in AIRABLE or (p.approval == ApprovalState.AWAITING.value
                                              and rules.airs_first(p.priority))):
                continue
            lineage, cur = [p.id], p.supersedes_id
            while cur is not None:
                lineage.append(cur)
                cur = s.get_one(Programme, cur).supersedes_id
            premiere = s.scalar(select(func.min(Airing.planned_at)).where(
                Airing.programme_id.in_(lineage), Airing.state != AiringState.CANCELLED.value))
            if premiere is None or premiere > now or not p.output_path or not p.sha256:
                continue  # published from its premiere on
            out.append(Episode(p.id, guid_of(p), p.title, p.month, p.language, p.revision,
                               p.duration_s or 0.0, Path(p.output_path), p.size or 0,
                               f"{p.slug}-{p.sha256[:8]}.mp3", premiere))
    return sorted(out, key=lambda e: (e.premiere, e.id), reverse=True)


def schedule(app: Any, target: PublishTarget, now: datetime) -> list[Showing]:
    names = {st.id: st.name for st in app.settings.stations}
    with app.db.read() as s:
        rows = s.execute(select(Airing, Programme).join(
            Programme, Programme.id == Airing.programme_id).where(
            Airing.state == AiringState.PLANNED.value, Airing.planned_at >= now,
            Airing.planned_at < now + timedelta(days=COMING_DAYS),
            Programme.language.in_(target.languages)).order_by(Airing.planned_at, Airing.id))
        return [Showing(a.station_id, names.get(a.station_id, a.station_id), a.planned_at,
                        a.planned_at + timedelta(seconds=p.duration_s or 0), p.title, a.id)
                for a, p in rows]


def build_site(app: Any, target: PublishTarget, into: Path, now: datetime) -> dict[str, Any]:
    """Write the whole site into `into` (an empty folder). Returns what it holds."""
    eps = episodes(app, target, now)
    shows = schedule(app, target, now)
    (into / "media").mkdir(parents=True)
    (into / "episodes").mkdir()
    (into / "ics").mkdir()
    for e in eps:
        _place(e.source, into / "media" / e.file)
    art = _artwork(target, into)
    (into / "feed.xml").write_bytes(feed(target, eps, art, now))
    for e in eps:
        (into / e.page).write_text(episode_page(target, e, art), encoding="utf-8")
    (into / "embed.html").write_text(embed_page(target, eps), encoding="utf-8")
    (into / "schedule.html").write_text(schedule_page(target, shows, app), encoding="utf-8")
    tz = app.settings.general.tz
    for sid in sorted({st.id for st in app.settings.stations}):
        mine = [x for x in shows if x.station_id == sid]
        (into / "ics" / f"{sid}.ics").write_bytes(calendar(sid, mine, tz.key, now))
    (into / "index.html").write_text(index_page(target, eps, art), encoding="utf-8")
    return {"episodes": [e.id for e in eps], "airings": len(shows)}


def _place(src: Path, dst: Path) -> None:
    """The normalized file, linked when it can be (same file system), else copied."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


ART_MIN, ART_MAX = 1400, 3000  # what podcast directories accept, square


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """A PNG's or JPEG's kind and size from its header (no image library needed)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker, size = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height, then width
            return ("jpg", int.from_bytes(data[i + 7:i + 9], "big"),
                    int.from_bytes(data[i + 5:i + 7], "big"))
        i += 2 + size
    return None


def _artwork(target: PublishTarget, into: Path) -> str:
    if target.artwork is None:
        return ""
    data = target.artwork.read_bytes()
    found = image_size(data[: 1 << 20])
    if found is None or not (found[1] == found[2] and ART_MIN <= found[1] <= ART_MAX):
        shape = "not a PNG or JPEG" if found is None else f"{found[1]}×{found[2]} px"
        raise OSError(f"artwork {target.artwork} must be a square PNG or JPEG of "
                      f"{ART_MIN}–{ART_MAX} px ({shape})")
    name = "artwork." + found[0]
    (into / name).write_bytes(data)
    return f"{target.base_url}/{name}"


def _url(target: PublishTarget, rel: str) -> str:
    return f"{target.base_url}/{rel}"


def feed(target: PublishTarget, eps: list[Episode], art: str, now: datetime) -> bytes:
    ET.register_namespace("itunes", ITUNES)
    ET.register_namespace("podcast", PODCAST)
    ET.register_namespace("atom", ATOM)
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")

    def sub(parent: ET.Element, tag: str, text: str | None = None,
            **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)
        if text is not None:
            el.text = text
        return el

    sub(ch, "title", target.title)
    sub(ch, "link", target.base_url + "/")
    sub(ch, "description", target.description or target.title)
    sub(ch, "language", target.language)
    sub(ch, "lastBuildDate", format_datetime(now.astimezone(UTC), usegmt=True))
    sub(ch, f"{{{ATOM}}}link", href=_url(target, "feed.xml"), rel="self",
        type="application/rss+xml")
    sub(ch, f"{{{ITUNES}}}author", target.author)
    owner = sub(ch, f"{{{ITUNES}}}owner")
    sub(owner, f"{{{ITUNES}}}name", target.author)
    sub(owner, f"{{{ITUNES}}}email", target.owner_email)
    sub(ch, f"{{{ITUNES}}}explicit", "false")
    sub(ch, f"{{{ITUNES}}}category", text="Government")
    sub(ch, f"{{{PODCAST}}}guid", str(uuid.uuid5(GUIDS, target.base_url)))
    if art:
        sub(ch, f"{{{ITUNES}}}image", href=art)
        img = sub(ch, "image")
        sub(img, "url", art)
        sub(img, "title", target.title)
        sub(img, "link", target.base_url + "/")
    for e in eps:
        it = sub(ch, "item")
        sub(it, "title", e.title)
        sub(it, "description", f"{e.title} ({e.month[5:7]}/{e.month[:4]})")
        sub(it, "link", _url(target, e.page))
        sub(it, "guid", e.guid, isPermaLink="false")
        sub(it, "pubDate", format_datetime(e.premiere.astimezone(UTC), usegmt=True))
        sub(it, "enclosure", url=_url(target, f"media/{e.file}"), length=str(e.size),
            type="audio/mpeg")
        sub(it, f"{{{ITUNES}}}duration", str(round(e.duration_s)))
        sub(it, f"{{{ITUNES}}}episodeType", "full")
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return body


def _head(title: str, extra: str = "") -> str:
    return (f'<!doctype html>\n<html lang="vi"><head><meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n{extra}"
            "<style>body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:42rem;"
            "padding:.75rem}audio{width:100%}table{border-collapse:collapse;width:100%}"
            "td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}</style>"
            "</head><body>\n")


def episode_page(target: PublishTarget, e: Episode, art: str) -> str:
    audio = _url(target, f"media/{e.file}")
    desc = f"{e.title} — {target.title} ({e.month[5:7]}/{e.month[:4]})"
    meta = "".join(f'<meta property="{k}" content="{html.escape(v)}">\n' for k, v in (
        ("og:type", "website"), ("og:title", e.title), ("og:description", desc),
        ("og:url", _url(target, e.page)), ("og:audio", audio), ("og:audio:type", "audio/mpeg"),
        ("og:site_name", target.title), *((("og:image", art),) if art else ())))
    meta += "".join(f'<meta name="{k}" content="{html.escape(v)}">\n' for k, v in (
        ("twitter:card", "player" if art else "summary"), ("twitter:title", e.title),
        ("twitter:description", desc), *((("twitter:image", art),) if art else ())))
    return (_head(e.title, meta) +
            f"<h1>{html.escape(e.title)}</h1>\n<p>{html.escape(target.title)} · "
            f"{e.month[5:7]}/{e.month[:4]} · {int(e.duration_s // 60)} phút</p>\n"
            f'<audio controls preload="metadata" src="../media/{html.escape(e.file)}"></audio>\n'
            '<p><a href="../index.html">Tất cả các số</a> · '
            '<a href="../schedule.html">Lịch phát tại các xã</a></p>\n</body></html>\n')


def embed_page(target: PublishTarget, eps: list[Episode]) -> str:
    if not eps:
        return _head(target.title) + "<p>Chưa có chương trình.</p></body></html>\n"
    e = eps[0]
    return (_head(e.title) + f"<p><strong>{html.escape(e.title)}</strong></p>\n"
            f'<audio controls preload="metadata" src="media/{html.escape(e.file)}"></audio>\n'
            f'<p><a href="{html.escape(e.page)}" target="_top">Nghe và chia sẻ</a></p>\n'
            "</body></html>\n")


def index_page(target: PublishTarget, eps: list[Episode], art: str) -> str:
    items = "".join(f'<li><a href="{html.escape(e.page)}">{html.escape(e.title)}</a> · '
                    f"{e.month[5:7]}/{e.month[:4]}</li>\n" for e in eps)
    img = f'<img src="{html.escape(art)}" alt="" width="160">\n' if art else ""
    return (_head(target.title) + f"<h1>{html.escape(target.title)}</h1>\n{img}"
            f"<ul>\n{items or '<li>Chưa có chương trình.</li>'}</ul>\n"
            '<p><a href="feed.xml">Podcast (RSS)</a> · <a href="schedule.html">Lịch phát</a>'
            "</p>\n</body></html>\n")


def schedule_page(target: PublishTarget, shows: list[Showing], app: Any) -> str:
    tz = app.settings.general.tz
    rows = "".join(f"<tr><td>{x.start.astimezone(tz):%d/%m %H:%M}</td>"
                   f"<td>{html.escape(x.station)}</td><td>{html.escape(x.title)}</td>"
                   f'<td><a href="ics/{html.escape(x.station_id)}.ics">.ics</a></td></tr>\n'
                   for x in shows)
    return (_head(f"Lịch phát — {target.title}") + "<h1>Lịch phát tại các xã</h1>\n"
            "<table><tr><th>Giờ</th><th>Đài</th><th>Chương trình</th><th>Lịch</th></tr>\n"
            f"{rows}</table>\n</body></html>\n")


def _ics_text(v: str) -> str:
    return v.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545: lines of at most 75 octets, continued with a space, never inside a
    UTF-8 sequence."""
    out: list[str] = []
    cur = b""
    for ch in line:
        b = ch.encode()
        if len(cur) + len(b) > (75 if not out else 74):
            out.append(cur.decode())
            cur = b""
        cur += b
    out.append(cur.decode())
    return "\r\n ".join(out)


def calendar(station_id: str, shows: list[Showing], tzid: str, now: datetime) -> bytes:
    zone = ZoneInfo(tzid)
    offset = now.astimezone(zone).strftime("%z")  # a zone without summer time (Việt Nam)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//radiocast//lich phat//VI",
             "CALSCALE:GREGORIAN", f"X-WR-CALNAME:{_ics_text(station_id)}",
             "BEGIN:VTIMEZONE", f"TZID:{tzid}", "BEGIN:STANDARD",
             "DTSTART:19700101T000000", f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}",
             "END:STANDARD", "END:VTIMEZONE"]
    for x in shows:
        lines += ["BEGIN:VEVENT", f"UID:airing-{x.airing_id}@radiocast",
                  f"DTSTAMP:{now.astimezone(UTC):%Y%m%dT%H%M%SZ}",
                  f"DTSTART;TZID={tzid}:{x.start.astimezone(zone):%Y%m%dT%H%M%S}",
                  f"DTEND;TZID={tzid}:{x.end.astimezone(zone):%Y%m%dT%H%M%S}",
                  f"SUMMARY:{_ics_text(x.title)}", f"LOCATION:{_ics_text(x.station)}",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode("utf-8")
