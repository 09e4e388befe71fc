"""Approval before air: with real sshd stations and a real station agent, a dropped programme
reaches the station's disk but airs nowhere until an approver approves that very file; a
revision airs only after its own approval; a declined one leaves a note and the stations."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from radiocast.airing import agents
from radiocast.app import App, open_app
from radiocast.cli.main import main
from radiocast.config.approval import parse_approval
from radiocast.core.errors import ConfigError
from radiocast.core.models import AiringState, ApprovalState, ProgrammeState
from radiocast.daemon import Daemon
from radiocast.db.schema import Airing, ApprovalDecision, AsRunEvent, Programme

from .agent.helpers import AgentSite, agent_site, play_through
from .agent.test_agent import month_ahead
from .conftest import SAMPLES, Site

APPROVAL = """
[schedule]
slots = ["06:00-06:45", "11:00-11:45", "17:30-18:15", "20:00-20:45"]
replays_per_month = 5
min_gap_days = 0
lead_minutes = 0
[approval]
required = ["normal", "priority"]
[[approvers]]
id = "pct-huyen"
name = "Lê Thị Hoa"
title = "Phó Chủ tịch UBND huyện"
[[approvers]]
id = "xa-st0"
name = "Nguyễn Văn Bình"
title = "Chủ tịch UBND xã"
stations = ["st0"]
"""
TWO = APPROVAL + """[[approvers]]
id = "xa-st1"
name = "Hà Văn Cường"
title = "Chủ tịch UBND xã"
stations = ["st1"]
"""


def run(app: App, *args: str) -> tuple[int, str]:
    cfg = app.settings.path
    assert cfg is not None
    runner = CliRunner()
    with runner.isolation() as (out, err, *_):  # as `radiocast` runs: errors are exit codes
        try:
            main(["--config", str(cfg), "--lang", "vi", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode() + err.getvalue().decode()


def round_once(app: App) -> None:
    """`run --once` as the hub does it: take the drop folder, normalize, deliver, plan,
    write the playbooks."""
    Daemon(app, stop=threading.Event()).run(once=True)


def drop(app: App, sample: str, name: str) -> None:
    folder = app.settings.ingest.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / sample, folder / name)


def programmes(app: App) -> list[Programme]:
    with app.db.read() as s:
        return list(s.scalars(select(Programme).order_by(Programme.id)))


def playbook_shas(a: AgentSite) -> set[str]:
    path = a.cfg.media_dir / "playbook.json"
    if not path.exists():  # the hub writes one once the station has airings
        return set()
    return {x["sha256"] for x in json.loads(path.read_text())["airings"]}


def approved_shas(app: App) -> set[str]:
    with app.db.read() as s:
        return set(s.scalars(select(ApprovalDecision.sha256).where(
            ApprovalDecision.decision == "approved")))


def approved(hub: App, month: str) -> Programme:
    """A programme dropped, normalized, sent, approved and planned (two rounds)."""
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    assert run(hub, "approve", str(p.id), "--as", "pct-huyen")[0] == 0
    round_once(hub)
    return p


def world(site: Callable[..., Site], tmp_path: Path) -> tuple[AgentSite, str]:
    month, start = month_ahead()
    a = agent_site(site, tmp_path, start, APPROVAL)
    return a, month


def test_nothing_airs_until_approved_then_it_airs(site: Callable[..., Site],
                                                  tmp_path: Path) -> None:
    a, month = world(site, tmp_path)
    hub, agent = a.hub, a.agent()
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    assert (p.state, p.approval) == (ProgrammeState.READY.value, ApprovalState.AWAITING.value)
    assert (a.cfg.media_dir / f"{p.slug}.mp3").exists()  # pre-positioned at the station
    assert p.sha256 not in playbook_shas(a)
    with hub.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Airing)) == 0
    agent.tick()
    assert play_through(agent, a.clock, a.clock.now + timedelta(days=2)) == 0
    # what waits, as an approver sees it
    code, out = run(hub, "approvals", "--json")
    assert code == 0
    [w] = json.loads(out)
    assert (w["id"], w["month"], w["language"], w["revision"], w["sha256"]) == \
        (p.id, month, "vi", 1, p.sha256)
    assert w["output_path"] == p.output_path and w["approvers"] == ["pct-huyen", "xa-st0"]
    assert w["duration_s"] > 0 and w["output_lufs"] is not None
    # approved: the playbook carries it at the next round, and it airs
    code, out = run(hub, "approve", str(p.id), "--as", "pct-huyen", "--comment", "Đạt")
    assert code == 0, out
    code, again = run(hub, "approve", str(p.id), "--as", "pct-huyen")
    assert code == 0 and "đã được ghi trước đó" in again
    with hub.db.read() as s:
        assert s.scalar(select(func.count()).select_from(ApprovalDecision)) == 1
    a.hub_clock.now = a.clock.now
    round_once(hub)
    assert playbook_shas(a) == {p.sha256}
    agent.tick()
    played = play_through(agent, a.clock, a.clock.now + timedelta(days=3))
    assert played >= 3
    agents.collect(hub, hub.settings.station("st0"))
    with hub.db.read() as s:
        aired = s.scalars(select(Airing).where(Airing.state == AiringState.AIRED.value)).all()
        first = min(x.planned_at for x in aired)
        approved_at = s.get_one(Programme, p.id).approved_at
    assert len(aired) == played and approved_at is not None and first >= approved_at
    code, out = run(hub, "programmes", "--json")
    [row] = json.loads(out)
    assert row["approval"]["state"] == "approved" and row["approval"]["by"] == "pct-huyen"
    assert row["approval"]["by_name"] == "Lê Thị Hoa" and row["approval"]["comment"] == "Đạt"
    assert row["approval"]["sha256"] == p.sha256
    code, out = run(hub, "verify")
    assert code == 0, out
    agent.close()


def test_a_revision_airs_only_after_its_own_approval(site: Callable[..., Site],
                                                     tmp_path: Path) -> None:
    a, month = world(site, tmp_path)
    hub, agent = a.hub, a.agent()
    v1 = approved(hub, month)
    agent.tick()
    play_through(agent, a.clock, a.clock.now + timedelta(days=2))
    # the corrected file: numbered as revision 2, sent, and waiting; version 1 keeps airing
    drop(hub, "an-toan-thong-tin.mp3", f"{month} chuyển đổi số.mp3")
    a.hub_clock.now = a.clock.now
    round_once(hub)
    v1, v2 = programmes(hub)
    assert (v1.state, v1.approval) == ("ready", "approved")
    assert (v2.revision, v2.approval, v2.supersedes_id) == (2, "awaiting", v1.id)
    assert (a.cfg.media_dir / f"{v2.slug}.mp3").exists()
    assert playbook_shas(a) == {v1.sha256}
    agent.tick()
    play_through(agent, a.clock, a.clock.now + timedelta(days=2))
    # approved: version 2 replaces version 1 in the schedule
    assert run(hub, "approve", str(v2.id), "--as", "pct-huyen")[0] == 0
    a.hub_clock.now = a.clock.now
    round_once(hub)
    v1, v2 = programmes(hub)
    assert v1.state == ProgrammeState.SUPERSEDED.value
    assert playbook_shas(a) == {v2.sha256}
    agent.tick()
    play_through(agent, a.clock, a.clock.now + timedelta(days=20))
    agents.collect(hub, hub.settings.station("st0"))
    # no airing ever played a file whose sha256 was not approved
    with agent.ledger.db:
        played = {r[0] for r in agent.ledger.db.execute(
            "SELECT sha256 FROM played WHERE outcome = 'aired'")}
    assert played and played <= approved_shas(hub) == {v1.sha256, v2.sha256}
    assert v2.sha256 in played
    agent.close()


def test_a_correction_of_a_file_still_waiting_replaces_it_in_the_queue(
        site: Callable[..., Site], tmp_path: Path) -> None:
    a, month = world(site, tmp_path)
    hub = a.hub
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    drop(hub, "an-toan-thong-tin.mp3", f"{month} chuyển đổi số.mp3")
    round_once(hub)
    v1, v2 = programmes(hub)
    assert (v1.state, v2.state, v2.revision) == ("superseded", "ready", 2)
    code, out = run(hub, "approvals", "--json")
    assert code == 0 and [w["id"] for w in json.loads(out)] == [v2.id]  # the newest waits
    assert run(hub, "approve", str(v1.id), "--as", "pct-huyen")[0] == 2


def test_declined_leaves_a_note_airs_nowhere_and_leaves_the_stations(
        site: Callable[..., Site], tmp_path: Path) -> None:
    a, month = world(site, tmp_path)
    hub = a.hub
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    assert (a.cfg.media_dir / f"{p.slug}.mp3").exists()
    code, out = run(hub, "decline", str(p.id), "--as", "pct-huyen", "--reason",
                    "Sai số liệu ở phút thứ 3")
    assert code == 0, out
    note = hub.settings.ingest.archive_dir / f"{month} Chuyển đổi số.mp3 - KHÔNG DUYỆT.txt"
    body = note.read_bytes().decode("utf-8-sig")
    assert "KHÔNG ĐƯỢC DUYỆT" in body and "Sai số liệu ở phút thứ 3" in body
    assert "Lê Thị Hoa" in body and "Phó Chủ tịch UBND huyện" in body
    round_once(hub)
    [p] = programmes(hub)
    assert p.approval == ApprovalState.DECLINED.value
    assert not (a.cfg.media_dir / f"{p.slug}.mp3").exists()  # left the station
    assert p.sha256 not in playbook_shas(a)
    with hub.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Airing)) == 0
    # declined is final: approving it now is refused
    assert run(hub, "approve", str(p.id), "--as", "pct-huyen")[0] == 2


@pytest.mark.parametrize("args", [
    ["approve", "{id}", "--as", "nobody"],                       # unknown approver
    ["approve", "{id}", "--as", "xa-st0"],                       # covers st0 only
    ["approve", "999", "--as", "pct-huyen"],                     # not a programme
    ["decline", "{id}", "--as", "xa-st0", "--station", "st1", "--reason", "x"],  # not its own
    ["decline", "{id}", "--as", "pct-huyen", "--station", "st9", "--reason", "x"],
])
def test_refusals_exit_2_and_change_nothing(site: Callable[..., Site], tmp_path: Path,
                                            args: list[str]) -> None:
    month, _ = month_ahead()
    s = site(2, station_extra='playout = "agent"', extra=TWO)
    hub = s.app
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    before = _snapshot(hub)
    code, out = run(hub, *[x.replace("{id}", str(p.id)) for x in args])
    assert code == 2, out
    assert "Không có gì thay đổi" in out
    assert _snapshot(hub) == before


def _snapshot(app: App) -> tuple[Any, ...]:
    with app.db.read() as s:
        return (s.scalar(select(func.count()).select_from(ApprovalDecision)),
                tuple(s.execute(select(Programme.id, Programme.approval))),
                s.scalar(text("SELECT COUNT(*) FROM event")))


def test_a_commune_refuses_a_normal_programme_for_its_own_station_only(
        site: Callable[..., Site], tmp_path: Path) -> None:
    month, start = month_ahead()
    s = site(2, station_extra='playout = "agent"', extra=TWO)
    from .conftest import Clock
    hub = open_app(s.app.settings.path, clock=Clock(start))  # type: ignore[arg-type]
    p = approved(hub, month)
    code, out = run(hub, "decline", str(p.id), "--as", "xa-st1", "--station", "st1",
                    "--reason", "Xã đang có lịch phát riêng")
    assert code == 0, out
    round_once(hub)
    with hub.db.read() as sess:
        planned = sess.execute(select(Airing.station_id, func.count()).where(
            Airing.state == AiringState.PLANNED.value).group_by(Airing.station_id)).all()
    assert dict(planned).keys() == {"st0"}
    from radiocast.report.build import build_report
    from radiocast.report.files import render_report
    data = build_report(hub, month)
    st1 = next(x for x in data["stations"] if x["station_id"] == "st1")
    assert st1["months"][0]["refused"] == [p.id]
    md = render_report(data, "md", "vi").decode()
    assert f"xã đã từ chối #{p.id}" in md and "Xã đang có lịch phát riêng" in md
    assert not (s.remotes[1] / f"{p.slug}.mp3").exists()
    assert (s.remotes[0] / f"{p.slug}.mp3").exists()
    hub.close()


def test_approval_configuration_is_checked() -> None:
    ids = {"st0", "st1"}
    good = parse_approval({"required": ["normal"]}, [{"id": "a", "name": "A"}], ids)
    assert good.on and good.needed("normal") and not good.needed("priority")
    assert good.needed("emergency") and good.airs_first("emergency")
    assert not parse_approval({}, [], ids).on
    for section, people, key in [
        ({"required": ["emergency"]}, [{"id": "a", "name": "A"}], "approval.required"),
        ({"required": ["normal"]}, [], "approvers"),
        ({"emergency": "never"}, [], "approval.emergency"),
        ({"remind_hours": 0}, [], "approval.remind_hours"),
        ({"requried": ["normal"]}, [], "approval.requried"),
        ({}, [{"id": "a", "name": "A", "stations": ["st9"]}], "approvers[0].stations"),
        ({}, [{"id": "A B", "name": "A"}], "approvers[0].id"),
        ({}, [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}], "approvers"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_approval(section, people, ids)
        assert err.value.key == key


def test_verify_names_the_entry_changed_inserted_or_removed(
        site: Callable[..., Site], tmp_path: Path) -> None:
    a, month = world(site, tmp_path)
    hub, agent = a.hub, a.agent()
    approved(hub, month)
    agent.tick()
    play_through(agent, a.clock, a.clock.now + timedelta(days=3))
    agents.collect(hub, hub.settings.station("st0"))
    code, out = run(hub, "verify", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["whole"] and doc["entries"] >= 4
    with hub.db.read() as s:
        ev = s.scalars(select(AsRunEvent).order_by(AsRunEvent.id)).all()
    engine = hub.db.engine

    def tamper(sql: str, undo: str, params: dict[str, Any] | None = None) -> str:
        with engine.begin() as conn:
            conn.execute(text(sql))
        code, out = run(hub, "verify", "--json")
        with engine.begin() as conn:
            conn.execute(text(undo), params or {})
        assert code == 1
        problem = json.loads(out)["problem"]
        assert run(hub, "verify")[0] == 0  # whole again once undone
        return str(problem)

    second = ev[1]
    assert "(approval #1) was changed" in tamper(
        "UPDATE approval_decision SET approver_name = 'X' WHERE id = 1",
        "UPDATE approval_decision SET approver_name = 'Lê Thị Hoa' WHERE id = 1")
    assert f"(asrun #{second.id}) was changed" in tamper(
        f"UPDATE asrun_event SET status = 'failed' WHERE id = {second.id}",
        f"UPDATE asrun_event SET status = 'aired' WHERE id = {second.id}")
    with engine.connect() as conn:  # the row as the database holds it, to put back
        stored = dict(conn.execute(text(f"SELECT * FROM asrun_event WHERE id = {second.id}"))
                      .mappings().one())
    put_back = (f"INSERT INTO asrun_event ({', '.join(stored)}) VALUES ("
                + ", ".join(f":{c}" for c in stored) + ")")
    removed = tamper(f"DELETE FROM asrun_event WHERE id = {second.id}", put_back, stored)
    assert f"(asrun #{second.id}): its row was removed" in removed
    inserted = tamper(
        f"INSERT INTO asrun_event (event_id, station_id, seq, airing_id, status, detail, raw, "
        f"received_at) VALUES ('x', 'st0', 999, {second.airing_id}, 'aired', 'x', '{{}}', "
        "'2030-01-01 00:00:00')", "DELETE FROM asrun_event WHERE seq = 999")
    assert "was inserted" in inserted
    with engine.connect() as conn:
        link = dict(conn.execute(text("SELECT * FROM chain_entry WHERE seq = 2")).mappings()
                    .one())
    gone = tamper("DELETE FROM chain_entry WHERE seq = 2",
                  "INSERT INTO chain_entry (seq, kind, ref_id, digest) VALUES "
                  "(:seq, :kind, :ref_id, :digest)", link)
    assert "entry 2 was removed" in gone
    agent.close()


def test_killed_between_the_decision_and_the_playbook_the_restart_publishes_it_once(
        site: Callable[..., Site], tmp_path: Path) -> None:
    """A real daemon: the programme waits at the station; `approve` commits; the daemon is
    killed with SIGKILL at once; after a restart the station's playbook carries the approved
    file's airings, each once, and nothing else."""
    import os
    import signal
    import subprocess
    import sys

    from .test_e2e import wait_for

    s = site(1, station_extra='playout = "agent"', extra=APPROVAL.replace(
        'replays_per_month = 5', 'replays_per_month = 3'))
    hub = s.app
    cfg = hub.settings.path
    assert cfg is not None
    month = hub.clock().astimezone(hub.settings.general.tz).strftime("%Y-%m")
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    log = tmp_path / "daemon.log"

    def start() -> subprocess.Popen[bytes]:
        with open(log, "ab") as fh:
            return subprocess.Popen([sys.executable, "-m", "radiocast", "--config", str(cfg),
                                     "run"], stdout=fh, stderr=fh)

    playbook = s.remotes[0] / "playbook.json"
    proc = start()
    try:
        wait_for(lambda: any(p.approval == "awaiting" and p.slug and
                             (s.remotes[0] / f"{p.slug}.mp3").exists()
                             for p in programmes(hub)), 90, "the file at the station")
        [p] = programmes(hub)
        assert not playbook.exists() or p.sha256 not in playbook.read_text()
        done = subprocess.run([sys.executable, "-m", "radiocast", "--config", str(cfg),
                               "approve", str(p.id), "--as", "pct-huyen"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        os.kill(proc.pid, signal.SIGKILL)  # before it could write the playbook
        proc.wait(10)
        proc = start()

        def published() -> bool:
            return playbook.exists() and p.sha256 in playbook.read_text()

        wait_for(published, 90, "the playbook after the restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    doc = json.loads(playbook.read_text())
    ids = [x["airing_id"] for x in doc["airings"]]
    with hub.db.read() as sess:
        planned = set(sess.scalars(select(Airing.id).where(
            Airing.station_id == "st0", Airing.state == AiringState.PLANNED.value)))
        decisions = sess.scalar(select(func.count()).select_from(ApprovalDecision))
    assert len(ids) == len(set(ids)) and set(ids) <= planned and ids
    assert {x["sha256"] for x in doc["airings"]} == {p.sha256}
    assert decisions == 1


def test_status_shows_the_wait_then_reminds_and_the_report_says_who_approved(
        site: Callable[..., Site], tmp_path: Path) -> None:
    from radiocast.report.build import build_report
    from radiocast.report.files import render_report
    from radiocast.report.words import verdict
    from radiocast.status.problems import find_problems

    from .test_report_office import office_print

    a, month = world(site, tmp_path)
    hub, agent = a.hub, a.agent()
    drop(hub, "thanh-toan-khong-dung-tien-mat.mp3", f"{month} Chuyển đổi số.mp3")
    round_once(hub)
    [p] = programmes(hub)
    [waits] = [x for x in find_problems(hub, "vi") if x.code == "awaiting_approval"]
    assert waits.severity == "warning" and waits.subject == str(p.id)
    assert "Lê Thị Hoa (pct-huyen)" in waits.action and f"approve {p.id}" in waits.action
    a.hub_clock.now += timedelta(hours=13)  # past remind_hours (12): every channel is told
    codes = {x.code: x for x in find_problems(hub, "vi")}
    assert "awaiting_approval" not in codes and codes["approval_overdue"].severity == "error"
    assert "13 giờ" in codes["approval_overdue"].message
    # the month's report says why the station is at risk: the approval wait
    [cell] = build_report(hub, month)["stations"][0]["months"]
    assert cell["status"] == "at_risk" and cell["awaiting_approval"] == [p.id]
    assert f"#{p.id} đang chờ duyệt" in verdict(cell, "vi")
    assert run(hub, "approve", str(p.id), "--as", "pct-huyen")[0] == 0
    assert not [x for x in find_problems(hub) if x.code.startswith("approval")]
    a.clock.now = a.hub_clock.now
    round_once(hub)
    agent.tick()
    play_through(agent, a.clock, a.clock.now + timedelta(days=2))
    agents.collect(hub, hub.settings.station("st0"))
    data = build_report(hub, month)
    [row] = data["programmes"]
    assert row["approval"]["by_name"] == "Lê Thị Hoa"
    assert row["approval"]["by_title"] == "Phó Chủ tịch UBND huyện"
    assert data["record"]["entries"] >= 3 and len(data["record"]["head"]) == 64
    md = render_report(data, "md", "vi").decode()
    assert "Duyệt bởi" in md and "Lê Thị Hoa (Phó Chủ tịch UBND huyện)" in md
    assert data["record"]["head"][:16] in md
    csv = render_report(data, "csv", "vi").decode("utf-8-sig")
    assert "Duyệt bởi" in csv.splitlines()[0] and "Lê Thị Hoa" in csv
    pdf = tmp_path / "bao-cao.pdf"
    pdf.write_bytes(render_report(data, "pdf", "vi"))
    text, pages = office_print(pdf, tmp_path)
    assert pages == 1 and "Lê Thị Hoa" in text and data["record"]["head"][:16] in text
    agent.close()


@pytest.mark.parametrize("mode", ["air-then-approve", "approve-first"])
def test_an_emergency_airs_first_and_is_approved_after_or_waits(
        site: Callable[..., Site], tmp_path: Path, mode: str) -> None:
    month, start = month_ahead()
    a = agent_site(site, tmp_path, start, APPROVAL.replace(
        'required = ["normal", "priority"]', f'required = ["normal"]\nemergency = "{mode}"'))
    hub = a.hub
    folder = hub.settings.ingest.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{month} Bão số 5.toml").write_text('priority = "emergency"\n', encoding="utf-8")
    drop(hub, "an-toan-thong-tin.mp3", f"{month} Bão số 5.mp3")
    round_once(hub)
    [p] = programmes(hub)
    assert (p.priority, p.approval) == ("emergency", "awaiting")
    first = mode == "air-then-approve"
    assert (p.sha256 in playbook_shas(a)) is first  # airs at once, or waits
    code, out = run(hub, "approve", str(p.id), "--as", "pct-huyen")
    assert code == 0, out
    round_once(hub)
    [p] = programmes(hub)
    assert p.approval == (ApprovalState.APPROVED_AFTER_AIR if first
                          else ApprovalState.APPROVED).value
    assert p.sha256 in playbook_shas(a)
