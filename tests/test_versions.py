"""Language versions end to end (issue #19): real files in the drop folder, real ffmpeg, real
OpenSSH stations, the real planner and player launch, a clock moved through the month.

Station st0 airs Vietnamese and Thái, st1 Vietnamese only. The Vietnamese version arrives on
the 1st, the Thái one on the 3rd, a corrected Thái file on the 8th.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from radiocast.airing import playout
from radiocast.airing.planning import plan_all
from radiocast.alerting.notices import digest
from radiocast.app import App, open_app
from radiocast.cli.main import cli
from radiocast.core.errors import ConfigError
from radiocast.core.languages import parse_languages
from radiocast.core.models import AiringState, ProgrammeState
from radiocast.db import ops, views
from radiocast.db.schema import Airing, Delivery, Programme
from radiocast.intake import ingest, programmes
from radiocast.intake.sidecar import LanguageError, read_metadata
from radiocast.report.build import build_report
from radiocast.report.files import render_report
from radiocast.stations import deliver
from radiocast.status.problems import build_status, find_problems
from radiocast.status.screen import render_status

from .conftest import SAMPLES, Clock, Site, ready_programme

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MONTH = "2027-03"
VI, THAI, THAI2 = (SAMPLES / n for n in ("chuyen-doi-so-thang-nay.mp3", "an-toan-thong-tin.mp3",
                                         "thanh-toan-khong-dung-tien-mat.mp3"))


def local(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=TZ)


def drop(app: App, src: Path, name: str) -> Programme:
    """Staff save a file; radiocast takes it, normalizes it and queues its deliveries."""
    path = app.settings.ingest.drop_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, path)
    claimed = ingest.claim_file(app, path)
    assert claimed is not None and not claimed.rejected
    assert programmes.normalize_programme(app, claimed.programme_id)
    with app.db.read() as s:
        return s.get_one(Programme, claimed.programme_id)


def airings(app: App, sid: str) -> list[Airing]:
    with app.db.read() as s:
        return list(s.scalars(select(Airing).where(
            Airing.station_id == sid, Airing.state != AiringState.CANCELLED.value)
            .order_by(Airing.planned_at)))


def air_until(app: App, clock: Clock, until: datetime) -> None:
    """The hub's airing cycle, with the clock moved to each airing's start and past its end."""
    while True:
        with app.db.read() as s:
            due = s.scalars(select(Airing).where(
                Airing.state == AiringState.PLANNED.value, Airing.planned_at <= until)
                .order_by(Airing.planned_at)).first()
        if due is None:
            break
        clock.now = due.planned_at
        assert playout.air(app, due.id) == AiringState.AIRING
        clock.now = due.planned_at + timedelta(minutes=5)
        for st in app.settings.stations:
            playout.check_station(app, st)
    clock.now = until


def test_a_vietnamese_and_a_thai_version_each_station_its_languages(
        site: Callable[..., Site], tmp_path: Path) -> None:
    s = site(2, extra="[schedule]\nlead_minutes = 0\n")
    cfg = s.app.settings.path
    assert cfg is not None
    logs = [r / "played.log" for r in s.remotes]
    text = cfg.read_text(encoding="utf-8")
    head, st0, st1 = text.split("[[stations]]")
    st0 += f'languages = ["vi", "thái"]\nplay_command = "echo {{file}} >> {logs[0]}"\n'
    st1 += f'play_command = "echo {{file}} >> {logs[1]}"\n'
    cfg.write_text("[[stations]]".join([head, st0, st1]), encoding="utf-8")
    clock = Clock(local(1, 7, 0))
    app = open_app(cfg, "vi", clock=clock)
    try:
        vi = drop(app, VI, f"{MONTH} Chuyển đổi số.mp3")
        assert vi.language == "vi"
        assert [o.delivered for o in deliver.deliver_due(app)] == [1, 1]
        plan_all(app)
        assert {a.programme_id for sid in ("st0", "st1") for a in airings(app, sid)} == {vi.id}
        # st0 expects a Thái version nobody has dropped: a problem, not a silent gap
        missing = [p for p in find_problems(app) if p.code == "version_missing"]
        assert len(missing) == 1 and "st0" in missing[0].message and "st1" not in \
            missing[0].message and "Tiếng Thái" in missing[0].message
        air_until(app, clock, local(3, 9))  # the premiere at both stations

        thai = drop(app, THAI, f"{MONTH} Chuyển đổi số [Thái].mp3")
        assert (thai.language, thai.title) == ("blt", vi.title) and thai.revision == 1
        assert thai.slug is not None and thai.slug.endswith("-blt")
        assert [o.delivered for o in deliver.deliver_due(app)] == [1]  # st0 only
        with app.db.read() as sess:
            assert [d.station_id for d in sess.scalars(select(Delivery).where(
                Delivery.programme_id == thai.id))] == ["st0"]
        assert not (s.remotes[1] / f"{thai.slug}.mp3").exists()
        assert not [p for p in find_problems(app) if p.code == "version_missing"]
        before = {a.id: a.planned_at for a in airings(app, "st0")}
        plan_all(app)
        after = airings(app, "st0")
        # the Thái version joins the remaining airings; times and the past stay as they were
        assert {a.id: a.planned_at for a in after} == before
        assert [a.programme_id for a in after] == [vi.id, thai.id, vi.id, thai.id]
        assert {a.programme_id for a in airings(app, "st1")} == {vi.id}

        air_until(app, clock, local(8, 9))
        fixed = drop(app, THAI2, f"{MONTH} chuyển đổi số [thai].mp3")  # a corrected Thái file
        with app.db.read() as sess:
            states = {p.id: (p.state, p.revision) for p in sess.scalars(select(Programme))}
        assert states[fixed.id] == (ProgrammeState.READY.value, 2)
        assert states[thai.id][0] == ProgrammeState.SUPERSEDED.value
        assert states[vi.id] == (ProgrammeState.READY.value, 1)  # the other language untouched
        deliver.deliver_due(app)
        plan_all(app)
        air_until(app, clock, local(31, 23))

        played = [[Path(ln).name for ln in lg.read_text().split()] for lg in logs]
        thai_files = {f"{thai.slug}.mp3", f"{fixed.slug}.mp3"}
        assert len(played[0]) == 4 and played[0][0] == played[0][2] == f"{vi.slug}.mp3"
        assert {played[0][1], played[0][3]} <= thai_files
        assert played[0][3] == f"{fixed.slug}.mp3"  # after the correction, the corrected file
        assert played[1] == [f"{vi.slug}.mp3"] * 4

        report = build_report(app, MONTH)
        cells = {st["station_id"]: st["months"][0] for st in report["stations"]}
        assert cells["st0"]["aired_by_language"] == {"vi": 2, "blt": 2}
        assert cells["st1"]["aired_by_language"] == {"vi": 4}
        for cell in cells.values():  # one programme, its rule met, whatever the language
            assert cell["compliant"] and cell["replays_aired"] == 3
            assert cell["programme_ids"] == [vi.id]
        assert {a["language"] for a in report["airings"] if a["station_id"] == "st0"} == \
            {"vi", "blt"}
        md = render_report(report, "md", "vi").decode("utf-8")
        assert "Số lượt đã phát theo ngôn ngữ: Tiếng Việt 6; Tiếng Thái (Thái Đen) 2." in md
        assert "| Tiếng Việt 2; Tiếng Thái (Thái Đen) 2 |" in md  # st0's month
    finally:
        app.close()


def test_a_file_tagged_with_an_unknown_language_is_quarantined_with_the_known_tags(
        make_app: Callable[..., App]) -> None:
    clock = Clock(local(2, 8))
    app = make_app(clock=clock)
    path = app.settings.ingest.drop_dir / f"{MONTH} Chuyển đổi số [klingon].mp3"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(VI, path)
    claimed = ingest.claim_file(app, path)
    assert claimed is not None and claimed.rejected
    note = (app.settings.ingest.quarantine_dir / (path.name + ".txt")).read_text(
        encoding="utf-8-sig")
    assert "Nhãn ngôn ngữ" in note and "[klingon]" in note and "[thai]" in note
    with app.db.read() as s:
        assert s.get_one(Programme, claimed.programme_id).reason_code == "language"


def test_a_sidecar_names_the_language_and_must_agree_with_the_tag(
        make_app: Callable[..., App]) -> None:
    app = make_app(clock=Clock(local(2, 8)))
    folder = app.settings.ingest.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    good, bad = folder / f"{MONTH} Bản tin.mp3", folder / f"{MONTH} Bản tin khác [thai].mp3"
    for p, src, lang in ((good, VI, "Tiếng Mường"), (bad, THAI, "vi")):
        shutil.copy(src, p)
        p.with_name(p.name + ".toml").write_text(f'language = "{lang}"\n', encoding="utf-8")
    ok, refused = ingest.claim_file(app, good), ingest.claim_file(app, bad)
    assert ok is not None and not ok.rejected and refused is not None and refused.rejected
    with app.db.read() as s:
        assert s.get_one(Programme, ok.programme_id).language == "mtq"
        assert s.get_one(Programme, refused.programme_id).reason_code == "sidecar"


def test_a_station_given_a_language_later_receives_that_version_after_a_restart(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "Xã {sid}"\nhost = "{sid}.invalid"\n'
                       for sid in ("a", "b"))
    clock = Clock(local(2, 8))
    app = make_app(stations=stations, clock=clock)
    f = tmp_path / "thai.mp3"
    shutil.copy(THAI, f)
    pid = ready_programme(app, f, month=MONTH, language="blt")

    def receivers(app: App) -> list[str]:
        with app.db.read() as s:
            return sorted(d.station_id for d in s.scalars(select(Delivery).where(
                Delivery.programme_id == pid)))

    assert receivers(app) == []  # nobody airs Thái yet
    cfg = app.settings.path
    assert cfg is not None
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        'host = "b.invalid"\n', 'host = "b.invalid"\nlanguages = ["vi", "blt"]\n'),
        encoding="utf-8")
    again = open_app(cfg, "vi", clock=clock)
    try:
        programmes.recover(again)
        assert receivers(again) == ["b"]
        assert programmes.reconcile_deliveries(again) == 0  # only adds, once
    finally:
        again.close()


@pytest.mark.parametrize(("name", "title", "language"), [
    ("2026-12 Chuyển đổi số [thai].mp3", "Chuyển đổi số", "blt"),
    ("[Thái] 2026-12 Chuyển đổi số.mp3", "Chuyển đổi số", "blt"),
    ("Chuyển đổi số [THAI DEN] 2026-12.mp3", "Chuyển đổi số", "blt"),
    ("2026-12 Chuyển đổi số [Mường].wav", "Chuyển đổi số", "mtq"),
    ("2026-12 Chuyển đổi số [vi].mp3", "Chuyển đổi số", "vi"),
    ("2026-12 Chuyển đổi số.mp3", "Chuyển đổi số", "vi"),
    ("2026-12 Chuyển đổi số (bản 2) [hmong].mp3", "Chuyển đổi số (bản 2)", "hmn"),
    ("[2026-12] Chuyển đổi số.mp3", "Chuyển đổi số", "vi"),
    ("Chuyển đổi số (2026-12).mp3", "Chuyển đổi số", "vi"),
    (unicodedata.normalize("NFD", "2026-12 Chuyển đổi số [Thái].mp3"), "Chuyển đổi số", "blt"),
    ("2026-12 Chuyển đổi số [Tiếng Thái Đen].mp3", "Chuyển đổi số", "blt"),
    ("2026-12 Chuyển đổi số (tiếng Mường).mp3", "Chuyển đổi số", "mtq"),
    ("2026-12 Chuyển đổi số (Thái).mp3", "Chuyển đổi số", "blt"),
    ("2026-12 Người Thái làm du lịch (bản 2).mp3", "Người Thái làm du lịch (bản 2)", "vi"),
])
def test_the_language_tag_in_a_file_name(tmp_path: Path, name: str, title: str,
                                         language: str) -> None:
    meta = read_metadata(tmp_path / name, tmp_path, "2026-11", set())
    assert (meta.title, meta.month, meta.language) == (title, "2026-12", language)


@pytest.mark.parametrize(("name", "why"), [
    ("2026-12 Chuyển đổi số [klingon].mp3", "[klingon]"),
    ("2026-12 Bản tin [số 3].mp3", "[số 3]"),
    ("2026-12 Chuyển đổi số [thai] [vi].mp3", "two language tags"),
    ("2026-12 Chuyển đổi số (Mường) [thai].mp3", "two language tags"),
])
def test_a_tag_that_names_no_language_or_two_is_refused(tmp_path: Path, name: str,
                                                         why: str) -> None:
    with pytest.raises(LanguageError) as err:
        read_metadata(tmp_path / name, tmp_path, "2026-11", set())
    assert why in str(err.value) and err.value.code == "language"


def test_configured_languages_and_their_clashes() -> None:
    langs = parse_languages("languages", {"tdd": {"name": "Tiếng Thái (Thái Trắng)",
                                                  "aliases": ["thai trang"]}})
    assert langs.resolve("Thái Trắng") == "tdd" and langs.resolve("thai") == "blt"
    with pytest.raises(ConfigError, match="already names"):
        parse_languages("languages", {"tdd": {"name": "x", "aliases": ["thai"]}})
    with pytest.raises(ConfigError, match="ISO 639"):
        parse_languages("languages", {"Thai": "Tiếng Thái"})


def test_a_station_without_any_version_in_its_languages_is_an_error_not_a_gap(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "Xã {sid}"\nhost = "{sid}.invalid"\n'
                       f"languages = {langs}\n" for sid, langs in (
                           ("a", '["vi"]'), ("b", '["vi", "blt"]'), ("c", '["blt"]')))
    app = make_app(stations=stations, clock=Clock(local(2, 8)))
    f = tmp_path / "vi.mp3"
    shutil.copy(VI, f)
    ready_programme(app, f, month=MONTH)
    found = {p.severity: p for p in find_problems(app) if p.code == "version_missing"}
    assert set(found) == {"warning", "error"}
    assert "(b)" in found["warning"].message and "(c)" in found["error"].message
    assert "chưa phát được" in found["error"].message
    assert "[thai].mp3" in found["error"].action  # the tag staff are taught, not the code
    en = {p.severity: p for p in find_problems(app, "en") if p.code == "version_missing"}
    assert "cannot air it" in en["error"].message


def test_staff_read_a_language_by_its_name_in_the_lists_and_the_status_screen(
        make_app: Callable[..., App], tmp_path: Path) -> None:
    stations = '[[stations]]\nid = "b"\nname = "Xã b"\nhost = "b.invalid"\n' \
        'languages = ["vi", "blt"]\n'
    app = make_app(stations=stations, clock=Clock(local(2, 8)))
    for name, lang, src in (("vi.mp3", "vi", VI), ("blt.mp3", "blt", THAI)):
        shutil.copy(src, tmp_path / name)
        ready_programme(app, tmp_path / name, month=MONTH, language=lang)
    screen = render_status(build_status(app), "vi")
    assert "[Tiếng Thái (Thái Đen)]" in screen and "[blt]" not in screen
    cfg = app.settings.path
    assert cfg is not None
    res = CliRunner().invoke(cli, ["--config", str(cfg), "programmes"])
    assert res.exit_code == 0 and "Tiếng Thái (Thái Đen)" in res.output
    assert " blt " not in res.output
    res = CliRunner().invoke(cli, ["--config", str(cfg), "programmes", "--json"])
    rows = json.loads(res.output)
    assert {(r["language"], r["language_name"]) for r in rows} == {
        ("vi", "Tiếng Việt"), ("blt", "Tiếng Thái (Thái Đen)")}


@pytest.mark.parametrize("versions", ["share", "each"])
def test_this_months_progress_counts_versions_as_the_planner_and_the_report_do(
        make_app: Callable[..., App], tmp_path: Path, versions: str) -> None:
    """The digest and the compliance metric: with "share", 4 airings of any versions meet the
    rule; with "each", every version the station was sent needs its own 4."""
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "Xã {sid}"\nhost = "{sid}.invalid"\n'
                       f"languages = {langs}\n" for sid, langs in (
                           ("a", '["vi", "blt"]'), ("b", '["vi"]')))
    clock = Clock(local(1, 8))
    app = make_app(f'[schedule]\nversions = "{versions}"\n', stations, clock=clock)
    for name, lang, src in (("vi.mp3", "vi", VI), ("blt.mp3", "blt", THAI)):
        shutil.copy(src, tmp_path / name)
        ready_programme(app, tmp_path / name, month=MONTH, language=lang)
    with app.db.write() as s:
        for d in s.scalars(select(Delivery)):
            ops.mark_delivered(s, d, clock.now)
    plan_all(app)
    with app.db.write() as s:  # a: every vi airing and the first blt one; b: its first two
        done: list[str] = []
        for a in s.scalars(select(Airing).order_by(Airing.planned_at)):
            key = f"{a.station_id} {s.get_one(Programme, a.programme_id).language}"
            if key == "a vi" or done.count(key) < {"a blt": 1, "b vi": 2}[key]:
                ops.finish_airing(s, a, AiringState.AIRED, a.planned_at, "exit 0")
                done.append(key)
    with app.db.read() as s:
        progress = views.month_progress(s, MONTH, ["a", "b"], 3, versions == "each")
        counted = {(a.station_id, s.get_one(Programme, a.programme_id).language)
                   for a in s.scalars(select(Airing).where(
                       Airing.state == AiringState.AIRED.value))}
    assert ("a", "blt") in counted
    if versions == "share":
        assert progress == {"a": (3, 4), "b": (2, 4)}  # a airs vi, blt, vi, blt
    else:  # a: 4 vi + 1 blt of 8; b has only the vi version
        assert progress == {"a": (5, 8), "b": (2, 4)}
    clock.now = local(20, 7)
    with app.db.read() as s:
        _, text = digest(s, app.settings, clock.now, "vi", [])
    assert ("a 5/8" if versions == "each" else "a 3/4") in text and "b 2/4" in text
