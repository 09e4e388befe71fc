"""The JSON answers (`/api/*`: the CLI's `--json` documents, cut to the account's stations)
and the upload pages (a file into the drop folder, then its receipt)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from radiocast.core.i18n import t
from radiocast.db import ops_web, views
from radiocast.db.schema import Programme
from radiocast.web import scope, upload
from radiocast.web.frame import Web
from radiocast.web.session import Account, Session


def api(web: Web, kind: str) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        def read() -> Any:
            doc = scope.status(web.services.status(web.app, session.lang), who)
            if kind in ("programmes", "stations"):
                return doc[kind]
            if kind == "status":
                return doc
            with web.app.db.read() as s:
                return scope.rows(views.list_airings(s, web.app.settings.general.tz), who)
        return JSONResponse(await run_in_threadpool(read))
    return handler


def upload_form(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        return web.render(request, "upload.html", who, session, done=None, error="")
    return handler


def upload_file(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        if who.role != "operator":
            return web.render(request, "missing.html", who, session, status=404)
        form = await request.form(max_part_size=upload.MAX_BYTES + 1)
        item = form.get("file")
        if item is None or isinstance(item, str):
            return web.render(request, "upload.html", who, session, done=None,
                              error=t("web.upload_empty", session.lang), status=400)
        try:
            got = await upload.receive(item, web.app.settings.ingest.drop_dir)
        except upload.UploadRefused as exc:
            return web.render(request, "upload.html", who, session, done=None,
                              error=t(str(exc), session.lang), status=400)

        def note() -> None:
            with web.app.db.write() as s:
                ops_web.record_write(s, who.name, "upload", got.path.name, web.app.clock())
        await run_in_threadpool(note)
        return RedirectResponse(f"/upload/{got.sha256}", status_code=303)
    return handler


def upload_status(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        if who.role != "operator":
            return web.render(request, "missing.html", who, session, status=404)
        sha = str(request.path_params["sha"])[:64]

        def read() -> dict[str, Any] | None:
            with web.app.db.read() as s:
                p = s.scalars(select(Programme).where(Programme.source_sha256 == sha)).first()
                return None if p is None else {"id": p.id, "state": p.state,
                                               "title": p.title, "name": p.source_name,
                                               "reason": p.reason_code}
        done = await run_in_threadpool(read)
        return web.render(request, "upload.html", who, session, done=done or {"sha": sha},
                          receipt=_receipt(web, done) if done else "", error="")
    return handler


def _receipt(web: Web, done: dict[str, Any]) -> str:
    """The receipt or the quarantine note staff would find beside the file, once it is there."""
    ingest = web.app.settings.ingest
    folder = ingest.quarantine_dir if done["state"] == "rejected" else ingest.archive_dir
    for cand in sorted(folder.glob(f"{done['name']}*.txt"))[:1]:
        return str(cand.read_bytes().decode("utf-8-sig", "replace")).replace("\r\n", "\n")
    return ""
