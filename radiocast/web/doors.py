"""The way in and out: the sign-in page (its own CSRF token, bound to an anonymous nonce
cookie), the per-address limit and the lock-out message, signing out, the language."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from radiocast.core.i18n import t
from radiocast.web.frame import PRE, Web, pre_nonce, secured
from radiocast.web.session import COOKIE, Account, Session, Throttle


def _lang(request: Request) -> str:
    return "en" if request.cookies.get("radiocast_lang") == "en" else "vi"


def login_form(web: Web) -> Any:
    async def handler(request: Request) -> Response:
        nonce = pre_nonce(request)
        resp = web.render(request, "login.html", None, None, error="",
                          csrf_login=web.signer.csrf(Session(0, 0, nonce, "vi")))
        resp.set_cookie(PRE, nonce, httponly=True, samesite="strict",
                        secure=web.secure_cookies)
        return secured(resp)
    return handler


def login(web: Web, throttle: Throttle) -> Any:
    async def handler(request: Request) -> Response:
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
        got = await run_in_threadpool(web.services.sign_in, web.app,
                                      str(form.get("name") or ""),
                                      str(form.get("password") or ""), address)
        if got.account is None:
            if got.locked_until is not None:
                until = got.locked_until.astimezone(web.app.settings.general.tz)
                return fail("web.locked", until=f"{until:%H:%M}")
            return fail("web.wrong")
        resp = RedirectResponse("/", status_code=303)
        web.set_session(resp, got.account.id, got.account.epoch, _lang(request))
        resp.delete_cookie(PRE)
        return resp
    return handler


async def logout(request: Request, who: Account, session: Session) -> Response:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


def language(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        lang = "en" if session.lang == "vi" else "vi"
        back = urlsplit(request.headers.get("referer") or "/")  # back to the same page,
        path = back.path if back.path.startswith("/") else "/"  # on this site only
        resp = RedirectResponse(path + (f"?{back.query}" if back.query else ""), status_code=303)
        web.set_session(resp, who.id, who.epoch, lang)
        resp.set_cookie("radiocast_lang", lang, samesite="strict", httponly=True)
        return resp
    return handler
