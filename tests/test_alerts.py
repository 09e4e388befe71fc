"""Alerts end to end with real receivers on 127.0.0.1 (apprise's json:// to an HTTP server,
mailto:// to aiosmtpd) and an injected clock: one message per incident after the settle
time, a reminder, a recovery message held until quiet hours end, nothing for a blip, a dead
receiver that delays nothing else, emergencies through quiet hours, secrets kept out."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from radiocast.alerting import send
from radiocast.alerting.notices import Alerts
from radiocast.alerting.send import Sender, apprise_notify, cut
from radiocast.app import App
from radiocast.db import ops
from radiocast.db.schema import Delivery, Notice, Programme
from radiocast.status.problems import find_problems

from .conftest import Clock, ready_programme
from .receivers import HttpReceiver, SmtpReceiver, free_port

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATIONS = "".join(f'[[stations]]\nid = "{sid}"\nname = "{sid}"\nhost = "{sid}.invalid"\n'
                   for sid in ("na-meo", "tam-lu"))


def local(d: int, h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, d, h, m, tzinfo=TZ).astimezone(UTC)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


class World:
    def __init__(self, app: App, clock: Clock) -> None:
        self.app, self.clock = app, clock
        self.alerts = Alerts(app.settings, app.db, app.clock)
        self.sender = Sender(app.settings, app.db, app.clock, threading.Event())

    def at(self, when: datetime) -> int:
        """Move the clock, look for problems as the daemon does, send what is due."""
        self.clock.now = when
        self.alerts.update({lang: find_problems(self.app, lang)
                            for lang in self.alerts.languages()})
        return self.sender.send_due()

    def down(self, sid: str) -> None:
        with self.app.db.write() as s:
            ops.record_station_error(s, sid, self.clock.now, "ETIMEDOUT", True)

    def up(self, sid: str) -> None:
        with self.app.db.write() as s:
            ops.record_contact(s, sid, self.clock.now, None)


def world(make_app: Callable[..., App], channels: str, start: datetime) -> World:
    clock = Clock(start)
    # no programme_late noise: the month's programme is due on the 28th here
    app = make_app("[schedule]\nprogramme_due_day = 28\n" + channels, STATIONS, clock=clock)
    return World(app, clock)


def channel(url: str, extra: str = "") -> str:
    return (f'[[alerts]]\nname = "tech"\nurl = "{url}"\nsettle_minutes = 10\n'
            f'remind_hours = 24\nquiet_hours = "21:00-06:00"\n{extra}\n')


def test_one_message_per_incident_a_reminder_and_recovery_after_quiet_hours(
        make_app: Callable[..., App], http: HttpReceiver) -> None:
    w = world(make_app, channel(http.url()), local(10, 9))
    w.down("na-meo")
    assert w.at(local(10, 9)) == 0 and w.at(local(10, 9, 9)) == 0  # settling
    assert w.at(local(10, 9, 11)) == 1
    [msg] = http.messages
    assert "na-meo" in msg["title"] and "CẢNH BÁO" in msg["title"]
    assert "Kiểm tra nguồn điện" in msg["message"] and "09:00" in msg["message"]
    for minute in (12, 30, 59):
        assert w.at(local(10, 10, minute)) == 0  # told once
    assert w.at(local(11, 9, 10)) == 0  # 23 h 59 min after the message
    assert w.at(local(11, 9, 12)) == 1 and http.messages[-1]["title"].startswith(
        "[radiocast] Vẫn còn:")
    w.up("na-meo")
    assert w.at(local(11, 22)) == 0  # cleared during quiet hours: held
    with w.app.db.read() as s:
        held = s.scalars(select(Notice).where(Notice.kind == "clear")).one()
        assert held.sent_at is None and held.not_before == local(12, 6)
    assert w.at(local(12, 5, 59)) == 0
    assert w.at(local(12, 6, 1)) == 1
    assert http.messages[-1]["title"].startswith("[radiocast] Đã hết:")
    assert "Đã hết lúc 11/11 22:00, sau 37 giờ" in http.messages[-1]["message"]
    assert len(http.messages) == 3


def test_a_blip_shorter_than_the_settle_time_is_never_told(
        make_app: Callable[..., App], http: HttpReceiver) -> None:
    w = world(make_app, channel(http.url()), local(10, 9))
    w.down("tam-lu")
    w.at(local(10, 9, 1))
    w.up("tam-lu")
    for minute in (6, 12, 30):
        w.at(local(10, 9, minute))
    assert http.messages == []


def test_a_problem_starting_in_quiet_hours_waits_for_morning_unless_emergency(
        make_app: Callable[..., App], http: HttpReceiver, tmp_path: object) -> None:
    w = world(make_app, channel(http.url()), local(10, 22))
    w.down("na-meo")
    assert w.at(local(10, 22, 30)) == 0 and w.at(local(11, 3)) == 0
    assert w.at(local(11, 6)) == 1  # at the end of the quiet hours
    # an emergency programme that cannot reach a station: told at 23:00 all the same
    f = tmp_path / "khan.mp3"  # type: ignore[operator]
    f.write_bytes(b"\xff" * 2000)
    pid = ready_programme(w.app, f, "Thông báo khẩn")
    with w.app.db.write() as s:
        s.get_one(Programme, pid).priority = "emergency"
        for d in s.scalars(select(Delivery).where(Delivery.station_id == "tam-lu")):
            ops.mark_delivery_failed(s, d, w.clock.now, "Permission denied")
    w.at(local(11, 22, 50))
    assert w.at(local(11, 23, 1)) == 1
    assert f"#{pid}" in http.messages[-1]["message"] and "tam-lu" in http.messages[-1]["title"]


def test_a_dead_receiver_delays_nothing_else_and_is_retried(
        make_app: Callable[..., App], http: HttpReceiver,
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    dead = f"json://radiocast:secretpw@127.0.0.1:{port}/hook"
    channels = channel(http.url()) + channel(dead).replace('name = "tech"', 'name = "boss"')
    w = world(make_app, channels, local(10, 9))
    w.down("na-meo")
    w.at(local(10, 9))
    with caplog.at_level(logging.INFO):
        assert w.at(local(10, 9, 11)) == 1  # the live one; the dead one failed
    assert len(http.messages) == 1
    with w.app.db.read() as s:
        boss = s.scalars(select(Notice).where(Notice.channel == "boss")).one()
        assert boss.sent_at is None and boss.attempts == 1
        assert boss.next_attempt_at == local(10, 9, 11) + timedelta(seconds=30)
        assert "secretpw" not in (boss.last_error or "") and boss.last_error
    assert "secretpw" not in caplog.text and "boss" in caplog.text
    assert w.at(local(10, 9, 11) + timedelta(seconds=10)) == 0  # not yet: backing off
    revived = HttpReceiver(port)
    try:
        assert w.at(local(10, 9, 12)) == 1
        assert len(revived.messages) == 1 and "na-meo" in revived.messages[0]["title"]
    finally:
        revived.close()


def test_email_through_a_real_smtp_server(make_app: Callable[..., App]) -> None:
    smtp = SmtpReceiver()
    try:
        w = world(make_app, channel(smtp.url(), 'language = "en"'), local(10, 9))
        w.down("na-meo")
        w.at(local(10, 9))
        assert w.at(local(10, 9, 11)) == 1
        [(subject, body)] = smtp.mails
        assert subject.startswith("[radiocast] warning: na-meo is unreachable")
        assert "Check the station's power" in body
    finally:
        smtp.close()


def test_stations_and_severity_filters(make_app: Callable[..., App],
                                       http: HttpReceiver) -> None:
    only = channel(http.url(), 'stations = ["tam-lu"]')
    w = world(make_app, only, local(10, 9))
    w.down("na-meo")
    w.at(local(10, 9))
    assert w.at(local(10, 9, 30)) == 0  # not this channel's station
    w2 = world(make_app, "", local(10, 9))
    assert w2.at(local(10, 9, 30)) == 0  # no channel: nothing queued, nothing sent


def test_a_daily_digest_short_enough_for_a_phone(make_app: Callable[..., App],
                                                 http: HttpReceiver) -> None:
    w = world(make_app, channel(http.url(), 'digest_at = "07:00"'), local(10, 6))
    w.down("na-meo")
    assert w.at(local(10, 6, 59)) == 0
    assert w.at(local(10, 7)) == 1  # the digest (the incident still settles)
    digest = http.messages[-1]
    assert digest["title"] == "[radiocast] Tổng hợp ngày 10/11/2026"
    assert "Tháng 11/2026: 0/2 đài đã phát đủ" in digest["message"]
    assert "Hôm qua: đã phát 0 lượt" in digest["message"]
    assert "Chưa đủ: na-meo 0/4, tam-lu 0/4" in digest["message"]
    assert len(digest["message"]) < 600
    w.at(local(10, 7, 30))
    assert sum(1 for m in http.messages if "Tổng hợp" in m["title"]) == 1  # once a day
    w.at(local(11, 7, 1))
    assert sum(1 for m in http.messages if "Tổng hợp" in m["title"]) == 2


def test_zalo_gets_a_message_cut_to_its_limit_at_a_word_and_never_inside_a_letter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """apprise's zalo:// sent to a local HTTP receiver standing in for Zalo's bot API (its
    address is the only thing changed): one message, the title on top, cut to 2,000 characters
    at a word, in NFC, with the chat id and the bot token where the API wants them."""
    from apprise.plugins.zalo import NotifyZalo

    receiver = HttpReceiver()
    monkeypatch.setattr(NotifyZalo, "notify_url",
                        f"http://127.0.0.1:{receiver.port}/bot{{token}}/sendMessage")
    words = "Đài Mường Mìn mất kết nối từ 05:30; chương trình chưa phát được. "
    body = unicodedata.normalize("NFD", words * 60)  # 3,900 characters, accents apart
    try:
        ok, why = apprise_notify("zalo://123456789:AbC-dEf_9/4412345678",
                                 "[LỖI] 300 đài mất kết nối", body, "vi")
    finally:
        receiver.close()
    assert ok, why
    [(method, path, payload)] = receiver.got
    assert (method, path) == ("POST", "/bot123456789:AbC-dEf_9/sendMessage")
    text = payload["text"]
    assert payload["chat_id"] == "4412345678"
    assert text.startswith("[LỖI] 300 đài mất kết nối\n")
    assert len(text) <= NotifyZalo.body_maxlen and text.endswith("…")
    assert text == unicodedata.normalize("NFC", text)
    last = text[:-1].split()[-1]
    assert last in unicodedata.normalize("NFC", words).split()  # a whole word, not a piece


@pytest.mark.parametrize("limit", [1, 5, 17, 100])
def test_cutting_never_splits_a_letter_from_its_mark(limit: int) -> None:
    text = unicodedata.normalize("NFD", "Chuyển đổi số ở xã Sơn Điện " * 10)
    out = cut(text, limit)
    assert len(out) <= max(limit, 1)
    assert out == unicodedata.normalize("NFC", out)
    assert not unicodedata.combining(out[-2:-1] or " ")


def test_apprise_never_logs_a_secret_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """`radiocast -vv` sets the root logger to DEBUG; apprise's and urllib3's debug lines
    (URLs, payloads) would carry a webhook's token, which is in its path."""
    receiver = HttpReceiver()
    try:
        with caplog.at_level(logging.DEBUG):
            ok, _ = apprise_notify(receiver.url(path="/hook/S3cr3t-token",
                                                auth="radiocast:S3cr3t-pass@"),
                                   "tiêu đề", "nội dung", "vi")
    finally:
        receiver.close()
    assert ok and receiver.messages
    assert not [r for r in caplog.records if "S3cr3t" in r.getMessage()]


def test_an_outage_at_300_stations_is_one_message_per_channel(
        make_app: Callable[..., App], http: HttpReceiver) -> None:
    stations = "".join(f'[[stations]]\nid = "xa-{n:03d}"\nname = "Xã {n}"\n'
                       f'host = "xa-{n:03d}.invalid"\n' for n in range(300))
    other = HttpReceiver()
    chans = channel(http.url()) + channel(other.url()).replace('name = "tech"', 'name = "office"')
    clock = Clock(local(10, 9))
    app = make_app("[schedule]\nprogramme_due_day = 28\n" + chans, stations, clock=clock)
    w = World(app, clock)
    try:
        for n in range(300):
            w.down(f"xa-{n:03d}")
        w.at(local(10, 9))
        assert w.at(local(10, 9, 11)) == 600  # every notice is sent …
        for receiver in (http, other):  # … as one message per channel and problem
            [msg] = receiver.messages
            assert "299" in msg["title"] and re.search(r"xa-\d{3}", msg["title"])
            assert len(set(re.findall(r"xa-\d{3}", msg["message"]))) == 10  # the first ten
            assert "… và 290 đài khác" in msg["message"]
    finally:
        other.close()
    with app.db.read() as s:
        assert not s.scalars(select(Notice).where(Notice.sent_at.is_(None))).all()


class Trickle:
    """An HTTP server that answers one byte every half second, never finishing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if self.stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(0.5)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_a_channel_that_trickles_bytes_never_delays_another(
        make_app: Callable[..., App], http: HttpReceiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send, "SEND_DEADLINE", 3.0)
    slow = Trickle()
    slow_channel = channel(f"json://127.0.0.1:{slow.port}/hook")
    chans = slow_channel.replace('name = "tech"', 'name = "slow"') + channel(http.url())
    w = world(make_app, chans, local(10, 9))
    try:
        w.down("na-meo")
        w.at(local(10, 9))
        began = time.monotonic()
        assert w.at(local(10, 9, 11)) == 1  # the healthy channel's
        took = time.monotonic() - began
        assert len(http.messages) == 1 and took < 3.0 + 2.0
        with w.app.db.read() as s:
            [stuck] = s.scalars(select(Notice).where(Notice.channel == "slow")).all()
            assert stuck.sent_at is None and "3 giây" in (stuck.last_error or "")
        clock_then = w.clock.now
        w.at(clock_then + timedelta(minutes=5))  # its send still hangs: not tried again
        assert len(http.messages) == 1
    finally:
        slow.close()
