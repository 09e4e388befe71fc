"""`radiocast web`: the Starlette application and its server. Its own process, reading the
same database as the hub and writing only through the CLI's services: it never runs on the
daemon's loop, and the web page down or restarted changes nothing for deliveries and airings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from radiocast.app import App
from radiocast.core.errors import RadiocastError
from radiocast.core.i18n import t
from radiocast.db import ops_web, views
from radiocast.db.schema import Programme
from radiocast.intake import approval
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.status.problems import build_status
from radiocast.web import accounts, pages, scope, upload
from radiocast.web.frame import PRE, Services, Web, page, pre_nonce, secured
from radiocast.web.session import COOKIE, Account, Session, Throttle

STATIC = Path(__file__).with_name("static")


def build(app: App, secure_cookies: bool = False) -> Starlette:
    with app.db.write() as s:
        secret = ops_web.web_key(s)
    services = Services(current=accounts.current, status=build_status,
                        waiting=approval.waiting, decide=approval.decide, report=build_report,
                        render=render_report, error=RadiocastError)
    web = Web.of(app, services, secret, secure_cookies)
    throttle = Throttle()

    async def login_form(request: Request) -> Response:
        nonce = pre_nonce(request)
        resp = web.render(request, "login.html", None, None, error="",
                          csrf_login=web.signer.csrf(Session(0, 0, nonce, "vi")))
        resp.set_cookie(PRE, nonce, httponly=True, samesite="strict",
                        secure=web.secure_cookies)
        return secured(resp)

    async def login(request: Request) -> Response:
        form = await request.form()
        address = request.client.host if request.client else "-"
        nonce = request.cookies.get(PRE, "")
        if not nonce or not web.signer.csrf_ok(Session(0, 0, nonce, "vi"),
                                               str(form.get("csrf") or "")):
            return Response("CSRF token missing or wrong", status_code=403)

        def fail(key: str, **kw: Any) -> Response:
            return web.render(request, "login.html", None, None, status=401,
                              error=t(key, _lang(request), **kw),
                              csrf_login=web.signer.csrf(Session(0, 0, nonce, "vi")))
        if not throttle.allow(address):
            return fail("web.too_many")
        got = await run_in_threadpool(accounts.sign_in, app, str(form.get("name") or ""),
                                      str(form.get("password") or ""), address)
        if got.account is None:
            if got.locked_until is not None:
                until = got.locked_until.astimezone(app.settings.general.tz)
                return fail("web.locked", until=f"{until:%H:%M}")
            return fail("web.wrong")
        resp = RedirectResponse("/", status_code=303)
        web.set_session(resp, got.account.id, got.account.epoch, _lang(request))
        resp.delete_cookie(PRE)
        return resp

    async def logout(request: Request, who: Account, session: Session) -> Response:
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    async def language(request: Request, who: Account, session: Session) -> Response:
        lang = "en" if session.lang == "vi" else "vi"
        resp = RedirectResponse(request.headers.get("referer") or "/", status_code=303)
        web.set_session(resp, who.id, who.epoch, lang)
        resp.set_cookie("radiocast_lang", lang, samesite="strict", httponly=True)
        return resp

    async def upload_form(request: Request, who: Account, session: Session) -> Response:
        return web.render(request, "upload.html", who, session, done=None, error="")

    async def upload_file(request: Request, who: Account, session: Session) -> Response:
        if who.role != "operator":
            return web.render(request, "missing.html", who, session, status=404)
        form = await request.form(max_part_size=upload.MAX_BYTES + 1)
        item = form.get("file")
        if item is None or isinstance(item, str):
            return web.render(request, "upload.html", who, session, done=None,
                              error=t("web.upload_empty", session.lang), status=400)
        try:
            got = await upload.receive(item, app.settings.ingest.drop_dir)
        except upload.UploadRefused as exc:
            return web.render(request, "upload.html", who, session, done=None,
                              error=t(str(exc), session.lang), status=400)

        def note() -> None:
            with app.db.write() as s:
                ops_web.record_write(s, who.name, "upload", got.path.name, app.clock())
        await run_in_threadpool(note)
        return RedirectResponse(f"/upload/{got.sha256}", status_code=303)

    async def upload_status(request: Request, who: Account, session: Session) -> Response:
        sha = str(request.path_params["sha"])[:64]

        def read() -> dict[str, Any] | None:
            with app.db.read() as s:
                p = s.scalars(select(Programme).where(Programme.source_sha256 == sha)).first()
                return None if p is None else {"id": p.id, "state": p.state,
                                               "title": p.title, "name": p.source_name,
                                               "reason": p.reason_code}
        done = await run_in_threadpool(read)
        receipt = _receipt(app, done) if done else ""
        return web.render(request, "upload.html", who, session, done=done or {"sha": sha},
                          receipt=receipt, error="")

    def api(kind: str) -> Any:
        async def handler(request: Request, who: Account, session: Session) -> Response:
            def read() -> Any:
                tz = app.settings.general.tz
                doc = scope.status(build_status(app, session.lang), who)
                if kind == "status":
                    return doc
                if kind == "programmes":
                    return doc["programmes"]
                if kind == "stations":
                    return doc["stations"]
                with app.db.read() as s:
                    return scope.rows(views.list_airings(s, tz), who)
            return JSONResponse(await run_in_threadpool(read))
        return handler

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(web, logout, write=True), methods=["POST"]),
        Route("/lang", page(web, language, write=True), methods=["POST"]),
        Route("/", page(web, pages.overview(web))),
        Route("/programmes", page(web, pages.programmes(web))),
        Route("/programmes/{pid:int}", page(web, pages.programme(web))),
        Route("/programmes/{pid:int}/audio.mp3", page(web, pages.audio(web))),
        Route("/approvals", page(web, pages.approvals(web))),
        Route("/approvals/{pid:int}/approve", page(web, pages.decide(web, "approved"),
                                                   write=True), methods=["POST"]),
        Route("/approvals/{pid:int}/decline", page(web, pages.decide(web, "declined"),
                                                   write=True), methods=["POST"]),
        Route("/stations/{sid:str}", page(web, pages.station(web))),
        Route("/reports", page(web, pages.reports(web))),
        Route("/upload", page(web, upload_form), methods=["GET"]),
        Route("/upload", page(web, upload_file, write=True), methods=["POST"]),
        Route("/upload/{sha:str}", page(web, upload_status)),
        *[Route(f"/api/{k}", page(web, api(k))) for k in
          ("status", "programmes", "stations", "schedule")],
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Headers)])


class Headers(BaseHTTPMiddleware):
    """The security headers on every answer (CSP with no inline script, no framing, …)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return secured(await call_next(request))


def _lang(request: Request) -> str:
    return "en" if request.cookies.get("radiocast_lang") == "en" else "vi"


def _receipt(app: App, done: dict[str, Any]) -> str:
    """The receipt or the quarantine note staff would find beside the file, once it is there."""
    folder = app.settings.ingest.archive_dir if done["state"] != "rejected" \
        else app.settings.ingest.quarantine_dir
    for cand in sorted(folder.glob(f"{done['name']}*.txt"))[:1]:
        return cand.read_bytes().decode("utf-8-sig", "replace").replace("\r\n", "\n")
    return ""


def serve(app: App, listen: str, secure_cookies: bool = False) -> None:
    import uvicorn

    host, _, port = listen.rpartition(":")
    uvicorn.run(build(app, secure_cookies), host=host.strip("[]") or "127.0.0.1",
                port=int(port), log_level="warning", proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False)



