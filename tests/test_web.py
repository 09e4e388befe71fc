"""The web page, in a real browser (Debian's chromium driven by Playwright) and route by route:
sign in, the overview, a programme's player, approving, a report, an upload and its receipt;
a station account sees its station only; no write without a session and its CSRF token; the
lock-out says so."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from radiocast.app import App
from radiocast.db.schema import Event, Programme
from radiocast.web import accounts
from radiocast.web.app import build

from .conftest import Site
from .test_approval import APPROVAL, drop, programmes, round_once

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "mật-khẩu-đủ-dài-1"
TWO = APPROVAL.replace('stations = ["st0"]', 'stations = ["st1"]')


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: App) -> Iterator[str]:
    """`radiocast web` in a thread, on a free loopback port."""
    port = _port()
    server = uvicorn.Server(uvicorn.Config(build(app), host="127.0.0.1", port=port,
                                           log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(10)


def world(site: Callable[..., Site], month_name: str = "") -> tuple[Site, App, Programme]:
    s = site(2, station_extra='playout = "agent"', extra=TWO)
    hub = s.app
    month = hub.clock().astimezone(hub.settings.general.tz).strftime("%Y-%m")
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", month_name or f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    accounts.add(hub, "vanphong", "operator", PASSWORD)
    accounts.add(hub, "pct", "approver", PASSWORD, approver_id="pct-huyen")
    accounts.add(hub, "xa1", "station", PASSWORD, stations=["st1"])
    return s, hub, p


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert token is not None
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf": token.group(1)})


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_in_a_real_browser_sign_in_listen_approve_report_upload(
        site: Callable[..., Site], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/test installs it")
        pytest.skip("chromium is not installed (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    _s, hub, p = world(site)
    with serving(hub) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        errors: list[str] = []
        page = browser.new_page(viewport={"width": 360, "height": 740}, accept_downloads=True)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/")
        assert page.url.endswith("/login")
        page.fill("input[name=name]", "pct")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        assert "Việc cần xử lý" in page.inner_text("main")
        if shot := os.environ.get("RADIOCAST_SCREENSHOT"):  # docs/web-overview.png
            page.screenshot(path=shot, full_page=True)
        assert f"#{p.id}" in page.inner_text("main")  # the waiting programme is a problem
        # listen: the audio element loads the normalized file, with byte ranges
        page.goto(f"{url}/approvals")
        duration = page.evaluate("""() => new Promise(done => {
            const a = document.querySelector('audio');
            if (a.readyState >= 1) return done(a.duration);
            a.addEventListener('loadedmetadata', () => done(a.duration));
            a.load(); })""")
        assert abs(duration - (p.duration_s or 0)) < 1.0, duration
        page.click("button.approve")
        page.wait_for_url(f"{url}/approvals")
        assert "Không có chương trình nào đang chờ duyệt" in page.inner_text("main")
        [p] = programmes(hub)
        assert p.approval == "approved"
        with hub.db.read() as sess:
            assert sess.scalars(select(Event).where(Event.entity == "web",
                                                    Event.entity_id == "pct")).first()
        # a report, made by the CLI's own code
        page.goto(f"{url}/reports")
        page.fill("input[name=period]", p.month)
        with page.expect_download() as dl:
            page.click("button[type=submit]")
        pdf = tmp_path / "report.pdf"
        dl.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        # the operator uploads a file; it follows the drop folder's path and its receipt shows
        page.click("form[action='/logout'] button")
        page.fill("input[name=name]", "vanphong")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/upload")
        sample = tmp_path / f"{p.month} An toàn thông tin.mp3"
        shutil.copy(Path(__file__).parents[1] / "audio_samples" / "an-toan-thong-tin.mp3", sample)
        page.set_input_files("input[type=file]", str(sample))
        page.click("form[action='/upload'] button")
        page.wait_for_url(re.compile(r".*/upload/[0-9a-f]{64}$"))
        round_once(hub)  # the hub takes the drop folder
        page.reload()
        receipt = page.inner_text("pre.receipt")
        assert "BIÊN NHẬN" in receipt and "An toàn thông tin" in receipt
        assert not [e for e in errors if "Content Security Policy" in e], errors
        browser.close()


ROUTES = ["/", "/programmes", "/programmes/{pid}", "/programmes/{pid}/audio.mp3",
          "/approvals", "/stations/st0", "/stations/st1", "/reports?period={month}&format=csv",
          "/upload", "/upload/" + "a" * 64, "/api/status", "/api/programmes", "/api/stations",
          "/api/schedule"]


def test_a_station_account_never_sees_another_station(site: Callable[..., Site]) -> None:
    _s, hub, p = world(site)
    # a second programme that goes to st0 only: xa1 (station st1) must never see it
    month = p.month
    sidecar = hub.settings.ingest.drop_dir / f"{month} Chỉ xã 0.toml"
    sidecar.write_text('stations = ["st0"]\n', encoding="utf-8")
    drop(hub, "an-toan-thong-tin.mp3", f"{month} Chỉ xã 0.mp3")
    round_once(hub)
    only0 = next(x for x in programmes(hub) if x.title == "Chỉ xã 0")
    with serving(hub) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        assert sign_in(c, "xa1").status_code == 303
        seen: dict[str, Any] = {}
        for route in ROUTES:
            for pid in (p.id, only0.id):
                path = route.format(pid=pid, month=month)
                r = c.get(path)
                seen[path] = r.status_code
                body = r.text
                assert "st0" not in body or (path == "/stations/st0" and r.status_code == 404), \
                    path
                if "{pid}" in route and pid == only0.id:
                    assert r.status_code == 404, path
        assert seen["/stations/st0"] == 404 and seen["/stations/st1"] == 200
        assert seen[f"/programmes/{p.id}"] == 200
        status = c.get("/api/status").json()
        assert {st["id"] for st in status["stations"]} == {"st1"}
        assert {d["station_id"] for d in status["deliveries"]} == {"st1"}
        assert only0.id not in {x["id"] for x in status["programmes"]}
        assert {x["id"] for x in c.get("/api/programmes").json()} == {p.id}
        # and it cannot act: approving is for approvers; uploading for the district
        token = csrf_of(c)
        assert c.post(f"/approvals/{p.id}/approve", data={"csrf": token}).status_code == 404
        assert c.post("/upload", data={"csrf": token},
                      files={"file": ("x.mp3", b"ID3" + b"\0" * 100)}).status_code == 404


def test_no_write_without_a_session_and_its_csrf_token_and_the_lock_out_says_so(
        site: Callable[..., Site]) -> None:
    _s, hub, p = world(site)
    with serving(hub) as url:
        with httpx.Client(base_url=url, follow_redirects=False) as anon:
            assert anon.post(f"/approvals/{p.id}/approve", data={}).status_code == 401
            assert anon.get("/api/status").status_code == 401
            assert anon.get("/").status_code == 303
            # a sign-in form without its token is refused
            assert anon.post("/login", data={"name": "pct", "password": PASSWORD}
                             ).status_code == 403
        with httpx.Client(base_url=url, follow_redirects=False) as c:
            assert sign_in(c, "pct").status_code == 303
            assert c.post(f"/approvals/{p.id}/approve", data={}).status_code == 403
            assert c.post(f"/approvals/{p.id}/approve",
                          data={"csrf": "0" * 40}).status_code == 403
            [still] = programmes(hub)
            assert still.approval == "awaiting"
            r = c.post(f"/approvals/{p.id}/approve", data={"csrf": csrf_of(c)})
            assert r.status_code == 303
            [done] = programmes(hub)
            assert done.approval == "approved"
            headers = c.get("/").headers
            assert "script-src 'self'" in headers["content-security-policy"]
            assert "unsafe-inline" not in headers["content-security-policy"]
        with httpx.Client(base_url=url, follow_redirects=False) as c:
            for _ in range(10):
                r = sign_in(c, "vanphong", "sai mật khẩu")
            assert r.status_code == 401 and "tạm khóa" in r.text
            r = sign_in(c, "vanphong")  # the right password, but locked
            assert r.status_code == 401 and "tạm khóa" in r.text
        cookie = c.cookies.get("radiocast_session")
        assert cookie is None
    with hub.db.read() as sess:
        logged = " ".join(str(e.detail) for e in sess.scalars(select(Event)))
    assert PASSWORD not in logged and "sai mật khẩu" not in logged


def test_users_commands_and_the_web_listing_json(site: Callable[..., Site],
                                                  tmp_path: Path) -> None:
    from click.testing import CliRunner

    from radiocast.cli.main import cli

    s = site(1, extra=APPROVAL)
    cfg = str(s.app.settings.path)
    r = CliRunner().invoke(cli, ["--config", cfg, "users", "add", "an", "--role", "operator",
                                 "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["--config", cfg, "users", "list", "--json"])
    [row] = json.loads(r.output)
    assert row["name"] == "an" and row["role"] == "operator" and "password" not in r.output
    r = CliRunner().invoke(cli, ["--config", cfg, "users", "add", "b", "--role", "station",
                                 "--stations", "st9", "--password-stdin"], input=PASSWORD)
    assert r.exit_code != 0


def test_the_web_process_killed_and_restarted_changes_nothing_for_the_hub(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """`radiocast web` is its own process: killed, the hub delivers and plans as before;
    restarted, the same session cookie still signs the person in (the key is in the
    database, where a standby hub finds it too)."""
    import signal
    import subprocess
    import sys

    _s, hub, p = world(site)
    cfg = str(hub.settings.path)
    port = _port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "radiocast", "--config", cfg, "web",
                                 "--listen", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
                return proc
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "web did not start"
                time.sleep(0.1)

    proc = start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as c:
        assert sign_in(c, "pct").status_code == 303
        cookie = c.cookies.get("radiocast_session")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # the hub goes on: a decision and a round need no web page
        from .test_approval import run
        assert run(hub, "approve", str(p.id), "--as", "pct-huyen")[0] == 0
        round_once(hub)
        with hub.db.read() as sess:
            assert sess.scalars(select(Programme).where(Programme.approval == "approved")).first()
        proc = start()
        try:
            c.cookies.set("radiocast_session", cookie or "")
            r = c.get("/api/programmes")
            assert r.status_code == 200 and r.json()[0]["approval"]["state"] == "approved"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def test_a_commune_account_refuses_a_normal_programme_for_its_own_station(
        site: Callable[..., Site]) -> None:
    from radiocast.db.schema import ApprovalDecision

    _s, hub, p = world(site)
    accounts.add(hub, "xa1-chutich", "station", PASSWORD, approver_id="xa-st0",
                 stations=["st1"])  # [[approvers]] xa-st0 covers st1 in this world
    with serving(hub) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        assert sign_in(c, "xa1-chutich").status_code == 303
        page = c.get(f"/programmes/{p.id}")
        assert "/refuse" in page.text
        token = csrf_of(c, f"/programmes/{p.id}")
        assert c.post(f"/programmes/{p.id}/refuse", data={"csrf": token}
                      ).headers["location"].endswith("error=reason")
        r = c.post(f"/programmes/{p.id}/refuse",
                   data={"csrf": token, "reason": "Xã có lịch riêng"})
        assert r.status_code == 303 and "error" not in r.headers["location"]
        # the plain station account (no approver) may not
        with httpx.Client(base_url=url, follow_redirects=False) as other:
            assert sign_in(other, "xa1").status_code == 303
            assert other.post(f"/programmes/{p.id}/refuse", data={
                "csrf": csrf_of(other), "reason": "x"}).status_code == 404
    with hub.db.read() as sess:
        [d] = sess.scalars(select(ApprovalDecision)).all()
    assert (d.decision, d.station_id, d.approver_id) == ("refused", "st1", "xa-st0")


POSTS = ["/logout", "/lang", "/approvals/{pid}/approve", "/approvals/{pid}/decline",
         "/programmes/{pid}/refuse", "/upload"]


def test_every_route_is_enumerated_and_every_write_needs_session_and_csrf(
        site: Callable[..., Site]) -> None:
    """The scope test's list and this one cover every route the application has; every
    POST answers 401 without a session and 403 without the CSRF token, changing nothing."""
    from starlette.routing import Route

    _s, hub, p = world(site)
    star = build(hub)
    gets = {r.path for r in star.routes if isinstance(r, Route) and "GET" in (r.methods or ())}
    posts = {r.path for r in star.routes if isinstance(r, Route) and "POST" in (r.methods or ())}
    norm = {re.sub(r"\{(\w+):\w+\}", r"{\1}", x) for x in gets}
    listed = {re.sub(r"/[0-9a-f]{64}$", "/{sha}", r.split("?")[0]) for r in ROUTES} | {
        "/login", "/stations/{sid}"}
    assert {re.sub(r"\{(\w+)\}", "{pid}", x) for x in norm} - {
        re.sub(r"\{(\w+)\}", "{pid}", x) for x in listed} == set()
    assert {re.sub(r"\{(\w+):\w+\}", r"{\1}", x) for x in posts} == set(POSTS) | {"/login"}
    before = _count_events(hub)
    with serving(hub) as url:
        with httpx.Client(base_url=url, follow_redirects=False) as anon:
            for path in POSTS:
                assert anon.post(path.format(pid=p.id), data={}).status_code == 401, path
        with httpx.Client(base_url=url, follow_redirects=False) as c:
            assert sign_in(c, "vanphong").status_code == 303
            after_sign_in = _count_events(hub)
            for path in POSTS:
                r = c.post(path.format(pid=p.id), data={"csrf": "f" * 40, "reason": "x"})
                assert r.status_code == 403, path
    assert after_sign_in == before + 1 == _count_events(hub)  # only the sign-in itself


def _count_events(app: App) -> int:
    from sqlalchemy import func

    with app.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Event)) or 0)


def test_an_upload_keeps_only_a_plain_name_and_refuses_what_is_not_audio(tmp_path: Path) -> None:
    import asyncio

    from radiocast.web import upload

    assert upload.safe_name("../../etc/passwd.mp3", ".mp3") == "passwd.mp3"
    assert upload.safe_name("C:\\\\Users\\\\x\\\\2026-12 Chuyển đổi số.MP3", ".mp3") == \
        "2026-12 Chuyển đổi số.mp3"
    assert upload.safe_name("a\x00b<>|.wav", ".mp3") == "a b.mp3"
    assert upload.safe_name("", ".wav") == "tep-tai-len.wav"

    class Part:
        def __init__(self, data: bytes, name: str) -> None:
            self.data, self.filename = data, name

        async def read(self, n: int) -> bytes:
            out, self.data = self.data[:n], self.data[n:]
            return out

    drop = tmp_path / "drop"
    with pytest.raises(upload.UploadRefused):
        asyncio.run(upload.receive(Part(b"#!/bin/sh\nrm -rf /\n", "x.mp3"), drop))
    with pytest.raises(upload.UploadRefused):
        asyncio.run(upload.receive(Part(b"", "x.mp3"), drop))
    got = asyncio.run(upload.receive(Part(b"ID3" + b"\0" * 5000, "../../x.mp3"), drop))
    assert got.path == drop / "x.mp3" and got.size == 5003
    assert sorted(p.name for p in drop.iterdir()) == ["x.mp3"]  # no partial file left


def test_the_language_switch_stays_on_this_site(site: Callable[..., Site]) -> None:
    _s, hub, _p = world(site)
    with serving(hub) as url, httpx.Client(base_url=url, follow_redirects=False) as c:
        assert sign_in(c, "vanphong").status_code == 303
        r = c.post("/lang", data={"csrf": csrf_of(c)},
                   headers={"referer": "https://evil.example.invalid/steal?x=1"})
        assert r.headers["location"] == "/steal?x=1"  # the path only, never another site
        assert "Needs attention" in c.get("/").text  # English now
