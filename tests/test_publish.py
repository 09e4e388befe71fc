"""The programme on the other channels: the feed read by feedparser and podcastparser, the
calendars by icalendar, the site served by a real nginx (byte ranges) and opened in chromium,
an SFTP target over real sshd, and a target that is down."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from radiocast.app import open_app
from radiocast.core.models import AiringState
from radiocast.db.schema import Airing, Programme
from radiocast.publish import run as publishing

from .agent.helpers import AgentSite, agent_site
from .agent.test_agent import month_ahead
from .conftest import Site
from .sshd import free_port, station_dir
from .test_approval import APPROVAL, drop, programmes, round_once, run

TITLE = 'Tin & "mới" <nóng> 📻'
CHROMIUM = "/usr/bin/chromium"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def publish_toml(target: str) -> str:
    return f"""
[[publish]]
id = "cong-huyen"
base_url = "http://127.0.0.1:{{port}}/radio"
title = "Chuyển đổi số — Quan Sơn"
author = "Trung tâm VHTT&DL huyện Quan Sơn"
owner_email = "vhtt@quanson.example.invalid"
{target}
"""


def world(site: Callable[..., Site], tmp_path: Path, port: int,
          target: str | None = None) -> tuple[AgentSite, str, Path]:
    month, start = month_ahead()
    folder = tmp_path / "www" / "radio"
    extra = APPROVAL + publish_toml(target or f'dir = "{folder}"').replace("{port}", str(port))
    a = agent_site(site, tmp_path, start, extra)
    return a, month, folder


def approved_and_planned(a: AgentSite, month: str) -> Programme:
    hub = a.hub
    folder = hub.settings.ingest.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{month} Tin nóng.toml").write_text(
        f"title = '{TITLE}'\n", encoding="utf-8")
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Tin nóng.mp3")
    round_once(hub)
    [p] = [x for x in programmes(hub) if x.title == TITLE]
    assert run(hub, "approve", str(p.id), "--as", "pct-huyen")[0] == 0
    round_once(hub)
    return p


def at_premiere(a: AgentSite, p: Programme) -> None:
    """The hub's clock just past the programme's first airing: it may be published now."""
    with a.hub.db.read() as s:
        first = s.scalar(select(Airing.planned_at).where(Airing.programme_id == p.id)
                         .order_by(Airing.planned_at).limit(1))
    assert first is not None
    a.hub_clock.now = first + timedelta(minutes=1)


def test_the_feed_holds_approved_premiered_programmes_and_parses(
        site: Callable[..., Site], tmp_path: Path) -> None:
    import feedparser
    import icalendar
    import podcastparser

    a, month, folder = world(site, tmp_path, 8080)
    hub = a.hub
    folder_drop = hub.settings.ingest.drop_dir
    folder_drop.mkdir(parents=True, exist_ok=True)
    # a programme that waits for approval: never published
    drop(hub, "an-toan-thong-tin.mp3", f"{month} Chờ duyệt.mp3")
    p = approved_and_planned(a, month)
    waiting = next(x for x in programmes(hub) if x.id != p.id)
    assert waiting.approval == "awaiting"
    # before its premiere: absent
    [res] = publishing.publish_all(hub)
    assert res.ok and res.episodes == 0
    feed = (folder / "feed.xml").read_bytes()
    assert b"<item>" not in feed
    with hub.db.read() as s:
        first = s.scalar(select(Airing.planned_at).where(Airing.programme_id == p.id)
                         .order_by(Airing.planned_at).limit(1))
        planned = {(a_.station_id, a_.planned_at) for a_ in s.scalars(select(Airing).where(
            Airing.state == AiringState.PLANNED.value))}
    assert first is not None
    a.hub_clock.now = first + timedelta(minutes=1)
    [res] = publishing.publish_all(hub)
    assert res.ok and res.changed and res.episodes == 1
    [again] = publishing.publish_all(hub)
    assert again.ok and not again.changed  # nothing new: left as it is
    # the command, on today's clock: next month's programme has not premiered yet
    code, out = run(hub, "publish", "--dry-run", "--json")
    [dry] = __import__("json").loads(out)
    assert code == 0 and (dry["target"], dry["ok"], dry["episodes"]) == ("cong-huyen", True, 0)
    assert b"<item>" in (folder / "feed.xml").read_bytes()  # a dry run puts nothing in place
    feed = (folder / "feed.xml").read_bytes()
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.bozo_exception
    [entry] = parsed.entries
    assert entry.title == TITLE
    [enc] = entry.enclosures
    assert enc.href.endswith(".mp3") and enc.type == "audio/mpeg"
    local = folder / "media" / enc.href.rsplit("/", 1)[1]
    assert int(enc.length) == local.stat().st_size == Path(p.output_path or "").stat().st_size
    pod = podcastparser.parse("http://127.0.0.1:8080/radio/feed.xml",
                              __import__("io").BytesIO(feed))
    assert [e["title"] for e in pod["episodes"]] == [TITLE]
    assert pod["episodes"][0]["enclosures"][0]["file_size"] == local.stat().st_size
    assert pod["title"] == "Chuyển đổi số — Quan Sơn"
    page = (folder / "episodes" / (local.stem + ".html")).read_text()
    assert 'property="og:title"' in page and "&lt;nóng&gt;" in page and "📻" in page
    # every commune's calendar: the coming airings, in Asia/Ho_Chi_Minh
    cal = icalendar.Calendar.from_ical((folder / "ics" / "st0.ics").read_bytes())
    events = [c for c in cal.walk("VEVENT")]
    assert events
    for ev in events:
        start = ev.decoded("DTSTART")
        assert str(start.tzinfo) == "Asia/Ho_Chi_Minh" or start.utcoffset() == timedelta(hours=7)
        assert ("st0", start.astimezone(ZoneInfo("UTC"))) in {
            (sid, at.astimezone(ZoneInfo("UTC"))) for sid, at in planned}
        assert str(ev.get("SUMMARY")) in (TITLE,)


@contextmanager
def nginx(root: Path, port: int, tmp: Path) -> Iterator[str]:
    """Debian's nginx on loopback, serving `root` under /radio/."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: scripts/test installs it")
        pytest.skip("nginx is not installed")
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
user root;
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  types {{ audio/mpeg mp3; text/html html; application/rss+xml xml; text/calendar ics; }}
  server {{
    listen 127.0.0.1:{port};
    location /radio/ {{ alias {root}/; }}
  }}
}}
""")
    proc = subprocess.Popen([exe, "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/radio"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, \
                    (tmp / "nginx-error.log").read_text() if (tmp / "nginx-error.log").exists() \
                    else "nginx did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(15)


def test_served_by_nginx_byte_ranges_and_the_player_in_chromium(
        site: Callable[..., Site], tmp_path: Path) -> None:
    port = free_port()
    a, month, folder = world(site, tmp_path, port)
    p = approved_and_planned(a, month)
    at_premiere(a, p)
    [res] = publishing.publish_all(a.hub)
    assert res.ok and res.episodes == 1
    [mp3] = list((folder / "media").glob("*.mp3"))
    data = mp3.read_bytes()
    with nginx(folder, port, tmp_path) as url:
        r = httpx.get(f"{url}/media/{mp3.name}", headers={"Range": "bytes=100-1099"})
        assert r.status_code == 206 and r.content == data[100:1100]
        assert r.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        if not Path(CHROMIUM).exists():
            if os.environ.get("CI"):
                pytest.fail("chromium is missing: scripts/test installs it")
            pytest.skip("chromium is not installed")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            for path in (f"episodes/{mp3.stem}.html", "embed.html"):
                page.goto(f"{url}/{path}")
                duration = page.evaluate("""() => new Promise(done => {
                    const a = document.querySelector('audio');
                    if (a.readyState >= 1) return done(a.duration);
                    a.addEventListener('loadedmetadata', () => done(a.duration));
                    a.load(); })""")
                assert abs(duration - (p.duration_s or 0)) < 1.0, (path, duration)
            browser.close()


def test_an_sftp_target_over_real_sshd_and_a_target_that_is_down(
        site: Callable[..., Site], sshd_factory: Callable[..., object], client_key: Path,
        tmp_path: Path) -> None:
    srv = sshd_factory("portal")
    kh = tmp_path / "portal_known_hosts"
    kh.write_text(srv.known_hosts_line())  # type: ignore[attr-defined]
    remote = station_dir(tmp_path / "portal") / "radio"
    target = (f'host = "127.0.0.1"\nport = {srv.port}\nuser = "{srv.user}"\n'  # type: ignore[attr-defined]
              f'key_file = "{client_key}"\nknown_hosts = "{kh}"\nremote_dir = "{remote}"\n')
    a, month, _ = world(site, tmp_path, 8080, target)
    p = approved_and_planned(a, month)
    at_premiere(a, p)
    [res] = publishing.publish_all(a.hub)
    assert res.ok and res.episodes == 1, res.error
    assert (remote / "feed.xml").exists() and list((remote / "media").glob("*.mp3"))
    before = sorted(x.name for x in remote.parent.iterdir())
    # the portal goes down: recorded, retried later, nothing half published
    srv.stop()  # type: ignore[attr-defined]
    [down] = publishing.publish_all(a.hub, force=True)
    assert not down.ok and down.error
    assert sorted(x.name for x in remote.parent.iterdir()) == before
    assert (remote / "feed.xml").exists()
    from radiocast.status.problems import find_problems
    [problem] = [x for x in find_problems(a.hub, "vi") if x.code == "publish_failing"]
    assert problem.subject == "cong-huyen" and "publish --target cong-huyen" in problem.action
    a.hub_clock.now += timedelta(days=1)  # the schedule moved on: something to publish
    pub = publishing.Publisher(a.hub, every=0.0)
    pub.step()
    assert pub.busy is not None
    pub.busy.join(60)
    assert pub.failures["cong-huyen"] == 1 and pub.not_before["cong-huyen"] > time.monotonic()
    pub.step()
    pub.busy.join(60)
    assert pub.failures["cong-huyen"] == 1  # not tried again before its backoff
    srv.start()  # type: ignore[attr-defined]  # the portal is back: published, problem gone
    [back] = publishing.publish_all(a.hub)
    assert back.ok and back.changed
    assert not [x for x in find_problems(a.hub) if x.code == "publish_failing"]
    # the hub's own work is untouched: deliveries and airings go on
    with a.hub.db.read() as s:
        assert s.scalars(select(Airing).where(Airing.programme_id == p.id)).first()
    cfg = a.hub.settings.path
    assert cfg is not None
    again = open_app(cfg)
    again.close()


def _png(w: int, h: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + b"\x80" * w * 3 for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def test_artwork_must_be_a_square_of_1400_to_3000_px(site: Callable[..., Site],
                                                     tmp_path: Path) -> None:
    import feedparser

    from radiocast.publish.site import image_size

    assert image_size(_png(1400, 1400)) == ("png", 1400, 1400)
    jpeg = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xc0\x00\x11\x08\x0b\xb8\x0b\xb8\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01")
    assert image_size(jpeg) == ("jpg", 3000, 3000)
    assert image_size(b"GIF89a") is None
    art = tmp_path / "art.png"
    art.write_bytes(_png(800, 600))
    folder = tmp_path / "www" / "radio"
    _month, start = month_ahead()
    extra = APPROVAL + publish_toml(f'dir = "{folder}"\nartwork = "{art}"').replace(
        "{port}", "8080")
    a = agent_site(site, tmp_path, start, extra)
    [res] = publishing.publish_all(a.hub)
    assert not res.ok and "1400–3000" in res.error and "800×600" in res.error
    assert not folder.exists()  # nothing half published
    art.write_bytes(_png(1400, 1400))
    [res] = publishing.publish_all(a.hub)
    assert res.ok, res.error
    parsed = feedparser.parse((folder / "feed.xml").read_bytes())
    assert parsed.feed.image.href == "http://127.0.0.1:8080/radio/artwork.png"
    assert (folder / "artwork.png").read_bytes() == art.read_bytes()
