"""What every page shares: the signed-in account (or a redirect to sign in), the CSRF check on
every write, the templates in the account's language, and the security headers."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from radiocast.core.humane import month_label, when
from radiocast.core.i18n import t, word
from radiocast.web.session import COOKIE, MAX_AGE, Account, Session, Signer

PRE = "radiocast_pre"  # the anonymous nonce the sign-in form's CSRF token is bound to
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
       "base-uri 'none'; object-src 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store"}


class Denied(Exception):
    """This account may not see or do this: 404 (never says whether it exists)."""


@dataclass(frozen=True)
class Services:
    """What the pages call, handed in by `web.app` (the composition): the same services as
    the CLI's. The pages import none of them, which keeps them low in the house."""

    current: Callable[[Any, int, int], Account | None]  # a session's account, if still valid
    sign_in: Callable[[Any, str, str, str], Any]  # web.accounts.sign_in
    status: Callable[[Any, str], dict[str, Any]]  # status.problems.build_status
    waiting: Callable[[Any], list[Any]]  # intake.approval.waiting
    decide: Callable[..., bool]  # intake.approval.decide
    report: Callable[..., dict[str, Any]]  # report.build.build_report
    render: Callable[[dict[str, Any], str, str], bytes]  # report.files.render_report
    error: type[Exception]  # what a service raises for a person to read


@dataclass
class Web:
    """The web process's state: the application (`radiocast.app.App`), the services, the
    signer, the templates."""

    app: Any
    services: Services
    signer: Signer
    env: Environment
    secure_cookies: bool = False

    @classmethod
    def of(cls, app: Any, services: Services, secret: str, secure_cookies: bool = False) -> Web:
        env = Environment(loader=PackageLoader("radiocast.web", "templates"),
                          autoescape=select_autoescape(["html"]), trim_blocks=True,
                          lstrip_blocks=True)
        env.globals.update(month_label=month_label, when=when, word=word)
        return cls(app, services, Signer(secret), env, secure_cookies)

    def render(self, request: Request, name: str, who: Account | None, session: Session | None,
               status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = session.lang if session else _lang(request)
        html = self.env.get_template(name).render(
            t=lambda key, **kw: t(key, lang, **kw), lang=lang, who=who,
            csrf=self.signer.csrf(session) if session else "", request=request, **ctx)
        return HTMLResponse(html, status_code=status)

    def set_session(self, response: Response, user_id: int, epoch: int, lang: str) -> None:
        response.set_cookie(COOKIE, self.signer.issue(user_id, epoch, lang), max_age=MAX_AGE,
                            httponly=True, samesite="strict", secure=self.secure_cookies,
                            path="/")


def _lang(request: Request) -> str:
    return "en" if request.cookies.get("radiocast_lang") == "en" else "vi"


Handler = Callable[[Request, Account, Session], Awaitable[Response]]


Endpoint = Callable[[Request], Awaitable[Response]]


def page(web: Web, handler: Handler, write: bool = False) -> Endpoint:
    """A route that needs a signed-in account (else: to the sign-in page, or 401 for /api);
    a write also needs the session's CSRF token. Denied anywhere: 404."""

    async def endpoint(request: Request) -> Response:
        session = web.signer.read(request.cookies.get(COOKIE))
        who = None if session is None else await run_in_threadpool(
            web.services.current, web.app, session.user_id, session.epoch)
        if who is None or session is None:
            if request.url.path.startswith("/api/") or write:
                return Response("sign in first", status_code=401)
            return RedirectResponse("/login", status_code=303)
        if write:
            form = await request.form()
            if not web.signer.csrf_ok(session, str(form.get("csrf") or "")):
                return Response("CSRF token missing or wrong", status_code=403)
        try:
            return await handler(request, who, session)
        except Denied:
            return web.render(request, "missing.html", who, session, status=404)

    return endpoint


def pre_nonce(request: Request) -> str:
    return request.cookies.get(PRE) or secrets.token_hex(16)


def secured(response: Response) -> Response:
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    return response
