"""`radiocast web`: the Starlette application and its server. Its own process, reading the
same database as the hub and writing only through the CLI's services, which it hands to the
pages here (the composition): it never runs on the daemon's loop, and the web page down or
restarted changes nothing for deliveries and airings."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from radiocast.app import App
from radiocast.core.errors import RadiocastError
from radiocast.db import ops_web
from radiocast.intake import approval
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.status.problems import build_status
from radiocast.web import accounts, api, doors, pages
from radiocast.web.frame import Services, Web, page, secured
from radiocast.web.session import Throttle

STATIC = Path(__file__).with_name("static")


def build(app: App, secure_cookies: bool = False) -> Starlette:
    with app.db.write() as s:
        secret = ops_web.web_key(s)
    services = Services(current=accounts.current, sign_in=accounts.sign_in, status=build_status,
                        waiting=approval.waiting, decide=approval.decide, report=build_report,
                        render=render_report, error=RadiocastError)
    web = Web.of(app, services, secret, secure_cookies)
    post = ["POST"]
    routes = [
        Route("/login", doors.login_form(web), methods=["GET"]),
        Route("/login", doors.login(web, Throttle()), methods=post),
        Route("/logout", page(web, doors.logout, write=True), methods=post),
        Route("/lang", page(web, doors.language(web), write=True), methods=post),
        Route("/", page(web, pages.overview(web))),
        Route("/programmes", page(web, pages.programmes(web))),
        Route("/programmes/{pid:int}", page(web, pages.programme(web))),
        Route("/programmes/{pid:int}/audio.mp3", page(web, pages.audio(web))),
        Route("/approvals", page(web, pages.approvals(web))),
        Route("/approvals/{pid:int}/approve",
              page(web, pages.decide(web, "approved"), write=True), methods=post),
        Route("/approvals/{pid:int}/decline",
              page(web, pages.decide(web, "declined"), write=True), methods=post),
        Route("/programmes/{pid:int}/refuse",
              page(web, pages.decide(web, "refused"), write=True), methods=post),
        Route("/stations/{sid:str}", page(web, pages.station(web))),
        Route("/reports", page(web, pages.reports(web))),
        Route("/upload", page(web, api.upload_form(web)), methods=["GET"]),
        Route("/upload", page(web, api.upload_file(web), write=True), methods=post),
        Route("/upload/{sha:str}", page(web, api.upload_status(web))),
        *[Route(f"/api/{k}", page(web, api.api(web, k))) for k in
          ("status", "programmes", "stations", "schedule")],
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Headers)])


class Headers(BaseHTTPMiddleware):
    """The security headers on every answer (CSP with no inline script, no framing, …)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return secured(await call_next(request))


def serve(app: App, listen: str, secure_cookies: bool = False) -> None:
    import uvicorn

    host, _, port = listen.rpartition(":")
    uvicorn.run(build(app, secure_cookies), host=host.strip("[]") or "127.0.0.1",
                port=int(port), log_level="warning", proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False)
