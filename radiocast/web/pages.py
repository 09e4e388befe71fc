"""The pages: overview, programmes (with a player), approvals, a station, reports, upload.
Each reads what the CLI reads (`status`, `db/views`, `report`) and writes only through the
CLI's own services; an account sees only its stations."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from radiocast.db import ops_web, views
from radiocast.db.approvals import APPROVED, REFUSED
from radiocast.db.schema import Airing, Programme
from radiocast.web import scope
from radiocast.web.frame import Denied, Web
from radiocast.web.session import Account, Session

REPORT_TYPES = {"pdf": "application/pdf", "csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


WAITING_SHOWN = 50  # stations still waiting for a file, listed by name
PROBLEMS_SHOWN = 100


def overview(web: Web) -> Any:
    """The status screen for a phone: problems with their actions, each programme's deliveries
    counted by state with the stations still waiting, the next airings."""
    async def handler(request: Request, who: Account, session: Session) -> Response:
        doc = scope.status(await run_in_threadpool(web.services.status, web.app, session.lang),
                           who)
        matrix: dict[int, dict[str, list[str]]] = {}
        for d in doc["deliveries"]:
            matrix.setdefault(d["programme_id"], {}).setdefault(d["state"], []).append(
                d["station_id"])
        return web.render(request, "overview.html", who, session, doc=doc, matrix=matrix,
                          shown=PROBLEMS_SHOWN, waiting_shown=WAITING_SHOWN)
    return handler


def _programme_doc(web: Web, who: Account, pid: int, lang: str) -> dict[str, Any]:
    tz = web.app.settings.general.tz
    with web.app.db.read() as s:
        p = s.get(Programme, pid)
        if p is None:
            raise Denied()
        dels = scope.rows(views.list_deliveries(s, tz), who)
        dels = [d for d in dels if d["programme_id"] == pid]
        if who.stations is not None and not dels:
            raise Denied()  # it goes to none of this account's stations
        row = next(r for r in views.list_programmes(s, tz, p.month, lang,
                                                    web.app.settings.languages)
                   if r["id"] == pid)
        airings = [views.airing_dict(a, tz) for a in s.scalars(
            select(Airing).where(Airing.programme_id == pid).order_by(Airing.planned_at))]
        versions = [(v.id, v.language, v.revision, v.state) for v in s.scalars(
            select(Programme).where(Programme.month == p.month, Programme.title_key ==
                                    p.title_key, Programme.id != pid).order_by(Programme.id))]
    return {"p": row, "deliveries": dels, "airings": scope.rows(airings, who),
            "versions": versions if who.stations is None else []}


def programmes(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        def read() -> list[dict[str, Any]]:
            doc = web.services.status(web.app, session.lang)
            allowed = scope.programme_ids(doc, who)
            with web.app.db.read() as s:
                rows = views.list_programmes(s, web.app.settings.general.tz, lang=session.lang,
                                             languages=web.app.settings.languages)
            return [r for r in rows if allowed is None or r["id"] in allowed]
        return web.render(request, "programmes.html", who, session,
                          rows=await run_in_threadpool(read))
    return handler


def programme(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        pid = int(request.path_params["pid"])
        doc = await run_in_threadpool(_programme_doc, web, who, pid, session.lang)
        return web.render(request, "programme.html", who, session,
                          error=request.query_params.get("error", ""), **doc)
    return handler


def audio(web: Web) -> Any:
    """The normalized file, with byte ranges (a phone's player seeks)."""
    async def handler(request: Request, who: Account, session: Session) -> Response:
        pid = int(request.path_params["pid"])
        doc = await run_in_threadpool(_programme_doc, web, who, pid, session.lang)
        path = doc["p"].get("output_path")
        if not path or not Path(path).is_file():
            raise Denied()
        return FileResponse(path, media_type="audio/mpeg", filename=f"{doc['p']['slug']}.mp3",
                            content_disposition_type="inline")
    return handler


def approvals(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        items = await run_in_threadpool(web.services.waiting, web.app)
        mine = [w for w in items if who.role == "operator" or who.approver_id in w.approvers]
        return web.render(request, "approvals.html", who, session, items=mine,
                          error=request.query_params.get("error", ""))
    return handler


def decide(web: Web, kind: str) -> Any:
    """Approve or decline from the page (an approver), or refuse for its own station (a
    commune's account that names its approver): the CLI's rules, as that approver."""
    async def handler(request: Request, who: Account, session: Session) -> Response:
        pid = int(request.path_params["pid"])
        form = await request.form()
        reason = str(form.get("reason") or "").strip()
        refuse = kind == REFUSED
        if not who.approver_id or who.role != ("station" if refuse else "approver") or (
                refuse and not who.stations):
            raise Denied()
        back = f"/programmes/{pid}" if refuse else "/approvals"
        if kind != APPROVED and not reason:
            return RedirectResponse(f"{back}?error=reason", status_code=303)

        def act() -> str:
            try:
                web.services.decide(web.app, pid, who.approver_id or "", kind, reason,
                                    who.stations[0] if refuse and who.stations else None)
            except web.services.error as exc:
                return str(exc)[:300]
            with web.app.db.write() as s:
                ops_web.record_write(s, who.name, kind, f"programme #{pid}", web.app.clock())
            return ""
        error = await run_in_threadpool(act)
        return RedirectResponse(back + (f"?error={quote(error)}" if error else ""),
                                status_code=303)
    return handler


def station(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        sid = str(request.path_params["sid"])
        if not who.sees(sid) or sid not in {st.id for st in web.app.settings.stations}:
            raise Denied()

        def read() -> dict[str, Any]:
            tz = web.app.settings.general.tz
            with web.app.db.read() as s:
                st = next((r for r in views.list_stations(s, tz) if r["id"] == sid), None)
                return {"station": st, "deliveries": views.list_deliveries(s, tz, sid),
                        "airings": views.list_airings(s, tz, sid)[-200:]}
        return web.render(request, "station.html", who, session, sid=sid,
                          **await run_in_threadpool(read))
    return handler


def reports(web: Web) -> Any:
    async def handler(request: Request, who: Account, session: Session) -> Response:
        period = request.query_params.get("period", "")
        fmt = request.query_params.get("format", "")
        if not period or fmt not in REPORT_TYPES:
            return web.render(request, "reports.html", who, session, error="")

        def make() -> bytes:
            data = web.services.report(web.app, period, stations=None if who.stations is None
                                       else set(who.stations))
            return web.services.render(scope.report(data, who), fmt, session.lang)
        try:
            body = await run_in_threadpool(make)
        except web.services.error as exc:
            return web.render(request, "reports.html", who, session, error=str(exc))
        name = f"bao-cao-{period}.{fmt}"
        return Response(body, media_type=REPORT_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return handler
